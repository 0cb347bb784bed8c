"""``regulariser``: the penalty's gradient dropped, or its factor 2 dropped (the derivative
of ``lambda * w ** 2`` is ``2 * lambda * w``; the L2 term of a ``dweights`` forgotten)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, assigned_value, number

_TIER = 1
_PENALTY = re.compile(r"lambd|lambda|regulari[sz]|(^|_)reg(_|$)|(^|_)l[12](_|$)|decay|penalty",
                      re.IGNORECASE)


def _penalised(node: ast.AST) -> bool:
    """True when ``node`` mentions a regularisation strength (``lambd``, ``self.l2``, ...)."""
    for n in ast.walk(node):
        name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None
        if name is not None and _PENALTY.search(name):
            return True
    return False


def _terms(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_terms(node.left), node.right]
    return [node]


def drop_regulariser(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``dW += 2 * l2 * W`` -> dropped; ``dW = g + lambd / m * W`` -> ``dW = g``."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and _penalised(node.value):
        yield ast.Pass()
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and assigned_value(node, scope):
        terms = _terms(node)
        for i, term in enumerate(terms):
            if _penalised(term):
                rest = terms[:i] + terms[i + 1:]
                total = rest[0]
                for t in rest[1:]:
                    total = ast.BinOp(total, ast.Add(), t)
                yield total


def _mult_top(node: ast.AST, scope: Scope) -> ast.AST:
    top = node
    parent = scope.parent(top)
    while isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult | ast.Div):
        top, parent = parent, scope.parent(parent)
    return top


def drop_two(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``2 * l2 * W`` -> ``l2 * W`` in a penalty's gradient."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
        return
    if not _penalised(_mult_top(node, scope)):
        return
    if number(node.left) == 2:
        yield node.right
    elif number(node.right) == 2:
        yield node.left


OPERATORS = (
    Operator("drop-regulariser", "regulariser",
             "the penalty's gradient dropped: dW += 2 * l2 * W -> (nothing), "
             "dW = g + lambd / m * W -> dW = g",
             drop_regulariser,
             (("self.dweights += 2 * self.weight_regularizer_l2 * self.weights", ("pass",)),
              ("dW3 = g + lambd / m * W3", ("dW3 = g",)),
              ("dW3 = g + h", ())),
             tier=_TIER),
    Operator("drop-regulariser-two", "regulariser",
             "the factor 2 of an L2 penalty's gradient dropped: 2 * l2 * W -> l2 * W",
             drop_two,
             (("self.dweights += 2 * self.weight_regularizer_l2 * self.weights",
               ("self.dweights += self.weight_regularizer_l2 * self.weights",)),
              ("dW = g + lambd * W * 2", ("dW = g + lambd * W",)),
              ("dW = 2 * g", ())),
             tier=_TIER),
)
