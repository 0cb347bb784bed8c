"""directional: k random unit directions, centered differences along each.

d_j = (J(θ + εu_j) - J(θ - εu_j)) / 2ε, compared with u_j . g by the seed's relative
difference over the k projections. u_j uniform on the unit sphere (normalised normals), drawn
from a generator seeded by the case. Cost: 2k forwards, whatever P is.
"""

from __future__ import annotations

import numpy as np

from mutagrad import gradcheck
from mutagrad.strategies.base import Context, Reference, Strategy

DIRECTIONS = 8  # k


class Directional(Strategy):
    name = "directional"
    summary = f"k={DIRECTIONS} random unit directions, the seed's relative difference"
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 2 * DIRECTIONS

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        rng = np.random.default_rng([0 if ctx.case.seed is None else ctx.case.seed,
                                     ctx.case.batch])
        u = gradcheck.unit_directions(DIRECTIONS, ctx.parameters, rng)
        d = gradcheck.directional_derivatives(ctx.J, ctx.case.params, ctx.keys, epsilon, u)
        return Reference(self.name, epsilon, d, u)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        assert ref.directions is not None
        return gradcheck.relative_difference(ref.directions @ flat, ref.vector)


DIRECTIONAL = Directional()
