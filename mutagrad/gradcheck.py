"""Numerical gradients and the difference metric of the seed exercise.

The check is split in two so that a campaign pays for the numerical gradient once per case
and epsilon, then compares it with as many analytic gradients (mutants) as it likes:

- ``centered_gradient`` costs 2P forward evaluations for P scalar parameters;
- ``compare`` costs no forward evaluation at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mutagrad.errors import GradientMismatch, InvalidInput
from mutagrad.subject import Case, Params, Subject

DEFAULT_EPSILON = 1e-7
DEFAULT_TOLERANCE = 1e-7
PASS_MESSAGE = "Your backward propagation works perfectly fine!"
FAIL_MESSAGE = "There is a mistake in the backward propagation!"


@dataclass(frozen=True)
class NumericalGradient:
    """``gradapprox`` of a case, flattened in ``keys`` order, with what it cost."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    vector: np.ndarray
    epsilon: float
    forwards: int


@dataclass(frozen=True)
class Disagreement:
    """How far one parameter's analytic gradient is from the numerical one."""

    name: str
    difference: float
    index: tuple[int, ...]
    analytic: float
    numerical: float


@dataclass(frozen=True)
class Comparison:
    difference: float
    parameters: tuple[Disagreement, ...]  # worst first


@dataclass(frozen=True)
class CheckResult:
    subject: str
    case: Case
    epsilon: float
    tolerance: float
    comparison: Comparison

    @property
    def difference(self) -> float:
        return self.comparison.difference

    @property
    def passed(self) -> bool:
        return passes(self.difference, self.tolerance)

    @property
    def message(self) -> str:
        return PASS_MESSAGE if self.passed else FAIL_MESSAGE


def passes(difference: float, tolerance: float) -> bool:
    """The verdict: a difference at or under the tolerance passes; NaN never does."""
    return bool(difference <= tolerance)


def validate_positive(name: str, value: float, flag: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name} must be a positive number, got {value}: pass {flag} 1e-7")


def flatten(params: Params, keys: tuple[str, ...]) -> np.ndarray:
    """Concatenate ``params[k].ravel()`` in ``keys`` order (the seed's ``dictionary_to_vector``)."""
    return np.concatenate([np.asarray(params[k]).ravel() for k in keys])


def centered_gradient(cost: Callable[[Params], float], params: Params,
                      keys: tuple[str, ...], epsilon: float) -> NumericalGradient:
    """The seed's centered differences, one parameter entry at a time.

    gradapprox[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

    theta_i + eps is rounded in the parameters' dtype exactly as the seed's
    ``thetaplus[i][0] += epsilon`` rounds it, so float32 cases show float32 round-off.
    Cost: 2P forward evaluations. ``cost`` receives views into one buffer that is restored
    after each entry, so it must not keep references to them.
    """
    validate_positive("epsilon", epsilon, "--epsilon")
    theta = flatten(params, keys)
    shapes = tuple(np.shape(params[k]) for k in keys)
    views: Params = {}
    start = 0
    for k, shape in zip(keys, shapes):
        size = math.prod(shape)
        views[k] = theta[start:start + size].reshape(shape)
        start += size
    gradapprox = np.empty(theta.size, dtype=np.float64)
    for i in range(theta.size):
        original = theta[i]
        theta[i] = original + epsilon
        J_plus = cost(views)
        theta[i] = original - epsilon
        J_minus = cost(views)
        theta[i] = original
        gradapprox[i] = (J_plus - J_minus) / (2. * epsilon)
    return NumericalGradient(tuple(keys), shapes, gradapprox, epsilon, 2 * theta.size)


def relative_difference(grad: np.ndarray, gradapprox: np.ndarray) -> float:
    """The seed's metric, step by step as the exercise writes it.

    difference = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

    Two all-zero vectors agree exactly: their difference is 0 (the formula would give 0/0).
    """
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    if denominator == 0:
        return 0.0
    difference = numerator / denominator
    return float(difference)


def norm(x: np.ndarray) -> float:
    """||x||_2 of a flat real vector, computed as np.linalg.norm computes it (sqrt(x . x)),
    without its dispatch overhead: bit-identical, for the campaign's hot loop."""
    return math.sqrt(float(x.dot(x)))


def relative_difference_to(grad: np.ndarray, reference: np.ndarray, reference_norm: float,
                           grad_norm: float | None = None) -> float:
    """``relative_difference(grad, reference)`` with the norms computed once beforehand:
    a campaign compares many gradients with the same numerical (or original) gradient,
    and each gradient with several references."""
    denominator = (norm(grad) if grad_norm is None else grad_norm) + reference_norm
    if denominator == 0:
        return 0.0
    return norm(grad - reference) / denominator


def check_layout(analytic: Params, keys: tuple[str, ...],
                 shapes: tuple[tuple[int, ...], ...]) -> None:
    """Raise ``GradientMismatch`` unless ``analytic`` has exactly these keys and shapes."""
    missing = [k for k in keys if k not in analytic]
    if missing:
        raise GradientMismatch(f"no gradient for {', '.join(missing)}")
    for k, shape in zip(keys, shapes):
        got = np.shape(analytic[k])
        if got != shape:
            raise GradientMismatch(f"gradient of {k} has shape {got}, the parameter has {shape}")


def compare(analytic: Params, numerical: NumericalGradient) -> Comparison:
    """Compare one analytic gradient with a precomputed numerical one (no forward call).

    Returns the overall difference and, per parameter, its own difference and its worst
    entry (largest |analytic - numerical|), worst parameter first.
    """
    check_layout(analytic, numerical.keys, numerical.shapes)
    grad = flatten(analytic, numerical.keys).astype(np.float64)
    parameters = []
    start = 0
    for k, shape in zip(numerical.keys, numerical.shapes):
        size = math.prod(shape)
        g, n = grad[start:start + size], numerical.vector[start:start + size]
        start += size
        gap = np.abs(g - n)
        flat = int(np.nanargmax(gap)) if size and not np.all(np.isnan(gap)) else 0
        index = tuple(int(i) for i in np.unravel_index(flat, shape)) if size else ()
        parameters.append(Disagreement(k, relative_difference(g, n), index,
                                       float(g[flat]) if size else 0.0,
                                       float(n[flat]) if size else 0.0))
    parameters.sort(key=lambda d: -d.difference if not math.isnan(d.difference) else -math.inf)
    return Comparison(relative_difference(grad, numerical.vector), tuple(parameters))


def gradient_difference(a: Params, b: Params, keys: tuple[str, ...]) -> float:
    """The seed's metric between two analytic gradients (a mutant's *true error*)."""
    return relative_difference(flatten(a, keys).astype(np.float64),
                               flatten(b, keys).astype(np.float64))


def numerical_gradient(subject: Subject, case: Case, epsilon: float) -> NumericalGradient:
    """The subject's centered numerical gradient on ``case``."""
    return centered_gradient(lambda p: subject.cost(p, case), case.params,
                             subject.param_names, epsilon)


def check(subject: Subject, case: Case, epsilon: float = DEFAULT_EPSILON,
          tolerance: float = DEFAULT_TOLERANCE) -> CheckResult:
    """Run the seed's gradient check of the subject's own backward on one case."""
    validate_positive("tolerance", tolerance, "--tolerance")
    numerical = numerical_gradient(subject, case, epsilon)
    analytic = subject.gradients(subject.backward, case)
    return CheckResult(subject.name, case, epsilon, tolerance, compare(analytic, numerical))
