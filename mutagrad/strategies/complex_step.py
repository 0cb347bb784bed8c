"""complex-step: g'_i = Im J(θ + ihe_i) / h, and whether the forward is complex-safe.

No subtraction, hence no cancellation: accurate to O(h^2) for any small h, when the forward
is analytic in θ (no comparisons, abs, max, ...). Cost: P forwards, in complex arithmetic.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mutagrad import gradcheck
from mutagrad.strategies.base import Context, Reference, Strategy, Unsupported
from mutagrad.subject import Case, Subject


class ComplexStep(Strategy):
    name = "complex-step"
    summary = "Im J(theta + i h e_i) / h, needs a complex-safe forward"

    def theory_epsilon(self, dtype: str) -> float | None:
        return None  # no cancellation: any small step

    def cost(self, parameters: int, arrays: int) -> int:
        return parameters

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        reason = complex_unsafe(ctx.subject, ctx.case)
        if reason:
            raise Unsupported(f"complex-step is unsupported on {ctx.subject.name}: {reason}")
        g = gradcheck.complex_step_gradient(
            lambda p: ctx.subject.cost(p, ctx.case), ctx.case.params, ctx.keys, epsilon)
        return Reference(self.name, epsilon, g)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return gradcheck.relative_difference_to(flat, ref.vector, ref.norm, flat_norm)


COMPLEX_STEP = ComplexStep()

_NOT_ANALYTIC = {"maximum", "minimum", "abs", "absolute", "fabs", "sign", "where", "clip",
                 "round", "floor", "ceil", "max", "min", "real", "imag", "heaviside", "fmax",
                 "fmin", "argmax", "argmin", "sort"}


def complex_unsafe(subject: Subject, case: Case) -> str | None:
    """Why complex-step would give a wrong number here, or None when it is safe.

    Static: the forward and every function of its file that it calls must contain no
    comparison and no non-analytic call (abs, maximum, where, ...). Dynamic: the cost must
    come back complex when the parameters are complex.
    """
    if subject.forward is not None:
        found = _non_analytic(subject.forward)
        if found:
            return found
    probe = {k: np.asarray(v, dtype=np.complex128) for k, v in case.params.items()}
    first = subject.param_names[0]
    probe[first] = probe[first] + 1e-30j * (np.arange(np.size(probe[first])) == 0).reshape(
        np.shape(probe[first]))
    try:
        value = subject.cost(probe, case)
    except (TypeError, ValueError) as e:
        return f"its cost is not computed in complex arithmetic ({e})"
    if not np.iscomplexobj(value):
        return "its cost comes back real for complex parameters"
    return None


def _non_analytic(forward: Callable[..., object]) -> str | None:
    from mutagrad.callgraph import calls as _calls
    from mutagrad.callgraph import reachable as _reachable

    try:
        file = inspect.getsourcefile(forward)
        tree = ast.parse(Path(file or "").read_text())
    except (OSError, TypeError, SyntaxError):
        return None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    module = sys.modules.get(forward.__module__)
    chains = _reachable(_calls(tree), forward.__name__)
    for name, chain in chains.items():
        node = functions.get(name)
        if node is None or (module is not None and getattr(module, name, None) is None):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Compare):
                return f"the forward compares values ({chain}, line {sub.lineno})"
            if isinstance(sub, ast.Call):
                func = sub.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in _NOT_ANALYTIC:
                    return f"the forward calls {called} ({chain}, line {sub.lineno})"
    return None
