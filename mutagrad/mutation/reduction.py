"""``reduction``: sums over the wrong thing, or not at all (batch and broadcasting bugs)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, call_name


def drop_keepdims(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Call) and any(k.arg == "keepdims" for k in node.keywords):
        yield ast.Call(node.func, node.args, [k for k in node.keywords if k.arg != "keepdims"])


def sum_to_mean(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    name = call_name(node)
    if name in ("sum", ".sum"):
        func = node.func  # type: ignore[attr-defined]
        yield ast.Call(ast.Attribute(func.value, "mean", ast.Load()), node.args,  # type: ignore[attr-defined]
                       node.keywords)  # type: ignore[attr-defined]


def drop_sum(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    name = call_name(node)
    if name == "sum" and node.args:  # type: ignore[attr-defined]
        yield node.args[0]  # type: ignore[attr-defined]
    elif name == ".sum":
        yield node.func.value  # type: ignore[attr-defined]


OPERATORS = (
    Operator("drop-keepdims", "reduction", "np.sum(x, axis=1, keepdims=True) -> np.sum(x, axis=1)",
             drop_keepdims,
             (("db = np.sum(dZ, axis=1, keepdims=True)", ("db = np.sum(dZ, axis=1)",)),)),
    Operator("sum-to-mean", "reduction", "np.sum -> np.mean, x.sum() -> x.mean()", sum_to_mean,
             (("db = np.sum(dZ, axis=1)", ("db = np.mean(dZ, axis=1)",)),
              ("db = dZ.sum(axis=0)", ("db = dZ.mean(axis=0)",)))),
    Operator("drop-sum", "reduction", "np.sum(x, ...) -> x", drop_sum,
             (("db = 1. / m * np.sum(dZ, axis=1)", ("db = 1. / m * dZ",)),
              ("db = dZ.sum(axis=0)", ("db = dZ",)))),
)
