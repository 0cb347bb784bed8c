"""jax: ``jax.test_util.check_grads(f, params, order=1, modes=["rev"])`` on J.

Ported from jax/_src/public_test_util.py of JAX 0.10.2 (``check_vjp``, ``numerical_jvp``,
``rand_like``, ``check_close``, ``default_gradient_tolerance``). Our subjects have a
backward, i.e. a VJP, so the port is the "rev" check (the default also runs "fwd", which
needs a JVP). With ``rng = np.random.RandomState(0)``:

- tangent t_k = rng.randn(*shape_k) per parameter array, in order, cast to its dtype (not
  normalised: entries of order 1); then the cotangent c = rng.randn() for the scalar output;
- numerical: tangent_out = (J(θ + εt) - J(θ - εt)) * (0.5 / ε), eps = 1e-4 for every dtype;
- analytic: ip = <t, c g>; expected: ip_expected = tangent_out * c;
- verdict: ``np.testing.assert_allclose(ip, ip_expected, atol, rtol)``,
  |ip - ip_expected| <= atol + rtol |ip_expected|, with atol = rtol = 1e-5 (float64) or
  2e-3 (float32), times the size of the compared array (1 here).

Reported as |ip - ip_expected| / (atol + rtol |ip_expected|): passes at <= 1. Cost 3
forwards: f(*args) for the primal check, and two for the JVP.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, ratio

EPS = 1e-4
GRADIENT_TOLERANCE = {"float64": 1e-5, "float32": 2e-3}


def tangents(shapes: tuple[tuple[int, ...], ...], dtype: str) -> tuple[np.ndarray, float]:
    """The flat tangent (in ``dtype``, as float64) and the cotangent, in JAX's draw order."""
    rng = np.random.RandomState(0)
    t = [np.asarray(rng.randn(*shape), dtype=dtype).ravel() for shape in shapes]
    c = float(np.asarray(rng.randn(), dtype=dtype))
    flat = np.concatenate(t) if t else np.zeros(0)
    return flat.astype(np.float64), c


class Jax(Strategy):
    name = "jax"
    summary = "jax check_grads (rev): one normal tangent, assert_allclose 1e-5 (f32: 2e-3)"
    source = "jax-ml/jax jax/_src/public_test_util.py (0.10.2) check_vjp"
    tolerance = 1.0
    own_step: ClassVar[dict[str, float] | None] = {"float64": EPS, "float32": EPS}
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 3

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        t, c = tangents(ctx.shapes, ctx.dtype)
        theta = ctx.theta()
        delta = (t.astype(ctx.dtype) * np.asarray(step, dtype=ctx.dtype)).astype(ctx.dtype)
        f_pos, f_neg = ctx.J_flat(theta + delta), ctx.J_flat(theta - delta)
        out = np.asarray(np.subtract(f_pos, f_neg), dtype=ctx.dtype) * np.asarray(
            0.5 / step, dtype=ctx.dtype)
        tol = GRADIENT_TOLERANCE[ctx.dtype]
        return Reference(self.name, epsilon, np.array([float(out)]), t[None, :], step=step,
                         data={"c": c, "atol": tol, "rtol": tol})

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        assert ref.directions is not None
        c = ref.data["c"]
        ip = float(ref.directions[0] @ (c * flat))
        expected = float(ref.vector[0]) * c
        return ratio(ip - expected, ref.data["atol"], ref.data["rtol"], expected)


JAX = Jax()
