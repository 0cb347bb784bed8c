"""``couple``: does the gradient check catch a real bug, and which mutants stand for it?

A user gives the fixed version of their file and the buggy one they had (from their git
history, say). Both are loaded the same way (any subject: seed style, adapter, layer pair,
layer classes) and checked on the same cases, those a campaign of the fixed file would
build. Then every mutant of the fixed file (the ones a campaign runs) is evaluated on those
cases in the engine's sandbox, and compared with the real bug (Just et al., "Are mutants a
valid substitute for real faults in software testing?", FSE 2014):

- the check *catches* a backward on a case when its outcome there is ``detected`` (the
  difference is over the tolerance) or ``nonfinite`` (NaN or inf in the gradient: no
  difference passes). A crash, a wrong shape, a hang or a write into the inputs is shown
  under its own name, not counted as the check catching anything;
- a mutant *reproduces* the real bug when it gives the same gradient on every case, to
  rounding: its gradient is within ``equivalence_floor`` (100 ulps) of the buggy file's
  gradient (``true error`` measured against the bug instead of against the fixed file),
  or both are non-finite, or both fail the same way (crash, shape, ...). Only a bug that
  shows on some case can be reproduced (on cases where it never shows, every equivalent
  mutant would "reproduce" it);
- a mutant is *coupled* to it when the check catches the mutant on at least one case and
  only on cases where it catches the real bug too. Reproducing mutants are listed apart.

Cost: the fixed file's cases and numerical gradients as a campaign computes them, the fixed
and the buggy backward once per case here (the user's own code, as the original is in a
campaign), and every mutant twice per case in the sandbox (once against the fixed file's
gradient, once against the bug's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mutagrad import campaign, gradcheck, mutation, subjects
from mutagrad import strategies as strategy_mod
from mutagrad.errors import InvalidInput
from mutagrad.subject import Subject, validate
from mutagrad.trial import CaseData, evaluate
from mutagrad.values import CaseInfo, MutantInfo, Outcome, Settings, SubjectSpec, TrialResult

BUG = "real bug"  # the mutant id under which the buggy file's trials are reported
# What the check catches: a difference over the tolerance, or a gradient no check can pass.
CAUGHT = frozenset({Outcome.DETECTED, Outcome.NONFINITE})
# What leaves no gradient to compare: a mutant reproduces these by failing the same way.
_NO_GRADIENT = frozenset({Outcome.CRASHED, Outcome.TIMEOUT, Outcome.SHAPE, Outcome.ALIASING,
                          Outcome.NONFINITE})


@dataclass(frozen=True)
class MutantCoupling:
    """One mutant of the fixed file against the real bug.

    ``outcomes``: its outcome per case (against the fixed file), in case order;
    ``caught_on``: the indices of the cases where the check catches it."""

    mutant: MutantInfo
    outcomes: tuple[str, ...]
    caught_on: tuple[int, ...]
    reproduces: bool
    coupled: bool


@dataclass(frozen=True)
class Coupling:
    """The real bug on each case, and every mutant of the fixed file next to it.

    ``bug``: the buggy file's trial per case (its ``true_error`` is against the fixed
    file); ``caught_on``: the indices of the cases where the check catches it."""

    fixed: str
    buggy: str
    strategy: str
    epsilon: float
    tolerance: float
    cases: tuple[CaseInfo, ...]
    bug: tuple[TrialResult, ...]
    caught_on: tuple[int, ...]
    mutants: tuple[MutantCoupling, ...]

    @property
    def shows(self) -> bool:
        """Whether the bug changes the gradient on some case (is not equivalent everywhere)."""
        return _shows(self.bug)

    @property
    def reproducing(self) -> tuple[MutantCoupling, ...]:
        return tuple(m for m in self.mutants if m.reproduces)

    @property
    def coupled(self) -> tuple[MutantCoupling, ...]:
        """Coupled mutants that do not also reproduce the bug."""
        return tuple(m for m in self.mutants if m.coupled and not m.reproduces)


def validate_plan(settings: Settings) -> None:
    """One check: ``couple`` compares verdicts case by case, so one strategy at one epsilon.
    Raises ``InvalidInput`` naming the parameter."""
    campaign.validate_settings(settings)
    names = strategy_mod.expand(settings.strategies)  # "all" names every strategy
    if len(names) != 1 or len(settings.epsilons) != 1:
        raise InvalidInput("couple judges one check: give one strategy and one epsilon",
                           parameter="strategies" if len(names) != 1
                           else "epsilons")


def couple(fixed_spec: SubjectSpec, buggy_spec: SubjectSpec, settings: Settings) -> Coupling:
    """Check the fixed and the buggy file on the fixed file's cases; evaluate every mutant
    of the fixed file and say which reproduce or are coupled to the real bug.

    The cases are ``campaign.build_cases`` of the fixed subject (``settings``: seeds,
    batches, dtypes, families, jitter); the buggy file's backward runs on the same cases
    through its own subject (its own forward for the cache), and is checked against the
    fixed file's numerical gradient (the forward is trusted: both files share it).

    Raises ``InvalidInput`` for a bad plan or two files whose parameters differ,
    ``campaign.SubjectBroken`` when the fixed file's own backward fails on a case.
    """
    validate_plan(settings)
    settings = replace(settings, explore=False)
    fixed, buggy = subjects.load(fixed_spec), subjects.load(buggy_spec)
    validate(fixed, fixed.case())
    if buggy.param_names != fixed.param_names:
        raise InvalidInput(f"{buggy.name} has parameters {', '.join(buggy.param_names)} and "
                           f"{fixed.name} {', '.join(fixed.param_names)}: give two versions "
                           "of the same code (and the same options for both)")
    settings, _ = campaign.supported(fixed, settings)
    tolerances = campaign.tolerances(settings)
    (strategy,), (epsilon,) = settings.strategies, settings.epsilons
    with campaign.engine_for(settings) as pool:
        cases = campaign.build_cases(fixed, settings)
        data = campaign.prepare(fixed, cases, settings, pool, fixed_spec)
        _, data = campaign.check_original(fixed, data, settings)
        bug = evaluate(buggy, buggy.backward, BUG, data, tolerances, settings.timeout)
        against_bug = _against_bug(buggy, data, bug)
        mutants = mutation.mutants_of(fixed, list(settings.categories) or None,
                                      list(settings.operators) or None)
        trials = campaign.evaluate_mutants(mutants, data + against_bug, settings, fixed_spec,
                                           pool)
    caught_on = tuple(t.case_index for t in bug if t.outcome in CAUGHT)
    shows = _shows(bug)
    by_mutant: dict[str, dict[int, str]] = {m.id: {} for m in mutants}
    for t in trials:
        by_mutant[t.mutant_id][t.case_index] = t.outcome
    n = len(data)
    rows = []
    for m in mutants:
        outcomes = by_mutant[m.id]
        mine = tuple(outcomes[i] for i in range(n))
        caught = tuple(i for i in range(n) if mine[i] in CAUGHT)
        same = shows and all(_same_on(bug[i], mine[i], outcomes.get(n + i)) for i in range(n))
        rows.append(MutantCoupling(campaign.mutant_info(m), mine, caught, same,
                                   bool(caught) and set(caught) <= set(caught_on)))
    cases_info = tuple(campaign.case_info(d.index, d.case) for d in data)
    return Coupling(_label(fixed_spec, fixed), _label(buggy_spec, buggy), strategy, epsilon,
                    tolerances[strategy], cases_info, tuple(bug), caught_on, tuple(rows))


def _shows(bug: Sequence[TrialResult]) -> bool:
    return any(t.outcome != Outcome.EQUIVALENT for t in bug)


def _label(spec: SubjectSpec, subject: Subject) -> str:
    """The subject's name, with its file's when the name does not say it (an adapter)."""
    file = Path(spec.target).name
    return subject.name if not file.endswith(".py") or file in subject.name \
        else f"{file} ({subject.name})"


def _against_bug(buggy: Subject, data: Sequence[CaseData],
                 bug: Sequence[TrialResult]) -> list[CaseData]:
    """The cases again, numbered after the first ``len(data)``, with the buggy file's
    gradient in place of the original's: a mutant's true error there is its distance to
    the real bug. Only cases where the bug gave a finite gradient."""
    n = len(data)
    again = []
    for d, t in zip(data, bug):
        if t.outcome in _NO_GRADIENT:
            continue
        flat = gradcheck.flatten(buggy.gradients(buggy.backward, d.case), d.keys)
        again.append(replace(d, index=n + d.index, original=flat.astype(np.float64)))
    return again


def _same_on(bug: TrialResult, outcome: str, against_bug: str | None) -> bool:
    """Whether a mutant gives the real bug's result on one case: the same gradient to
    rounding (equivalent to the bug's), or the same failure when there is no gradient."""
    if bug.outcome in _NO_GRADIENT:
        return outcome == bug.outcome
    return against_bug == Outcome.EQUIVALENT
