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


_ACTIVATIONS = ("sigmoid", "tanh", "relu", "softmax", "leaky_relu", "elu", "swish", "gelu")
_DERIVATIVE_FORMS = ("d{}", "d_{}", "{}_derivative", "{}_prime", "{}_grad", "{}_gradient",
                     "{}_backward", "{}_deriv", "derivative_{}")


def _activation_of(name: str) -> str | None:
    """``dsigmoid`` / ``sigmoid_derivative`` / ``relu_prime`` -> the activation's name."""
    for act in _ACTIVATIONS:
        if any(name == form.format(act) for form in _DERIVATIVE_FORMS):
            return act
    return None


def _is_relu_mask(node: ast.AST) -> ast.expr | None:
    """``Z > 0``, ``np.int64(Z > 0)``, ``(Z > 0).astype(float)`` -> Z."""
    if call_name(node) in ("int64", "float64", "int32", "float32") and len(node.args) == 1:  # type: ignore[attr-defined]
        node = node.args[0]  # type: ignore[attr-defined]
    elif call_name(node) == ".astype":
        node = node.func.value  # type: ignore[attr-defined]
    if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Gt)
            and number(node.comparators[0]) == 0):
        return node.left
    return None


def activation_for_derivative(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """The activation where its derivative belongs: ``dsigmoid(f)`` -> ``sigmoid(f)``,
    ``s * (1 - s)`` -> ``s``, ``1 - t ** 2`` -> ``t``, ``dA * (Z > 0)`` -> ``dA * np.maximum(Z, 0)``."""
    name = call_name(node)
    if name is not None and len(node.args) == 1 and isinstance(node.func, ast.Name | ast.Attribute):  # type: ignore[attr-defined]
        act = _activation_of(name.lstrip("."))
        if act is not None and isinstance(node.func, ast.Name):  # type: ignore[attr-defined]
            func = _np("tanh").func if act == "tanh" else ast.Name(act, ast.Load())
            yield ast.Call(func, node.args, [])  # type: ignore[attr-defined]
    inner = _one_minus(node)
    t = _squared(inner) if inner is not None else None
    if t is not None:
        yield t
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for s, rest in ((node.left, node.right), (node.right, node.left)):
            inner = _one_minus(rest)
            if inner is not None and same(inner, s):
                yield s  # s * (1 - s) -> s (sigmoid-derivative makes it too)
                return
        for mask, other in ((node.right, node.left), (node.left, node.right)):
            z = _is_relu_mask(mask)
            if z is not None:
                relu = ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "maximum", ast.Load()),
                                [z, ast.Constant(0)], [])
                yield ast.BinOp(other, ast.Mult(), relu) if mask is node.right \
                    else ast.BinOp(relu, ast.Mult(), other)
                return


def _max_of(node: ast.AST) -> ast.expr | None:
    """``np.max(x)`` / ``x.max()`` / ``np.amax(x)`` -> x."""
    name = call_name(node)
    if name in ("max", "amax") and len(node.args) == 1 and not node.keywords:  # type: ignore[attr-defined]
        return node.args[0]  # type: ignore[attr-defined]
    if name == ".max" and not node.args and not node.keywords:  # type: ignore[attr-defined]
        return node.func.value  # type: ignore[attr-defined]
    return None


def _np(attr: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), attr, ast.Load()), list(args), [])


def tie_break(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """The max mask's ties: ``x == np.max(x)`` (every tied entry) <-> a one-hot at
    ``np.argmax(x)`` (the first only). Inputs with repeated values tell them apart."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1
            and isinstance(node.ops[0], ast.Eq)):
        return
    left, right = node.left, node.comparators[0]
    for x, m in ((left, right), (right, left)):
        inner = _max_of(m)
        if inner is not None and same(inner, x) and isinstance(x, ast.Name):
            positions = ast.Call(ast.Attribute(_np("arange", ast.Attribute(x, "size", ast.Load())),
                                               "reshape", ast.Load()),
                                 [ast.Attribute(x, "shape", ast.Load())], [])
            yield ast.Compare(positions, [ast.Eq()], [_np("argmax", x)])
            return
        if (call_name(m) == "argmax" and len(m.args) == 1  # type: ignore[attr-defined]
                and isinstance(m.args[0], ast.Name) and call_name(x) == ".reshape"):  # type: ignore[attr-defined]
            arr = m.args[0]  # type: ignore[attr-defined]
            yield ast.Compare(arr, [ast.Eq()], [_np("max", arr)])
            return


def drop_abs(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``np.abs(z)`` -> ``z``: the guard of a stable form dropped. An even derivative
    computed from ``e = np.exp(-k * np.abs(z))`` is exact for either sign of z; without the
    abs, ``e`` overflows for large negative z (float32: past 88) and ``e / (1 + e) ** 2``
    is inf / inf = NaN."""
    if call_name(node) in ("abs", "absolute", "fabs") and isinstance(node, ast.Call) \
            and len(node.args) == 1 and not node.keywords:
        yield node.args[0]


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
    Operator("activation-for-derivative", "activation",
             "the activation where its derivative belongs: dsigmoid(f) -> sigmoid(f), "
             "s * (1 - s) -> s, 1 - t ** 2 -> t, dA * (Z > 0) -> dA * np.maximum(Z, 0)",
             activation_for_derivative,
             (("df = sigmoid_derivative(f) * d", ("df = sigmoid(f) * d",)),
              ("dz = dsigmoid(z)", ("dz = sigmoid(z)",)),
              ("dz = dh * (1 - t ** 2)", ("dz = dh * t",)),
              ("dZ = dA * (Z > 0)", ("dZ = dA * np.maximum(Z, 0)",)),
              ("dZ = np.int64(A2 > 0) * dA", ("dZ = np.maximum(A2, 0) * dA",)),
              ("d = s * (1 - s)", ("d = s",)), ("d = dtanh(z)", ("d = np.tanh(z)",)),
              ("d = derivative(z)", ())),
             tier=1),
    Operator("tie-break", "activation",
             "max-mask ties: x == np.max(x) (all tied entries) <-> one-hot at np.argmax(x)",
             tie_break,
             (("mask = x == np.max(x)",
               ("mask = np.arange(x.size).reshape(x.shape) == np.argmax(x)",)),
              ("mask = np.arange(x.size).reshape(x.shape) == np.argmax(x)",
               ("mask = x == np.max(x)",)),
              ("mask = x == 0", ())),
             tier=1),
    # tier 2: made after every operator before it, so their mutants and ids stay as they were
    Operator("drop-abs", "activation",
             "a stabilising abs dropped: np.exp(-k * np.abs(z)) -> np.exp(-k * z) "
             "(a sigmoid-shaped surrogate gradient that is NaN in float32)",
             drop_abs,
             (("e = np.exp(-k * np.abs(z))", ("e = np.exp(-k * z)",)),
              ("d = abs(x - y)", ("d = x - y",)),
              ("d = np.abs(x, out=y)", ())),
             tier=2),
)
