"""``variable``: the wrong cached variable (A1 for Z1, X for A1, ...).

Candidates for a name are the function's other names of the same role: the same stem at
another layer (``A1`` -> ``A3``; the +-1 shifts belong to ``index``/``shift-layer``), the same
layer under another stem (``A1`` -> ``Z1``, ``W1``), with ``X`` as layer 0 of ``A`` as in the
seed; names without a layer swap with the function's other parameters without one.
The optional ``key`` category renames string keys ("dW2" -> "dW3"); it is off by default,
because a renamed key only makes noise in most code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mutagrad.mutation.operator import Operator, Scope, layer_of


def swap_variable(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if not scope.is_value_name(node):
        return
    name = node.id  # type: ignore[attr-defined]
    mine = layer_of(name)
    picks = []
    for other in sorted(scope.pool - {name}):
        theirs = layer_of(other)
        if mine and theirs and mine[0] == theirs[0]:
            same_stem_far = mine[1] == theirs[1] and abs(mine[2] - theirs[2]) > 1
            same_layer = mine[1] != theirs[1] and mine[2] == theirs[2]
            if same_stem_far or same_layer:
                picks.append(other)
        elif mine is None and theirs is None and {name, other} <= scope.args:
            picks.append(other)
    for other in picks:
        yield ast.Name(other, ast.Load())


def swap_key(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        layer = layer_of(node.value)
        if layer and not node.value.startswith(("X", "dX")):
            d, stem, n = layer
            for shifted in (n - 1, n + 1):
                if shifted >= 0:
                    yield ast.Constant(f"{d}{stem}{shifted}")


OPERATORS: tuple[Operator, ...] = (
    Operator("swap-variable", "variable", "a cached variable -> another of the same role",
             swap_variable,
             (("dW1 = np.dot(dZ1, X.T)",
               ("dW1 = np.dot(dZ1, A2.T)", "dW1 = np.dot(dZ1, A3.T)")),
              ("dA1 = np.dot(W2.T, dZ2)", ("dA1 = np.dot(A2.T, dZ2)", "dA1 = np.dot(Z2.T, dZ2)",
                                           "dA1 = np.dot(b2.T, dZ2)")),
              ("dZ3 = A3 - Y", ("dZ3 = A1 - Y", "dZ3 = W3 - Y", "dZ3 = X - Y", "dZ3 = Z3 - Y",
                                "dZ3 = b3 - Y", "dZ3 = A3 - cache")))),
    Operator("swap-key", "key", 'a layered string key "dW2" -> "dW1", "dW3" (off by default)',
             swap_key, (('g = {"dW2": d}', ('g = {"dW1": d}', 'g = {"dW3": d}')),), default=False),
)


def _self_attributes(scope: Scope) -> tuple[frozenset[str], frozenset[str]]:
    """(attributes of ``self`` the function reads, those it assigns)."""
    loaded: set[str] = set()
    stored: set[str] = set()
    for n in ast.walk(scope.func) if scope.func else ():
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self":
            (stored if isinstance(n.ctx, ast.Store) else loaded).add(n.attr)
    return frozenset(loaded), frozenset(stored)


def swap_attribute(node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
    """``self.inputs`` -> ``self.output``: another attribute the layer stores (in forward:
    anywhere in the file) or this method reads; those the method itself sets (its
    gradients) are not candidates."""
    if not (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name) and node.value.id == "self"):
        return
    parent = scope.parent(node)
    if isinstance(parent, ast.Call) and parent.func is node:
        return
    loaded, stored = _self_attributes(scope)
    if node.attr in stored:
        return
    for other in sorted((loaded | scope.self_attributes) - stored - {node.attr}):
        yield ast.Attribute(node.value, other, ast.Load())


OPERATORS = (
    *OPERATORS,
    Operator("swap-attribute", "variable",
             "self.x -> another stored attribute the method reads: self.inputs -> self.output",
             swap_attribute,
             (("self.dweights = np.dot(self.inputs.T, d)\nself.dinputs = np.dot(d, self.weights.T)",
               (("self.dweights = np.dot(self.weights.T, d)\n"
                 "self.dinputs = np.dot(d, self.weights.T)"),
                ("self.dweights = np.dot(self.inputs.T, d)\n"
                 "self.dinputs = np.dot(d, self.inputs.T)"))),
              ("self.x = self.x * 2", ())),
             tier=1),
)
