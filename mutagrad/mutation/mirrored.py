"""Two-site mutants: one operator applied at a pair of places that mirror each other on
the height and width axes (``h * stride`` and ``w * stride``; ``vert_start:vert_end`` and
``horiz_start:horiz_end``), because the real bug is written on both axes at once: the
stride forgotten in both window starts is one bug, so it is one mutant.

A place mirrors another when swapping height and width names (``h`` <-> ``w``, ``n_H``
<-> ``n_W``, ``vert`` <-> ``horiz``) turns one into the other. The partner is looked for in
the same statement first (the two slices of one subscript), then in the whole function,
where it must be the only one; the operator's replacement at the partner must mirror its
replacement here.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator

from mutagrad.mutation import bounds, factor
from mutagrad.mutation.index import _AXES, swap_height_width
from mutagrad.mutation.operator import Move, Mutate, Operator, Pair, Scope

_TIER = 1


def mirror_name(name: str) -> str:
    if name in ("h", "w"):
        return _AXES[name]
    return "_".join(_AXES.get(p, p) for p in name.split("_"))


class _Mirror(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(mirror_name(node.id), node.ctx)


def mirror_dump(node: ast.AST) -> str:
    return ast.dump(_Mirror().visit(copy.deepcopy(node)))


def _own_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """The nodes of a statement, without the statements of its blocks (a loop's header)."""
    for name, value in ast.iter_fields(stmt):
        if name in ("body", "orelse", "finalbody", "handlers"):
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield from ast.walk(child)


def _by_dump(scope: Scope) -> dict[str, list[ast.AST]]:
    """Every positioned node of the function by its dump (computed once per function)."""
    if "by_dump" not in scope.memo:
        table: dict[str, list[ast.AST]] = {}
        for n in ast.walk(scope.func) if scope.func else ():
            if hasattr(n, "lineno"):
                table.setdefault(ast.dump(n), []).append(n)
        scope.memo["by_dump"] = table
    table = scope.memo["by_dump"]
    return table


def _partner(node: ast.AST, scope: Scope) -> ast.AST | None:
    if not any(isinstance(n, ast.Name) and mirror_name(n.id) != n.id for n in ast.walk(node)):
        return None
    want = mirror_dump(node)
    if want == ast.dump(node):
        return None
    found = _by_dump(scope).get(want, [])
    stmt = scope.statement(node)
    if stmt is not None:
        own = set(map(id, _own_nodes(stmt)))
        near = [n for n in found if id(n) in own]
        found = near or found
    inside = set(map(id, ast.walk(node)))
    found = [n for n in found if id(n) not in inside]
    if len(found) != 1 or any(a is found[0] for a in scope.ancestors(node)):
        return None
    partner = found[0]
    if (partner.lineno, partner.col_offset) < (node.lineno, node.col_offset):  # type: ignore[attr-defined]
        return None  # the pair is made once, from its first place
    return partner


def mirrored(mutate: Mutate) -> Mutate:
    def pair(node: ast.AST, scope: Scope) -> Iterator[Pair]:
        partner = _partner(node, scope)
        if partner is None:
            return
        theirs = {ast.dump(r): r for r in mutate(partner, scope) if isinstance(r, ast.AST)}
        own = set(map(id, ast.walk(node)))
        for mine in mutate(node, scope):
            if not isinstance(mine, ast.AST):
                continue
            want = mirror_dump(mine)
            reused_symmetric = want == ast.dump(mine) and id(mine) in own
            if want in theirs and not reused_symmetric:
                yield Pair(((node, mine), (partner, theirs[want])))
    return pair


def _outside_slices(mutate: Mutate) -> Mutate:
    """Only where ``node`` is not a slice bound: swapping the two starts of
    ``x[vert_start:vert_end, horiz_start:horiz_end]`` and not the ends makes windows of
    the wrong size, a crash (swapping the whole slices is ``swap-subscripts``)."""
    def outside(node: ast.AST, scope: Scope) -> Iterator[ast.AST | Pair | Move]:
        if not any(isinstance(a, ast.Slice) for a in scope.ancestors(node)):
            yield from mutate(node, scope)
    return outside


_CONV = ("for h in range(n_H):\n    for w in range(n_W):\n"
         "        vert_start = h * stride\n        horiz_start = w * stride")

_SHAPED = "n_H, n_W = X.shape\n" + _CONV

OPERATORS = (
    Operator("pair-drop-factor", "factor",
             "a factor dropped on both axes at once: h * stride and w * stride -> h and w",
             mirrored(factor.drop_factor),
             ((_CONV, (_CONV.replace("h * stride", "h").replace("w * stride", "w"),)),),
             tier=_TIER),
    Operator("pair-slice-bound", "index",
             "a slice bound changed on both axes at once: x[pad:pad + n_H, pad:pad + n_W] -> "
             "x[pad:-pad, pad:-pad]",
             mirrored(bounds.slice_bounds),
             (("d = x[pad:pad + n_H, pad:pad + n_W]",
               ("d = x[pad + 1:pad + n_H + 1, pad + 1:pad + n_W + 1]",
                "d = x[pad - 1:pad + n_H - 1, pad - 1:pad + n_W - 1]",
                "d = x[:pad + n_H, :pad + n_W]", "d = x[pad:, pad:]",
                "d = x[pad:-pad, pad:-pad]")),),
             tier=_TIER),
    Operator("pair-swap-height-width", "index",
             "height and width swapped at both places: range(n_H) and range(n_W) exchanged",
             mirrored(_outside_slices(swap_height_width)),
             ((_SHAPED, (_SHAPED.replace("range(n_H)", "range(N_W)").replace("range(n_W)", "range(n_H)")
                         .replace("N_W", "n_W"),
                         _SHAPED.replace("h * stride", "W * stride").replace("w * stride", "h * stride")
                         .replace("W * stride", "w * stride"))),
              ("vert_start, horiz_start = 0, 1\nd = x[vert_start:2, horiz_start:3]", ())),
             tier=_TIER),
)
