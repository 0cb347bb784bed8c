"""theano: ``theano.gradient.verify_grad`` as ``theano.tests.unittest_tools.verify_grad``
calls it, on J.

Ported from theano/gradient.py of Theano 1.0.5 (``verify_grad``, ``numeric_grad``,
``numeric_grad.max_err``, ``abs_rel_err``) and theano/tests/unittest_tools.py (the generator
is numpy's, seeded with ``config.unittests.rseed`` = 666):

- n_tests = 2 random projections r = rng.rand() + 0.5 of the scalar output (U[0.5, 1.5));
  the checked cost is r J;
- numerical: one-sided, (r J(θ + εe_i) - r J(θ)) / ε, with ε per dtype: 1e-7 (float64),
  3e-4 (float32), the parameters perturbed in their dtype;
- analytic: r g, in the parameters' dtype;
- abs_err = |a - b|, rel_err = abs_err / max(|a| + |b|, 1e-8); per test, the entry with the
  largest min(abs_err / abs_tol, rel_err / rel_tol) fails the check when *both* errors are
  over their tolerances; abs_tol = rel_tol = 1e-4 (float64), 1e-2 (float32).

Reported as the largest min(abs_err / abs_tol, rel_err / rel_tol) over both tests: passes at
<= 1. Cost 1 + 2 (P + 1) forwards (the output's shape, then f(x) and P steps per test).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, round_to

TYPE_EPS = {"float64": 1e-7, "float32": 3e-4}
TYPE_TOL = {"float64": 1e-4, "float32": 1e-2}
SEED = 666
N_TESTS = 2


def projections(n_tests: int = N_TESTS) -> list[float]:
    rng = np.random.RandomState(SEED)
    return [float(rng.rand() + 0.5) for _ in range(n_tests)]


class Theano(Strategy):
    name = "theano"
    summary = "verify_grad: one-sided, fails when both abs and rel error exceed 1e-4 (f32 1e-2)"
    source = "Theano/Theano theano/gradient.py (1.0.5) verify_grad"
    tolerance = 1.0
    own_step: ClassVar[dict[str, float] | None] = TYPE_EPS

    def theory_epsilon(self, dtype: str) -> float | None:
        return float(np.finfo(dtype).eps) ** 0.5

    def cost(self, parameters: int, arrays: int) -> int:
        return 1 + N_TESTS * (parameters + 1)

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        p = ctx.perturbed(step)
        assert p.J is not None
        rs = projections()
        numerical = np.array([round_to((r * p.J_plus - r * p.J) / step, ctx.dtype) for r in rs])
        return Reference(self.name, epsilon, (p.J_plus - p.J) / step, step=step,
                         kinks=ctx.kinks(step), lossy=ctx.lossy(step),
                         rounding=ctx.rounding(),
                         data={"r": rs, "numerical": numerical, "tol": TYPE_TOL[ctx.dtype],
                               "dtype": ctx.dtype})

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        tol = ref.data["tol"]
        worst = 0.0
        for r, b in zip(ref.data["r"], ref.data["numerical"]):
            a = round_to(r * flat, ref.data["dtype"])
            abs_err = np.abs(a - b)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(b), 1e-8)
            if not (np.all(np.isfinite(abs_err)) and np.all(np.isfinite(rel_err))):
                return float("nan")  # theano raises "abs_err not finite"
            if abs_err.size:
                worst = max(worst, float(np.max(np.minimum(abs_err / tol, rel_err / tol))))
        return worst

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        tol = TYPE_TOL["float64"]  # the ranking does not depend on the dtype's tolerance
        gap = np.abs(flat - numerical)
        return np.minimum(gap / tol, gap / np.maximum(np.abs(flat) + np.abs(numerical), 1e-8)
                          / tol)


THEANO = Theano()
