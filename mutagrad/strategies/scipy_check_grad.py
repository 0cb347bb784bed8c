"""scipy and scipy-random: ``scipy.optimize.check_grad(func, grad, x0)``.

Ported from scipy/optimize/_optimize.py of SciPy 1.17.1 (``check_grad``, ``approx_fprime``)
and scipy/optimize/_numdiff.py (``approx_derivative``, ``_dense_difference``, 2-point):

- x0 is the flat parameter vector as float64; the step is absolute, epsilon =
  sqrt(float64 machine epsilon) ~ 1.49e-8 whatever the dtype (where x0_i + h == x0_i scipy
  falls back to a relative step);
- ``scipy`` (direction='all'): forward differences g'_i = (J(x0 + h e_i) - J(x0)) / dx_i with
  dx_i = (x0_i + h) - x0_i; cost P + 1 forwards;
- ``scipy-random`` (direction='random'): v = rng.standard_normal(P) and one forward
  difference of w -> J(x0 + w v) at w = 0, compared with g . v; cost 2 forwards;
- the result is ``sqrt(sum(abs(g - g')**2))``: an *absolute* norm, with no verdict.
  We judge it at 1.5e-7, what scipy's own test does (``assert_almost_equal(r, 0)`` in
  scipy/optimize/tests/test_optimize.py::test_check_grad).

``func`` is J of the flat vector cast to the case's dtype: a float32 model sees the step
rounded to float32, while scipy divides by the float64 step.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, case_rng

EPSILON = float(np.sqrt(np.finfo(float).eps))
TOLERANCE = 1.5e-7
SALT = 7  # scipy-random's generator: default_rng(case_seed(case, SALT))


def steps(x0: np.ndarray, h: float) -> np.ndarray:
    """scipy's absolute step, with its fallback where x0 + h == x0."""
    hs = np.full(x0.shape, h)
    sign = (x0 >= 0).astype(float) * 2 - 1
    fallback = EPSILON * sign * np.maximum(1.0, np.abs(x0))
    return np.where((x0 + hs) - x0 == 0, fallback, hs)


def absolute_norm(d: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.abs(d ** 2))))


class Scipy(Strategy):
    name = "scipy"
    summary = "scipy.optimize.check_grad: forward differences, absolute 2-norm, h 1.49e-8"
    source = "scipy/scipy scipy/optimize/_optimize.py (1.17.1) check_grad"
    tolerance = TOLERANCE
    own_step: ClassVar[dict[str, float] | None] = {"float64": EPSILON, "float32": EPSILON}

    def theory_epsilon(self, dtype: str) -> float | None:
        return float(np.finfo(dtype).eps) ** 0.5

    def cost(self, parameters: int, arrays: int) -> int:
        return parameters + 1

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        x0 = ctx.theta().astype(np.float64)
        h = steps(x0, self.step(epsilon, ctx.dtype))
        f0 = ctx.J_flat(x0)
        out = np.empty(x0.size)
        for i in range(x0.size):
            x1 = x0.copy()
            x1[i] = x0[i] + h[i]
            out[i] = (ctx.J_flat(x1) - f0) / ((x0[i] + h[i]) - x0[i])
        return Reference(self.name, epsilon, out, step=self.step(epsilon, ctx.dtype))

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return absolute_norm(flat - ref.vector)


class ScipyRandom(Scipy):
    name = "scipy-random"
    summary = "check_grad(direction='random'): one normal direction, absolute difference"
    source = "scipy/scipy scipy/optimize/_optimize.py (1.17.1) check_grad direction='random'"
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 2

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        x0 = ctx.theta().astype(np.float64)
        v = case_rng(ctx.case, SALT).standard_normal(size=x0.shape)
        h = float(steps(np.zeros(1), self.step(epsilon, ctx.dtype))[0])
        f0 = ctx.J_flat(x0 + 0.0 * v)
        derivative = (ctx.J_flat(x0 + h * v) - f0) / ((0.0 + h) - 0.0)
        return Reference(self.name, epsilon, np.array([derivative]), v[None, :], step=h)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        assert ref.directions is not None
        return absolute_norm(np.atleast_1d(np.dot(flat, ref.directions[0]) - ref.vector))


SCIPY, SCIPY_RANDOM = Scipy(), ScipyRandom()
