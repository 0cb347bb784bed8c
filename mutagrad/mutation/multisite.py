"""Mutants that change more than one node: mirrored pairs and moved statements.

A ``Pair`` replaces several nodes at once; a ``Move`` cuts a statement's lines and pastes
them, re-indented, into another block. Either way the engine's contract holds: the edited
text is parsed again and must give exactly the intended tree (the function with those
changes made on its AST), or no mutant is made; the id is a hash of code, not of lines.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mutagrad.mutation.engine import (
    Mutant,
    _count_statements,
    _function_text,
    _reparsed,
    _Source,
    _statement_key,
    _windowed_diff,
    render,
)
from mutagrad.mutation.operator import Move, Operator, Pair, Scope


@contextmanager
def _replaced(scope: Scope, pairs: tuple[tuple[ast.AST, ast.AST], ...]) -> Iterator[None]:
    """Swap each node for its replacement in its parent, for the duration of the block."""
    undo: list[tuple[ast.AST, str, int | None, ast.AST]] = []
    try:
        for node, new in pairs:
            parent = scope.parent(node)
            assert parent is not None
            for name, value in ast.iter_fields(parent):
                if value is node:
                    setattr(parent, name, new)
                    undo.append((parent, name, None, node))
                    break
                if isinstance(value, list) and any(v is node for v in value):
                    at = next(i for i, v in enumerate(value) if v is node)
                    value[at] = new
                    undo.append((parent, name, at, node))
                    break
        yield
    finally:
        for parent, name, index, node in reversed(undo):
            if index is None:
                setattr(parent, name, node)
            else:
                getattr(parent, name)[index] = node


def make(func: ast.FunctionDef, edit: Pair | Move, op: Operator, scope: Scope, src: _Source,
         originals: set[int], path: str, seen: set[tuple[Any, ...]],
         occurrences: Counter[str], strict: bool, owner: str = "") -> Mutant | None:
    """The mutant ``edit`` makes in ``func`` (a method of class ``owner`` if given), or
    None (already made, or not writable)."""
    made = (_pair(func, edit, scope, src, originals, owner) if isinstance(edit, Pair)
            else _move(func, edit, scope, src, owner))
    if made is None:
        if strict:
            raise AssertionError(f"{op.name}: {edit} does not re-parse as intended")
        return None
    new_source, delta, intended, key_parts, shown, same_as = made
    keys = {("function", intended), *same_as}
    if intended == ast.dump(func) or keys & seen:
        return None
    seen.update(keys)
    function = f"{owner}.{func.name}" if owner else func.name
    key = "\0".join([function, op.name, *key_parts])
    occurrences[key] += 1
    mutant_id = hashlib.sha256(f"{key}\0{occurrences[key]}".encode()).hexdigest()[:10]
    first, last, line, col, original, replacement = shown
    diff = _windowed_diff(src.lines, new_source.splitlines(keepends=True), first, last, delta,
                          path, f"{path} (mutant {mutant_id})")
    return Mutant(mutant_id, function, op.category, op.name, path, line, col, original,
                  replacement, new_source, diff, _function_text(new_source, func, delta, owner))


# (new source, lines added, intended function dump, id material, what to show, and the
# single-place keys the same program has: a pair inside one statement is that statement's)
_Made = tuple[str, int, str, list[str], tuple[int, int, int, int, str, str],
              set[tuple[Any, ...]]]


def _pair(func: ast.FunctionDef, pair: Pair, scope: Scope, src: _Source,
          originals: set[int], owner: str) -> _Made | None:
    spans = [src.span(node) for node, _ in pair.replacements]
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    if any(spans[a][1] > spans[b][0] for a, b in itertools.pairwise(order)):
        return None  # overlapping places
    statements = {id(scope.statement(node)): scope.statement(node)
                  for node, _ in pair.replacements}
    with _replaced(scope, pair.replacements):
        intended = ast.dump(func)
        same_as = {(s.lineno, s.col_offset, ast.dump(s)) for s in statements.values()
                   if s is not None and len(statements) == 1}
    texts = [render(new, src, originals) for _, new in pair.replacements]
    choices = [[t] if isinstance(new, ast.stmt) else [t, f"({t})"]
               for t, (_, new) in zip(texts, pair.replacements, strict=True)]
    count = _count_statements(func)
    for chosen in itertools.product(*choices):
        new_source, delta = src.text, 0
        for i in reversed(order):
            start, end = spans[i]
            new_source = new_source[:start] + chosen[i] + new_source[end:]
            delta += chosen[i].count("\n") - src.text[start:end].count("\n")
        reparsed = _reparsed(_function_text(new_source, func, delta, owner))
        if reparsed is not None and _count_statements(reparsed) == count \
                and ast.dump(reparsed) == intended:
            break
    else:
        return None
    key_parts = []
    for node, new in pair.replacements:
        stmt = scope.statement(node)
        key_parts += [_statement_key(stmt) if stmt else "", ast.dump(node), ast.dump(new)]
    nodes = [node for node, _ in pair.replacements]
    first_node = nodes[order[0]]
    shown = (min(n.lineno for n in nodes),  # type: ignore[attr-defined]
             max(n.end_lineno for n in nodes),  # type: ignore[attr-defined]
             first_node.lineno, first_node.col_offset,  # type: ignore[attr-defined]
             " | ".join(src.segment(nodes[i]) for i in order),
             " | ".join(chosen[i] for i in order))
    return new_source, delta, intended, key_parts, shown, same_as


def _alone_on_its_lines(stmt: ast.stmt, src: _Source) -> bool:
    first = src.lines[stmt.lineno - 1]
    last = src.lines[stmt.end_lineno - 1]  # type: ignore[operator]
    before = first.encode()[:stmt.col_offset].decode()
    after = last.encode()[stmt.end_col_offset:].decode().strip()
    return before.strip() == "" and (after == "" or after.startswith("#"))


def _reindent(line: str, delta: int) -> str:
    if delta >= 0:
        return " " * delta + line if line.strip() else line
    width = len(line) - len(line.lstrip(" "))
    return line[min(width, -delta):]


def _move(func: ast.FunctionDef, move: Move, scope: Scope, src: _Source,
          owner: str) -> _Made | None:
    stmt, body = move.stmt, getattr(move.into, "body", None)
    if not isinstance(body, list) or not _alone_on_its_lines(stmt, src):
        return None
    others = [s for s in body if s is not stmt]
    if not others:
        return None
    indent = (body[move.index] if move.index < len(body) else body[-1]).col_offset
    first, last = stmt.lineno, stmt.end_lineno
    assert last is not None
    if move.index < len(body) and body[move.index] is not stmt:
        insert_before = body[move.index].lineno
    else:
        insert_before = max(body[-1].end_lineno or 0, last) + 1
    moved = [_reindent(line, indent - stmt.col_offset) for line in src.lines[first - 1:last]]
    lines: list[str] = []
    for number, line in enumerate(src.lines, 1):
        if number == insert_before:
            lines += moved
        if not first <= number <= last:
            lines.append(line)
    if insert_before > len(src.lines):
        lines += moved
    new_source = "".join(lines)
    # the intended tree: the same move made on a copy of the function
    nodes = list(ast.walk(func))
    twin = copy.deepcopy(func)
    twins = list(ast.walk(twin))
    where = {id(n): twins[i] for i, n in enumerate(nodes)}
    holder = scope.parent(stmt)
    assert holder is not None
    for name, value in ast.iter_fields(holder):
        if isinstance(value, list) and any(v is stmt for v in value):
            getattr(where[id(holder)], name).remove(where[id(stmt)])
            break
    where[id(move.into)].body.insert(move.index, where[id(stmt)])  # type: ignore[attr-defined]
    intended = ast.dump(twin)
    reparsed = _reparsed(_function_text(new_source, func, 0, owner))
    if reparsed is None or ast.dump(reparsed) != intended:
        return None
    key_parts = [_statement_key(stmt), ast.dump(stmt), move.label]
    shown = (min(first, insert_before), max(last, insert_before), stmt.lineno, stmt.col_offset,
             src.segment(stmt).splitlines()[0], move.label)
    return new_source, 0, intended, key_parts, shown, set()
