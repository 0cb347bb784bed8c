"""``activation``: wrong derivative of an activation (relu masks, sigmoid, tanh)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import (
    Operator,
    Scope,
    call_name,
    has_compare,
    layer_name,
    layer_of,
    number,
    same,
)

_STRICTER = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt}


def _zero_compare(node: ast.AST) -> bool:
    return (isinstance(node, ast.Compare) and len(node.ops) == 1
            and type(node.ops[0]) in _STRICTER
            and 0 in (number(node.left), number(node.comparators[0])))


def mask_boundary(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if _zero_compare(node):
        flipped = _STRICTER[type(node.ops[0])]()  # type: ignore[attr-defined]
        yield ast.Compare(node.left, [flipped], node.comparators)  # type: ignore[attr-defined]


def mask_wrong_variable(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    parent = scope.parent(node)
    if not (parent is not None and _zero_compare(parent) and scope.is_value_name(node)):
        return
    layer = layer_of(node.id)  # type: ignore[attr-defined]
    if layer is None:
        return
    d, stem, n = layer
    twins = {"A": "Z", "Z": "A"}  # relu(Z) > 0 exactly where Z > 0: an equivalent mutant
    candidates = [layer_name(d, stem, n - 1, scope.pool), layer_name(d, stem, n + 1, scope.pool)]
    if stem in twins:
        candidates.insert(0, layer_name(d, twins[stem], n, scope.pool))
    for name in candidates:
        if name:
            yield ast.Name(name, ast.Load())


def drop_mask(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if call_name(node) == "multiply" and len(node.args) == 2:  # type: ignore[attr-defined]
        a, b = node.args  # type: ignore[attr-defined]
        if has_compare(b):
            yield a
        elif has_compare(a):
            yield b
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        if has_compare(node.right):
            yield node.left
        elif has_compare(node.left):
            yield node.right
    elif call_name(node) == "where" and len(node.args) == 3:  # type: ignore[attr-defined]
        yield node.args[1]  # type: ignore[attr-defined]
    elif (isinstance(node, ast.Assign) and len(node.targets) == 1
          and isinstance(node.targets[0], ast.Subscript) and has_compare(node.targets[0].slice)):
        yield ast.Pass()


def _one_minus(node: ast.AST) -> ast.expr | None:
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
            and number(node.left) == 1):
        return node.right
    return None


def sigmoid_derivative(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``s * (1 - s)``, also inside a longer product: ``dA * s * (1 - s)``."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
        return
    for s, rest in ((node.left, node.right), (node.right, node.left)):
        inner = _one_minus(rest)
        if inner is None:
            continue
        if same(inner, s):
            yield s
            yield rest
            return
        if isinstance(s, ast.BinOp) and isinstance(s.op, ast.Mult) and same(s.right, inner):
            yield s  # dA * s * (1 - s) -> dA * s
            yield ast.BinOp(s.left, ast.Mult(), rest)  # -> dA * (1 - s)
            return


def _squared(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and number(node.right) == 2:
        return node.left
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and same(node.left, node.right):
        return node.left
    if call_name(node) == "square" and len(node.args) == 1:  # type: ignore[attr-defined]
        return node.args[0]  # type: ignore[attr-defined]
    return None


def tanh_derivative(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    inner = _one_minus(node)
    t = _squared(inner) if inner is not None else None
    if t is not None:
        yield ast.BinOp(node.left, ast.Sub(), t)  # type: ignore[attr-defined]


OPERATORS = (
    Operator("mask-boundary", "activation", "relu mask A > 0 -> A >= 0 (and < <-> <=)",
             mask_boundary,
             (("dZ2 = np.multiply(dA2, np.int64(A2 > 0))",
               ("dZ2 = np.multiply(dA2, np.int64(A2 >= 0))",)),
              ("dZ[Z <= 0] = 0", ("dZ[Z < 0] = 0",)))),
    Operator("mask-wrong-variable", "activation",
             "relu mask on another layer's or the pre-activation's variable: A2 > 0 -> Z2 > 0, A1 > 0",
             mask_wrong_variable,
             (("dZ2 = np.multiply(dA2, np.int64(A2 > 0))",
               ("dZ2 = np.multiply(dA2, np.int64(Z2 > 0))",
                "dZ2 = np.multiply(dA2, np.int64(A1 > 0))",
                "dZ2 = np.multiply(dA2, np.int64(A3 > 0))")),)),
    Operator("drop-mask", "activation", "the relu mask dropped: np.multiply(dA, A > 0) -> dA",
             drop_mask,
             (("dZ2 = np.multiply(dA2, np.int64(A2 > 0))", ("dZ2 = dA2",)),
              ("dZ = dA * (Z > 0)", ("dZ = dA",)),
              ("dZ[Z <= 0] = 0", ("pass",)))),
    Operator("sigmoid-derivative", "activation", "s * (1 - s) -> s, -> (1 - s)",
             sigmoid_derivative,
             (("dZ = dA * s * (1 - s)", ("dZ = dA * s", "dZ = dA * (1 - s)")),)),
    Operator("tanh-derivative", "activation", "1 - t ** 2 -> 1 - t", tanh_derivative,
             (("dz = dh * (1 - t ** 2)", ("dz = dh * (1 - t)",)),
              ("dz = dh * (1 - np.square(t))", ("dz = dh * (1 - t)",)))),
)
