"""``accumulation``: gradients summed wrongly (a dropped addend, ``+=`` written ``=``,
``np.add.at`` written ``a[i] += v`` where indices repeat), and ``flow``: a statement in the
wrong block (a ``return`` or an accumulation moved into or out of its loop).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Move, Operator, Scope, assigned_value

_TIER = 1


def _terms(node: ast.expr) -> list[ast.expr]:
    """``a + b + c`` -> [a, b, c] (the left-nested chain of ``+``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_terms(node.left), node.right]
    return [node]


def _sum(terms: list[ast.expr]) -> ast.expr:
    total = terms[0]
    for term in terms[1:]:
        total = ast.BinOp(total, ast.Add(), term)
    return total


def drop_addend(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """A path of the gradient forgotten: ``dh = dy + dh_next`` -> ``dh = dy``, ``dh = dh_next``."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            and assigned_value(node, scope)):
        return
    terms = _terms(node)
    for i in range(len(terms)):
        yield _sum(terms[:i] + terms[i + 1:])


def accumulate_to_assign(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``g += e`` -> ``g = e``: only the last contribution is kept."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        yield ast.Assign([node.target], node.value, None)


def _add_at_args(node: ast.AST) -> list[ast.expr] | None:
    """The arguments of ``np.add.at(a, i, v)`` (a statement)."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    func = node.value.func
    if (isinstance(func, ast.Attribute) and func.attr == "at"
            and isinstance(func.value, ast.Attribute) and func.value.attr == "add"
            and len(node.value.args) == 3 and not node.value.keywords):
        return list(node.value.args)
    return None


def add_at(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``np.add.at(a, i, v)`` <-> ``a[i] += v``: with repeated indices ``+=`` adds once.

    The way back (``a[i] += v`` -> ``np.add.at``) is made only for an index that is one
    name and no loop variable, an index array (a loop index never repeats)."""
    args = _add_at_args(node)
    if args is not None:
        target, index, value = args
        if isinstance(target, ast.Name | ast.Attribute | ast.Subscript):
            yield ast.AugAssign(ast.Subscript(target, index, ast.Store()), ast.Add(), value)
    elif (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add)
          and isinstance(node.target, ast.Subscript) and isinstance(node.target.slice, ast.Name)
          and node.target.slice.id not in scope.loop_vars):
        np_add = ast.Attribute(ast.Attribute(ast.Name("np", ast.Load()), "add", ast.Load()),
                               "at", ast.Load())
        call = ast.Call(np_add, [node.target.value, node.target.slice, node.value], [])
        yield ast.Expr(call)


# -- flow: statements moved into or out of their loop ------------------------------------

def _loop_line(loop: ast.stmt) -> str:
    return ast.unparse(loop).splitlines()[0]


def _holder(stmt: ast.stmt, scope: Scope) -> tuple[ast.AST, list[ast.stmt]] | None:
    parent = scope.parent(stmt)
    body = getattr(parent, "body", None)
    if parent is None or not isinstance(body, list) or not any(s is stmt for s in body):
        return None  # in an else/orelse or a handler: leave it
    return parent, body


def move_into_loop(node: ast.AST, scope: Scope) -> Iterator[ast.AST | Move]:
    """A statement right after a loop, indented into it: 1, 2, ... levels deep, as long as
    the last statement of each level is itself a loop (a ``return`` inside the window
    loop returns after the first window)."""
    if not isinstance(node, ast.stmt) or isinstance(node, ast.FunctionDef | ast.ClassDef):
        return
    held = _holder(node, scope)
    if held is None:
        return
    _, body = held
    i = next(i for i, s in enumerate(body) if s is node)
    loop = body[i - 1] if i > 0 else None
    depth = 1
    while isinstance(loop, ast.For | ast.While) and not loop.orelse:
        yield Move(node, loop, len(loop.body),
                   f"moved into '{_loop_line(loop)}'" + (f" ({depth} levels)" if depth > 1 else ""))
        loop, depth = loop.body[-1], depth + 1


def move_out_of_loop(node: ast.AST, scope: Scope) -> Iterator[ast.AST | Move]:
    """The last statement of a loop's body dedented out of it: it runs once, after the
    loop, with the last iteration's values (an accumulation that sees only one step)."""
    if not isinstance(node, ast.stmt):
        return
    loop = scope.parent(node)
    if not (isinstance(loop, ast.For | ast.While) and not loop.orelse
            and len(loop.body) > 1 and loop.body[-1] is node):
        return
    held = _holder(loop, scope)
    if held is None:
        return
    outer, body = held
    i = next(i for i, s in enumerate(body) if s is loop)
    yield Move(node, outer, i + 1, f"moved out of '{_loop_line(loop)}'")


_FOR = "for t in range(T):\n    dh = dy[t] + dh\n    dW += dh"

OPERATORS = (
    Operator("drop-addend", "accumulation",
             "a term of a sum dropped: dh = dy + dh_next -> dh = dy (BPTT without dh_next)",
             drop_addend,
             (("dh = dy + dh_next", ("dh = dy", "dh = dh_next")),
              ("dz = a + b + c", ("dz = b + c", "dz = a + c", "dz = a + b")),
              ("f(a + b)", ())),
             tier=_TIER),
    Operator("accumulate-to-assign", "accumulation",
             "an accumulation that overwrites: g += e -> g = e", accumulate_to_assign,
             (("dW += np.dot(dz, a.T)", ("dW = np.dot(dz, a.T)",)),
              ('g["dW"] += x', ('g["dW"] = x',)), ("d -= x", ())),
             tier=_TIER),
    Operator("add-at", "accumulation",
             "np.add.at(a, idx, v) <-> a[idx] += v (repeated indices add once with +=)",
             add_at,
             (("np.add.at(dW, idx, dout)", ("dW[idx] += dout",)),
              ("dW[idx] += dout", ("np.add.at(dW, idx, dout)",)),
              ("for i in range(3):\n    dW[i] += dout", ())),
             tier=_TIER),
    Operator("move-into-loop", "flow",
             "a statement after a loop moved into it, one level or more (a return in the loop)",
             move_into_loop,
             ((f"{_FOR}\nreturn dW", (f"{_FOR}\n    return dW",)),
              ("for i in range(2):\n    for j in range(3):\n        d += g[i, j]\nreturn d",
               ("for i in range(2):\n    for j in range(3):\n        d += g[i, j]\n    return d",
                ("for i in range(2):\n    for j in range(3):\n        d += g[i, j]\n"
                 "        return d")))),
             tier=_TIER),
    Operator("move-out-of-loop", "flow",
             "the last statement of a loop moved out of it (an accumulation done once)",
             move_out_of_loop,
             ((_FOR, ("for t in range(T):\n    dh = dy[t] + dh\ndW += dh",)),
              ("for t in range(T):\n    dW += dh", ())),
             tier=_TIER),
)
