"""The mutation engine: backprop-aware operators, stable mutant ids, in-memory compilation."""

from __future__ import annotations

import inspect
import os
import sys
import tokenize
from collections.abc import Callable
from typing import Any

from mutagrad.errors import InvalidInput
from mutagrad.mutation.engine import Mutant, compile_functions, find_mutants
from mutagrad.mutation.export import export
from mutagrad.mutation.operator import CATEGORIES, Operator
from mutagrad.mutation.registry import OPERATORS, select
from mutagrad.subject import Subject

__all__ = ["CATEGORIES", "OPERATORS", "Mutant", "Operator", "export", "find_mutant",
           "find_mutants", "mutant_backward", "mutants_of", "select", "source_of"]


def source_of(func: Callable[..., Any]) -> tuple[str, str]:
    """(display path, full text) of the file that defines ``func``; the file is only read."""
    filename = inspect.getsourcefile(func)
    if filename is None:
        raise OSError(f"no source file for {func.__qualname__}")
    with tokenize.open(filename) as f:  # honours the file's encoding cookie
        text = f.read()
    try:
        shown = os.path.relpath(filename)
        if shown.startswith(".."):
            raise ValueError
    except ValueError:
        shown = func.__module__.replace(".", "/") + ".py"
    return shown, text


def mutants_of(subject: Subject, categories: list[str] | None = None,
               operators: list[str] | None = None) -> list[Mutant]:
    """Every mutant of the subject's backward made by the selected operators."""
    path, text = source_of(subject.backward)
    return find_mutants(text, [subject.backward.__name__], path, select(categories, operators))


def mutant_backward(subject: Subject, mutant: Mutant) -> Callable[..., Any]:
    """The mutant's backward, compiled in memory in the backward's own module namespace."""
    module = sys.modules[subject.backward.__module__]
    name = subject.backward.__name__
    return compile_functions(mutant.function_source, [name], vars(module),
                             f"<mutant {mutant.id}>")[name]


def find_mutant(mutants: list[Mutant], mutant_id: str, subject: str) -> Mutant:
    """The mutant whose id starts with ``mutant_id`` (a unique prefix is enough)."""
    matches = [m for m in mutants if m.id.startswith(mutant_id.lower())]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInput(f"no mutant {mutant_id!r} in {subject}: "
                           f"list them with 'mutagrad mutants {subject}'")
    raise InvalidInput(f"{mutant_id!r} matches {len(matches)} mutants of {subject}: "
                       "give more digits of the id")
