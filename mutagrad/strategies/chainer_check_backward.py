"""chainer: ``chainer.gradient_check.check_backward(func, (), None, params)`` on J.

Ported from chainer/gradient_check.py of Chainer v7 (``_CheckBackward._sample_directions``,
``_directional_numeric_gradients``, ``numerical_grad``, ``_compare_gradients``):

- one direction over all parameters: d_k = numpy.random.normal(size=shape_k) per array,
  then divided by the norm of the whole; here a ``RandomState`` seeded by the case (chainer
  uses numpy's global generator);
- numerical: (J(θ + εd) - J(θ - εd)) / 2ε with ε = 1e-3, the perturbed parameters computed
  in float64 and cast to their dtype, the outputs copied to float64;
- analytic: sum_k (g_k as float64 * d_k).sum();
- verdict: ``numpy.testing.assert_allclose(numeric, backward, atol=1e-5, rtol=1e-4)``,
  |numeric - backward| <= atol + rtol |backward| (relative to the *analytic* side), the same
  for every dtype.

Reported as |n - a| / (atol + rtol |a|): passes at <= 1. Cost 2 forwards.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, legacy_seed, ratio

EPS, ATOL, RTOL = 1e-3, 1e-5, 1e-4
SALT = 2018


class Chainer(Strategy):
    name = "chainer"
    summary = "check_backward: one unit normal direction, eps 1e-3, atol 1e-5 rtol 1e-4"
    source = "chainer/chainer chainer/gradient_check.py (v7) check_backward"
    tolerance = 1.0
    own_step: ClassVar[dict[str, float] | None] = {"float64": EPS, "float32": EPS}
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 2

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        rng = np.random.RandomState(legacy_seed(ctx.case, SALT))
        parts = [rng.normal(size=shape) for shape in ctx.shapes]
        norm = float(np.sqrt(sum(float(np.square(d).sum()) for d in parts)))
        if norm != 0:
            parts = [d * (1.0 / norm) for d in parts]
        d = np.concatenate([np.ravel(x) for x in parts]) if parts else np.zeros(0)
        theta = ctx.theta().astype(np.float64)
        plus = (theta + step * d).astype(ctx.dtype)
        minus = (theta - step * d).astype(ctx.dtype)
        y1, y0 = np.float64(ctx.J_flat(plus)), np.float64(ctx.J_flat(minus))
        numerical = float(((y1 - y0) * 1.0).sum() / (2 * step))
        return Reference(self.name, epsilon, np.array([numerical]), d[None, :], step=step)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        assert ref.directions is not None
        analytic = float(np.sum(flat * ref.directions[0]))
        return ratio(ref.vector[0] - analytic, ATOL, RTOL, analytic)


CHAINER = Chainer()
