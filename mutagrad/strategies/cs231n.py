"""cs231n and cs231n-sparse: Stanford CS231n's ``cs231n/gradient_check.py`` and ``rel_error``.

Ported from the assignments' cs231n/gradient_check.py (``eval_numerical_gradient``,
``grad_check_sparse``; e.g. DenryDu/cs231n_Assignment1 at commit 0c6c21a) and the notebooks'
``rel_error(x, y) = np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))``:

- ``cs231n``: per parameter array, f(x) once (computed and unused, as in the source) and
  centered differences (f(x + h) - f(x - h)) / 2h with h = 1e-5, stored in an array of the
  parameter's dtype; the notebooks print ``rel_error`` per parameter and pass when each is
  small. Difference: the largest rel_error over all parameters. Cost 2P + A forwards.
- ``cs231n-sparse``: ``grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5)`` on each
  parameter array: 10 entries drawn with ``random.randrange`` per dimension (repeats
  allowed), each checked with |n - a| / (|n| + |a|) (no floor: 0/0 prints nan there; we count
  two exact zeros as agreement). Difference: the largest. Cost 20 A forwards.

Tolerance 1e-7: the course notes' "1e-7 and less you should be happy" (notes
neural-networks-3, "Gradient checks"), and the assignments' "errors around 1e-7 or less".
"""

from __future__ import annotations

import random
from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, legacy_seed, round_to

H = 1e-5
NUM_CHECKS = 10
SALT = 231


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The notebooks' rel_error (0 for empty arrays)."""
    if np.size(x) == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


class Cs231n(Strategy):
    name = "cs231n"
    summary = "eval_numerical_gradient (h 1e-5) + rel_error, max over parameters"
    source = "cs231n assignments cs231n/gradient_check.py eval_numerical_gradient"
    own_step: ClassVar[dict[str, float] | None] = {"float64": H, "float32": H}

    def cost(self, parameters: int, arrays: int) -> int:
        return 2 * parameters + arrays

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        p = ctx.perturbed(step)
        numerical = round_to((p.J_plus - p.J_minus) / (2 * step), ctx.dtype)
        return Reference(self.name, epsilon, numerical, kinks=ctx.kinks(step), lossy=ctx.lossy(step),
                         rounding=ctx.rounding(), step=step)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return rel_error(ref.vector, flat)

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        return np.abs(numerical - flat) / np.maximum(1e-8, np.abs(numerical) + np.abs(flat))


class Cs231nSparse(Cs231n):
    name = "cs231n-sparse"
    summary = "grad_check_sparse: 10 random entries per parameter, |n-a| / (|n|+|a|)"
    source = "cs231n assignments cs231n/gradient_check.py grad_check_sparse"
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 2 * NUM_CHECKS * arrays

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        draw = random.Random(legacy_seed(ctx.case, SALT))
        theta = ctx.theta()
        indices, numerical = [], []
        start = 0
        for shape, size in zip(ctx.shapes, ctx.sizes):
            for _ in range(NUM_CHECKS if size else 0):
                ix = tuple(draw.randrange(m) for m in shape)
                flat_index = start + (int(np.ravel_multi_index(ix, shape)) if shape else 0)
                plus, minus = theta.copy(), theta.copy()
                plus[flat_index] = theta[flat_index] + step
                minus[flat_index] = theta[flat_index] - step
                numerical.append((ctx.J_flat(plus) - ctx.J_flat(minus)) / (2 * step))
                indices.append(flat_index)
            start += size
        return Reference(self.name, epsilon, np.array(numerical), step=step,
                         data={"indices": np.array(indices, dtype=np.int64)})

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        a = flat[ref.data["indices"]]
        n = ref.vector
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(n - a) / (np.abs(n) + np.abs(a))
        r = np.where((n == 0) & (a == 0), 0.0, r)
        if r.size == 0:
            return 0.0
        return float(np.nan if np.isnan(r).any() else r.max())


CS231N, CS231N_SPARSE = Cs231n(), Cs231nSparse()

