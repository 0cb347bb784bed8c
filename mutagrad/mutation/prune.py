"""Shape-aware generation: drop the mutants that cannot say anything about the check.

Two kinds are dropped, each with its reason, and listed by ``mutagrad mutants --dropped``:

- **equivalent by construction**: the mutated statement gives the same value whatever
  the input (``dW = -np.zeros(...)``, ``np.zeros(...) * 2``): no check can catch it;
- **crashes on every traced case**: the mutated statement, run on the exact state the
  mutant reaches before its first execution (see ``trace``), raises on every traced case
  where the original runs (a swap between names whose shapes do not fit, a slice that
  cannot be broadcast, a name used before it is assigned). Such a mutant would end
  ``crashed``, which says nothing about a gradient check;
- **a wrong-shaped gradient on every traced case**: the mutated statement, in the
  backward itself, runs once (in no loop) and either assigns a name that nothing after it
  reads or rebinds except the ``return`` (directly, or through the dict literal that is
  returned), or builds what is returned (``return dx, dw``, ``grads = {...}``); the names
  involved hold arrays the subject checks as they are (the tracer saw the very objects
  come out of the subject's ``gradients``). When, on every traced case, such a gradient
  gets another shape than the original's, or goes missing (a dropped ``keepdims``, a swap
  with a name of another shape in the returned dict), the mutant ends ``shape``: again no
  verdict of the check.

What one statement cannot show (a crash at a later iteration or a later line, a moved or
two-site change) is judged by replaying the whole mutated function from its traced entry
(``replay``): a crash, or a wrong-shaped gradient, on every traced case drops it too.
Nothing else is judged: a mutant is kept whenever it runs on one traced case. Kept
mutants keep their ids (dropping happens after the ids are made).

The policy is here; ``statement`` finds the statement a mutant changes and runs it on
traced states, ``returned`` tells what reaches the backward's return.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mutagrad.mutation import replay
from mutagrad.mutation.engine import Mutant, find_owned
from mutagrad.mutation.operator import call_name, number
from mutagrad.mutation.returned import returned_entries, returned_only_name, shape_of, wrong_entry
from mutagrad.mutation.statement import Original, changed_statement, compiled, run
from mutagrad.mutation.trace import Trace

_ZEROS = ("zeros", "zeros_like")


@dataclass(frozen=True)
class Dropped:
    """A mutant left out of campaigns, and why."""

    mutant: Mutant
    reason: str


@dataclass(frozen=True)
class Generation:
    """The mutants a campaign runs, and those dropped (with their reasons)."""

    kept: list[Mutant]
    dropped: list[Dropped]


def _zeros(node: ast.AST) -> bool:
    return call_name(node) in _ZEROS


def _scaled_zeros(new: ast.AST, old: ast.AST) -> bool:
    """``-Z``, ``Z * c``, ``c * Z``, ``Z / c`` for the original's ``Z = np.zeros(...)``."""
    if isinstance(new, ast.UnaryOp) and isinstance(new.op, ast.USub | ast.UAdd):
        return ast.dump(new.operand) == ast.dump(old)
    if isinstance(new, ast.BinOp) and isinstance(new.op, ast.Mult | ast.Div):
        pairs = ((new.left, new.right), (new.right, new.left)) if isinstance(new.op, ast.Mult) \
            else ((new.left, new.right),)
        return any(ast.dump(z) == ast.dump(old) and number(c) is not None for z, c in pairs)
    return False


def equivalent_by_construction(before: ast.stmt, after: ast.stmt) -> str | None:
    value = getattr(before, "value", None)
    new = getattr(after, "value", None)
    if isinstance(before, ast.Assign | ast.AugAssign) and type(before) is type(after) \
            and value is not None and new is not None and _zeros(value) \
            and _scaled_zeros(new, value):
        return "equivalent by construction: a multiple of zeros is zeros"
    return None


def _verdict(function: str, original: Original, before: ast.stmt, after: ast.stmt,
             trace: Trace) -> str | None:
    """Why the mutant crashes, or returns a wrong-shaped gradient, on every traced case
    (None when it does not, or when that cannot be told)."""
    states = trace.state(function, before.lineno, before.end_lineno or before.lineno)
    if trace.failed or not states or any(s is None for s in states):
        return None
    name = returned_only_name(original, before, after)
    if function != trace.backward or name not in trace.checked:
        name = None  # a helper's result, or a value the check never sees as it is
    entries = returned_entries(original, before, trace) if function == trace.backward else None
    code = compiled(after)
    errors: list[BaseException] = []
    wrong: list[str] = []
    for index, state in enumerate(states):
        assert state is not None
        old = original.run(before, index, state)
        if old.error is not None:
            return None  # the statement alone does not run on the copied state
        new = run(after, code, state)
        if new.error is not None:
            errors.append(new.error)
        elif name is not None:
            a, b = shape_of(old.namespace, name), shape_of(new.namespace, name)
            if a != b and None not in (a, b):
                wrong.append(f"{name} has shape {b} where the original's has {a}")
        elif entries is not None:
            found = wrong_entry(entries, old.namespace, new.namespace)
            if found:
                wrong.append(found)
    if len(errors) == len(states):
        first = f"{type(errors[0]).__name__}: {errors[0]}".splitlines()[0][:90]
        return f"crashes on every traced case ({len(states)}), line {before.lineno}: {first}"
    if len(wrong) == len(states):
        return (f"returns a gradient of the wrong shape on every traced case ({len(states)}), "
                f"line {before.lineno}: {wrong[0]}")
    return None


def prune(mutants: Sequence[Mutant], source: str, trace: Trace | None) -> Generation:
    """Split ``mutants`` of ``source`` (the original file's text) into those kept and
    those dropped, with the reason."""
    return Pruner(source, trace).split(mutants)


class Pruner:
    """``prune``, a batch of mutants at a time (a campaign runs the kept ones of a batch
    while the next is judged); what the original's statements give is worked out once for
    all batches. Each mutant's verdict is its own: batches change no verdict."""

    def __init__(self, source: str, trace: Trace | None):
        self.tree = ast.parse(source)
        self.lines = source.splitlines()
        self.trace = trace
        self.originals: dict[str, Original] = {}

    def split(self, mutants: Sequence[Mutant]) -> Generation:
        originals, trace = self.originals, self.trace
        reasons: dict[str, str | None] = {}
        for m in mutants:
            if m.function not in originals:
                originals[m.function] = Original(*_function(self.tree, m.function), self.lines)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # the statements run on traced states
                reasons[m.id] = _judge(m, originals[m.function], trace)
        if trace is not None:
            # what one statement cannot show (a later iteration, a later line, a moved or
            # two-site change): the whole mutated function, replayed from its traced entry
            # in a child process (a replayed mutant may exit, hang or eat memory)
            undecided = [(m, originals[m.function].func) for m in mutants
                         if reasons[m.id] is None]
            reasons.update(replay.verdicts(undecided, trace))
        kept = [m for m in mutants if reasons[m.id] is None]
        dropped = [Dropped(m, reason) for m in mutants if (reason := reasons[m.id]) is not None]
        return Generation(kept, dropped)


def _function(tree: ast.Module, name: str) -> tuple[str, ast.FunctionDef]:
    """(owning class or "", definition) of a function or ``Class.method``."""
    return find_owned(tree, [name], "<source>")[0]


def _judge(m: Mutant, original: Original, trace: Trace | None) -> str | None:
    changed = changed_statement(original, m)
    reason = None
    if changed is not None:
        before, after = changed
        reason = equivalent_by_construction(before, after)
        if reason is None and trace is not None and m.operator == "swap-attribute":
            reason = _other_shape(m, before, trace)
        if reason is None and trace is not None:
            reason = _verdict(m.function, original, before, after, trace)
    return reason


def _other_shape(m: Mutant, before: ast.stmt, trace: Trace) -> str | None:
    """``self.x`` -> ``self.y`` where, on every traced case, y has another shape than x, or
    they are scalars (the operator is meant for stored arrays of one shape, not for sizes
    or regulariser strengths)."""
    x, y = m.original.removeprefix("self."), m.replacement.removeprefix("self.")
    states = trace.state(m.function, before.lineno, before.end_lineno or before.lineno)
    shapes = []
    for state in states:
        layer = state.local.get("self") if state is not None else None
        if layer is None or not hasattr(layer, x) or not hasattr(layer, y):
            return None
        try:
            a, b = np.shape(getattr(layer, x)), np.shape(getattr(layer, y))
        except Exception:  # noqa: BLE001 - not arrays: no shape to compare
            return None
        if a == b and len(a) > 0:
            return None
        shapes.append((a, b))
    if not shapes:
        return None
    return (f"swaps self.{x} for self.{y}, not arrays of one shape on every traced case "
            f"({len(shapes)}): {shapes[0][1]} where {shapes[0][0]}")
