"""Does the cost lose precision? False alarms explained beyond kinks.

A finite difference divides J(theta + eps e_i) - J(theta - eps e_i) by 2 eps. When the cost
itself lost digits to cancellation (a saturated sigmoid under ``log(1 - A)``: 1 - A is near
rounding of 1, the exercise's seed 51), that difference is rounding, not slope: the
numerical gradient is wrong there, not the backward. Measured by evaluating the cost once
more in a wider float (and once as it is, to know it is reproducible); the trials and ``check`` then carry a note, as kink crossings do.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

Params = dict[str, np.ndarray]


@functools.cache  # np.finfo per call was a measurable share of a campaign's evaluation
def equivalence_floor(dtype: str) -> float:
    """True errors at or under this are rounding, not a bug: 100 ulps of the case's dtype."""
    return float(100 * np.finfo(dtype).eps)


def rounding_error(cost: Callable[[Params], float], params: Params, keys: tuple[str, ...],
                   J: float, dtype: str) -> float:
    """How far rounding moved the cost: |J - J computed in a wider float| (float32 cases in
    float64, float64 cases in the platform's long double). One forward evaluation.

    0 when there is no wider float, or the forward refuses it or rounds it back, or gives
    another value when run again (then the precision is not judged: no note, never a false
    one). Two forward evaluations.
    """
    wider = np.float64 if dtype == "float32" else np.longdouble
    if np.finfo(wider).eps >= np.finfo(dtype).eps:
        return 0.0
    try:
        with np.errstate(all="ignore"):
            if float(np.real(cost(dict(params)))) != float(np.real(J)):
                return 0.0  # a forward that is not reproducible (an unseeded mask)
            value = np.asarray(cost({k: np.asarray(params[k], dtype=wider) for k in keys}))
        exact = value.astype(np.longdouble).reshape(())
    except Exception:  # noqa: BLE001 - the user's forward may refuse a wider float
        return 0.0
    error = float(abs(exact - np.longdouble(J)))
    return error if math.isfinite(error) else 0.0


def lossy_entries(J: float, J_plus: np.ndarray, J_minus: np.ndarray, epsilon: float,
                  error: float, numerical: np.ndarray, dtype: str) -> np.ndarray:
    """Entries whose finite difference the cost's rounding spoils, on a case whose cost loses
    precision (a saturated sigmoid under ``log(1 - A)``: 1 - A near rounding of 1).

    The cost loses precision when rounding moved it (``error``, from ``rounding_error``) by
    over 1e3 u max(1, |J|), u the dtype's machine epsilon: digits lost to cancellation, not
    the ordinary rounding that a small epsilon meets in float32 (the tolerance and epsilon
    sweeps judge that). An entry is flagged when that error is at least 1% of its step's
    change |J(+) - J(-)|, on a case where it matters: error / (2 eps), the most it can move a
    numerical gradient entry, over 1e-3 of the largest entry.
    """
    u = float(np.finfo(dtype).eps)
    scale = float(np.max(np.abs(numerical))) if numerical.size else 0.0
    if (not error > 1e3 * u * max(1.0, abs(J))
            or error / (2 * epsilon) <= 1e-3 * scale):
        return np.array([], dtype=np.intp)
    return np.flatnonzero(np.abs(J_plus - J_minus) <= 100 * error)


def describe_lossy(entries: Sequence[int], keys: Sequence[str],
                   shapes: Sequence[tuple[int, ...]], error: float) -> str | None:
    """"the cost loses precision: rounding moves it by 1.2e-03, ... W1[0, 0] (+46 more)", or
    None."""
    if len(entries) == 0:
        return None
    where = entry_name(int(entries[0]), keys, shapes)
    more = f" (+{len(entries) - 1} more)" if len(entries) > 1 else ""
    return (f"the cost loses precision: rounding moves it by {error:.1e}, at least 1% of what "
            f"the step of {where}{more} changes it by, so the numerical gradient is not "
            "reliable there (cancellation, such as log(1 - A) with A near 1)")


def entry_name(flat: int, keys: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> str:
    """The parameter entry at position ``flat`` of the flattened vector: "W1[2, 0]"."""
    for key, shape in zip(keys, shapes):
        size = int(np.prod(shape))
        if flat < size:
            return f"{key}[{', '.join(str(int(i)) for i in np.unravel_index(flat, shape))}]"
        flat -= size
    return "?"


