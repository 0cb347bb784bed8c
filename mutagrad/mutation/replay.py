"""Replaying a mutated function from its traced entry: what shape-aware generation cannot
tell from one statement.

``prune`` runs a mutated statement once, on the state before its first execution. Many
mutants pass that test and still crash: a window start negated (``-(h * stride)``) is 0
where ``h`` is 0 and out of range from the next window on; a slice emptied by a shifted
bound only fails at the product two lines below; ``dZ[i, h, c, w]`` is in range at the
first iteration only. Their failure shows later in the same call.

A mutant is the original up to the first execution of its mutated statement, and the
tracer kept the locals of the mutated function just before its first line ran (its
arguments, ``trace.Snapshot``). So the mutated function, compiled in memory over a copy of
its module's globals and called with copies of those arguments, does on each traced case
what the mutant does inside the subject up to the end of that first call (the only other
functions it calls are the originals, as in the mutant). When it raises on every traced
case, the mutant crashes on every traced case; when the backward itself returns, on every
traced case, a checked gradient of another shape than the original's (or none), the
mutant ends ``shape``. Anything else (it returns gradients of the right shapes on some
case, or the replay cannot be set up) says nothing and the mutant is kept.

The replay is the user's code and a mutant of it, run in this process on copies: bounded by
a budget of executed lines (a mutated loop bound cannot hang generation, in any thread),
with numpy's warnings off. A function that takes ``*args``/``**kwargs`` or calls ``super()``
(which a method compiled outside its class cannot) is not replayed.
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mutagrad.mutation.engine import Mutant, compile_functions
from mutagrad.mutation.trace import Snapshot, Trace

LINE_BUDGET = 200_000  # lines a replayed call may run (the built-in backwards run < 10,000)


class _OverBudget(BaseException):
    """Raised inside a replayed call that ran too many lines (not an ``Exception``: the
    user's ``except Exception`` must not swallow it)."""


def verdict(mutant: Mutant, func: ast.FunctionDef, trace: Trace) -> str | None:
    """Why the mutant crashes, or returns a wrong-shaped gradient, on every traced case when
    its function is replayed from the traced entry (None when it does not, or cannot tell).

    ``func`` is the original definition of the mutated function (its first line is where
    the entry state was kept). Cost: one call of the mutated function per traced case, at
    most (it stops at the first case where the mutant runs and returns the right shapes).
    """
    if trace.failed or "super" in {n.id for n in ast.walk(func) if isinstance(n, ast.Name)}:
        return None
    line = func.body[0].lineno
    states = trace.state(mutant.function, line, line)
    if not states or any(s is None for s in states):
        return None
    shapes = trace.returned if mutant.function == trace.backward and trace.returned else None
    call = _compiled(mutant, states[0])  # type: ignore[arg-type]
    if call is None:
        return None
    errors: list[str] = []
    wrong: list[str] = []
    for index, state in enumerate(states):
        assert state is not None
        outcome = _replay(call, state)
        if isinstance(outcome, _Raised):
            errors.append(outcome.message)
        elif outcome is _UNKNOWN:
            return None
        else:
            found = _wrong_entry(outcome, shapes[index]) if shapes else None
            if found is None:
                return None  # runs, with the right shapes: a verdict of the check
            wrong.append(found)
        if errors and wrong:
            return None  # crashed on some cases, wrong shapes on others: said nowhere
    if len(errors) == len(states):
        return f"crashes on every traced case ({len(states)}), replayed: {errors[0]}"
    return (f"returns a gradient of the wrong shape on every traced case ({len(states)}), "
            f"replayed: {wrong[0]}")


class _Raised:
    def __init__(self, error: BaseException):
        self.message = f"{type(error).__name__}: {error}".splitlines()[0][:90]


_UNKNOWN = object()


def _compiled(mutant: Mutant, state: Snapshot) -> Callable[..., Any] | None:
    """The mutated function compiled over a copy of its module's globals (the module is
    untouched), as a plain function; None when it cannot be called from its arguments."""
    namespace = dict(state.globals)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = compile_functions(mutant.function_source, [mutant.function], namespace,
                                      f"<replayed mutant {mutant.id}>")[mutant.function]
    except Exception:  # noqa: BLE001 - a mutant that does not compile here is not judged
        return None
    func = getattr(value, "__func__", value)  # a staticmethod or classmethod's function
    if not isinstance(func, types.FunctionType):
        return None
    kinds = {p.kind for p in inspect.signature(func).parameters.values()}
    if kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}:
        return None
    return func


def _replay(func: Callable[..., Any], state: Snapshot) -> Any:
    """Call ``func`` with copies of its traced arguments: what it returns, a ``_Raised``,
    or ``_UNKNOWN`` (its arguments are not all in the state, or it ran over budget)."""
    names = list(inspect.signature(func).parameters)
    if any(n not in state.local for n in names):
        return _UNKNOWN
    try:
        arguments = {n: copy.deepcopy(state.local[n]) for n in names}
    except Exception:  # noqa: BLE001 - arguments that cannot be copied are not replayed
        return _UNKNOWN
    lines = 0

    def count(frame: types.FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines > LINE_BUDGET:
                raise _OverBudget
        return count

    previous = sys.gettrace()
    sys.settrace(count)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return func(**arguments)
    except _OverBudget:
        return _UNKNOWN
    except Exception as e:  # noqa: BLE001 - what the mutant raises is the finding
        return _Raised(e)
    finally:
        sys.settrace(previous)


def _wrong_entry(value: Any, shapes: dict[Any, tuple[int, ...]]) -> str | None:
    """The first checked entry the returned value lacks or holds in another shape."""
    for key, shape in shapes.items():
        try:
            entry = value[key]
        except (KeyError, IndexError, TypeError):
            # a dict without a gradient's key is a wrong layout; a short tuple may crash
            # the subject's unpacking instead: not told
            return f"no entry {key!r}" if isinstance(value, dict) else None
        try:
            got = tuple(np.shape(entry))
        except Exception:  # noqa: BLE001 - not an array: no shape to compare
            return None
        if got != shape:
            return f"entry {key!r} has shape {got} where the original's has {shape}"
    return None
