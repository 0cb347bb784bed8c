"""What every strategy is made of, and the forward evaluations strategies share.

A strategy is one object with:

- ``reference(ctx, epsilon)``: the numerical side of one case, computed once per case and
  epsilon in the campaign's parent process (forward evaluations only);
- ``difference(flat, ref)``: the number the check computes for one analytic gradient (no
  forward evaluation: the campaign calls it once per mutant and case); ``judge`` is the
  same given the subject and case, which a strategy running the user's own check needs
  (``check:FUNC``, ``user_check``);
- ``passes(difference, tolerance)``: the verdict (a difference at or under the tolerance);
- ``cost(parameters, arrays)``: forward evaluations per case that the checker itself spends,
  for P scalar parameters in A arrays (the forward whose cache the backward uses is not
  counted);
- ``tolerance`` and ``step(epsilon, dtype)``: its default tolerance and the step it takes
  (a checker takes its own, per dtype; the others the campaign's epsilon);
- ``theory_epsilon(dtype)``: the step theory recommends.

Checkers whose rule has two tolerances (absolute and relative, per dtype) report their
difference as a ratio to their own threshold: 1 is the checker's boundary, and the
campaign's single tolerance scales both of its tolerances.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mutagrad import gradcheck, precision
from mutagrad.errors import InvalidInput
from mutagrad.subject import Case, Params, Subject


class Unsupported(InvalidInput):
    """The strategy cannot be used on this subject (the reason says why)."""


@dataclass(frozen=True)
class Reference:
    """One strategy's numerical side for one case and epsilon.

    ``vector`` is the numerical gradient entry by entry, or, for a projection strategy, the
    numerical directional derivatives along the rows of ``directions``. ``data`` holds what
    else the strategy's difference needs (tolerances, scale factors, sampled indices).
    """

    strategy: str
    epsilon: float                        # the campaign's epsilon it is stored under
    vector: np.ndarray
    directions: np.ndarray | None = None  # one row per direction, P entries each
    kinks: tuple[int, ...] = ()           # entries whose step crosses a kink
    step: float = 0.0                     # the step actually taken (0: epsilon)
    data: dict[str, Any] = field(default_factory=dict)
    lossy: tuple[int, ...] = ()           # entries whose step the cost's rounding spoils
    rounding: float = 0.0                 # how far rounding moved the cost (precision)
    norm: float = field(default=0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", gradcheck.norm(self.vector))
        if not self.step:
            object.__setattr__(self, "step", self.epsilon)


@dataclass(frozen=True)
class Entry:
    """One entry of the gradient where analytic and numerical sides disagree."""

    parameter: str
    index: tuple[int, ...]
    analytic: float
    numerical: float

    @property
    def gap(self) -> float:
        return abs(self.analytic - self.numerical)


class Context:
    """One case's forward evaluations, shared by every strategy that needs the same ones."""

    def __init__(self, subject: Subject, case: Case) -> None:
        self.subject = subject
        self.case = case
        self.keys = subject.param_names
        self.shapes = tuple(tuple(np.shape(case.params[k])) for k in self.keys)
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self._perturbed: dict[float, gradcheck.Perturbed] = {}
        self._rounding: float | None = None

    @property
    def dtype(self) -> str:
        return self.case.dtype

    @property
    def parameters(self) -> int:
        return sum(self.sizes)

    def J(self, params: Params) -> float:
        return float(self.subject.cost(params, self.case))

    def theta(self) -> np.ndarray:
        """The parameters flattened in ``keys`` order, in the case's dtype (a copy)."""
        return gradcheck.flatten(self.case.params, self.keys).astype(self.dtype)

    def J_flat(self, theta: np.ndarray) -> float:
        """J at a flat parameter vector, cast to the case's dtype first."""
        return self.J(gradcheck.unflatten(np.asarray(theta, dtype=self.dtype), self.keys,
                                          self.shapes))

    def perturbed(self, step: float) -> gradcheck.Perturbed:
        """J(theta +- step e_i) for every entry, and J(theta): 2P + 1 forwards, once."""
        if step not in self._perturbed:
            self._perturbed[step] = gradcheck.perturbed_costs(
                self.J, self.case.params, self.keys, step, with_base=True)
        return self._perturbed[step]

    def kinks(self, step: float) -> tuple[int, ...]:
        return tuple(int(i) for i in gradcheck.kinks_from(self.perturbed(step), self.dtype))

    def rounding(self) -> float:
        """How far rounding moves the cost at theta: one forward in a wider float, once."""
        if self._rounding is None:
            p = self.perturbed(next(iter(self._perturbed))) if self._perturbed else None
            base = p.J if p is not None and p.J is not None else self.J(self.case.params)
            self._rounding = precision.rounding_error(self.J, self.case.params, self.keys,
                                                      base, self.dtype)
        return self._rounding

    def lossy(self, step: float) -> tuple[int, ...]:
        """Entries whose step the cost's rounding spoils (precision.lossy_entries)."""
        p = self.perturbed(step)
        assert p.J is not None
        return tuple(int(i) for i in precision.lossy_entries(
            p.J, p.J_plus, p.J_minus, step, self.rounding(), gradcheck.centered_from(p),
            self.dtype))


def case_seed(case: Case, salt: int) -> list[int]:
    """The entropy of a strategy's generator on a case: (seed, batch, salt), so two cases
    (or two strategies) never share directions. Pass it to ``np.random.default_rng``."""
    return [0 if case.seed is None else case.seed, case.batch, salt]


def case_rng(case: Case, salt: int) -> np.random.Generator:
    return np.random.default_rng(case_seed(case, salt))


def legacy_seed(case: Case, salt: int) -> int:
    """A 32-bit seed for the checkers that draw from ``np.random.RandomState``."""
    return int(np.random.SeedSequence(case_seed(case, salt)).generate_state(1)[0])


def ratio(gap: np.ndarray | float, atol: np.ndarray | float,
          rtol: float, scale: np.ndarray | float) -> float:
    """max |gap| / (atol + rtol |scale|): <= 1 is allclose's ``|a - b| <= atol + rtol |b|``.

    NaN stays NaN (and fails), as allclose fails on NaN."""
    r = np.abs(gap) / (atol + rtol * np.abs(scale))
    r = np.atleast_1d(r)
    if r.size == 0:
        return 0.0
    return float(np.nan if np.isnan(r).any() else np.max(r))


def round_to(x: np.ndarray | float, dtype: str) -> np.ndarray:
    """Values rounded to ``dtype``, returned as float64 (a checker that stores its numbers
    in the inputs' dtype rounds them there)."""
    return np.asarray(x).astype(dtype).astype(np.float64)


class Strategy:
    """Base class: a strategy with no step of its own compares per-entry gradients."""

    name: str = ""
    summary: str = ""
    source: ClassVar[str] = ""           # the checker's file and version, for checkers
    tolerance: ClassVar[float] = 1e-7
    own_step: ClassVar[dict[str, float] | None] = None  # per dtype; None: the campaign's
    per_entry_native: ClassVar[bool] = True  # vector holds one number per entry
    runs_user_code: ClassVar[bool] = False  # judge calls the user's code (check:FUNC)

    def step(self, epsilon: float, dtype: str) -> float:
        return self.own_step[dtype] if self.own_step else epsilon

    def theory_epsilon(self, dtype: str) -> float | None:
        """Centered differences: truncation O(eps^2), round-off O(u / eps): u^(1/3)."""
        return float(np.finfo(dtype).eps) ** (1 / 3)

    def cost(self, parameters: int, arrays: int) -> int:
        return 2 * parameters

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        raise NotImplementedError

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        raise NotImplementedError

    def judge(self, flat: np.ndarray, ref: Reference, flat_norm: float | None,
              subject: Subject | None, case: Case | None) -> float:
        """The difference, given the subject and case it was computed on: a strategy that
        runs the user's code (``runs_user_code``) needs them; the others need only
        ``difference``."""
        return self.difference(flat, ref, flat_norm)

    def passes(self, difference: float, tolerance: float) -> bool:
        return gradcheck.passes(difference, tolerance)

    def entry_scores(self, flat: np.ndarray, numerical: np.ndarray) -> np.ndarray:
        """How bad each entry is, for the 'where' report: the strategy's own per-entry
        measure when it has one, else |analytic - numerical|."""
        return np.abs(flat - numerical)

    def per_entry(self, ctx: Context, ref: Reference) -> np.ndarray | None:
        """Per-entry numerical gradient for the 'where' report: the strategy's own when it
        has one, else centered differences at its step (as torch's fast mode reruns slow
        mode for its failure message); None when there is none to show (a user's check
        that keeps its numerical gradient inside)."""
        if self.per_entry_native:
            return ref.vector
        return gradcheck.centered_from(ctx.perturbed(ref.step))


def worst_entries(flat: np.ndarray, numerical: np.ndarray, keys: tuple[str, ...],
                  shapes: tuple[tuple[int, ...], ...], top: int = 5,
                  scores: np.ndarray | None = None) -> tuple[Entry, ...]:
    """The ``top`` entries with the largest score (default |analytic - numerical|), worst
    first; NaN counts as worst."""
    score = np.abs(flat - numerical) if scores is None else np.asarray(scores, dtype=float)
    score = np.where(np.isnan(score), np.inf, score)
    order = np.argsort(-score, kind="stable")[:top]
    bounds = np.cumsum([0, *(math.prod(s) for s in shapes)])
    out = []
    for flat_index in order:
        p = int(np.searchsorted(bounds, flat_index, side="right") - 1)
        local = int(flat_index - bounds[p])
        index = tuple(int(i) for i in np.unravel_index(local, shapes[p])) if shapes[p] else ()
        out.append(Entry(keys[p], index, float(flat[flat_index]), float(numerical[flat_index])))
    return tuple(out)


Cost = Callable[[int, int], int]
