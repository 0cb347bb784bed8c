"""What the original backward holds as it runs: the tracer behind shape-aware generation.

The original backward (and its ``--mutate`` helpers) runs once per traced case under
``sys.settrace``. The first time each line of those functions is about to run, the tracer
keeps a copy of the function's locals: the *state before the line's first execution*.

That state is exact for a mutant too: a mutant differs from the original in one statement
only, so up to the first execution of that statement both programs have done the same
thing. Whatever the mutated statement does on this state (raise, or give an array of
another shape), the mutant does on that case. ``prune`` builds on that.
"""

from __future__ import annotations

import copy
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mutagrad.mutation.methods import qualname
from mutagrad.subject import Case, Subject


@dataclass(frozen=True)
class Snapshot:
    """The locals of one function just before one of its lines first ran, on one case."""

    order: int  # when it was taken in the run (earlier lines of a statement win)
    local: dict[str, Any] = field(repr=False)
    globals: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Trace:
    """Per traced case: ``(function name, line) -> Snapshot``; ``cases`` says which cases,
    ``failed`` the cases on which the original itself raised (nothing is judged there)."""

    cases: tuple[str, ...]
    lines: tuple[dict[tuple[str, int], Snapshot], ...]
    failed: tuple[str, ...] = ()
    # the backward's locals that hold, when it returns, the very arrays the subject checks
    # (on every traced case): a wrong shape there is a wrong-shaped gradient
    checked: frozenset[str] = frozenset()
    backward: str = ""
    # per case, the entries of what the backward returned (dict keys or tuple positions)
    # that are the very arrays the subject checks, with their shapes (on every case the
    # same entries): a replayed mutant returning another shape there ends ``shape``
    returned: tuple[dict[Any, tuple[int, ...]], ...] = ()
    seconds: float = 0.0  # how long the traced runs took, all cases (a replay's yardstick)

    def state(self, function: str, first: int, last: int) -> list[Snapshot | None]:
        """Per case, the state before the statement spanning lines first..last first ran
        (None where it never ran)."""
        found: list[Snapshot | None] = []
        for lines in self.lines:
            shots = [lines[(function, n)] for n in range(first, last + 1)
                     if (function, n) in lines]
            found.append(min(shots, key=lambda s: s.order) if shots else None)
        return found


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, types.ModuleType | types.FunctionType | type):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - an object that cannot be copied is kept as it is
        return value


def trace_cases(subject: Subject, cases: Iterable[Case]) -> Trace:
    """Run the subject's original backward on each case under the tracer."""
    functions = [subject.backward, *subject.helpers]
    codes = {getattr(f, "__code__", None): qualname(f) for f in functions}
    labels, runs, failed = [], [], []
    returned: list[dict[Any, tuple[int, ...]]] = []
    seconds = 0.0
    checked: set[str] | None = None
    for case in cases:
        lines: dict[tuple[str, int], Snapshot] = {}
        counter = iter(range(1 << 62))
        at_return: dict[str, Any] = {}
        value: list[Any] = []  # what the backward's first call returned

        def local(frame: types.FrameType, event: str, arg: Any,
                  lines: dict[tuple[str, int], Snapshot] = lines,
                  counter: Iterator[int] = counter,
                  at_return: dict[str, Any] = at_return,
                  value: list[Any] = value) -> Callable[..., Any]:
            if event == "line":
                key = (codes[frame.f_code], frame.f_lineno)
                if key not in lines:
                    state = {k: _copy(v) for k, v in frame.f_locals.items()}
                    lines[key] = Snapshot(next(counter), state, frame.f_globals)
            elif event == "return" and frame.f_code is subject.backward.__code__ \
                    and not at_return:
                at_return.update(frame.f_locals)
                value.append(arg)
            return local

        def global_(frame: types.FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
            return local if event == "call" and frame.f_code in codes else None

        previous = sys.gettrace()
        start = time.perf_counter()
        sys.settrace(global_)
        try:
            grads = subject.gradients(subject.backward, case)
        except Exception:  # noqa: BLE001 - the original failing here is reported by check
            failed.append(case.label)
            grads = {}
        finally:
            sys.settrace(previous)
            seconds += time.perf_counter() - start
        labels.append(case.label)
        runs.append(lines)
        held = {name for name, value in at_return.items()
                if any(value is g for g in grads.values())}
        checked = held if checked is None else checked & held
        returned.append(_checked_entries(value[0] if value else None, grads))
    common = set.intersection(*(set(r) for r in returned)) if returned else set()
    return Trace(tuple(labels), tuple(runs), tuple(failed), frozenset(checked or ()),
                 qualname(subject.backward),
                 tuple({k: v for k, v in r.items() if k in common} for r in returned), seconds)


def _checked_entries(value: Any, grads: dict[str, Any]) -> dict[Any, tuple[int, ...]]:
    """The keys (of a returned dict) or positions (of a returned tuple or list) holding the
    very arrays the subject checks, with their shapes."""
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, tuple | list) else ())
    return {k: tuple(np.shape(v)) for k, v in items
            if any(v is g for g in grads.values())}


def default_cases(subject: Subject, seeds: int = 8) -> list[Case]:
    """The traced cases: seeds 0 to 7 (the built-in subjects' case families: square and
    not, every stride, padding and pooling mode), batch 1 and 6 (a campaign's batches).
    With no case traced, nothing is dropped but the equivalents by construction."""
    batches: tuple[int | None, ...] = (1, 6) if subject.batched else (None,)
    cases = []
    for seed in range(seeds):
        for batch in batches:
            try:
                cases.append(subject.case(seed, batch))
            except Exception:  # noqa: BLE001, S110 - a case the subject cannot make is not traced
                pass
    return cases
