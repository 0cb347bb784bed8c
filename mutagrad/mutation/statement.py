"""The one statement a mutant changes, and what it does on a traced state (``prune``).

A mutant differs from the original in one simple statement (or it is left to ``replay``):
``changed_statement`` finds it, before and after, from the mutant's function text.
``run`` executes a statement on copies of the names it uses in a state the tracer kept
(``trace.Snapshot``): what it raises, and the names it leaves. The original's statements
are run once per traced case and shared by every mutant of them (``Original.run``).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from mutagrad.mutation.engine import Mutant, parsed
from mutagrad.mutation.trace import Snapshot

_BLOCKS = ("body", "orelse", "finalbody", "handlers")


def simple(stmt: ast.stmt) -> bool:
    return not any(isinstance(getattr(stmt, b, None), list) and getattr(stmt, b)
                   for b in _BLOCKS)


class Original:
    """The original function, with what every mutant's judgement needs computed once."""

    def __init__(self, owner: str, func: ast.FunctionDef, source_lines: list[str]):
        self.func = func
        first = min([func.lineno] + [d.lineno for d in func.decorator_list])
        # the function's lines, as a mutant's function_source holds them (blank lines
        # before; a method under a bare line of its class)
        head = [""] * (first - 2) + [f"class {owner}:"] if owner else [""] * (first - 1)
        self.lines = head + source_lines[first - 1:func.end_lineno]
        self.returned_only: dict[tuple[int, str], bool] = {}
        self.simple = [n for n in ast.walk(func) if isinstance(n, ast.stmt) and simple(n)]
        loops = [n for n in ast.walk(func) if isinstance(n, ast.For | ast.While | ast.AsyncFor)]
        self.looped = {id(n) for loop in loops for n in ast.walk(loop) if n is not loop}
        self._runs: dict[tuple[int, int], Ran] = {}
        self._code: dict[int, tuple[Any, frozenset[str]]] = {}

    def run(self, stmt: ast.stmt, case: int, state: Snapshot) -> Ran:
        """The original statement run on a traced case's state (once: many mutants share it)."""
        key = (id(stmt), case)
        if key not in self._runs:
            if id(stmt) not in self._code:  # compiled once, run once per traced case
                self._code[id(stmt)] = compiled(stmt)
            self._runs[key] = run(stmt, self._code[id(stmt)], state)
        return self._runs[key]

    def statement_at(self, line: int, col: int) -> ast.stmt | None:
        """The innermost simple statement holding the position (line, col)."""
        best = None
        for stmt in self.simple:
            start = (stmt.lineno, stmt.col_offset)
            end = (stmt.end_lineno, stmt.end_col_offset)
            if start <= (line, col) <= end and (best is None or start >= (best.lineno,
                                                                           best.col_offset)):
                best = stmt
        return best


def changed_statement(original: Original, mutant: Mutant) -> tuple[ast.stmt, ast.stmt] | None:
    """The one simple statement a mutant changes (original, mutated), or None when it
    changes a loop header, moves statements, or changes more than one."""
    before = original.statement_at(mutant.line, mutant.col)
    if before is None:
        return None
    old = original.lines
    new = mutant.function_source.splitlines()
    first, last = before.lineno, before.end_lineno or before.lineno
    if len(new) != len(old) or any(a != b for a, b in zip(old[:first - 1], new[:first - 1],
                                                          strict=True)) \
            or old[last:] != new[last:]:
        return None  # lines outside the statement changed too
    text = "\n".join(new)
    # the tree ``find_mutants`` already made of the same text (a trailing newline aside)
    tree = parsed(mutant.function_source if mutant.function_source in (text, text + "\n")
                  else text)
    if tree is None:
        return None
    after = next((n for n in ast.walk(tree) if isinstance(n, ast.stmt)
                  and (n.lineno, n.col_offset) == (before.lineno, before.col_offset)), None)
    if after is None or not simple(after) or type(after) is not type(before) \
            and not isinstance(after, ast.Assign | ast.AugAssign | ast.Expr | ast.Pass):
        return None
    return before, after


def compiled(stmt: ast.stmt) -> tuple[Any, frozenset[str]]:
    """The statement's code object, and the names it uses."""
    used = frozenset(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name))
    if isinstance(stmt, ast.Return):
        value = stmt.value if stmt.value is not None else ast.Constant(None)
        return compile(ast.Expression(value), "<traced>", "eval"), used
    return compile(ast.Module(body=[stmt], type_ignores=[]), "<traced>", "exec"), used


@dataclass(frozen=True)
class Ran:
    """A statement run on a copy of a traced state: what it raised, and its namespace."""

    error: BaseException | None
    namespace: dict[str, Any]


def run(stmt: ast.stmt, compiled: tuple[Any, frozenset[str]], state: Snapshot) -> Ran:
    """Run one statement on a copy of the names it uses (the user's own code, on copies).
    Warnings are silenced by ``prune``, once around all the runs."""
    code, used = compiled
    local = state.local
    namespace = {**state.globals, **{k: copied(local[k]) for k in used if k in local}}
    try:
        if isinstance(stmt, ast.Return):
            namespace[RETURNED] = eval(code, namespace)
        else:
            exec(code, namespace)  # noqa: S102
    except Exception as e:  # noqa: BLE001 - what the mutant would raise is the finding
        return Ran(e, namespace)
    return Ran(None, namespace)


def copied(value: Any) -> Any:
    """``copy.deepcopy(value)``; a plain numeric array (most of what a backward holds) is
    copied directly, without deepcopy's machinery (the most of pruning's time)."""
    if type(value) is np.ndarray and not value.dtype.hasobject:
        return value.copy(order="K")  # as deepcopy does: the same memory layout
    return copy.deepcopy(value)


RETURNED = "__mutagrad_returned__"
