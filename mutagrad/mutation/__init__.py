"""The mutation engine: backprop-aware operators, stable mutant ids, in-memory compilation."""

from __future__ import annotations

import builtins
import functools
import inspect
import itertools
import linecache
import os
import tokenize
from collections.abc import Callable, Iterator
from typing import Any

from mutagrad.errors import InvalidInput
from mutagrad.mutation import methods
from mutagrad.mutation.engine import Mutant, compile_functions, find_mutants, iter_mutants
from mutagrad.mutation.export import export
from mutagrad.mutation.methods import is_method, qualname
from mutagrad.mutation.operator import CATEGORIES, Operator
from mutagrad.mutation.prune import Dropped, Generation, Pruner
from mutagrad.mutation.prune import prune as _prune  # the module keeps its name
from mutagrad.mutation.registry import OPERATORS, select
from mutagrad.mutation.trace import default_cases, trace_cases
from mutagrad.subject import Subject

__all__ = ["CATEGORIES", "OPERATORS", "Dropped", "Generation", "Mutant", "Operator", "bind",
           "export", "find_mutant", "find_mutants", "generate", "generate_batches",
           "mutant_backward", "mutants_of", "mutated_names", "select", "source_of"]


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


def generate(subject: Subject, categories: list[str] | None = None,
             operators: list[str] | None = None, shape_aware: bool = True) -> Generation:
    """The mutants of the subject's backward (and its --mutate helpers) made by the
    selected operators: those a campaign runs, and those dropped with their reason.

    ``shape_aware`` runs the original once per traced case under a tracer (see
    ``mutation.trace``) and drops the mutants that crash on every traced case or are
    equivalent by construction; without it nothing is dropped.
    """
    path, text = source_of(subject.backward)
    found = find_mutants(text, mutated_names(subject), path, select(categories, operators))
    if not shape_aware:
        return Generation(found, [])
    return _prune(found, text, trace_cases(subject, default_cases(subject)))


def generate_batches(subject: Subject, categories: list[str] | None = None,
                     operators: list[str] | None = None,
                     first: int = 8, most: int = 64) -> Iterator[Generation]:
    """``generate``, batch by batch (``first`` candidates, then twice as many each time, up
    to ``most``): a campaign runs a batch's kept mutants while the next is made and judged.
    The batches, joined, are ``generate``'s lists, in its order."""
    path, text = source_of(subject.backward)
    found = iter_mutants(text, mutated_names(subject), path, select(categories, operators))
    pruner = Pruner(text, trace_cases(subject, default_cases(subject)))
    size = first
    while batch := list(itertools.islice(found, size)):
        yield pruner.split(batch)
        size = min(most, size * 2)


def mutants_of(subject: Subject, categories: list[str] | None = None,
               operators: list[str] | None = None, shape_aware: bool = True) -> list[Mutant]:
    """The mutants a campaign runs (see ``generate``)."""
    return generate(subject, categories, operators, shape_aware).kept


def mutated_names(subject: Subject) -> list[str]:
    """The qualified names (``f``, ``Class.method``) of the functions mutants are made in:
    the backward, then its helpers; all in the backward's file."""
    home = inspect.getsourcefile(subject.backward)
    for helper in subject.helpers:
        if inspect.getsourcefile(helper) != home:
            raise InvalidInput(f"{qualname(helper)} is defined in another file than the "
                               f"backward {qualname(subject.backward)}: mutants are made in "
                               "one file", parameter="mutate")
    names = [qualname(subject.backward)]
    return names + [n for n in map(qualname, subject.helpers) if n not in names]


class LiveGlobals(dict[str, Any]):
    """The globals of a mutant: its own functions, over the module's namespace read live.

    A name the mutant reads that is not one of its functions comes from the module's
    ``__dict__`` at call time (``__missing__``): parameters or helpers that an adapter sets
    on the module per case are the values the original would read, never a snapshot. What
    the mutant assigns with ``global`` lands here, not in the module, and ``reset`` drops it
    before the next call.
    """

    def __init__(self, module: dict[str, Any], own: dict[str, Any]):
        super().__init__(own)
        self.module = module
        self.own = frozenset(own)

    def __missing__(self, name: str) -> Any:
        return self.module[name]

    def reset(self) -> None:
        if self.keys() != self.own:  # rarely: a mutant assigned a global (checked per call)
            for name in [k for k in self if k not in self.own]:
                del self[name]


def bind(subject: Subject, function: str, function_source: str,
         filename: str) -> Callable[..., Any]:
    """The backward that a mutant of ``function`` makes, compiled in memory.

    The mutated function, the backward and the other helpers are bound to one
    ``LiveGlobals`` over the backward's module: a mutated helper is the one they call, every
    other global is read live from the module, and nothing the mutant assigns reaches the
    module or the next call. The module and its file are untouched.

    Methods (``Class.method``) are reached through their class, so the backward and helpers
    that are methods are set on their classes while an evaluation runs
    (``methods.installed(backward)``, which ``trial.evaluate`` does) and restored after.
    """
    module_globals = subject.backward.__globals__
    # tracebacks (and the aliasing message) can then quote the mutant's own lines
    linecache.cache[filename] = (len(function_source), None,
                                 function_source.splitlines(keepends=True), filename)
    scratch = dict(module_globals)  # exec needs a plain dict: it only creates the functions
    compiled = compile_functions(function_source, [function], scratch, filename)
    # tracebacks (and the aliasing message) show the mutant's own lines, as for a file
    linecache.cache[filename] = (len(function_source), None,
                                 function_source.splitlines(keepends=True), filename)
    own: dict[str, Any] = {"__builtins__": module_globals.get("__builtins__", builtins)}
    namespace = LiveGlobals(module_globals, own)
    patches = []
    for fn in (subject.backward, *subject.helpers):
        name = qualname(fn)
        if is_method(fn):
            cls = methods.owner_of(fn)
            attr = name.rpartition(".")[2]
            patches.append(methods.method_patch(cls, attr, compiled.get(name, vars(cls)[attr]),
                                                namespace))
        else:
            namespace[name] = methods.rebind(compiled.get(name, fn), namespace)
    for name, fn in compiled.items():
        if "." not in name and name not in namespace:
            namespace[name] = methods.rebind(fn, namespace)
    namespace.own = frozenset(namespace)
    if is_method(subject.backward):
        attr = qualname(subject.backward).rpartition(".")[2]
        value = next(v for c, a, v in patches if c is methods.owner_of(subject.backward)
                     and a == attr)
        entry = getattr(value, "__func__", value)
    else:
        entry = namespace[subject.backward.__name__]

    @functools.wraps(entry)
    def backward(*args: Any, **kwargs: Any) -> Any:
        namespace.reset()
        return entry(*args, **kwargs)

    methods.mark(backward, methods.Patches(tuple(patches), namespace.reset))
    return backward


def mutant_backward(subject: Subject, mutant: Mutant) -> Callable[..., Any]:
    """The mutant's backward, compiled in memory in the backward's own module namespace."""
    return bind(subject, mutant.function, mutant.function_source, f"<mutant {mutant.id}>")


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
