"""The seed's finite-difference strategies: one pass of J(theta +- eps e_i) serves them all.

| strategy | numerical side | difference | forwards/case |
|---|---|---|---|
| centered | (J(θ+εe_i) - J(θ-εe_i)) / 2ε | ‖g-g'‖ / (‖g‖+‖g'‖), the seed's | 2P |
| forward | (J(θ+εe_i) - J(θ)) / ε | the seed's | P+1 |
| max-relerr | centered | max_i abs(g_i-g'_i) / max(abs(g_i), abs(g'_i)) | 2P |
| allclose | centered | max_i abs(g_i-g'_i) / (atol + rtol abs(g'_i)), passes at <= 1 | 2P |

They take the campaign's epsilon; J(theta) is computed too (one more forward) for the
one-sided strategy and for kink detection.
"""

from __future__ import annotations

import numpy as np

from mutagrad import gradcheck
from mutagrad.strategies.base import Context, Reference, Strategy


class Centered(Strategy):
    name = "centered"
    summary = "centered differences, the seed's relative difference"

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        p = ctx.perturbed(epsilon)
        return Reference(self.name, epsilon, gradcheck.centered_from(p),
                         kinks=ctx.kinks(epsilon), lossy=ctx.lossy(epsilon),
                         rounding=ctx.rounding())

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return gradcheck.relative_difference_to(flat, ref.vector, ref.norm, flat_norm)


class Forward(Centered):
    name = "forward"
    summary = "one-sided differences, the seed's relative difference"

    def theory_epsilon(self, dtype: str) -> float | None:
        """One-sided: truncation O(eps), round-off O(u / eps): u^(1/2)."""
        return float(np.finfo(dtype).eps) ** 0.5

    def cost(self, parameters: int, arrays: int) -> int:
        return parameters + 1

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        p = ctx.perturbed(epsilon)
        return Reference(self.name, epsilon, gradcheck.forward_from(p), kinks=ctx.kinks(epsilon), lossy=ctx.lossy(epsilon),
                         rounding=ctx.rounding())


class MaxRelErr(Centered):
    name = "max-relerr"
    summary = "largest elementwise relative error, max(|g|, |g'|) below"

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return gradcheck.max_relative_error(flat, ref.vector)

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        scale = np.maximum(np.abs(flat), np.abs(numerical))
        return np.abs(flat - numerical) / np.where(scale > 0, scale, 1.0)


class Allclose(Centered):
    name = "allclose"
    summary = "torch.gradcheck's atol 1e-5 + rtol 1e-3 rule as a ratio, at the run's epsilon"
    tolerance = 1.0

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return gradcheck.allclose_ratio(flat, ref.vector)

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        return np.abs(flat - numerical) / (1e-5 + 1e-3 * np.abs(numerical))


CENTERED, FORWARD, MAX_RELERR, ALLCLOSE = Centered(), Forward(), MaxRelErr(), Allclose()
