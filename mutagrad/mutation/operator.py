"""What an operator is, and the facts about a function that operators consult.

An operator is a pure, deterministic rule ``mutate(node, scope) -> replacement nodes``. It
may reuse the original node's children inside its replacement (the engine renders those
with their original source text); it never modifies the nodes it is given.

Most bugs are one node for another. Two kinds are not, and an operator yields them as
values: a ``Pair`` (one bug written at mirrored places, such as the stride dropped on both
the height and the width index: one real bug, so one mutant) and a ``Move`` (a statement
moved into or out of its loop).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

CATEGORIES: tuple[str, ...] = ("sign", "factor", "index", "activation", "reduction",
                               "variable", "accumulation", "aliasing", "flow", "regulariser",
                               "key")


@dataclass(frozen=True, eq=False)
class Pair:
    """Several nodes of one function replaced at once (``(node, replacement)`` pairs, in
    source order): one bug written at mirrored places."""

    replacements: tuple[tuple[ast.AST, ast.AST], ...]


@dataclass(frozen=True, eq=False)
class Move:
    """``stmt`` moved out of its block into ``into``'s body at ``index``.

    ``label`` says where in words (``into 'for h in range(n_H):'``); it is part of the
    mutant's id and what listings show as the replacement.
    """

    stmt: ast.stmt
    into: ast.AST
    index: int
    label: str


Mutate = Callable[[ast.AST, "Scope"], Iterable["ast.AST | Pair | Move"]]


@dataclass(frozen=True)
class Operator:
    """A mutation rule.

    ``examples`` pairs a snippet of backward code (statements inside a function whose
    parameters are ``X, Y, cache``) with every snippet the operator alone makes from it.
    They document the operator and are run as its tests.
    """

    name: str
    category: str
    description: str
    mutate: Mutate
    examples: tuple[tuple[str, tuple[str, ...]], ...]
    default: bool = True
    # Operators run tier by tier: a later tier never takes a mutant (or its id) from an
    # earlier one, so adding operators leaves every existing mutant id unchanged.
    tier: int = 0


@dataclass(frozen=True)
class Scope:
    """Names of one function, and where each node sits in it.

    - ``pool``: names that hold values the function computes with (its parameters and the
      names it assigns), the candidates a wrong-variable bug picks from;
    - ``args``: its parameters;
    - ``loop_vars``: targets of its ``for`` loops (index variables);
    - ``parents``: ``id(node) -> parent node``;
    - ``func``: the function itself.
    """

    pool: frozenset[str]
    args: frozenset[str]
    loop_vars: frozenset[str]
    parents: dict[int, ast.AST]
    func: ast.FunctionDef | None = None
    # attributes stored on ``self`` anywhere in the file (``self.inputs = inputs`` in a
    # forward): the stored arrays a method may read by mistake
    self_attributes: frozenset[str] = frozenset()
    # facts about the function that operators compute once and share (e.g. node dumps)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, func: ast.FunctionDef, module: ast.Module | None = None) -> Scope:
        args = {a.arg for a in func.args.args + func.args.kwonlyargs + func.args.posonlyargs}
        pool = set(args)
        loop_vars: set[str] = set()
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(func):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                pool.add(node.id)
            if isinstance(node, ast.For | ast.comprehension):
                loop_vars.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        stored = frozenset(n.attr for n in ast.walk(module or func)
                           if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                           and isinstance(n.value, ast.Name) and n.value.id == "self")
        return cls(frozenset(pool - loop_vars), frozenset(args), frozenset(loop_vars), parents,
                   func, stored)

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def statement(self, node: ast.AST) -> ast.stmt | None:
        """The innermost statement holding ``node`` (``node`` itself if it is one)."""
        if isinstance(node, ast.stmt):
            return node
        return next((a for a in self.ancestors(node) if isinstance(a, ast.stmt)), None)

    def in_subscript_index(self, node: ast.AST) -> bool:
        """True when ``node`` lies inside the brackets of a subscript ``x[...]``."""
        child = node
        for parent in self.ancestors(node):
            if isinstance(parent, ast.Subscript):
                return child is parent.slice or _contains(parent.slice, child)
            child = parent
        return False

    def is_value_name(self, node: ast.AST) -> bool:
        """A loaded name of the pool that is not called (``relu(x)``) nor a loop variable."""
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            return False
        parent = self.parent(node)
        called = isinstance(parent, ast.Call) and parent.func is node
        return node.id in self.pool and not called


def _contains(tree: ast.AST, node: ast.AST) -> bool:
    return any(n is node for n in ast.walk(tree))


# -- small helpers shared by the operator modules ------------------------------------

_LAYERED = re.compile(r"^(d?)([A-Za-z_]*?)(\d+)$")


def layer_of(name: str) -> tuple[str, str, int] | None:
    """``dW2`` -> ("d", "W", 2); ``X`` is layer 0 of the activations (``A0``), as in the seed."""
    if name in ("X", "dX"):
        return (name[:-1], "A", 0)
    match = _LAYERED.match(name)
    if not match:
        return None
    return match.group(1), match.group(2), int(match.group(3))


def layer_name(d: str, stem: str, layer: int, pool: frozenset[str]) -> str | None:
    """The name of layer ``layer`` of this stem, if the function has it (``A0`` is ``X``)."""
    for candidate in (f"{d}{stem}{layer}", f"{d}X" if stem == "A" and layer == 0 else None):
        if candidate and candidate in pool:
            return candidate
    return None


def call_name(node: ast.AST) -> str | None:
    """``np.dot(...)`` / ``numpy.dot(...)`` / ``dot(...)`` -> "dot"; ``x.sum()`` -> ".sum"."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
            return func.attr
        return "." + func.attr
    return None


def number(node: ast.AST) -> float | int | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value: float | int = node.value  # type: ignore[assignment]
        return value
    return None


def is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str))


def has_compare(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Compare) for n in ast.walk(node))


def same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def assigned_value(node: ast.AST, scope: Scope) -> bool:
    """True for the right-hand side of ``x = <node>`` or ``x += <node>`` (a result)."""
    parent = scope.parent(node)
    if isinstance(parent, ast.AugAssign):
        return parent.value is node
    if isinstance(parent, ast.Assign) and parent.value is node:
        single = len(parent.targets) == 1 and not isinstance(parent.targets[0], ast.Tuple)
        computed = not isinstance(node, ast.Constant | ast.Dict | ast.List | ast.Tuple | ast.Set)
        return single and computed
    return False
