"""``factor``: a missing, extra or wrong factor (the seed's two bugs live here)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import (
    Operator,
    Scope,
    assigned_value,
    call_name,
    is_text,
    number,
)


def drop_factor(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        if not (is_text(node.left) or is_text(node.right)):
            yield node.right
            yield node.left
    elif call_name(node) == "multiply" and len(node.args) == 2:  # type: ignore[attr-defined]
        yield node.args[1]  # type: ignore[attr-defined]
        yield node.args[0]  # type: ignore[attr-defined]


def drop_division(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        yield node.left


def double_term(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.expr) and assigned_value(node, scope):
        yield ast.BinOp(node, ast.Mult(), ast.Constant(2))


def _constant_context_is_index(node: ast.AST, scope: Scope) -> bool:
    parent = scope.parent(node)
    return (isinstance(parent, ast.keyword | ast.Compare)
            or scope.in_subscript_index(node)
            or (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow)
                and parent.right is node))


def wrong_constant(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    value = number(node)
    if value is None or _constant_context_is_index(node, scope):
        return
    seen = {value}
    for wrong in (value + 1, value * 2, value * 4):
        if wrong not in seen:
            seen.add(wrong)
            yield ast.Constant(type(value)(wrong))


OPERATORS = (
    Operator("drop-factor", "factor", "a * b -> b, a * b -> a (also np.multiply)",
             drop_factor,
             (("dW = 1. / m * np.dot(dZ, A.T)", ("dW = np.dot(dZ, A.T)", "dW = 1. / m")),
              ("d = np.multiply(g, s)", ("d = s", "d = g")))),
    Operator("drop-division", "factor", "a / b -> a", drop_division,
             (("dW = 1. / m * g", ("dW = 1. * g",)),)),
    Operator("double-term", "factor", "x = e -> x = e * 2 (the seed's dW2 bug)", double_term,
             (("dW2 = 1. / m * np.dot(dZ2, A1.T)", ("dW2 = 1. / m * np.dot(dZ2, A1.T) * 2",)),)),
    Operator("wrong-constant", "factor",
             "a number c -> c + 1, 2c, 4c (1./m -> 4./m is the seed's db1 bug)",
             wrong_constant,
             (("db1 = 1. / m * s", ("db1 = 2. / m * s", "db1 = 4. / m * s")),
              ("s = np.sum(g, axis=1)", ()), ("t = x[0] ** 2", ()))),
)
