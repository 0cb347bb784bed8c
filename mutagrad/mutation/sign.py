"""``sign``: a wrong sign, the most common slip when deriving by hand."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Mutate, Operator, Scope, assigned_value, is_text


def negate_result(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    negated = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    if isinstance(node, ast.expr) and assigned_value(node, scope) and not negated:
        yield ast.UnaryOp(ast.USub(), node)


def swap_subtraction(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        yield ast.BinOp(node.right, ast.Sub(), node.left)


def _flip(plus: type[ast.operator], minus: type[ast.operator]) -> Mutate:
    def mutate(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, plus):
            if not (is_text(node.left) or is_text(node.right)):
                yield ast.BinOp(node.left, minus(), node.right)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, plus):
            yield ast.AugAssign(node.target, minus(), node.value)
    return mutate


def remove_unary_minus(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield node.operand


OPERATORS = (
    Operator("negate-result", "sign", "negate the value assigned to a result: x = e -> x = -e",
             negate_result, (("dZ3 = A3 - Y", ("dZ3 = -(A3 - Y)",)),
                             ("dx += g * w", ("dx += -(g * w)",)))),
    Operator("swap-subtraction", "sign", "a - b -> b - a", swap_subtraction,
             (("dZ3 = A3 - Y", ("dZ3 = Y - A3",)),)),
    Operator("plus-to-minus", "sign", "a + b -> a - b, x += e -> x -= e",
             _flip(ast.Add, ast.Sub),
             (("dx += g", ("dx -= g",)), ("s = a + b", ("s = a - b",)),
              ('g["dW" + str(l)] = 0', ()))),
    Operator("minus-to-plus", "sign", "a - b -> a + b, x -= e -> x += e",
             _flip(ast.Sub, ast.Add),
             (("dZ3 = A3 - Y", ("dZ3 = A3 + Y",)), ("w -= lr * g", ("w += lr * g",)))),
    Operator("remove-unary-minus", "sign", "-e -> e", remove_unary_minus,
             (("d = -Y / A", ("d = Y / A",)),)),
)
