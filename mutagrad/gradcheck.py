"""Numerical gradients and the difference metric of the seed exercise.

The check is split in two so that a campaign pays for the numerical gradient once per case
and epsilon, then compares it with as many analytic gradients (mutants) as it likes:

- ``centered_gradient`` costs 2P forward evaluations for P scalar parameters;
- ``compare`` costs no forward evaluation at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mutagrad.errors import GradientMismatch, InvalidInput
from mutagrad.precision import describe_lossy, entry_name, lossy_entries, rounding_error
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
    kinks: str | None = None  # which step crosses a kink, when one does
    precision: str | None = None  # where the cost loses precision, when it does

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


@dataclass(frozen=True)
class Perturbed:
    """J at theta +- eps e_i for every entry i (and J at theta, when asked): what the
    finite-difference strategies share, computed once per case and epsilon."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    epsilon: float
    J: float | None
    J_plus: np.ndarray
    J_minus: np.ndarray


def unflatten(theta: np.ndarray, keys: tuple[str, ...],
              shapes: tuple[tuple[int, ...], ...]) -> Params:
    """Views of a flat parameter vector as the named arrays (the inverse of ``flatten``)."""
    views: Params = {}
    start = 0
    for k, shape in zip(keys, shapes):
        size = math.prod(shape)
        views[k] = theta[start:start + size].reshape(shape)
        start += size
    return views


def perturbed_costs(cost: Callable[[Params], float], params: Params, keys: tuple[str, ...],
                    epsilon: float, with_base: bool = False) -> Perturbed:
    """J(theta + eps e_i) and J(theta - eps e_i), one parameter entry at a time, and J(theta)
    when ``with_base`` (the one-sided strategy needs it).

    theta_i + eps is rounded in the parameters' dtype exactly as the seed's
    ``thetaplus[i][0] += epsilon`` rounds it, so float32 cases show float32 round-off.
    Cost: 2P forward evaluations (+1 with the base). ``cost`` receives views into one buffer
    that is restored after each entry, so it must not keep references to them.
    """
    validate_positive("epsilon", epsilon, "--epsilon")
    theta = flatten(params, keys)
    shapes = tuple(np.shape(params[k]) for k in keys)
    views = unflatten(theta, keys, shapes)
    J_plus = np.empty(theta.size, dtype=np.float64)
    J_minus = np.empty(theta.size, dtype=np.float64)
    for i in range(theta.size):
        original = theta[i]
        theta[i] = original + epsilon
        J_plus[i] = cost(views)
        theta[i] = original - epsilon
        J_minus[i] = cost(views)
        theta[i] = original
    base = float(cost(views)) if with_base else None
    return Perturbed(tuple(keys), shapes, epsilon, base, J_plus, J_minus)


def centered_from(p: Perturbed) -> np.ndarray:
    """gradapprox[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps), the seed's.

    Truncation error O(eps^2), round-off O(u / eps): best eps about u^(1/3)."""
    return (p.J_plus - p.J_minus) / (2. * p.epsilon)


def kinks_from(p: Perturbed, dtype: str) -> np.ndarray:
    """Entries whose step crosses a kink (ReLU at 0, a max tie), where a finite difference
    is not the derivative.

    On smooth code the second difference J(+) + J(-) - 2 J stays near J'' eps^2 plus
    round-off; across a kink it jumps to about |slope change| * eps. An entry is flagged
    when it exceeds (1e3 u + 1e2 eps^2) * max(1, |J|), u the dtype's machine epsilon.
    """
    assert p.J is not None, "perturbed_costs(..., with_base=True) is needed"
    u = float(np.finfo(dtype).eps)
    threshold = (1e3 * u + 1e2 * p.epsilon ** 2) * max(1.0, abs(p.J))
    return np.flatnonzero(np.abs(p.J_plus + p.J_minus - 2 * p.J) > threshold)


def forward_from(p: Perturbed) -> np.ndarray:
    """gradapprox[i] = (J(theta + eps e_i) - J(theta)) / eps, one-sided.

    Truncation error O(eps), round-off O(u / eps): best eps about u^(1/2). Alone it costs
    P + 1 forwards; next to ``centered`` it costs one (J(theta)) more."""
    assert p.J is not None, "perturbed_costs(..., with_base=True) is needed"
    return (p.J_plus - p.J) / p.epsilon


def centered_gradient(cost: Callable[[Params], float], params: Params,
                      keys: tuple[str, ...], epsilon: float) -> NumericalGradient:
    """The seed's centered differences as a ``NumericalGradient``. Cost: 2P forwards."""
    p = perturbed_costs(cost, params, keys, epsilon)
    return NumericalGradient(p.keys, p.shapes, centered_from(p), epsilon, 2 * p.J_plus.size)


def directional_derivatives(cost: Callable[[Params], float], params: Params,
                            keys: tuple[str, ...], epsilon: float,
                            directions: np.ndarray) -> np.ndarray:
    """d_j = (J(theta + eps u_j) - J(theta - eps u_j)) / (2 eps) for unit directions u_j.

    Compared with the analytic projections u_j . g (torch gradcheck's fast mode, Theano's
    verify_grad). Cost: 2k forward evaluations for k directions, whatever P is.
    """
    validate_positive("epsilon", epsilon, "--epsilon")
    theta = flatten(params, keys)
    shapes = tuple(np.shape(params[k]) for k in keys)
    base = theta.copy()
    views = unflatten(theta, keys, shapes)
    out = np.empty(len(directions), dtype=np.float64)
    for j, u in enumerate(directions):
        theta[:] = base + epsilon * u.astype(base.dtype)
        J_plus = cost(views)
        theta[:] = base - epsilon * u.astype(base.dtype)
        J_minus = cost(views)
        out[j] = (J_plus - J_minus) / (2. * epsilon)
    theta[:] = base
    return out


def unit_directions(k: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """k random directions, uniform on the unit sphere of R^size (normalised normals)."""
    u = rng.standard_normal((k, size))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def complex_step_gradient(cost: Callable[[Params], complex], params: Params,
                          keys: tuple[str, ...], h: float) -> np.ndarray:
    """gradapprox[i] = Im J(theta + i h e_i) / h.

    No subtraction, hence no cancellation: accurate to O(h^2) for any small h, when the
    forward is complex-safe (analytic in theta: no comparisons, abs, max, ...).
    Cost: P forward evaluations, in complex arithmetic.
    """
    validate_positive("step", h, "--epsilon")
    real = flatten(params, keys)
    theta = real.astype(np.complex64 if real.dtype == np.float32 else np.complex128)
    shapes = tuple(np.shape(params[k]) for k in keys)
    views = unflatten(theta, keys, shapes)
    out = np.empty(theta.size, dtype=np.float64)
    for i in range(theta.size):
        original = theta[i]
        theta[i] = original + 1j * h
        out[i] = np.imag(cost(views)) / h
        theta[i] = original
    return out


def max_relative_error(grad: np.ndarray, gradapprox: np.ndarray) -> float:
    """max_i |g_i - g'_i| / max(|g_i|, |g'_i|) (the cs231n rule); 0/0 counts as 0."""
    scale = np.maximum(np.abs(grad), np.abs(gradapprox))
    gap = np.abs(grad - gradapprox)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(scale > 0, gap / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(ratio)) if ratio.size else 0.0


def allclose_ratio(grad: np.ndarray, gradapprox: np.ndarray, atol: float = 1e-5,
                   rtol: float = 1e-3) -> float:
    """max_i |g_i - g'_i| / (atol + rtol |g'_i|): torch.gradcheck passes when this is <= 1
    (its defaults: eps 1e-6, atol 1e-5, rtol 1e-3). Reported as a number, any threshold
    can be judged later."""
    ratio = np.abs(grad - gradapprox) / (atol + rtol * np.abs(gradapprox))
    return float(np.max(ratio)) if ratio.size else 0.0


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


def describe_kinks(kinks: Sequence[int], keys: Sequence[str],
                   shapes: Sequence[tuple[int, ...]]) -> str | None:
    """"the step of W1[2, 0] crosses a kink (+3 more)", or None."""
    if len(kinks) == 0:
        return None
    more = f" (+{len(kinks) - 1} more)" if len(kinks) > 1 else ""
    return (f"the step of {entry_name(int(kinks[0]), keys, shapes)} crosses a kink{more}: "
            "the numerical gradient is not the derivative there")


def describe_clipping(grad: np.ndarray, numerical: np.ndarray, keys: Sequence[str],
                      shapes: Sequence[tuple[int, ...]]) -> str | None:
    """"dWxh[0, 3] is clipped: analytic exactly -5, numerical -5.49", or None.

    A backward that clips its gradient (``np.clip(dW, -5, 5)``) leaves entries exactly on a
    constant bound B = max|g| while the true derivative is past it. Said when some entry
    sits exactly on B, the numerical value there is past B by more than 0.1%, and B looks
    like a bound: two or more entries on it, or a round number (2B an integer).
    """
    if grad.size == 0 or grad.shape != numerical.shape:
        return None
    magnitude = np.abs(grad)
    bound = float(magnitude.max())
    if not bound > 0 or not math.isfinite(bound):
        return None
    on = np.flatnonzero(magnitude == bound)
    if len(on) < 2 and not float(2 * bound).is_integer():
        return None
    past = [i for i in on if abs(numerical[i]) > bound * 1.001
            and np.sign(numerical[i]) == np.sign(grad[i])]
    if not past:
        return None
    more = f" (+{len(past) - 1} more)" if len(past) > 1 else ""
    return (f"{entry_name(int(past[0]), keys, shapes)} is clipped{more}: analytic exactly "
            f"{grad[past[0]]:g}, numerical {numerical[past[0]]:.6g}: the backward clips its "
            "gradient, so the check fails where the bound binds")


def subgradient_at_kinks(cost: Callable[[Params], float], params: Params,
                         keys: tuple[str, ...], kinks: Sequence[int], epsilon: float,
                         analytic: np.ndarray) -> str | None:
    """Whether the analytic gradient is a valid (sub)gradient where steps cross kinks.

    Along u, the sum of the kink entries' unit vectors (all tied maxima moved together; all
    relu inputs at 0 moved together), any valid subgradient g satisfies
    min(D-, D+) <= g.u <= max(D-, D+) with the one-sided derivatives
    D+ = (J(theta + h u) - J(theta)) / h and D- = (J(theta) - J(theta - h u)) / h, h = epsilon
    (exact for the piecewise-linear kinks of max and relu). A max-pool backward that sends
    the gradient to every tied maximum gives g.u = k D+ for k ties: outside. Cost: 3 forwards.
    Returns a sentence when g is outside, else None.
    """
    if len(kinks) == 0:
        return None
    theta = flatten(params, keys).astype(np.float64)
    shapes = tuple(np.shape(params[k]) for k in keys)
    dtype = np.result_type(*(np.asarray(params[k]) for k in keys))
    u = np.zeros_like(theta)
    u[np.asarray(kinks, dtype=int)] = 1.0

    def J(x: np.ndarray) -> float:
        return float(cost(unflatten(x.astype(dtype), keys, shapes)))

    base = J(theta)
    up, down = (J(theta + epsilon * u) - base) / epsilon, (base - J(theta - epsilon * u)) / epsilon
    along = float(analytic @ u)
    low, high = min(up, down), max(up, down)
    slack = 1e-3 * (abs(up) + abs(down)) + 100 * np.finfo(dtype).eps / epsilon * (abs(base) + 1)
    if low - slack <= along <= high + slack:
        return None
    return (f"the analytic gradient is not a valid subgradient at the kinks: moving the "
            f"{len(kinks)} kink entries together, it predicts {along:.6g} while the cost "
            f"changes at {down:.6g} .. {up:.6g} (one-sided); a backward that sends the gradient "
            "to every tied maximum (or splits it wrongly) does this")


def check_layout(analytic: Params, keys: tuple[str, ...],
                 shapes: tuple[tuple[int, ...], ...]) -> None:
    """Raise ``GradientMismatch`` unless ``analytic`` has exactly these keys and shapes."""
    try:  # the common case, once per evaluation in a campaign: arrays of the right shapes
        if tuple(analytic[k].shape for k in keys) == shapes:
            return
    except (KeyError, AttributeError, TypeError):
        pass  # said precisely below
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
    entry (largest |analytic - numerical|), worst parameter first. A non-finite entry (NaN or
    inf on either side) is the worst there is: it ranks first, parameter and entry.
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
        gap[~np.isfinite(gap)] = np.inf  # NaN compares as nothing: rank it as the worst
        flat = int(np.argmax(gap)) if size else 0
        index = tuple(int(i) for i in np.unravel_index(flat, shape)) if size else ()
        parameters.append(Disagreement(k, relative_difference(g, n), index,
                                       float(g[flat]) if size else 0.0,
                                       float(n[flat]) if size else 0.0))
    parameters.sort(key=lambda d: -d.difference if math.isfinite(d.difference) else -math.inf)
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

    p = perturbed_costs(lambda q: subject.cost(q, case), case.params, subject.param_names,
                        epsilon, with_base=True)
    numerical = NumericalGradient(p.keys, p.shapes, centered_from(p), epsilon, 2 * p.J_plus.size)
    analytic = subject.gradients(subject.backward, case)
    kinks = describe_kinks([int(i) for i in kinks_from(p, case.dtype)], p.keys, p.shapes)
    clipped = describe_clipping(flatten(analytic, p.keys).astype(np.float64), numerical.vector,
                                p.keys, p.shapes)
    notes = "; ".join(n for n in (kinks, clipped) if n) or None
    assert p.J is not None
    error = rounding_error(lambda q: subject.cost(q, case), case.params, p.keys, p.J,
                           case.dtype)
    lossy = [int(i) for i in lossy_entries(p.J, p.J_plus, p.J_minus, p.epsilon, error,
                                           numerical.vector, case.dtype)]
    precision = describe_lossy(lossy, p.keys, p.shapes, error)
    return CheckResult(subject.name, case, epsilon, tolerance, compare(analytic, numerical),
                       notes, precision)
