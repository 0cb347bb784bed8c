"""``index``, continued: slice bounds, loop ranges and shape unpacking, where the bugs of
hand-written conv/pool/RNN loops live (a padding slice that is empty when pad = 0, a window
off by one, a loop that stops one step early, height and width swapped in ``x.shape``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, call_name, number, same

_TIER = 1


def _plus(node: ast.expr, k: int) -> ast.expr:
    """``node + k`` (``k`` may be negative), folding a literal: ``-1`` + 1 -> ``0``."""
    value = _int(node)
    if value is not None:
        total = value + k
        return ast.Constant(total) if total >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-total))
    return ast.BinOp(node, ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))


def _int(node: ast.AST) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = number(node.operand)
        return -inner if type(inner) is int else None
    value = number(node)
    return value if type(value) is int else None


def _pad_form(lower: ast.expr, upper: ast.expr) -> ast.expr | None:
    """``pad:pad + n`` -> ``-pad`` for the upper bound: the ``a:-a`` slice, right for
    every pad but 0, where it is empty."""
    if isinstance(lower, ast.Name) and isinstance(upper, ast.BinOp) \
            and isinstance(upper.op, ast.Add) and same(upper.left, lower):
        return ast.UnaryOp(ast.USub(), lower)
    return None


def slice_bounds(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """Slices with one bound: that bound +- 1, or dropped. With two: the window shifted
    by one, a bound dropped, and ``a:a + n`` -> ``a:-a``."""
    if not isinstance(node, ast.Slice) or node.step is not None:
        return
    lower, upper = node.lower, node.upper
    if lower is not None and upper is not None:
        for k in (1, -1):
            yield ast.Slice(_plus(lower, k), _plus(upper, k), None)
        yield ast.Slice(None, upper, None)
        yield ast.Slice(lower, None, None)
        pad = _pad_form(lower, upper)
        if pad is not None:
            yield ast.Slice(lower, pad, None)
    elif lower is not None or upper is not None:
        bound = lower if lower is not None else upper
        assert bound is not None
        for k in (1, -1):
            shifted = _plus(bound, k)
            yield ast.Slice(shifted, None, None) if lower is not None else ast.Slice(None, shifted, None)
        yield ast.Slice(None, None, None)


def loop_range(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """The range of a ``for`` loop one step off: ``range(n)`` -> ``range(n - 1)``,
    ``range(1, n)``; ``range(a, b)`` -> ``range(a +- 1, b)``, ``range(a, b - 1)``. (One step
    past the end is left out: it indexes out of bounds, a crash that says nothing.)"""
    if call_name(node) != "range" or node.keywords:  # type: ignore[attr-defined]
        return
    if not any(isinstance(a, ast.For) and any(n is node for n in ast.walk(a.iter))
               for a in scope.ancestors(node)):
        return
    args = node.args  # type: ignore[attr-defined]
    func = node.func  # type: ignore[attr-defined]
    if len(args) == 1:
        yield ast.Call(func, [_plus(args[0], -1)], [])
        yield ast.Call(func, [ast.Constant(1), args[0]], [])
    elif len(args) == 2:
        start, stop = args
        for k in (1, -1):
            yield ast.Call(func, [_plus(start, k), stop], [])
        yield ast.Call(func, [start, _plus(stop, -1)], [])


def _shape_value(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "shape"


def unpack_order(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``n, c, h, w = x.shape`` -> two neighbours swapped (``n, c, w, h``): every later use of
    the two sizes is then swapped, and square inputs hide it."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple) and _shape_value(node.value)):
        return
    elts = node.targets[0].elts
    if not all(isinstance(e, ast.Name) for e in elts):
        return
    for i in range(len(elts) - 1):
        a, b = elts[i].id, elts[i + 1].id  # type: ignore[attr-defined]
        if a != b and "_" not in (a, b):
            swapped = [*elts[:i], elts[i + 1], elts[i], *elts[i + 2:]]
            yield ast.Assign([ast.Tuple(swapped, ast.Store())], node.value,
                             node.type_comment)


OPERATORS = (
    Operator("slice-bound", "index",
             "slice bounds: a window shifted by one, a bound dropped, pad:pad + n -> pad:-pad "
             "(empty when pad = 0), x[1:] -> x[2:]",
             slice_bounds,
             (("d = x[pad:pad + n]",
               ("d = x[pad + 1:pad + n + 1]", "d = x[pad - 1:pad + n - 1]", "d = x[:pad + n]",
                "d = x[pad:]", "d = x[pad:-pad]")),
              ("d = h[:, 1:]", ("d = h[:, 2:]", "d = h[:, 0:]", "d = h[:, :]")),
              ("d = h[:-1]", ("d = h[:0]", "d = h[:-2]", "d = h[:]")),
              ("d = h[::2]", ())),
             tier=_TIER),
    Operator("loop-range", "index",
             "a loop off by one: range(n) -> range(n - 1), range(1, n)",
             loop_range,
             (("for t in range(T):\n    d += g[t]",
               ("for t in range(T - 1):\n    d += g[t]", "for t in range(1, T):\n    d += g[t]")),
              ("for t in reversed(range(1, T)):\n    d += g[t]",
               ("for t in reversed(range(2, T)):\n    d += g[t]",
                "for t in reversed(range(0, T)):\n    d += g[t]",
                "for t in reversed(range(1, T - 1)):\n    d += g[t]")),
              ("d = list(range(3))", ())),
             tier=_TIER),
    Operator("unpack-order", "index",
             "shape unpacking order: n, c, h, w = x.shape -> n, c, w, h (square inputs hide it)",
             unpack_order,
             (("n, c, h, w = X.shape",
               ("c, n, h, w = X.shape", "n, h, c, w = X.shape", "n, c, w, h = X.shape")),
              ("(f, f, c, k) = X.shape", ("(f, c, f, k) = X.shape", "(f, f, k, c) = X.shape")),
              ("n, _ = X.shape", ())),
             tier=_TIER),
)
