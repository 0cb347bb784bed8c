"""Trials: one (mutant or original, case, strategy, epsilon) evaluation, and its outcome.

``evaluate`` runs a backward on cases and returns a result for every trial, whatever the
backward does (raise, hang, return NaN or the wrong shapes); it never raises itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mutagrad.errors import GradientMismatch
from mutagrad.gradcheck import (
    check_layout,
    describe_clipping,
    describe_kinks,
    flatten,
    norm,
    relative_difference_to,
)
from mutagrad.mutation.methods import installed
from mutagrad.precision import describe_lossy, equivalence_floor
from mutagrad.strategies import Reference, UserCheckFailed
from mutagrad.strategies import difference as strategy_difference
from mutagrad.strategies import get as get_strategy
from mutagrad.strategies import references as strategy_references
from mutagrad.strategies.user_check import PREFIX as USER_PREFIX
from mutagrad.subject import Case, Subject, aliasing_message
from mutagrad.timelimit import Arm, EvaluationTimeout, alarm_handler
from mutagrad.values import (
    BUG_OUTCOMES,
    ORIGINAL,
    OWN_COST_NOTE,
    Outcome,
    TrialResult,
    classify,
    classify_original,
)

__all__ = ["BUG_OUTCOMES", "ORIGINAL", "CaseData", "Outcome", "TrialResult", "classify",
           "classify_original", "equivalence_floor", "evaluate"]


@dataclass(frozen=True)
class CaseData:
    """What evaluating any mutant on one case needs, computed once by the campaign.

    ``references`` maps (strategy, epsilon) to that check's numerical side; ``original`` is
    the original backward's flattened gradient (None while the original itself runs).
    """

    index: int
    case: Case
    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    references: dict[tuple[str, float], Reference]
    original: np.ndarray | None = None
    original_norm: float = 0.0
    alarms: frozenset[tuple[str, float]] = frozenset()  # checks the original fails here
    original_cost: float | None = None  # subject.own_cost of the original, when it has one
    notes: dict[tuple[str, float], list[str]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.original is not None:
            object.__setattr__(self, "original_norm", norm(self.original))
        # the same for every mutant: said once per case, not once per evaluation
        object.__setattr__(self, "notes", reference_notes(self.references, self.keys,
                                                          self.shapes))


def reference_notes(references: dict[tuple[str, float], Reference], keys: tuple[str, ...],
                    shapes: tuple[tuple[int, ...], ...]) -> dict[tuple[str, float], list[str]]:
    """Per check, what its numerical side says about itself: the kinks its steps cross and
    the entries the cost's rounding spoils."""
    return {check: [n for n in (describe_kinks(r.kinks, keys, shapes),
                                describe_lossy(r.lossy, keys, shapes, r.rounding)) if n]
            for check, r in references.items()}


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def evaluate(subject: Subject, backward: Callable[..., Any], mutant_id: str,
             cases: Sequence[CaseData], tolerances: dict[str, float],
             timeout: float | None) -> list[TrialResult]:
    """Run ``backward`` on every case and compare it with each precomputed numerical gradient.

    Per case the backward runs once; its gradient is then compared with every
    (strategy, epsilon) numerical gradient (no forward call) and, for a mutant, with the
    original's gradient (the true error, same metric). Whatever the backward does is a
    result; only the user's own check (``check:FUNC``) failing raises ``UserCheckFailed``:
    that is no outcome of the mutant.
    """
    with alarm_handler() as arm:  # installed once per call, armed per evaluation
        return [r for data in cases
                for r in _evaluate_case(subject, backward, mutant_id, data, tolerances, timeout,
                                        arm)]


def _evaluate_case(subject: Subject, backward: Callable[..., Any], mutant_id: str,
                   data: CaseData, tolerances: dict[str, float],
                   timeout: float | None, arm: Arm) -> list[TrialResult]:
    start = time.perf_counter()
    error: str | None = None
    flat: np.ndarray | None = None
    flat_norm = 0.0
    outcome: Outcome | None = None
    try:
        arm(timeout)
        try:
            with installed(backward):  # a mutant's methods on their classes, for this call only
                grads = subject.gradients(backward, data.case)
        finally:
            arm(0)  # disarm before anything else can be interrupted
        check_layout(grads, data.keys, data.shapes)
        flat = flatten(grads, data.keys).astype(np.float64, copy=False)
        flat_norm = norm(flat)
        # A finite norm proves every entry finite; only an infinite or NaN norm (or one
        # that overflowed) needs the elementwise look.
        if not math.isfinite(flat_norm):
            outcome = Outcome.NONFINITE
            error = ("NaN or inf in the gradient" if not np.all(np.isfinite(flat)) else
                     f"the gradient's norm overflows (largest entry "
                     f"{float(np.max(np.abs(flat))):.3e}): no difference can be computed")
    except EvaluationTimeout:
        outcome, error = Outcome.TIMEOUT, f"ran longer than {timeout:g} s"
    except GradientMismatch as e:
        outcome, error = Outcome.SHAPE, str(e)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        alias = aliasing_message(e)  # numpy refused a write into the frozen case
        if alias is not None:
            outcome, error = Outcome.ALIASING, alias
        else:
            # NUL is escaped: PostgreSQL's text columns refuse it
            outcome, error = (Outcome.CRASHED,
                              f"{type(e).__name__}: {e}"[:2000].replace("\x00", "\\x00"))
    if not data.case.intact():
        data.case.restore()  # the next evaluation sees the case as it was built
        if outcome is None or outcome == Outcome.CRASHED:
            outcome, flat = Outcome.ALIASING, None
            error = "the backward changed a list or dict of its inputs in place"
    elapsed = time.perf_counter() - start
    true_error = None
    if flat is not None and data.original is not None:
        true_error = _finite_or_none(
            relative_difference_to(flat, data.original, data.original_norm, flat_norm))
        if true_error is None and outcome is None:
            # Finite entries whose norm overflows (1e200): a huge gradient is a real bug,
            # never "equivalent" for want of a number.
            outcome = Outcome.NONFINITE
            error = (f"the gradient's norm overflows (largest entry "
                     f"{float(np.max(np.abs(flat))):.3e}): no difference can be computed")
    floor = equivalence_floor(data.case.dtype)
    references, own_note, reference_notes_of = data.references, None, data.notes
    if flat is not None and outcome is None and subject.own_cost is not None \
            and data.original_cost is not None:
        # A function that returns the cost with the gradients: a mutant that changes the
        # cost is checked against the numerical gradient of ITS cost, as the user's own
        # check would be, and the changed cost is a bug of its own.
        own = _own_references(subject, backward, data, timeout, arm)
        if isinstance(own, str):
            outcome, error = Outcome.CRASHED, own
        elif own is not None:
            references, cost_error = own
            reference_notes_of = reference_notes(references, data.keys, data.shapes)
            own_note = f"{OWN_COST_NOTE} (it changes the cost by {cost_error:.2e})"
            true_error = max(true_error or 0.0, cost_error)
    results = []
    for check, reference in references.items():
        difference = None
        verdict = outcome
        tolerance = tolerances[check[0]]
        if flat is not None and (verdict is None or not user_code_in(reference)):
            difference = _judged(subject, data.case, flat, reference, flat_norm, timeout, arm)
            if verdict is None:
                if data.original is None:
                    verdict = classify_original(difference, tolerance)
                else:
                    assert true_error is not None  # a non-finite one set NONFINITE above
                    # the check cannot be trusted where a step crosses a kink, where the
                    # cost loses precision, or where the original itself alarms
                    verdict = classify(difference, true_error, tolerance, floor,
                                       bool(reference.kinks) or bool(reference.lossy)
                                       or check in data.alarms)
            difference = _finite_or_none(difference)
        assert verdict is not None
        clipped = (describe_clipping(flat, reference.vector, data.keys, data.shapes)
                   if data.original is None and flat is not None
                   and reference.directions is None else None)
        notes = [*reference_notes_of[check], *(n for n in (clipped, own_note) if n)]
        results.append(TrialResult(mutant_id, data.index, check[0], check[1], difference,
                                   true_error, verdict.value, error, elapsed,
                                   "; ".join(notes) or None))
    return results


def user_code_in(reference: Reference) -> bool:
    return get_strategy(reference.strategy).runs_user_code


def _judged(subject: Subject, case: Case, flat: np.ndarray, reference: Reference,
            flat_norm: float, timeout: float | None, arm: Arm) -> float:
    """The check's difference. The user's own check (``check:FUNC``) runs under the time
    limit, and what goes wrong in it is raised, as the user's error (``UserCheckFailed``):
    it is not the mutant's outcome."""
    if not user_code_in(reference):
        return strategy_difference(flat, reference, flat_norm)
    try:
        arm(timeout)
        try:
            return strategy_difference(flat, reference, flat_norm, subject, case)
        finally:
            arm(0)
    except EvaluationTimeout:
        raise UserCheckFailed(f"your check {reference.strategy.removeprefix(USER_PREFIX)} ran "
                              f"longer than {timeout:g} s on case {case.label}: give it more "
                              "time with --timeout") from None


def _own_references(subject: Subject, backward: Callable[..., Any], data: CaseData,
                    timeout: float | None, arm: Arm
                    ) -> tuple[dict[tuple[str, float], Reference], float] | str | None:
    """The mutant's own cost's references and how far its cost is from the original's;
    None when the cost is unchanged (to rounding); a message when computing it failed."""
    own_cost = subject.own_cost
    assert own_cost is not None and data.original_cost is not None
    try:
        arm(timeout)
        try:
            cost = float(own_cost(backward, data.case.params, data.case))
            c0 = data.original_cost
            scale = abs(cost) + abs(c0)
            cost_error = abs(cost - c0) / scale if scale else 0.0
            if not math.isfinite(cost_error) or cost_error <= equivalence_floor(data.case.dtype):
                return None
            mutant_subject = replace(subject, cost=lambda p, c: float(own_cost(backward, p, c)))
            names = tuple(dict.fromkeys(k[0] for k in data.references))
            epsilons = tuple(dict.fromkeys(k[1] for k in data.references))
            return strategy_references(mutant_subject, data.case, names, epsilons), cost_error
        finally:
            arm(0)
    except EvaluationTimeout:
        return f"its own cost ran longer than {timeout:g} s"
    except Exception as e:  # noqa: BLE001 - the mutant's cost may raise anything
        return f"its own cost raised {type(e).__name__}: {e}"[:2000]


# -- the worker side of a campaign (kept here, away from the database code, so that worker
#    processes import numpy and the subject, nothing more) ---------------------------------

WorkerState = tuple[Subject, dict[int, CaseData], dict[str, float], float]


def worker_init(spec: Any, data: list[CaseData], tolerances: dict[str, float],
                timeout: float) -> WorkerState:
    from mutagrad import subjects

    return subjects.load(spec), {d.index: d for d in data}, tolerances, timeout


def worker_task(state: WorkerState, task: Any) -> Any:
    """Compile one mutant's function in memory and evaluate it on the task's cases (or, for
    an ``explore.Exploration``, try it on exploratory cases)."""
    from mutagrad.explore import Exploration, explore
    from mutagrad.mutation import bind

    subject, data, tolerances, timeout = state
    if isinstance(task, Exploration):
        backward = bind(subject, task.function, task.function_source,
                        f"<mutant {task.mutant_id}>")
        return explore(subject, backward, task, timeout)
    mutant_id, function, function_source, case_indices = task
    backward = bind(subject, function, function_source, f"<mutant {mutant_id}>")
    try:
        return evaluate(subject, backward, mutant_id, [data[i] for i in case_indices],
                        tolerances, timeout)
    except UserCheckFailed as e:  # the user's check broke: returned, the parent raises it
        return e


def case_references(spec: Any, case: Case, strategies: Sequence[str],
                    epsilons: Sequence[float]) -> dict[tuple[str, float], Reference]:
    """One case's numerical sides, on a worker (the forward is trusted: no sandbox). What
    the user's code raises is their error (``UserCodeError``: one line, where it raised)."""
    from mutagrad import subjects
    from mutagrad.subject import user_code

    subject = subjects.load(spec)
    with user_code(subject.name, f"computing the numerical gradient on case {case.label}"):
        return strategy_references(subject, case, strategies, epsilons)
