"""Detection rates from stored numbers: any tolerance can be judged later, with no re-run.

A trial's outcome is recomputed from its stored difference and true error:

    equivalent     true_error <= 100 ulps of the case's dtype (not a bug on that case)
    indeterminate  a real bug on a case where the check cannot be trusted: a step crossed a
                   kink (the trial has a note), or the original fails the check on that
                   case at this tolerance
    detected       difference > tolerance
    missed         difference <= tolerance
    crashed, timeout, nonfinite, shape, aliasing: as stored (they do not depend on the
                   tolerance)

In a campaign whose check is the user's own pytest tests (``usertests``) every outcome is
as stored: ``detected`` when a test failed, else ``missed`` or ``equivalent`` by the true
error on each case; there is no tolerance to re-judge with.

A mutant's status over its cases: ``detected`` if the check catches it on at least one
case; else ``missed`` if it is a real bug on some decidable case; else the first of
``shape``, ``nonfinite``, ``aliasing``, ``crashed``, ``timeout`` it showed; else
``indeterminate`` if it is a bug only on cases the check cannot judge; else ``equivalent``
(on every case). The detection rate is detected / (detected + missed), with a 95% Wilson
interval: indeterminate mutants are excluded from it, and counted apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mutagrad.errors import InvalidInput
from mutagrad.values import (
    FIXED_OUTCOMES,
    ORIGINAL,
    PYTEST,
    CampaignInfo,
    CaseInfo,
    Judging,
    MutantInfo,
    Outcome,
    Status,
    classify,
    classify_original,
    doubtful,
)
from mutagrad.values import TrialResult as TrialInfo

if TYPE_CHECKING:  # a store is handed in: 'history' reads stored summaries without numpy
    from mutagrad.store import Store

BUG_STATUSES = ("detected", "missed")  # a real bug on a case the check can judge


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials ((0, 1) when n == 0).

    centre = (p + z^2/2n) / (1 + z^2/n),  half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    """
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def hidden(mutant: MutantInfo) -> bool:
    """Whether exploratory cases showed the mutant to be a real bug the cases hide."""
    found = mutant.hidden_by
    return found is not None and found != "none" and not found.startswith("exploration stopped")


def outcome_at(trial: TrialInfo, tolerance: float, dtype: str,
               original_alarms: bool = False) -> Outcome:
    """The trial's outcome had the check used ``tolerance``; ``original_alarms``: the
    original fails this check on the trial's case at that tolerance."""
    stored = Outcome(trial.outcome)
    if stored in FIXED_OUTCOMES or trial.strategy == PYTEST:
        return stored  # the user's tests judged it: no tolerance to re-judge with
    difference = trial.difference if trial.difference is not None else math.inf
    if trial.mutant_id == ORIGINAL:
        return classify_original(difference, tolerance)
    if trial.true_error is None:
        # A gradient whose true error overflowed (mutagrad 0.1 stored these as equivalent).
        return Outcome.NONFINITE
    from mutagrad.precision import equivalence_floor  # numpy: not at import

    return classify(difference, trial.true_error, tolerance, equivalence_floor(dtype),
                    doubtful=doubtful(trial.note) or original_alarms)


@dataclass(frozen=True)
class Verdict:
    """One mutant over the campaign's cases, at one tolerance.

    ``detected``/``missed``: on how many cases; ``detected_on``/``missed_on``: which (their
    labels, None when the report was made without them: see ``report``'s ``labels``)."""

    mutant: MutantInfo
    status: str
    detected: int
    missed: int
    cases: int
    kill_tolerance: float | None  # from this tolerance up, it is missed on some case
    error: str | None
    detected_on: tuple[str, ...] | None = None
    missed_on: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GroupRow:
    group: str
    mutants: int
    detected: int
    missed: int
    equivalent: int
    shape: int
    crashed: int  # crashed + timeout + nonfinite
    rate: float | None
    low: float
    high: float
    indeterminate: int = 0  # bugs only where the check cannot judge: not in the rate
    aliasing: int = 0       # the backward wrote into its inputs
    hidden: int = 0         # equivalent on every case, a real bug on an exploratory case


@dataclass(frozen=True)
class OriginalCase:
    case: str
    difference: float | None
    outcome: str
    note: str | None = None


@dataclass(frozen=True)
class Report:
    campaign: CampaignInfo
    tolerance: float
    strategy: str
    epsilon: float
    by: str
    verdicts: tuple[Verdict, ...]
    groups: tuple[GroupRow, ...]
    total: GroupRow
    original: tuple[OriginalCase, ...]

    @property
    def alarms(self) -> int:
        return sum(o.outcome == Outcome.ALARM for o in self.original)


def _row(group: str, verdicts: Sequence[Verdict]) -> GroupRow:
    count: dict[str, int] = defaultdict(int)
    for v in verdicts:
        count[v.status] += 1
    detected, missed = count["detected"], count["missed"]
    low, high = wilson(detected, detected + missed)
    rate = detected / (detected + missed) if detected + missed else None
    return GroupRow(group, len(verdicts), detected, missed, count["equivalent"], count["shape"],
                    count["crashed"] + count["timeout"] + count["nonfinite"], rate, low, high,
                    count["indeterminate"], count["aliasing"],
                    sum(v.status == "equivalent" and hidden(v.mutant) for v in verdicts))


def run_tolerance(info: CampaignInfo, strategy: str) -> float:
    """The tolerance a campaign judged ``strategy`` with: --tolerance, or the strategy's own."""
    from mutagrad.strategies import get

    if info.settings.pytest:
        return math.inf  # the user's tests judge with their own assertions
    given = info.settings.tolerance
    return float(get(strategy).tolerance if given is None else given)


def pick_check(info: CampaignInfo, strategy: str | None,
               epsilon: float | None) -> tuple[str, float]:
    if info.settings.pytest:
        return PYTEST, 0.0  # the one check of a campaign of the user's tests
    strategies, epsilons = info.settings.strategies, info.settings.epsilons
    strategy = strategy or strategies[0]
    epsilon = epsilon if epsilon is not None else epsilons[0]
    if strategy not in strategies:
        raise InvalidInput(f"campaign {info.id} ran no {strategy!r} check: it ran "
                           f"{', '.join(strategies)}")
    if not any(math.isclose(epsilon, e, rel_tol=1e-9) for e in epsilons):
        raise InvalidInput(f"campaign {info.id} ran no epsilon {epsilon:g}: it ran "
                           f"{', '.join(f'{e:g}' for e in epsilons)}")
    return strategy, next(e for e in epsilons if math.isclose(epsilon, e, rel_tol=1e-9))


def verdicts(store: Store, info: CampaignInfo, cases: Sequence[CaseInfo], how: Judging,
             labels: bool = False) -> list[Verdict]:
    """Each mutant's status under ``how``, counted in the database; ``labels``: also the
    cases each is detected and missed on (streamed, one mutant at a time)."""
    from mutagrad import tally  # numpy: not at import ('history' reads stored summaries)

    counted, on = tally.tallies(store, info.id, how, labels)
    tallies = {t.mutant_id: t for t in counted}
    label = {c.index: c.label for c in cases}
    result = []
    for m in store.mutants(info.id):
        t = tallies.get(m.mutant_id)
        detected_on, missed_on = on.get(m.mutant_id, ([], []))
        result.append(Verdict(
            m, t.status if t else "pending", t.detected if t else 0, t.missed if t else 0,
            t.trials if t else 0, t.kill_tolerance if t else None, t.error if t else None,
            tuple(label[i] for i in detected_on) if labels else None,
            tuple(label[i] for i in missed_on) if labels else None))
    return result


def report(store: Store, ref: str | int | None = None, tolerance: float | None = None,
           strategy: str | None = None, epsilon: float | None = None,
           by: str = "category", shared_with: int | None = None,
           labels: bool = False) -> Report:
    """Which bugs the check catches in a stored campaign, at any tolerance.

    The trials are judged and counted in the database (``Store.tally_mutants``): memory
    holds the mutants and the cases, never the trials. ``shared_with``: only the cases
    (seed, batch, dtype) that campaign also ran (``compare``). ``labels``: each verdict
    also lists the cases it is detected and missed on (the JSON reports need them).
    """
    if by not in ("category", "operator"):
        raise InvalidInput(f"group by category or operator, not {by!r}", parameter="by")
    info = store.campaign(ref)
    strategy, epsilon = pick_check(info, strategy, epsilon)
    tolerance = tolerance if tolerance is not None else run_tolerance(info, strategy)
    if not (tolerance > 0):
        raise InvalidInput(f"tolerance must be positive, got {tolerance}", parameter="tolerance")
    cases = store.cases(info.id)
    if shared_with is not None:
        shared = {case_key(c) for c in store.cases(shared_with)}
        cases = [c for c in cases if case_key(c) in shared]
    how = Judging(strategy, epsilon, tolerance, shared_with)
    found = verdicts(store, info, cases, how, labels)
    groups: dict[str, list[Verdict]] = defaultdict(list)
    for v in found:
        groups[getattr(v.mutant, by)].append(v)
    kept = {c.index: c for c in cases}
    original = tuple(
        OriginalCase(kept[t.case_index].label, t.difference,
                     outcome_at(t, tolerance, kept[t.case_index].dtype).value, t.note)
        for t in sorted(store.trials(info.id, ORIGINAL), key=lambda t: t.case_index)
        if t.strategy == strategy and t.epsilon == epsilon and t.case_index in kept)
    return Report(info, tolerance, strategy, epsilon, by, tuple(found),
                  tuple(_row(g, vs) for g, vs in groups.items()), _row("total", found), original)


def summary(r: Report) -> dict[str, Any]:
    """A campaign's counts at its own tolerance, as stored when it stops (JSON values)."""
    return {"strategy": r.strategy, "epsilon": r.epsilon, "tolerance": r.tolerance,
            "cases": len(r.original), "alarms": r.alarms, "total": asdict(r.total),
            "groups": [asdict(g) for g in r.groups]}


def store_summary(store: Store, campaign_id: int) -> None:
    """Store the campaign's summary (``history`` reads it instead of judging its trials),
    after bringing its trials' arrays current (``Store.build_mutant_checks``: every later
    report judges over them)."""
    store.build_mutant_checks(campaign_id)
    store.set_summary(campaign_id, summary(report(store, campaign_id)))


def summarised(store: Store, info: CampaignInfo) -> dict[str, Any]:
    """The stored summary; computed now for a campaign still running, or stored by a
    mutagrad older than summaries."""
    if info.summary is not None and info.status != Status.RUNNING:
        return info.summary
    return summary(report(store, info.id))


@dataclass(frozen=True)
class MutantReport:
    """One mutant (or the original, ``mutant`` None) in a campaign: every trial, judged."""

    campaign: CampaignInfo
    mutant: MutantInfo | None
    mutant_id: str
    tolerance: float
    cases: tuple[CaseInfo, ...]
    trials: tuple[TrialInfo, ...]
    outcomes: tuple[str, ...]  # each trial's outcome at its check's tolerance
    tolerances: dict[str, float] = field(default_factory=dict)  # per check (strategy)


def mutant_report(store: Store, mutant_id: str, ref: str | int | None = None,
                  tolerance: float | None = None) -> MutantReport:
    """A mutant by id or unique prefix (or ``original``) with its trials at ``tolerance``
    (default: each check at the tolerance the campaign judged it with; ``tolerance`` in
    the report is then the first check's)."""
    info = store.campaign(ref)
    mutant = None
    if mutant_id != ORIGINAL:
        matches = [m for m in store.mutants(info.id) if m.mutant_id.startswith(mutant_id.lower())]
        if len(matches) != 1:
            raise InvalidInput(f"{'no' if not matches else 'more than one'} mutant {mutant_id!r} "
                               f"in campaign {info.id}: see 'mutagrad results {info.id} --only "
                               "...'")
        mutant = matches[0]
        mutant_id = mutant.mutant_id
    cases = store.cases(info.id)
    tol = tolerance if tolerance is not None else run_tolerance(info, info.settings.strategies[0])

    def tol_of(strategy: str) -> float:  # a checker's ratio is not judged at 1e-7
        return tolerance if tolerance is not None else run_tolerance(info, strategy)

    dtype = {c.index: c.dtype for c in cases}
    original = store.trials(info.id, ORIGINAL)
    alarms = {(t.case_index, t.strategy, t.epsilon) for t in original
              if outcome_at(t, tol_of(t.strategy), dtype[t.case_index]) == Outcome.ALARM}
    trials = store.trials(info.id, mutant_id) if mutant is not None else original
    outcomes = tuple(outcome_at(t, tol_of(t.strategy), dtype[t.case_index],
                                (t.case_index, t.strategy, t.epsilon) in alarms).value
                     for t in trials)
    return MutantReport(info, mutant, mutant_id, tol, tuple(cases), tuple(trials), outcomes,
                        {s: tol_of(s) for s in info.settings.strategies})


CaseKey = tuple[int | None, int, str]


def case_key(case: CaseInfo) -> CaseKey:
    """What makes two campaigns' cases the same input: seed, batch size and dtype."""
    return (case.seed, case.batch, case.dtype)


@dataclass(frozen=True)
class Change:
    mutant_id: str
    category: str
    operator: str
    before: str
    after: str


@dataclass(frozen=True)
class Comparison:
    first: Report
    second: Report
    changes: tuple[Change, ...]
    warnings: tuple[str, ...]  # how the two campaigns' plans differ


def compare(store: Store, first: str | int, second: str | int,
            tolerance: float | None = None, labels: bool = False) -> Comparison:
    """Mutants whose status differs between two campaigns (ids are stable across them);
    a mutant present in only one shows as ``absent`` in the other.

    Only what both ran is compared: their common cases, on the first check both ran;
    ``warnings`` say what differs (cases, strategies, epsilons) and was left out.
    """
    info_a, info_b = store.campaign(first), store.campaign(second)
    keys_a = {case_key(c) for c in store.cases(info_a.id)}
    keys_b = {case_key(c) for c in store.cases(info_b.id)}
    common = frozenset(keys_a & keys_b)
    warnings = []
    if keys_a != keys_b:
        warnings.append(f"the campaigns ran different cases: compared on the {len(common)} "
                        f"they share ({len(keys_a - common)} only in {info_a.id}, "
                        f"{len(keys_b - common)} only in {info_b.id})")
    if not common:
        raise InvalidInput(f"campaigns {info_a.id} and {info_b.id} share no case "
                           "(seed, batch, dtype): nothing to compare")
    strategies = [s for s in info_a.settings.strategies if s in info_b.settings.strategies]
    epsilons = [e for e in info_a.settings.epsilons
                if any(math.isclose(e, f, rel_tol=1e-9) for f in info_b.settings.epsilons)]
    if not strategies or not epsilons:
        raise InvalidInput(f"campaigns {info_a.id} and {info_b.id} share no check "
                           "(strategy and epsilon): nothing to compare")
    ran: tuple[tuple[str, tuple[object, ...], tuple[object, ...]], ...] = (
        ("strategies", info_a.settings.strategies, info_b.settings.strategies),
        ("epsilons", info_a.settings.epsilons, info_b.settings.epsilons))
    for what, in_a, in_b in ran:
        if in_a != in_b:
            warnings.append(f"the campaigns ran different {what} ({', '.join(map(str, in_a))} "
                            f"vs {', '.join(map(str, in_b))}): compared on {strategies[0]}, "
                            f"epsilon {epsilons[0]:g}")
    a = report(store, info_a.id, tolerance, strategies[0], epsilons[0], shared_with=info_b.id,
               labels=labels)
    b = report(store, info_b.id, tolerance, strategies[0], epsilons[0], shared_with=info_a.id,
               labels=labels)
    if a.tolerance != b.tolerance:  # each campaign's own (its plan's, or its check's default)
        warnings.append(f"the campaigns' tolerances differ ({a.tolerance:g} vs "
                        f"{b.tolerance:g}): each is judged at its own; pass --tolerance to "
                        "judge both at one")
    before = {v.mutant.mutant_id: v for v in a.verdicts}
    after = {v.mutant.mutant_id: v for v in b.verdicts}
    changes = []
    for mutant_id in sorted(before.keys() | after.keys()):
        x, y = before.get(mutant_id), after.get(mutant_id)
        status_x, status_y = (x.status if x else "absent"), (y.status if y else "absent")
        if status_x != status_y:
            m = (x or y).mutant  # type: ignore[union-attr]
            changes.append(Change(mutant_id, m.category, m.operator, status_x, status_y))
    return Comparison(a, b, tuple(changes), tuple(warnings))


@dataclass(frozen=True)
class SuiteReport:
    name: str
    reports: tuple[Report, ...]
    total: GroupRow

    @property
    def alarms(self) -> int:
        return sum(r.alarms for r in self.reports)


def suite(store: Store, name: str, tolerance: float | None = None,
          labels: bool = False) -> SuiteReport:
    """The latest campaign of each subject run under the suite name ``name`` (``labels``:
    as for ``report``)."""
    latest: dict[str, CampaignInfo] = {}
    for info in store.campaigns():
        if info.name == name and info.subject not in latest:
            latest[info.subject] = info
    if not latest:
        raise InvalidInput(f"no campaign named {name!r}: see 'mutagrad history'")
    reports = tuple(report(store, info.id, tolerance, labels=labels)
                    for info in sorted(latest.values(), key=lambda i: i.id))
    everything = [v for r in reports for v in r.verdicts]
    return SuiteReport(name, reports, _row("total", everything))
