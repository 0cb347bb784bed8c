"""Sweeps: which tolerance and which epsilon separate correct code from buggy code.

Tolerance sweep (from stored numbers only). For one check (dtype, strategy, epsilon):

    detection(t)   = share of real-bug trials (mutant x case, true error above rounding)
                     whose difference is over t: the chance that one check on one input
                     catches the bug;
    false_alarm(t) = share of the original's trials whose difference is over t.

The safe window is (largest difference of the correct code, smallest difference of a real
bug), when the first is below the second: any tolerance inside passes every correct case and
fails every buggy one. The recommendation is the window's geometric middle, the tolerance
with the most margin on both sides in orders of magnitude.

Epsilon sweep: the correct backward's difference against epsilon (the V curve: truncation
error grows with epsilon, round-off as u / epsilon). Theory puts the bottom near u^(1/3)
for centered differences and u^(1/2) for one-sided ones, u the dtype's machine epsilon.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from mutagrad import strategies, tally
from mutagrad.analysis import run_tolerance
from mutagrad.errors import InvalidInput
from mutagrad.store import Store, StoreError
from mutagrad.subject import Subject
from mutagrad.trial import ORIGINAL, Outcome
from mutagrad.values import CampaignInfo

SEED_TOLERANCE = 1e-7


def parse_range(text: str, flag: str) -> tuple[float, float]:
    """``"1e-12:1"`` -> (1e-12, 1.0), both positive and increasing."""
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError:
        raise InvalidInput(f"{flag} takes LOW:HIGH, e.g. 1e-12:1, got {text!r}") from None
    if not (0 < lo < hi):
        raise InvalidInput(f"{flag} needs 0 < LOW < HIGH, got {text!r}")
    return lo, hi


def grid(lo: float, hi: float, per_decade: int = 10) -> np.ndarray:
    n = max(2, round(math.log10(hi / lo) * per_decade) + 1)
    return np.logspace(math.log10(lo), math.log10(hi), n)


def theory_epsilon(strategy: str, dtype: str) -> float | None:
    """The step theory recommends for the strategy (see each strategy's docstring)."""
    return strategies.get(strategy).theory_epsilon(dtype)


@dataclass(frozen=True)
class Overlap:
    mutant_id: str
    case: str
    difference: float


class Overlaps(Sequence[Overlap]):
    """Bug trials as ``Overlap``s, made when read: there may be hundreds of thousands, and a
    report shows three (``mutant``: indices into ``ids``; ``cases``: into ``labels``)."""

    def __init__(self, ids: Sequence[str], labels: dict[int, str], mutant: np.ndarray,
                 cases: np.ndarray, difference: np.ndarray):
        self.ids, self.labels = ids, labels
        self.mutant, self.cases, self.difference = mutant, cases, difference

    def __len__(self) -> int:
        return int(self.difference.size)

    @overload
    def __getitem__(self, i: int) -> Overlap: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Overlap]: ...

    def __getitem__(self, i: int | slice) -> Overlap | Sequence[Overlap]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return Overlap(self.ids[int(self.mutant[i])], self.labels[int(self.cases[i])],
                       float(self.difference[i]))


@dataclass(frozen=True)
class ToleranceCurve:
    dtype: str
    strategy: str
    epsilon: float
    tolerances: np.ndarray
    detection: np.ndarray
    false_alarm: np.ndarray
    bug_trials: int
    original_trials: int
    largest_correct: float          # largest difference of the original (inf: non-finite)
    smallest_bug: float             # smallest difference of a real bug
    recommended: float | None
    reason: str
    overlaps: Sequence[Overlap]     # bug trials at or under the largest correct difference
    alarms: tuple[Overlap, ...]     # original trials at or over the smallest bug difference

    @property
    def window(self) -> tuple[float, float] | None:
        """None also when no real-bug trial was judged (all indeterminate: no evidence)."""
        if self.largest_correct < self.smallest_bug and math.isfinite(self.smallest_bug):
            return (self.largest_correct, self.smallest_bug)
        return None

    @property
    def label(self) -> str:
        return f"{self.strategy} {self.dtype} eps={self.epsilon:g}"


def _recommend(lo: float, hi: float, strategy: str, dtype: str,
               epsilon: float, kinked: bool = False) -> tuple[float | None, str]:
    """A tolerance in the safe window (lo, hi), and what it is; or why there is none.

    ``kinked``: the correct code's largest differences come from steps that cross a kink,
    which no epsilon fixes (the finite difference is not the derivative there)."""
    if lo < hi and math.isfinite(hi):
        floor = max(lo, hi * 1e-6, np.finfo(float).tiny)
        pick = math.sqrt(floor * hi)
        where = ("the middle (log scale) of the safe window" if floor == lo else
                 "the middle (log scale) of the top six decades of the safe window")
        return pick, (f"{where} {lo:.2e} .. {hi:.2e}: correct code stays "
                      f"{pick / max(lo, 1e-300):.3g}x under it, every real bug "
                      f"{hi / pick:.3g}x over it")
    if kinked:
        return None, (f"no tolerance separates correct from buggy code at epsilon {epsilon:g} "
                      f"in {dtype}, and no epsilon fixes it: the correct code's largest "
                      "differences come from steps that cross a kink (ties, relu at 0), where "
                      "the finite difference is not the derivative at any step")
    own = strategies.get(strategy)
    if own.own_step:
        return None, (f"no tolerance separates correct from buggy code in {dtype} for "
                      f"{strategy}, which takes its own step {own.step(epsilon, dtype):g}: "
                      "the overlapping bugs are below")
    best = theory_epsilon(strategy, dtype)
    if best and not math.isclose(best, epsilon, rel_tol=0.5):
        return None, (f"no tolerance separates correct from buggy code at epsilon {epsilon:g} "
                      f"in {dtype}: try epsilon {best:.1e} (theory for {strategy}; see "
                      "'mutagrad epsilon')")
    return None, (f"no tolerance separates correct from buggy code at epsilon {epsilon:g} in "
                  f"{dtype}: the overlapping bugs are below")


def _judged_by_differences(info: CampaignInfo) -> CampaignInfo:
    """The campaign, unless its check was the user's tests: they store no difference."""
    if info.settings.pytest:
        raise InvalidInput(f"campaign {info.id}'s check was your pytest tests: it has no "
                           "difference to sweep; see 'mutagrad results' (or run a campaign "
                           "without --pytest)")
    return info


def tolerance_curves(store: Store, ref: str | int | None = None, strategy: str | None = None,
                     lo: float = 1e-12, hi: float = 100.0) -> tuple[CampaignInfo,
                                                                  list[ToleranceCurve]]:
    """One curve per (dtype, strategy, epsilon) of a stored campaign."""
    info = _judged_by_differences(store.campaign(ref))
    ran = info.settings.strategies
    if strategy is not None and strategy not in ran:
        raise InvalidInput(f"campaign {info.id} ran no {strategy!r} check: it ran {', '.join(ran)}")
    cases = {c.index: c for c in store.cases(info.id)}
    tolerances = grid(lo, hi)
    # the original's trials are few (one per case and check); the mutants' are counted
    # against the grid in the database, never loaded
    originals: dict[tuple[str, str, float], list[Any]] = defaultdict(list)
    for t in store.trials(info.id, ORIGINAL):
        if strategy is None or t.strategy == strategy:
            originals[(cases[t.case_index].dtype, t.strategy, t.epsilon)].append(t)
    above: dict[tuple[str, str, float], np.ndarray] = defaultdict(
        lambda: np.zeros(len(tolerances) + 1, dtype=np.int64))
    smallest_of: dict[tuple[str, str, float], float] = defaultdict(lambda: math.inf)
    # over each check's arrays when the campaign has them (one load judges the whole grid),
    # else counted against the grid in SQL
    dtypes = sorted({c.dtype for c in cases.values()})
    dtype_of = np.zeros(max(cases, default=0) + 1, dtype=np.int64)
    for c in cases.values():
        dtype_of[c.index] = dtypes.index(c.dtype)
    largest_of = {key: max((math.inf if t.difference is None else t.difference
                            for t in original), default=0.0)
                  for key, original in originals.items()}
    checks = [(name, eps) for name, eps in store.checks(info.id)
              if strategy is None or name == strategy]
    found_under: dict[tuple[str, str, float], Sequence[Overlap]] = {}
    if all(store.has_mutant_checks(info.id, name, eps) for name, eps in checks):
        labels = {i: c.label for i, c in cases.items()}
        for name, eps in checks:  # one check's arrays in memory at a time
            a = tally.load(store, info.id, name, eps)
            if a is None:
                raise StoreError(f"campaign {info.id} changed while it was read: try again")
            for code, found in tally.bug_differences(a, dtype_of).items():
                key = (dtypes[code], name, eps)
                # how many grid tolerances lie strictly under each difference
                above[key] += np.bincount(np.searchsorted(tolerances, found, side="left"),
                                          minlength=len(tolerances) + 1)
                smallest_of[key] = float(found[0])
                found_under[key] = Overlaps([c.mutant_id for c in a.checks], labels,
                                            *tally.bugs_under(a, dtype_of, code,
                                                              largest_of.get(key, 0.0)))
            del a
    else:
        for dtype, name, eps, under, count, low in store.bug_difference_counts(
                info.id, tolerances.tolist(), strategy):
            above[(dtype, name, eps)][under] += count
            smallest_of[(dtype, name, eps)] = min(smallest_of[(dtype, name, eps)], low)

    def bugs_under(dtype: str, name: str, eps: float, ceiling: float) -> Sequence[Overlap]:
        if (dtype, name, eps) in found_under:
            return found_under[(dtype, name, eps)]
        return tuple(Overlap(m, label, d) for m, label, d in
                     store.bug_trials_under(info.id, dtype, name, eps, ceiling))

    curves = []
    for key in sorted(originals.keys() | above.keys()):
        dtype, name, eps = key
        original = originals.get(key, [])
        counts = above.get(key, np.zeros(len(tolerances) + 1, dtype=np.int64))
        bugs = int(counts.sum())
        # a difference over tolerances[k] is one with more than k tolerances under it
        over = np.cumsum(counts[::-1])[::-1][1:]
        detection = over.astype(float) / max(bugs, 1)
        o = np.array([math.inf if t.difference is None else t.difference for t in original])
        alarm = (o[None, :] > tolerances[:, None]).mean(axis=1) if o.size else np.zeros_like(tolerances)
        largest = float(o.max()) if o.size else 0.0
        smallest = smallest_of[key] if bugs else math.inf
        worst = max(original, key=lambda t: math.inf if t.difference is None
                    else t.difference, default=None)
        pick, reason = _recommend(largest, smallest, name, dtype, eps,
                                  kinked=worst is not None and worst.note is not None)
        overlaps = bugs_under(dtype, name, eps, largest) if bugs else ()
        alarms = tuple(sorted((Overlap(ORIGINAL, cases[t.case_index].label,
                                       math.inf if t.difference is None else t.difference)
                               for t in original if t.difference is None
                               or t.difference >= smallest), key=lambda x: -x.difference))
        curves.append(ToleranceCurve(dtype, name, eps, tolerances, detection, alarm, bugs,
                                     len(original), largest, smallest, pick, reason, overlaps,
                                     alarms))
    return info, curves


@dataclass(frozen=True)
class EpsilonCurve:
    dtype: str
    strategy: str
    epsilons: np.ndarray
    difference: np.ndarray   # median over the cases
    best: float
    theory: float | None


def epsilon_curves(subject: Subject, dtypes: Sequence[str], strategy: str = "centered",
                   lo: float = 1e-12, hi: float = 1e-1, seeds: Sequence[int | None] = (None, 0, 1),
                   per_decade: int = 4) -> list[EpsilonCurve]:
    """The correct backward's difference against epsilon, per dtype (median over cases)."""
    if strategy not in ("centered", "forward") and not strategies.is_user_check(strategy):
        raise InvalidInput("the epsilon sweep takes --strategy centered or forward, or your "
                           "own check (--check FUNC)")
    from mutagrad import gradcheck

    epsilons = grid(lo, hi, per_decade)
    curves = []
    for dtype in dtypes:
        rows = []
        for seed in seeds:
            case = subject.case(seed, None, dtype)
            flat = gradcheck.flatten(subject.gradients(subject.backward, case),
                                     subject.param_names).astype(np.float64)
            row = []
            for eps in epsilons:
                ref = strategies.references(subject, case, [strategy], [float(eps)])
                row.append(strategies.difference(flat, ref[(strategy, float(eps))],
                                                 subject=subject, case=case))
            rows.append(row)
        median = np.median(np.array(rows), axis=0)
        finite = np.where(np.isfinite(median), median, np.inf)
        curves.append(EpsilonCurve(dtype, strategy, epsilons, median,
                                   float(epsilons[int(np.argmin(finite))]),
                                   theory_epsilon(strategy, dtype)))
    return curves


def detection_by_epsilon(store: Store, ref: str | int | None = None) -> tuple[CampaignInfo,
                                                                             dict[str, list[Any]]]:
    """Per dtype: (epsilon, detection, false alarms) at each strategy's run tolerance."""
    info, curves = tolerance_curves(store, ref)
    out: dict[str, list[Any]] = defaultdict(list)
    for c in curves:
        tol = run_tolerance(info, c.strategy)
        i = int(np.argmin(np.abs(np.log(c.tolerances) - math.log(tol))))
        out[f"{c.strategy} {c.dtype}"].append((c.epsilon, float(c.detection[i]),
                                               float(c.false_alarm[i])))
    return info, out


@dataclass(frozen=True)
class StrategyRow:
    """One strategy in one dtype, judged at its own tolerance (what its users get)."""

    strategy: str
    dtype: str
    tolerance: float | None
    bugs: int                  # mutants that are real bugs on some case of this dtype
    detected: int              # ... caught on at least one case
    detection: float | None
    low: float | None          # 95% Wilson interval of ``detection``
    high: float | None
    per_check: float | None    # share of real-bug trials caught: one check, one case
    false_alarm: float | None  # share of the original's trials that fail
    forwards: int              # forward evaluations per case (0: unknown)
    per_1000: float | None     # bug trials caught per 1,000 forwards: 1000 per_check / forwards
    note: str
    # the counts behind the shares, so that several subjects' rows add up (a suite)
    checks: int = 0            # real-bug trials judged
    caught: int = 0            # ... caught
    original_checks: int = 0   # the original's trials
    alarms: int = 0            # ... failed
    subject: str = ""


@dataclass(frozen=True)
class Split:
    """A mutant that some strategies catch and others miss on the same case (strategies
    that fail the correct code on that case are left out)."""

    mutant_id: str
    operator: str
    case: str
    dtype: str
    caught_by: tuple[str, ...]
    missed_by: tuple[str, ...]
    subject: str = ""


def compare_strategies(store: Store, ref: str | int | None = None
                       ) -> tuple[CampaignInfo, list[StrategyRow], list[Split]]:
    """Every strategy of a campaign side by side, per dtype, at each one's own tolerance.

    A mutant counts as a real bug in a dtype when some case of that dtype shows it
    (detected or missed); it is detected when some case catches it. Cases on which the
    strategy fails the correct code (a false alarm) tell nothing about bugs and are left
    out. ``per_check`` is the
    chance that one check on one case catches a real bug, ``per_1000`` the bugs one
    thousand forward evaluations catch (1000 per_check / forwards per case). At the
    campaign's first epsilon.
    """
    from mutagrad.analysis import wilson

    info = _judged_by_differences(store.campaign(ref))
    epsilon = info.settings.epsilons[0]
    parameters, arrays = _parameter_count(info)
    dtype_of = {c.index: c.dtype for c in store.cases(info.id)}
    operator = {m.mutant_id: m.operator for m in store.mutants(info.id)}
    status: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # (strategy, dtype)
    alarms: dict[tuple[str, str], list[bool]] = defaultdict(list)
    checks: dict[tuple[str, str], list[bool]] = defaultdict(list)
    originals = [t for t in store.trials(info.id, ORIGINAL)
                 if math.isclose(t.epsilon, epsilon, rel_tol=1e-9)]
    alarmed = {(t.strategy, t.case_index) for t in originals if t.outcome == Outcome.ALARM}
    for t in originals:
        alarms[(t.strategy, dtype_of[t.case_index])].append(t.outcome == Outcome.ALARM)
    # (mutant id, case index) -> {strategy: outcome} of the real-bug trials judged
    verdicts: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for name, mutant_id, index, caught in _bug_trials(store, info, epsilon, alarmed):
        key = (name, dtype_of[index])
        checks[key].append(caught)
        mine = status[key]
        mine[mutant_id] = "detected" if caught or mine.get(mutant_id) == "detected" \
            else "missed"
        verdicts[(mutant_id, index)][name] = Outcome.DETECTED if caught else Outcome.MISSED
    rows = []
    for name in info.settings.strategies:
        for dtype in info.settings.dtypes:
            key = (name, dtype)
            found = status.get(key, {})
            bugs, detected = len(found), sum(v == "detected" for v in found.values())
            low, high = wilson(detected, bugs)
            cost = strategies.cost(name, parameters, arrays) if parameters else 0
            per_check = sum(checks[key]) / len(checks[key]) if checks[key] else None
            rows.append(StrategyRow(
                name, dtype, run_tolerance(info, name), bugs, detected,
                detected / bugs if bugs else None, low if bugs else None,
                high if bugs else None, per_check,
                sum(alarms[key]) / len(alarms[key]) if alarms[key] else None, cost,
                1000 * per_check / cost if cost and per_check is not None else None,
                strategies.get(name).summary, len(checks[key]), sum(checks[key]),
                len(alarms[key]), sum(alarms[key]), info.subject))
    for name, why in info.unsupported.items():
        rows.append(StrategyRow(name, "-", None, 0, 0, None, None, None, None, None, 0, None,
                                f"unsupported: {why}", subject=info.subject))
    labels = {c.index: c.label for c in store.cases(info.id)}
    splits = []
    for (mutant_id, index), mine in verdicts.items():
        by = tuple(n for n in info.settings.strategies if mine.get(n) == Outcome.DETECTED)
        not_by = tuple(n for n in info.settings.strategies if mine.get(n) == Outcome.MISSED)
        if by and not_by:
            splits.append(Split(mutant_id, operator.get(mutant_id, "?"), labels[index],
                                dtype_of[index], by, not_by, info.subject))
    # most telling first: a bug every other strategy catches
    splits.sort(key=lambda x: (-len(x.caught_by), x.mutant_id, x.case))
    return info, rows, splits


def _bug_trials(store: Store, info: CampaignInfo, epsilon: float,
                alarmed: set[tuple[str, int]]) -> Iterator[tuple[str, str, int, bool]]:
    """(strategy, mutant id, case index, caught) of the mutants' real-bug trials at
    ``epsilon``, judged at each strategy's run tolerance, but on the cases where the
    strategy fails the correct code (``alarmed``): over each check's arrays when the
    campaign has them (a real bug the tolerance decides, caught when its difference is
    over it: what the stored outcome says), else from the stored outcomes, streamed."""
    ran = [(name, eps) for name, eps in store.checks(info.id)
           if math.isclose(eps, epsilon, rel_tol=1e-9)]
    if all(store.has_mutant_checks(info.id, name, eps) for name, eps in ran):
        for name, eps in ran:  # one check's arrays in memory at a time
            a = tally.load(store, info.id, name, eps)
            if a is None:
                raise StoreError(f"campaign {info.id} changed while it was read: try again")
            tol = run_tolerance(info, name)
            skip = np.array(sorted(i for s, i in alarmed if s == name), dtype=np.int64)
            cases, owners = a.cases[a.decided], a.mutant[a.decided]
            judged = ~np.isin(cases, skip)
            ids = [c.mutant_id for c in a.checks]
            for owner, index, caught in zip(owners[judged].tolist(), cases[judged].tolist(),
                                            (a.decisive[judged] > tol).tolist()):
                yield name, ids[owner], index, caught
        return
    for t in store.iter_trials(info.id):
        if (t.mutant_id != ORIGINAL and math.isclose(t.epsilon, epsilon, rel_tol=1e-9)
                and t.outcome in (Outcome.DETECTED, Outcome.MISSED)
                and (t.strategy, t.case_index) not in alarmed):
            yield t.strategy, t.mutant_id, t.case_index, t.outcome == Outcome.DETECTED


def _parameter_count(info: CampaignInfo) -> tuple[int, int]:
    """(P, A): scalar parameters and parameter arrays of the campaign's subject."""
    from mutagrad import subjects

    try:
        subject = subjects.load(info.spec)
        case = subject.case()
    except Exception:  # noqa: BLE001 - the subject may have moved since: cost is then unknown
        return 0, 0
    return (int(sum(np.size(case.params[k]) for k in subject.param_names)),
            len(subject.param_names))


def is_subject(target: str | None) -> bool:
    """A built-in subject's name or a .py file (else: a campaign id or name)."""
    from pathlib import Path

    from mutagrad import subjects

    return target is not None and (target in subjects.BUILTIN or (
        target.endswith(".py") and Path(target).is_file()))


def side_by_side(store: Store, target: str | None, cases: int = 3,
                 dtypes: Sequence[str] = ("float64", "float32"), jobs: int | None = None,
                 seed: int = 0) -> tuple[CampaignInfo, list[StrategyRow], list[Split]]:
    """``compare_strategies`` of a stored campaign, or, when ``target`` is a subject (a
    built-in name or a .py file), of a new campaign that runs every strategy on it."""
    from mutagrad import campaign
    from mutagrad.values import Settings

    if is_subject(target):
        assert target is not None
        settings = Settings(cases=cases, seed=seed, dtypes=tuple(dtypes), strategies=("all",))
        if jobs is not None:
            settings = settings.running(jobs=jobs)
        campaign.validate_settings(settings)
        target = str(campaign.start(store, target, settings))
    return compare_strategies(store, target)


def suite_side_by_side(store: Store, suite: str | None = None, cases: int = 3,
                       dtypes: Sequence[str] = ("float64", "float32"), jobs: int | None = None,
                       seed: int = 0) -> tuple[str, list[StrategyRow], list[Split]]:
    """``compare_strategies`` over a suite: the stored suite named ``suite`` (the latest
    campaign of each subject run under that name), or, when ``suite`` is None, a new run of
    every strategy on the built-in suite (``run --all``).

    Rows add up over the subjects: mutants and checks are summed (a mutant is one per
    subject), the original's alarms over every case; ``forwards`` is then the forwards per
    case averaged over the real-bug checks, and ``per_1000`` the bug checks caught per 1,000
    of the forwards those checks cost (sum of caught / sum of checks x forwards). A
    strategy unsupported on some subject counts on the others; its note names them.
    """
    from mutagrad import campaign, subjects
    from mutagrad.analysis import suite as stored_suite
    from mutagrad.values import Settings

    if suite is None:
        settings = Settings(cases=cases, seed=seed, dtypes=tuple(dtypes), strategies=("all",))
        if jobs is not None:
            settings = settings.running(jobs=jobs)
        campaign.validate_settings(settings)
        ran = campaign.run_all(store, [subjects.parse_spec(s) for s in subjects.SUITE],
                               settings)
        assert ran.suite is not None  # several subjects: a suite
        suite = ran.suite
    ids = [r.campaign.id for r in stored_suite(store, suite).reports]
    compared = [compare_strategies(store, i) for i in ids]
    return suite, combine([r for _, rows, _ in compared for r in rows]), \
        [x for _, _, splits in compared for x in splits]


def combine(rows: Sequence[StrategyRow]) -> list[StrategyRow]:
    """Several subjects' rows as one per (strategy, dtype), in first-seen order (see
    ``suite_side_by_side``); unsupported strategies as one note row naming the subjects."""
    from mutagrad.analysis import wilson

    groups: dict[tuple[str, str], list[StrategyRow]] = defaultdict(list)
    for r in rows:
        groups[(r.strategy, r.dtype)].append(r)
    out = []
    for (name, dtype), group in groups.items():
        if dtype == "-":
            where = ", ".join(r.subject for r in group)
            out.append(StrategyRow(name, "-", None, 0, 0, None, None, None, None, None, 0,
                                   None, f"unsupported on {where}"))
            continue
        bugs, detected = sum(r.bugs for r in group), sum(r.detected for r in group)
        checks, caught = sum(r.checks for r in group), sum(r.caught for r in group)
        originals, alarms = (sum(r.original_checks for r in group),
                             sum(r.alarms for r in group))
        spent = sum(r.checks * r.forwards for r in group)
        low, high = wilson(detected, bugs)
        out.append(StrategyRow(
            name, dtype, group[0].tolerance, bugs, detected, detected / bugs if bugs else None,
            low if bugs else None, high if bugs else None, caught / checks if checks else None,
            alarms / originals if originals else None,
            round(spent / checks) if checks and all(r.forwards for r in group) else 0,
            1000 * caught / spent if spent and all(r.forwards for r in group) else None,
            group[0].note, checks, caught, originals, alarms, "suite"))
    return out
