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
