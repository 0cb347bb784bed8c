"""Which functions of a file call which: to keep the forward (the check's reference) intact
when helpers of the backward are mutated (``mutate``)."""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mutagrad.errors import InvalidInput


def calls(tree: ast.Module) -> dict[str, set[str]]:
    """For every top-level function, the names it calls."""
    graph: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            graph[node.name] = {c.func.id for c in ast.walk(node)
                                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Functions reachable from ``start``, each with the call chain that reaches it."""
    chains = {start: start}
    todo = [start]
    while todo:
        current = todo.pop()
        for callee in sorted(graph.get(current, ())):
            if callee in graph and callee not in chains:
                chains[callee] = f"{chains[current]} -> {callee}"
                todo.append(callee)
    return chains


def mutable_helpers(backward: Callable[..., Any], forward: Callable[..., Any] | None,
                    names: tuple[str, ...], where: str) -> tuple[Callable[..., Any], ...]:
    """The functions named in ``names`` (parameter ``mutate``), refused when the forward
    calls them, directly or not. Raises ``InvalidInput``."""
    module = sys.modules[backward.__module__]
    source_file = inspect.getsourcefile(backward)
    graph = calls(ast.parse(Path(source_file or "").read_text()))
    helpers = []
    for name in names:
        if "." in name:  # a method
            helpers.append(_method(module, name, backward, forward, source_file or "", where))
            continue
        fn = getattr(module, name, None)
        if name not in graph or not inspect.isfunction(fn):
            raise InvalidInput(f"mutate {name}: no top-level function {name!r} in the "
                               f"backward's file (functions there: {', '.join(sorted(graph))})",
                               parameter="mutate")
        if name == backward.__name__:
            continue
        if forward is None:
            raise InvalidInput(f"mutate needs to know the forward, to keep it intact: "
                               f"set forward= in the SUBJECT of {where}", parameter="mutate")
        chains = reachable(graph, forward.__name__)
        if name in chains:
            raise InvalidInput(f"mutate {name}: the forward calls it ({chains[name]}), so "
                               "mutating it would change the check's own reference",
                               parameter="mutate")
        helpers.append(fn)
    return tuple(helpers)


def methods_reached(tree: ast.Module, start: set[str]) -> set[str]:
    """Names called as attributes (``self.f(...)``, ``layer.forward(...)``) by the functions
    and methods named ``start``, and by the methods of the file's classes those name, on."""
    bodies: dict[str, list[ast.AST]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            bodies.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    bodies.setdefault(item.name, []).append(item)
    reached = set(start)
    todo = list(start)
    while todo:
        for body in bodies.get(todo.pop(), []):
            for call in ast.walk(body):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and call.func.attr not in reached:
                    reached.add(call.func.attr)
                    todo.append(call.func.attr)
    return reached


def _method(module: Any, name: str, backward: Callable[..., Any],
            forward: Callable[..., Any] | None, source_file: str,
            where: str) -> Callable[..., Any]:
    """The method ``Class.name`` as Python resolves it, refused when the forward reaches a
    method of that name (through the functions it calls)."""
    from mutagrad.mutation.methods import resolve

    fn = resolve(module, name, where)
    if forward is None:
        raise InvalidInput(f"mutate needs to know the forward, to keep it intact: "
                           f"set forward= in the SUBJECT of {where}", parameter="mutate")
    tree = ast.parse(Path(source_file).read_text())
    start = set(reachable(calls(tree), forward.__name__)) | {forward.__name__}
    if name.rpartition(".")[2] in methods_reached(tree, start):
        raise InvalidInput(f"mutate {name}: the forward calls a method of that name, so "
                           "mutating it would change the check's own reference",
                           parameter="mutate")
    return fn
