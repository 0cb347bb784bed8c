"""Trials: one (mutant or original, case, strategy, epsilon) evaluation, and its outcome.

``evaluate`` runs a backward on cases and returns a result for every trial, whatever the
backward does (raise, hang, return NaN or the wrong shapes); it never raises itself.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from mutagrad.errors import GradientMismatch
from mutagrad.gradcheck import check_layout, flatten, relative_difference
from mutagrad.subject import Case, Subject

ORIGINAL = "original"  # the mutant id under which the subject's own backward is stored


class Outcome(StrEnum):
    DETECTED = "detected"      # a real bug, and the check's difference is over the tolerance
    MISSED = "missed"          # a real bug, and the difference stays at or under it
    EQUIVALENT = "equivalent"  # the mutant's gradient equals the original's up to rounding
    CRASHED = "crashed"        # the backward raised (or its process died)
    TIMEOUT = "timeout"        # the backward ran past the per-evaluation time limit
    NONFINITE = "nonfinite"    # the backward returned NaN or inf
    SHAPE = "shape"            # wrong keys or wrong shapes (a flattened check hides these)
    PASSED = "passed"          # the original passes the check on this case
    ALARM = "alarm"            # the original FAILS the check on this case: a false alarm


BUG_OUTCOMES = (Outcome.DETECTED, Outcome.MISSED)


def equivalence_floor(dtype: str) -> float:
    """True errors at or under this are rounding, not a bug: 100 ulps of the case's dtype."""
    return float(100 * np.finfo(dtype).eps)


def classify(difference: float, true_error: float, tolerance: float, floor: float) -> Outcome:
    """The outcome of a trial whose backward returned finite gradients of the right shapes."""
    if true_error <= floor:
        return Outcome.EQUIVALENT
    return Outcome.DETECTED if difference > tolerance else Outcome.MISSED


def classify_original(difference: float, tolerance: float) -> Outcome:
    return Outcome.PASSED if difference <= tolerance else Outcome.ALARM


@dataclass(frozen=True)
class CaseData:
    """What evaluating any mutant on one case needs, computed once by the campaign.

    ``numerical`` maps (strategy, epsilon) to the flattened numerical gradient; ``original``
    is the original backward's flattened gradient (None for the original's own run).
    """

    index: int
    case: Case
    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    numerical: dict[tuple[str, float], np.ndarray]
    original: np.ndarray | None = None


@dataclass(frozen=True)
class TrialResult:
    mutant_id: str
    case_index: int
    strategy: str
    epsilon: float
    difference: float | None
    true_error: float | None
    outcome: str
    error: str | None
    elapsed: float


class EvaluationTimeout(BaseException):
    """Raised inside a backward that ran too long (a BaseException: `except Exception` in the
    user's code must not swallow it)."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` of wall time (main thread, Unix)."""
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise EvaluationTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def evaluate(subject: Subject, backward: Callable[..., Any], mutant_id: str,
             cases: Sequence[CaseData], tolerance: float,
             timeout: float | None) -> list[TrialResult]:
    """Run ``backward`` on every case and compare it with each precomputed numerical gradient.

    Per case the backward runs once; its gradient is then compared with every
    (strategy, epsilon) numerical gradient (no forward call) and, for a mutant, with the
    original's gradient (the true error, same metric).
    """
    results = []
    for data in cases:
        start = time.perf_counter()
        error: str | None = None
        flat: np.ndarray | None = None
        try:
            with time_limit(timeout):
                grads = subject.gradients(backward, data.case)
            check_layout(grads, data.keys, data.shapes)
            flat = flatten(grads, data.keys).astype(np.float64)
            outcome = None if np.all(np.isfinite(flat)) else Outcome.NONFINITE
        except EvaluationTimeout:
            outcome, error = Outcome.TIMEOUT, f"ran longer than {timeout:g} s"
        except GradientMismatch as e:
            outcome, error = Outcome.SHAPE, str(e)
        except BaseException as e:  # noqa: BLE001 - a mutant may raise anything, even SystemExit
            if isinstance(e, KeyboardInterrupt):
                raise
            outcome, error = Outcome.CRASHED, f"{type(e).__name__}: {e}"[:2000]
        elapsed = time.perf_counter() - start
        true_error = None
        if flat is not None and data.original is not None:
            true_error = _finite_or_none(relative_difference(flat, data.original))
        floor = equivalence_floor(data.case.dtype)
        for (strategy, epsilon), numerical in data.numerical.items():
            difference = None
            verdict = outcome
            if flat is not None:
                difference = relative_difference(flat, numerical)
                if verdict is None:
                    verdict = (classify_original(difference, tolerance) if data.original is None
                               else classify(difference, true_error or 0.0, tolerance, floor))
                difference = _finite_or_none(difference)
            assert verdict is not None
            results.append(TrialResult(mutant_id, data.index, strategy, epsilon, difference,
                                       true_error, verdict.value, error, elapsed))
    return results
