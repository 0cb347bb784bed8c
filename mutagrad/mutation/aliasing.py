"""``aliasing``: a new array where an in-place edit was meant, or the reverse (the upstream
gradient or a cached array written into: ``dnext_c += ...`` on the caller's array, a
``.copy()`` dropped before ``dinputs[mask] = 0``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, call_name

_TIER = 1
_INPLACE = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def _base(node: ast.AST) -> str | None:
    """``cache[0].T`` -> "cache": the name an indexing/attribute chain starts from."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_self_update(node: ast.AST) -> bool:
    """``x = x + y`` (and -, *, /) for a plain name x."""
    return (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, _INPLACE) and isinstance(node.value.left, ast.Name)
            and node.value.left.id == node.targets[0].id)


def input_aliases(scope: Scope) -> frozenset[str]:
    """Names that only ever hold the caller's arrays or views of them: the parameters, and
    names bound to an indexing or attribute chain of one (``a = cache[0]``, unpacking
    ``(X, W, b) = cache``), updates ``x = x + y`` aside."""
    if scope.func is None:
        return frozenset()
    bindings: dict[str, list[ast.expr | None]] = {a: [None] for a in scope.args}
    for node in ast.walk(scope.func):
        if isinstance(node, ast.Assign) and not _is_self_update(node):
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                for bound in names:
                    if isinstance(bound, ast.Name):
                        bindings.setdefault(bound.id, []).append(node.value)
        elif isinstance(node, ast.For | ast.AugAssign | ast.AnnAssign):
            for store in ast.walk(node.target):
                if isinstance(store, ast.Name) and isinstance(store.ctx, ast.Store):
                    bindings.setdefault(store.id, []).append(ast.Constant(0))
    aliases = set(scope.args)
    changed, rounds = True, 0
    while changed and rounds <= len(bindings):  # bounded: it settles in a few rounds
        changed, rounds = False, rounds + 1
        for name, values in bindings.items():
            if name in aliases:
                if any(v is not None and _base(v) not in aliases for v in values):
                    aliases.discard(name)
                    changed = True
            elif all(v is not None and _base(v) in aliases for v in values):
                aliases.add(name)
                changed = True
    return frozenset(aliases)


def in_place(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``x = x + y`` -> ``x += y`` where x holds the caller's (or the cache's) array: the
    backward then writes into its input."""
    if _is_self_update(node):
        target = node.targets[0]  # type: ignore[attr-defined]
        if target.id in input_aliases(scope):
            yield ast.AugAssign(target, node.value.op, node.value.right)  # type: ignore[attr-defined]


def drop_copy(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``dvalues.copy()`` / ``np.copy(dvalues)`` -> ``dvalues``: the edit that follows
    (``dinputs[inputs <= 0] = 0``) then writes into the caller's array."""
    name = call_name(node)
    if name == ".copy" and not node.args:  # type: ignore[attr-defined]
        yield node.func.value  # type: ignore[attr-defined]
    elif name == "copy" and len(node.args) == 1 and isinstance(node.func, ast.Attribute):  # type: ignore[attr-defined]
        yield node.args[0]  # type: ignore[attr-defined]


OPERATORS = (
    Operator("in-place", "aliasing",
             "x = x + y -> x += y where x is an input or cached array (it writes into it)",
             in_place,
             (("d = Y\nd = d * 2", ("d = Y\nd *= 2",)),
              ("a = cache[0]\na = a + Y", ("a = cache[0]\na += Y",)),
              ("z = np.dot(X, X.T)\nz = z + Y", ())),
             tier=_TIER),
    Operator("drop-copy", "aliasing",
             "self.dinputs = dvalues.copy() -> = dvalues (the next edit writes into dvalues)",
             drop_copy,
             (("self.dinputs = dvalues.copy()", ("self.dinputs = dvalues",)),
              ("d = np.copy(Y)\nd[X <= 0] = 0", ("d = Y\nd[X <= 0] = 0",))),
             tier=_TIER),
)
