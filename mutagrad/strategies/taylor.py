"""taylor: the Taylor-remainder test, a verdict with no tolerance to choose.

For a direction d (unit norm, normal entries, drawn from a generator seeded by the case)
and steps h_k = h / 2^k, k = 0..3, the remainder

    r_k = |J(θ + h_k d) - J(θ) - h_k g.d|   (h_k d as rounded to the case's dtype)

is O(h_k^2) when g is the gradient (Taylor's theorem) and about h_k |(g - ∇J).d| when it
is not: halving h divides it by 4, or by 2. The observed rate log2(r_k / r_{k+1}) is 2 for a
right gradient and 1 for a wrong one (Farrell et al., dolfin-adjoint's ``taylor_test``;
Funke et al. 2013). The difference is 2 - (smallest rate), clipped at 0; the fixed boundary
0.5 (rate 1.5) is the midpoint between the two theoretical rates, not a tuned tolerance.

Remainders at round-off, under 100 u max(1, |J|) (u the dtype's machine epsilon), carry no
rate: pairs with such a remainder are skipped, and when every remainder is there the
gradient agrees with J to round-off (an exactly linear J) and the difference is 0.

Step: h = u^(1/4) (1.2e-4 in float64, 1.9e-2 in float32) keeps the smallest remainder,
(h/8)^2 |d'Hd| / 2, well above round-off while the first-order term of a bug still
dominates at h/8. Cost 5 forwards (J(θ) and four steps).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, case_rng

STEPS = 4
SALT = 1729


def noise_floor(J: float, dtype: str) -> float:
    return 1e2 * float(np.finfo(dtype).eps) * max(1.0, abs(J))


def rate(flat: np.ndarray, ref: Reference) -> float | None:
    """The smallest observed convergence rate, or None when every remainder is round-off."""
    assert ref.directions is not None
    J0, floor = ref.data["J0"], ref.data["floor"]
    r = np.abs(ref.vector - J0 - ref.directions @ flat)
    rates = [math.log2(r[k] / r[k + 1]) for k in range(len(r) - 1)
             if r[k] > floor and r[k + 1] > floor]
    if not rates:
        if np.all(r <= floor):
            return None
        if not np.all(np.isfinite(r)):
            return float("nan")
        return 2.0 if r[-1] <= floor else 0.0  # fell to round-off: converging fast enough
    return min(rates)


class Taylor(Strategy):
    name = "taylor"
    summary = "Taylor remainder: rate 2 when g is right, 1 when wrong; fails under 1.5"
    tolerance = 0.5
    own_step: ClassVar[dict[str, float] | None] = {"float64": float(np.finfo("float64").eps) ** 0.25,
                "float32": float(np.finfo("float32").eps) ** 0.25}
    per_entry_native = False

    def theory_epsilon(self, dtype: str) -> float | None:
        return float(np.finfo(dtype).eps) ** 0.25

    def cost(self, parameters: int, arrays: int) -> int:
        return STEPS + 1

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        d = case_rng(ctx.case, SALT).standard_normal(ctx.parameters)
        d /= np.linalg.norm(d) or 1.0
        theta = ctx.theta().astype(np.float64)
        J0 = ctx.J_flat(theta)
        hs = step / 2.0 ** np.arange(STEPS)
        # the steps actually taken, after rounding to the case's dtype: h_k d up to round-off
        moved = np.array([(theta + h * d).astype(ctx.dtype).astype(np.float64) - theta
                          for h in hs])
        values = np.array([ctx.J_flat(theta + m) for m in moved])
        return Reference(self.name, epsilon, values, moved, step=step,
                         data={"J0": J0, "h": hs, "floor": noise_floor(J0, ctx.dtype)})

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        observed = rate(flat, ref)
        if observed is None:
            return 0.0
        return max(0.0, 2.0 - observed) if not math.isnan(observed) else float("nan")


TAYLOR = Taylor()
