"""Where a stored check failed: the worst entries of a mutant's (or the original's) failed
checks, recomputed on demand from the campaign's stored plan.

A campaign stores one number per trial (the difference), not the gradients: ``show`` asks
this module to rebuild the failing trials' cases from the stored settings (cases are made
from seeds, so they come back identical), run the mutant's backward on them again, and
report the parameter, index, analytic and numerical values of the ``top`` entries where
the check disagrees most, as ``check`` does for the user's own backward
(``strategies.where``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mutagrad import campaign, gradcheck, mutation, subjects
from mutagrad import strategies as strategy_mod
from mutagrad.analysis import MutantReport
from mutagrad.mutation.methods import installed
from mutagrad.strategies import Entry
from mutagrad.subject import Case, Subject
from mutagrad.timelimit import time_limit
from mutagrad.values import OWN_COST_NOTE, Outcome

FAILED = (Outcome.DETECTED.value, Outcome.ALARM.value)


@dataclass(frozen=True)
class FailedCheck:
    """One trial whose check failed, and where (``worst``, worst first)."""

    case_index: int
    case: str
    strategy: str
    epsilon: float
    step: float
    worst: tuple[Entry, ...]
    note: str | None = None  # torch-fast: what slow mode would have said


@dataclass(frozen=True)
class Where:
    checks: tuple[FailedCheck, ...]
    note: str | None = None  # why nothing could be recomputed


def failed_checks(r: MutantReport, top: int = 5) -> Where:
    """The worst ``top`` entries of every trial of ``r`` whose check failed (``detected``
    or ``alarm`` at the report's tolerance), one gradient per case, the numerical sides
    shared per case.

    Cost per failing case: one forward and backward, and the failing checks' numerical
    sides (2P forwards for per-entry and projection strategies alike, since a projection
    strategy falls back to per-entry centered differences for this report). Never raises
    for a subject that changed or cannot load: ``note`` says why nothing was recomputed.
    """
    failing = [t for t, o in zip(r.trials, r.outcomes, strict=True)
               if o in FAILED and t.difference is not None]
    if not failing:
        return Where(())
    info = r.campaign
    try:
        subject = subjects.load(info.spec)
        if campaign.source_hash(subject) != info.source_hash:
            return Where((), f"{info.subject}'s source changed since campaign {info.id}: "
                             "the failing entries cannot be recomputed")
        backward = subject.backward
        if r.mutant is not None:
            settings = info.settings
            found = mutation.mutants_of(subject, list(settings.categories) or None,
                                        list(settings.operators) or None, shape_aware=False)
            backward = mutation.mutant_backward(
                subject, mutation.find_mutant(found, r.mutant_id, subject.name))
        cases = campaign.build_cases(subject, info.settings)
    except Exception as e:  # noqa: BLE001 - a report must not fail for want of the extra
        return Where((), f"the failing entries cannot be recomputed: {e}")
    labels = {c.index: c.label for c in r.cases}
    out = []
    for index in sorted({t.case_index for t in failing}):
        trials = [t for t in failing if t.case_index == index]
        case = cases[index]
        if labels[index] != case.label:
            return Where((), f"case {index} does not rebuild as stored ({labels[index]}): "
                             "the failing entries cannot be recomputed")
        try:
            with time_limit(info.settings.timeout), installed(backward):
                grads = subject.gradients(backward, case)
            flat = gradcheck.flatten(grads, subject.param_names).astype(np.float64)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            return Where((), f"the backward failed when run again on case {labels[index]}: "
                             f"{type(e).__name__}: {e}")
        own = any(t.note and OWN_COST_NOTE in t.note for t in trials)
        ctx = strategy_mod.Context(_checked_against(subject, backward, own), case)
        refs = strategy_mod.references(ctx.subject, case,
                                       tuple(dict.fromkeys(t.strategy for t in trials)),
                                       tuple(dict.fromkeys(t.epsilon for t in trials)), ctx)
        for t in trials:
            ref = refs[(t.strategy, t.epsilon)]
            worst, note = strategy_mod.where(ctx, flat, ref,
                                             r.tolerances.get(t.strategy, r.tolerance), top)
            out.append(FailedCheck(index, labels[index], t.strategy, t.epsilon, ref.step,
                                   worst, note))
    return Where(tuple(out))


def _checked_against(subject: Subject, backward: Callable[..., Any], own: bool) -> Subject:
    """The subject whose cost the check differentiated: a mutant that changes the cost its
    function returns was checked against its own cost (see ``trial``)."""
    own_cost = subject.own_cost
    if not own or own_cost is None:
        return subject

    def cost(params: dict[str, np.ndarray], case: Case) -> float:
        return float(own_cost(backward, params, case))

    return replace(subject, cost=cost)
