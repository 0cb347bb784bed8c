"""``index``: swapped or shifted indices, transposes and axes (shape bugs that may not crash)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, call_name, layer_name, layer_of

_PRODUCTS = ("dot", "matmul", ".dot")


def _product_operands(node: ast.AST) -> list[ast.expr] | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return [node.left, node.right]
    if call_name(node) in ("dot", "matmul") and len(node.args) == 2:  # type: ignore[attr-defined]
        return list(node.args)  # type: ignore[attr-defined]
    return None


def drop_transpose(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Attribute) and node.attr == "T":
        yield node.value
    elif call_name(node) == "transpose" and len(node.args) == 1:  # type: ignore[attr-defined]
        yield node.args[0]  # type: ignore[attr-defined]


def add_transpose(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Name) and scope.is_value_name(node):
        parent = scope.parent(node)
        operands = _product_operands(parent) if parent is not None else None
        if operands and any(op is node for op in operands):
            yield ast.Attribute(node, "T", ast.Load())


def swap_dot_operands(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        yield ast.BinOp(node.right, ast.MatMult(), node.left)
    elif _product_operands(node) is not None:
        a, b = node.args  # type: ignore[attr-defined]
        yield ast.Call(node.func, [b, a], node.keywords)  # type: ignore[attr-defined]


def swap_axis(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.keyword) and node.arg == "axis" and isinstance(node.value, ast.Constant):
        value = node.value.value
        if type(value) is int:
            yield ast.keyword("axis", ast.Constant(1 if value == 0 else 0))


def swap_subscripts(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        elts = node.slice.elts
        for i in range(len(elts) - 1):
            if ast.dump(elts[i]) != ast.dump(elts[i + 1]):
                swapped = elts[:i] + [elts[i + 1], elts[i]] + elts[i + 2:]
                yield ast.Subscript(node.value, ast.Tuple(swapped, ast.Load()), node.ctx)


def replace_index(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if (isinstance(node, ast.Name) and node.id in scope.loop_vars
            and scope.in_subscript_index(node)):
        for other in sorted(scope.loop_vars - {node.id}):
            yield ast.Name(other, ast.Load())


def shift_layer(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if scope.is_value_name(node):
        layer = layer_of(node.id)  # type: ignore[attr-defined]
        if layer:
            d, stem, n = layer
            for shifted in (n - 1, n + 1):
                name = layer_name(d, stem, shifted, scope.pool)
                if name:
                    yield ast.Name(name, ast.Load())
    elif call_name(node) == "str" and len(node.args) == 1:  # type: ignore[attr-defined]
        for op in (ast.Add(), ast.Sub()):
            yield ast.Call(node.func, [ast.BinOp(node.args[0], op, ast.Constant(1))], [])  # type: ignore[attr-defined]
    elif isinstance(node, ast.Name) and node.id in scope.loop_vars:
        parent = scope.parent(node)
        if isinstance(parent, ast.Subscript) and parent.slice is node:
            yield ast.BinOp(node, ast.Sub(), ast.Constant(1))
            yield ast.BinOp(node, ast.Add(), ast.Constant(1))


_AXES = {"H": "W", "W": "H", "h": "w", "w": "h", "vert": "horiz", "horiz": "vert",
         "height": "width", "width": "height", "rows": "cols", "cols": "rows"}


def swap_height_width(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """n_H <-> n_W, vert_start <-> horiz_start: square inputs hide these bugs."""
    if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
        return
    parts = node.id.split("_")
    if len(parts) < 2 and node.id not in ("h", "w"):
        return  # a lone h or w is a loop variable: replace-index covers it
    swapped = "_".join(_AXES.get(p, p) for p in parts)
    if swapped != node.id and swapped in scope.pool | scope.loop_vars:
        yield ast.Name(swapped, ast.Load())


OPERATORS = (
    Operator("drop-transpose", "index", "x.T -> x, np.transpose(x) -> x", drop_transpose,
             (("dW1 = np.dot(dZ1, X.T)", ("dW1 = np.dot(dZ1, X)",)),)),
    Operator("add-transpose", "index", "an operand x of a matrix product -> x.T", add_transpose,
             (("dZ3 = A3 - Y\ndA2 = np.dot(W3.T, dZ3)", ("dZ3 = A3 - Y\ndA2 = np.dot(W3.T, dZ3.T)",)),
              ("d = W3 @ A2", ("d = W3.T @ A2", "d = W3 @ A2.T")))),
    Operator("swap-dot-operands", "index", "np.dot(a, b) -> np.dot(b, a), a @ b -> b @ a",
             swap_dot_operands,
             (("dA2 = np.dot(W3.T, dZ3)", ("dA2 = np.dot(dZ3, W3.T)",)),
              ("d = a @ b", ("d = b @ a",)))),
    Operator("swap-axis", "index", "axis=0 <-> axis=1", swap_axis,
             (("db = np.sum(dZ, axis=1, keepdims=True)",
               ("db = np.sum(dZ, axis=0, keepdims=True)",)),)),
    Operator("swap-subscripts", "index", "x[i, j] -> x[j, i]", swap_subscripts,
             (("for i in range(2):\n    for j in range(3):\n        d[i, j] += g[i, j]",
               ("for i in range(2):\n    for j in range(3):\n        d[j, i] += g[i, j]",
                "for i in range(2):\n    for j in range(3):\n        d[i, j] += g[j, i]")),)),
    Operator("replace-index", "index", "x[i] -> x[j] for another loop variable j",
             replace_index,
             (("for i in range(2):\n    for j in range(3):\n        d[i] += g[j]",
               ("for i in range(2):\n    for j in range(3):\n        d[j] += g[j]",
                "for i in range(2):\n    for j in range(3):\n        d[i] += g[i]")),)),
    Operator("swap-height-width", "index",
             "height <-> width: n_H <-> n_W, vert_start <-> horiz_start (square inputs hide it)",
             swap_height_width,
             (("n_H, n_W = X.shape\nfor w in range(n_W):\n    d = w",
               ("n_H, n_W = X.shape\nfor w in range(n_H):\n    d = w",)),)),
    Operator("shift-layer", "index",
             "layer off by one: W2 -> W1/W3 when they exist, str(l) -> str(l +- 1), c[l] -> c[l - 1]",
             shift_layer,
             (("dW3 = np.dot(dZ3, A2.T)",
               ("dW3 = np.dot(dZ3, A1.T)", "dW3 = np.dot(dZ3, A3.T)")),
              ('for l in range(3):\n    g["dW" + str(l)] = c[l]',
               ('for l in range(3):\n    g["dW" + str(l + 1)] = c[l]',
                'for l in range(3):\n    g["dW" + str(l - 1)] = c[l]',
                'for l in range(3):\n    g["dW" + str(l)] = c[l - 1]',
                'for l in range(3):\n    g["dW" + str(l)] = c[l + 1]')))),
)
