"""torch and torch-fast: ``torch.autograd.gradcheck`` on J(theta), slow and fast mode.

Ported from torch/autograd/gradcheck.py of PyTorch 2.13.0 (``_slow_gradcheck``,
``_fast_gradcheck``, ``_make_vectors``, ``_vec_from_tensor``, ``_adjusted_atol``,
``_run_slow_mode_and_get_error``). Defaults: eps 1e-6, atol 1e-5, rtol 1e-3, whatever the
dtype (for non-double inputs torch only warns: "This check will likely fail if all the
inputs are not of double precision").

The subject's parameter arrays are gradcheck's inputs (each requires grad) and the cost J is
its only output, so each input's Jacobian is the 1 x n_i gradient block.

- ``torch`` (slow mode): per entry, n_i = (J(θ+εe_i) - J(θ-εe_i)) / 2ε in the input's dtype;
  fails when some entry breaks ``torch.allclose(a, n, rtol, atol)``, |a - n| > atol + rtol|n|.
  Reported as max |a - n| / (atol + rtol |n|): passes at <= 1. Cost 2P forwards.
- ``torch-fast`` (``fast_mode=True``): one generator ``torch.Generator()`` (default seed
  67280421310721) draws, for each input in order, u_i = rand(n_i) (float32 uniform on
  [0, 1), cast to the input's dtype) normalised to unit norm, then v = rand(1) normalised
  (for one scalar output, v = 1). Numerical: (J(θ + εu_i) - J(θ - εu_i)) / 2ε, times v;
  analytic: (v g_i) . u_i. Each input is judged on its own by allclose with the absolute
  tolerance scaled by sum(u_i) sum(v) ("atol needs to be scaled by v^T M u"). Reported as
  the largest |a - n| / (atol sum(u_i) sum(v) + rtol |n|) over inputs. Cost 2A forwards for
  A arrays. On failure torch reruns slow mode for its message ("Fast gradcheck failed but
  element-wise differences are small" when slow mode passes); ``check`` says the same.

torch.rand on CPU is MT19937 seeded with the seed's low 32 bits, and a float32 draw is the
low 24 bits of one 32-bit output times 2^-24: ``torch_rand`` rebuilds those numbers exactly
(tests/test_checkers.py compares them with torch itself).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mutagrad.strategies.base import Context, Reference, Strategy, ratio, round_to

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3
DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()


class TorchRandom:
    """``torch.rand(n, generator=torch.Generator())`` in float32, draw after draw."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self._bits = np.random.MT19937(0)
        self._bits._legacy_seeding(seed & 0xFFFFFFFF)

    def rand(self, n: int) -> np.ndarray:
        raw = self._bits.random_raw(n).astype(np.uint64)
        return ((raw & np.uint64((1 << 24) - 1)).astype(np.float64) * 2.0 ** -24).astype(
            np.float32)


def fast_vectors(sizes: tuple[int, ...], dtype: str) -> tuple[list[np.ndarray], float]:
    """The u_i of every input (unit norm, in the input's dtype) and v of the scalar output,
    in torch's order (``_make_vectors``)."""
    gen = TorchRandom()
    us = []
    for n in sizes:
        u = gen.rand(n).astype(dtype)
        us.append(u / np.linalg.norm(u) if n else u)
    v = gen.rand(1).astype(np.float64)  # the output J: float64 in torch's default promotion
    v = v / np.linalg.norm(v)
    return us, float(v[0])


class Torch(Strategy):
    name = "torch"
    summary = "torch.autograd.gradcheck: per-entry allclose, atol 1e-5 rtol 1e-3, eps 1e-6"
    source = "pytorch/pytorch torch/autograd/gradcheck.py (2.13.0) _slow_gradcheck"
    tolerance = 1.0
    own_step: ClassVar[dict[str, float] | None] = {"float64": EPS, "float32": EPS}

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        p = ctx.perturbed(step)
        numerical = round_to((p.J_plus - p.J_minus) / (2 * step), ctx.dtype)
        return Reference(self.name, epsilon, numerical, kinks=ctx.kinks(step), lossy=ctx.lossy(step),
                         rounding=ctx.rounding(), step=step)

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        return ratio(flat - ref.vector, ATOL, RTOL, ref.vector)

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        return np.abs(flat - numerical) / (ATOL + RTOL * np.abs(numerical))


class TorchFast(Strategy):
    name = "torch-fast"
    summary = "gradcheck fast_mode: v^T J u per input, atol scaled by sum(u) sum(v)"
    source = "pytorch/pytorch torch/autograd/gradcheck.py (2.13.0) _fast_gradcheck"
    tolerance = 1.0
    own_step: ClassVar[dict[str, float] | None] = {"float64": EPS, "float32": EPS}
    per_entry_native = False

    def cost(self, parameters: int, arrays: int) -> int:
        return 2 * arrays

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        step = self.step(epsilon, ctx.dtype)
        us, v = fast_vectors(ctx.sizes, ctx.dtype)
        theta = ctx.theta()
        rows, numerical, atols = [], [], []
        start = 0
        for u, n in zip(us, ctx.sizes):
            scaled = (step * u).astype(ctx.dtype)
            plus, minus = theta.copy(), theta.copy()
            plus[start:start + n] = theta[start:start + n] + scaled
            minus[start:start + n] = theta[start:start + n] - scaled
            Ju = round_to((ctx.J_flat(plus) - ctx.J_flat(minus)) / (2 * step), ctx.dtype)
            numerical.append(float(v * Ju))
            row = np.zeros(theta.size)
            row[start:start + n] = u
            rows.append(row)
            atols.append(ATOL * float(np.sum(u)) * v)
            start += n
        return Reference(self.name, epsilon, np.array(numerical), np.array(rows), step=step,
                         data={"atol": np.array(atols), "v": v})

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        assert ref.directions is not None
        analytic = ref.data["v"] * (ref.directions @ flat)
        return ratio(analytic - ref.vector, ref.data["atol"], RTOL, ref.vector)


TORCH, TORCH_FAST = Torch(), TorchFast()
