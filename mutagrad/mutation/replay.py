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

A replayed mutant may do anything its code can (a mutated flag can reach ``os._exit``,
a blocked signal and a long sleep, a 2 GiB allocation), so ``verdicts`` replays in a child
process forked for the purpose (it inherits the trace: nothing is pickled), one mutant
after another, each answer sent back as it is found: the child writes to /dev/null, lives
under an address-space cap, and a mutant that kills it or outlives its deadline is kept
(nothing known) and the rest go on in a new child. Every mutant not dropped before is
replayed so, once per traced case at most: code with side effects outside its arrays (a
file it writes) sees ``MUTAGRAD_REPLAY=1`` in the child. Inside, a replayed call is bounded
by a budget of executed lines. A function that takes ``*args``/``**kwargs`` or calls
``super()`` (which a method compiled outside its class cannot) is not replayed; where the
platform cannot fork, nothing is.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import json
import os
import select
import signal
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mutagrad.mutation.engine import Mutant, compile_functions
from mutagrad.mutation.trace import Snapshot, Trace

LINE_BUDGET = 200_000  # lines a replayed call may run (the built-in backwards run < 10,000)
# Seconds a child may take to answer for one mutant: the floor, plus this many times what
# the traced runs of the original took (a replay runs the same cases, under a line counter)
DEADLINE_FLOOR, DEADLINE_FACTOR = 2.0, 20.0
MEMORY_BYTES = 1 << 30  # what a child may allocate beyond the parent's size
REPLAY_ENV = "MUTAGRAD_REPLAY"  # set to "1" in a replaying child


class _OverBudget(BaseException):
    """Raised inside a replayed call that ran too many lines (not an ``Exception``: the
    user's ``except Exception`` must not swallow it)."""


def verdicts(mutants: Sequence[tuple[Mutant, ast.FunctionDef]],
             trace: Trace) -> dict[str, str | None]:
    """``verdict`` for each (mutant, original definition of its function), replayed in
    forked children (see the module docstring); mutant id -> reason, None when kept."""
    found: dict[str, str | None] = {m.id: None for m, _ in mutants}
    if not hasattr(os, "fork") or trace.failed:
        return found
    pending = list(mutants)
    while pending:
        answered = _in_child(pending, trace)
        found.update(answered)
        # the first mutant without an answer killed or stalled its child: kept, and the
        # rest go on in a new child
        rest = pending[len(answered):]
        pending = rest[1:]
    return found


def _in_child(mutants: Sequence[tuple[Mutant, ast.FunctionDef]],
              trace: Trace) -> dict[str, str | None]:
    """Replay ``mutants`` in order in one forked child; the answers it gave before it
    ended, died or stalled (a deadline per answer, from ``trace.seconds``)."""
    deadline = DEADLINE_FLOOR + DEADLINE_FACTOR * trace.seconds
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        try:
            os.close(read)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.environ[REPLAY_ENV] = "1"  # code with side effects can tell (and skip them)
            _cap_memory()
            with os.fdopen(write, "w") as out:
                for m, func in mutants:
                    out.write(json.dumps([m.id, verdict(m, func, trace)]) + "\n")
                    out.flush()
        finally:
            os._exit(0)
    os.close(write)
    answers: dict[str, str | None] = {}
    buffer = b""
    try:
        while len(answers) < len(mutants):
            ready, _, _ = select.select([read], [], [], deadline)
            if not ready:
                break  # stalled: a blocked signal and a sleep, a hang inside C
            chunk = os.read(read, 1 << 16)
            if not chunk:
                break  # the child ended, or died
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                mutant_id, reason = json.loads(line)
                answers[mutant_id] = reason
    finally:
        os.close(read)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return answers


def _cap_memory() -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: no cap; the deadline still bounds the child


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
