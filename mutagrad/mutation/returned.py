"""What reaches the backward's return: the names and entries a gradient leaves it by.

``prune`` calls a mutant a wrong-shaped gradient only where the changed statement's value
goes nowhere but into what the backward returns (so the subject checks it as it is): a
name read afterwards only as an entry of the returned tuple or dict literal, or the
returned container itself.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from mutagrad.mutation.statement import RETURNED, Original
from mutagrad.mutation.trace import Trace


def only_returned(name: str, stmt: ast.stmt, func: ast.FunctionDef) -> bool:
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


def returned_entries(original: Original, before: ast.stmt,
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
            original.returned_only[key] = returns_as_is(holder, before, original.func)
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


def returns_as_is(holder: str, stmt: ast.stmt, func: ast.FunctionDef) -> bool:
    """``return holder`` follows, and nothing else after ``stmt`` mentions ``holder``."""
    later = [n for n in ast.walk(func) if isinstance(n, ast.stmt)
             and n.lineno > (stmt.end_lineno or stmt.lineno)]
    uses = [n for s in later for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == holder]
    returns = [s for s in later if isinstance(s, ast.Return) and isinstance(s.value, ast.Name)
               and s.value.id == holder]
    return len(returns) == len(uses) >= 1


def wrong_entry(entries: tuple[str | None, list[Any]], old: dict[str, Any],
                 new: dict[str, Any]) -> str | None:
    """The first checked entry that the mutated container lacks or holds in another shape."""
    holder, keys = entries
    before: Any = old.get(holder or RETURNED)
    after: Any = new.get(holder or RETURNED)
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


def shape_of(namespace: dict[str, Any], name: str) -> tuple[int, ...] | None:
    try:
        return tuple(np.shape(namespace[name]))
    except Exception:  # noqa: BLE001 - not an array: no shape to compare
        return None


def returned_only_name(original: Original, before: ast.stmt, after: ast.stmt) -> str | None:
    """The name the statement assigns, when its value after it only reaches the return and
    the statement runs once (see ``only_returned``)."""
    if not (isinstance(after, ast.Assign) and len(after.targets) == 1
            and isinstance(after.targets[0], ast.Name)):
        return None
    name = after.targets[0].id
    key = (id(before), name)
    if key not in original.returned_only:
        original.returned_only[key] = (id(before) not in original.looped
                                       and only_returned(name, before, original.func))
    return name if original.returned_only[key] else None
