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
Nothing else is judged: a mutant is kept whenever it runs on one traced case. Kept mutants keep their ids (dropping
happens after the ids are made).
"""

from __future__ import annotations

import ast
import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mutagrad.mutation import replay
from mutagrad.mutation.engine import Mutant, find_owned, parsed
from mutagrad.mutation.operator import call_name, number
from mutagrad.mutation.trace import Snapshot, Trace

_ZEROS = ("zeros", "zeros_like")
_BLOCKS = ("body", "orelse", "finalbody", "handlers")


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


def _simple(stmt: ast.stmt) -> bool:
    return not any(isinstance(getattr(stmt, b, None), list) and getattr(stmt, b)
                   for b in _BLOCKS)


class _Original:
    """The original function, with what every mutant's judgement needs computed once."""

    def __init__(self, owner: str, func: ast.FunctionDef, source_lines: list[str]):
        self.func = func
        first = min([func.lineno] + [d.lineno for d in func.decorator_list])
        # the function's lines, as a mutant's function_source holds them (blank lines
        # before; a method under a bare line of its class)
        head = [""] * (first - 2) + [f"class {owner}:"] if owner else [""] * (first - 1)
        self.lines = head + source_lines[first - 1:func.end_lineno]
        self.returned_only: dict[tuple[int, str], bool] = {}
        self.simple = [n for n in ast.walk(func) if isinstance(n, ast.stmt) and _simple(n)]
        loops = [n for n in ast.walk(func) if isinstance(n, ast.For | ast.While | ast.AsyncFor)]
        self.looped = {id(n) for loop in loops for n in ast.walk(loop) if n is not loop}
        self._runs: dict[tuple[int, int], _Ran] = {}
        self._code: dict[int, tuple[Any, frozenset[str]]] = {}

    def run(self, stmt: ast.stmt, case: int, state: Snapshot) -> _Ran:
        """The original statement run on a traced case's state (once: many mutants share it)."""
        key = (id(stmt), case)
        if key not in self._runs:
            if id(stmt) not in self._code:  # compiled once, run once per traced case
                self._code[id(stmt)] = _compiled(stmt)
            self._runs[key] = _run(stmt, self._code[id(stmt)], state)
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


def changed_statement(original: _Original, mutant: Mutant) -> tuple[ast.stmt, ast.stmt] | None:
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
    if after is None or not _simple(after) or type(after) is not type(before) \
            and not isinstance(after, ast.Assign | ast.AugAssign | ast.Expr | ast.Pass):
        return None
    return before, after


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


def _compiled(stmt: ast.stmt) -> tuple[Any, frozenset[str]]:
    """The statement's code object, and the names it uses."""
    used = frozenset(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name))
    if isinstance(stmt, ast.Return):
        value = stmt.value if stmt.value is not None else ast.Constant(None)
        return compile(ast.Expression(value), "<traced>", "eval"), used
    return compile(ast.Module(body=[stmt], type_ignores=[]), "<traced>", "exec"), used


@dataclass(frozen=True)
class _Ran:
    """A statement run on a copy of a traced state: what it raised, and its namespace."""

    error: BaseException | None
    namespace: dict[str, Any]


def _run(stmt: ast.stmt, compiled: tuple[Any, frozenset[str]], state: Snapshot) -> _Ran:
    """Run one statement on a copy of the names it uses (the user's own code, on copies).
    Warnings are silenced by ``prune``, once around all the runs."""
    code, used = compiled
    local = state.local
    namespace = {**state.globals, **{k: _copied(local[k]) for k in used if k in local}}
    try:
        if isinstance(stmt, ast.Return):
            namespace[_RETURNED] = eval(code, namespace)
        else:
            exec(code, namespace)  # noqa: S102
    except Exception as e:  # noqa: BLE001 - what the mutant would raise is the finding
        return _Ran(e, namespace)
    return _Ran(None, namespace)


def _copied(value: Any) -> Any:
    """``copy.deepcopy(value)``; a plain numeric array (most of what a backward holds) is
    copied directly, without deepcopy's machinery (the most of pruning's time)."""
    if type(value) is np.ndarray and not value.dtype.hasobject:
        return value.copy(order="K")  # as deepcopy does: the same memory layout
    return copy.deepcopy(value)


def _only_returned(name: str, stmt: ast.stmt, func: ast.FunctionDef) -> bool:
    """Whether ``name``'s value after ``stmt`` only reaches the function's ``return``:
    read after it only as an entry of the returned tuple/dict literal (or of a dict literal
    bound to a name that is returned as it is), and never rebound."""
    after = [n for n in ast.walk(func) if isinstance(n, ast.stmt)
             and n.lineno > (stmt.end_lineno or stmt.lineno)]
    returned = {r.value.id for r in after if isinstance(r, ast.Return)
                and isinstance(r.value, ast.Name)}
    for later in after:
        for node in ast.walk(later):
            if isinstance(node, ast.Name) and node.id == name and not isinstance(later, ast.Return
                                                                                | ast.Assign):
                return False
        if isinstance(later, ast.Return):
            holder = later.value
        elif isinstance(later, ast.Assign):
            target = later.targets[0] if len(later.targets) == 1 else None
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                    and target.value.id in returned:
                return False  # the returned dict is edited after: give up
            if not (isinstance(target, ast.Name) and target.id in returned):
                holder = None
                if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(later)):
                    return False
                continue
            holder = later.value
        else:
            continue
        entries = (holder.values if isinstance(holder, ast.Dict) else
                   holder.elts if isinstance(holder, ast.Tuple) else [holder])
        direct = {id(e) for e in entries if isinstance(e, ast.Name)}
        for node in ast.walk(later):
            if isinstance(node, ast.Name) and node.id == name and id(node) not in direct:
                return False
    return True


def _verdict(function: str, original: _Original, before: ast.stmt, after: ast.stmt,
             trace: Trace) -> str | None:
    """Why the mutant crashes, or returns a wrong-shaped gradient, on every traced case
    (None when it does not, or when that cannot be told)."""
    states = trace.state(function, before.lineno, before.end_lineno or before.lineno)
    if trace.failed or not states or any(s is None for s in states):
        return None
    name = _returned_only_name(original, before, after)
    if function != trace.backward or name not in trace.checked:
        name = None  # a helper's result, or a value the check never sees as it is
    entries = _returned_entries(original, before, trace) if function == trace.backward else None
    code = _compiled(after)
    errors: list[BaseException] = []
    wrong: list[str] = []
    for index, state in enumerate(states):
        assert state is not None
        old = original.run(before, index, state)
        if old.error is not None:
            return None  # the statement alone does not run on the copied state
        new = _run(after, code, state)
        if new.error is not None:
            errors.append(new.error)
        elif name is not None:
            a, b = _shape(old.namespace, name), _shape(new.namespace, name)
            if a != b and None not in (a, b):
                wrong.append(f"{name} has shape {b} where the original's has {a}")
        elif entries is not None:
            found = _wrong_entry(entries, old.namespace, new.namespace)
            if found:
                wrong.append(found)
    if len(errors) == len(states):
        first = f"{type(errors[0]).__name__}: {errors[0]}".splitlines()[0][:90]
        return f"crashes on every traced case ({len(states)}), line {before.lineno}: {first}"
    if len(wrong) == len(states):
        return (f"returns a gradient of the wrong shape on every traced case ({len(states)}), "
                f"line {before.lineno}: {wrong[0]}")
    return None


_RETURNED = "__mutagrad_returned__"


def _returned_entries(original: _Original, before: ast.stmt,
                      trace: Trace) -> tuple[str | None, list[Any]] | None:
    """When ``before`` builds what the backward returns (``return {...}``, ``return a, b``,
    or ``g = {...}`` then ``return g``), once: the name holding it and the keys (or
    positions) of the entries that are arrays the subject checks."""
    if id(before) in original.looped:
        return None
    if isinstance(before, ast.Return):
        holder, value = None, before.value
    elif isinstance(before, ast.Assign) and len(before.targets) == 1 \
            and isinstance(before.targets[0], ast.Name):
        holder, value = before.targets[0].id, before.value
        key = (id(before), "<holder>")
        if key not in original.returned_only:  # once per statement, not per mutant of it
            original.returned_only[key] = _returns_as_is(holder, before, original.func)
        if not original.returned_only[key]:
            return None
    else:
        return None
    if isinstance(value, ast.Dict):
        keys = [k.value for k, v in zip(value.keys, value.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Name)
                and v.id in trace.checked]
    elif isinstance(value, ast.Tuple):
        keys = [i for i, v in enumerate(value.elts)
                if isinstance(v, ast.Name) and v.id in trace.checked]
    else:
        return None
    return (holder, keys) if keys else None


def _returns_as_is(holder: str, stmt: ast.stmt, func: ast.FunctionDef) -> bool:
    """``return holder`` follows, and nothing else after ``stmt`` mentions ``holder``."""
    later = [n for n in ast.walk(func) if isinstance(n, ast.stmt)
             and n.lineno > (stmt.end_lineno or stmt.lineno)]
    uses = [n for s in later for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == holder]
    returns = [s for s in later if isinstance(s, ast.Return) and isinstance(s.value, ast.Name)
               and s.value.id == holder]
    return len(returns) == len(uses) >= 1


def _wrong_entry(entries: tuple[str | None, list[Any]], old: dict[str, Any],
                 new: dict[str, Any]) -> str | None:
    """The first checked entry that the mutated container lacks or holds in another shape."""
    holder, keys = entries
    before: Any = old.get(holder or _RETURNED)
    after: Any = new.get(holder or _RETURNED)
    for key in keys:
        try:
            a = tuple(np.shape(before[key]))
        except Exception:  # noqa: BLE001 - nothing to compare with
            return None
        try:
            entry = after[key]
        except (KeyError, IndexError, TypeError):
            return f"no entry {key!r}"
        try:
            b = tuple(np.shape(entry))
        except Exception:  # noqa: BLE001 - not an array: no shape to compare
            return None
        if a != b:
            return f"entry {key!r} has shape {b} where the original's has {a}"
    return None


def _shape(namespace: dict[str, Any], name: str) -> tuple[int, ...] | None:
    try:
        return tuple(np.shape(namespace[name]))
    except Exception:  # noqa: BLE001 - not an array: no shape to compare
        return None


def _returned_only_name(original: _Original, before: ast.stmt, after: ast.stmt) -> str | None:
    """The name the statement assigns, when its value after it only reaches the return and
    the statement runs once (see ``_only_returned``)."""
    if not (isinstance(after, ast.Assign) and len(after.targets) == 1
            and isinstance(after.targets[0], ast.Name)):
        return None
    name = after.targets[0].id
    key = (id(before), name)
    if key not in original.returned_only:
        original.returned_only[key] = (id(before) not in original.looped
                                       and _only_returned(name, before, original.func))
    return name if original.returned_only[key] else None


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
        self.originals: dict[str, _Original] = {}

    def split(self, mutants: Sequence[Mutant]) -> Generation:
        originals, trace = self.originals, self.trace
        reasons: dict[str, str | None] = {}
        for m in mutants:
            if m.function not in originals:
                originals[m.function] = _Original(*_function(self.tree, m.function), self.lines)
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


def _judge(m: Mutant, original: _Original, trace: Trace | None) -> str | None:
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
