"""Judging a check's stored trials at any tolerance over their arrays (numpy), not row by row.

A finished or interrupted campaign keeps each mutant's trials of each check as arrays
(``values.MutantCheck``, written by ``Store.build_mutant_checks``): the case of each trial,
its kind (``values.trial_kind``) and, for the trials the tolerance decides, the difference
they are judged by. One load of a check's arrays (about 13 bytes a trial) then judges it at
any tolerance, or at a whole grid of them, with a few vectorised passes. The rules are
mutagrad.analysis's, as ``Store.tally_mutants`` encodes them in SQL; a campaign without
current arrays (running, or stored by an older mutagrad) is judged by that SQL instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mutagrad.store import Store
from mutagrad.values import (
    DECIDED,
    FIXED_OUTCOMES,
    ORIGINAL,
    STATUS_ORDER,
    Judging,
    MutantCheck,
    MutantTally,
    TrialResult,
)

_INDETERMINATE = STATUS_ORDER.index("indeterminate")
_FIXED = frozenset(STATUS_ORDER.index(o) for o in FIXED_OUTCOMES)
# a kind's column in the per-mutant presence table: its place in STATUS_ORDER, DECIDED last
_CODE = np.full(256, len(STATUS_ORDER), dtype=np.int32)
_CODE[:len(STATUS_ORDER)] = np.arange(len(STATUS_ORDER))


@dataclass(frozen=True)
class CheckArrays:
    """Every mutant's trials of one check, end to end (shape (trials,) each, mutant by
    mutant): ``mutant`` indexes ``checks``; ``decided`` marks the trials the tolerance
    decides and ``decisive`` holds their differences (shape (decided trials,))."""

    checks: tuple[MutantCheck, ...]  # without their arrays (they are below, end to end)
    mutant: np.ndarray    # int32
    cases: np.ndarray     # int32
    kinds: np.ndarray     # uint8
    decided: np.ndarray   # bool
    decisive: np.ndarray  # float64

    @classmethod
    def of(cls, checks: Sequence[MutantCheck]) -> CheckArrays:
        counts = np.array([c.trials for c in checks], dtype=np.int64)
        # read-only views of the joined bytes: each array is in memory once
        cases = np.frombuffer(b"".join(c.cases for c in checks), dtype="<i4")
        kinds = np.frombuffer(b"".join(c.kinds for c in checks), dtype=np.uint8)
        decisive = np.frombuffer(b"".join(c.decisive for c in checks), dtype="<f8")
        bare = tuple(replace(c, cases=b"", kinds=b"", decisive=b"") for c in checks)
        return cls(bare, np.repeat(np.arange(len(checks), dtype=np.int32), counts),
                   cases.astype(np.int32, copy=False), kinds, kinds == DECIDED,
                   decisive.astype(np.float64, copy=False))


def load(store: Store, campaign_id: int, strategy: str, epsilon: float) -> CheckArrays | None:
    """One check's arrays, or None when the campaign has none current (see ``Store``)."""
    checks = store.mutant_checks(campaign_id, strategy, epsilon)
    return None if checks is None else CheckArrays.of(checks)


def alarm_cases(originals: Sequence[TrialResult], judging: Judging) -> set[int]:
    """The cases on which the original fails the judging's check at its tolerance."""
    return {t.case_index for t in originals
            if t.mutant_id == ORIGINAL and t.strategy == judging.strategy
            and t.epsilon == judging.epsilon and t.outcome not in FIXED_OUTCOMES
            and (t.difference is None or t.difference > judging.tolerance)}


Labels = dict[str, tuple[list[int], list[int]]]


def tallies(store: Store, campaign_id: int, judging: Judging,
            labels: bool = False) -> tuple[list[MutantTally], Labels]:
    """``Store.tally_mutants``, over the check's arrays when they are current, and, with
    ``labels``, per mutant the cases (indices, ascending) it is detected and missed on."""
    arrays = load(store, campaign_id, judging.strategy, judging.epsilon)
    on: Labels = {}
    if arrays is None:
        if labels:
            for mutant_id, index, outcome in store.judged_trials(campaign_id, judging,
                                                                 ("detected", "missed")):
                on.setdefault(mutant_id, ([], []))[outcome == "missed"].append(index)
        return store.tally_mutants(campaign_id, judging), on
    shared = None
    if judging.shared_with is not None:
        shared = store.shared_cases(campaign_id, judging.shared_with)
    alarms = alarm_cases(store.trials(campaign_id, ORIGINAL), judging)
    if shared is not None:
        alarms &= shared

    def first_error(mutant_id: str) -> str | None:  # the first error among the shared cases
        return store.first_error(campaign_id, replace(judging, shared_with=None), mutant_id,
                                 shared)

    if labels:
        on = judged_cases(arrays, judging.tolerance, alarms, shared)
    return judge(arrays, judging.tolerance, alarms, shared, first_error), on


def judge(a: CheckArrays, tolerance: float, alarms: set[int], shared: set[int] | None,
          first_error: Callable[[str], str | None]) -> list[MutantTally]:
    """Each mutant's status and counts at ``tolerance`` (analysis states the rules).

    ``alarms``: cases where the original fails at that tolerance (a real bug there is
    indeterminate); ``shared``: only these cases (None: all); ``first_error(mutant id)``:
    the first error by case among ``shared``, asked only when the stored first error's case
    is not among them. Mutants with no trial judged are absent (pending)."""
    n = len(a.checks)
    if n == 0:
        return []
    keep = None if shared is None else np.isin(
        a.cases, np.fromiter(shared, dtype=np.int32, count=len(shared)))
    mutant = a.mutant if keep is None else a.mutant[keep]
    kinds = a.kinds if keep is None else a.kinds[keep]
    trials = np.bincount(mutant, minlength=n)
    present = np.bincount(mutant * np.int32(len(STATUS_ORDER) + 1) + _CODE[kinds],
                          minlength=n * (len(STATUS_ORDER) + 1)).reshape(n, -1) > 0
    del mutant, kinds
    # the decided trials, judged: those on alarm cases only make the mutant indeterminate
    d_cases, d_mutant = a.cases[a.decided], a.mutant[a.decided]
    d_keep = np.ones(d_cases.shape, dtype=bool) if keep is None else keep[a.decided]
    d_alarm = np.isin(d_cases, np.fromiter(alarms, dtype=np.int32, count=len(alarms))) \
        if alarms else np.zeros(d_cases.shape, dtype=bool)
    judged = d_keep & ~d_alarm
    over = a.decisive > tolerance
    detected = np.bincount(d_mutant[judged & over], minlength=n)
    missed = np.bincount(d_mutant[judged & ~over], minlength=n)
    unjudged = np.bincount(d_mutant[d_keep & d_alarm], minlength=n)
    kill = np.full(n, np.inf)
    if judged.any():
        owners, starts = np.unique(d_mutant[judged], return_index=True)
        kill[owners] = np.minimum.reduceat(a.decisive[judged], starts)
    has_kill = np.bincount(d_mutant[judged], minlength=n) > 0
    result = []
    for i in np.flatnonzero(trials):
        check = a.checks[i]
        kind = int(np.argmax(present[i]))  # the first kind present; DECIDED is the last column
        kind = DECIDED if kind == len(STATUS_ORDER) else kind
        if detected[i]:
            status = "detected"
        elif missed[i]:
            status = "missed"
        else:
            status = STATUS_ORDER[min(kind, _INDETERMINATE if unjudged[i] else DECIDED)]
        error = None
        if kind in _FIXED and check.error is not None:
            error = check.error if shared is None or check.error_case in shared else \
                first_error(check.mutant_id)
        result.append(MutantTally(check.mutant_id, status, int(trials[i]), int(detected[i]),
                                  int(missed[i]), float(kill[i]) if has_kill[i] else None,
                                  error))
    return result


def judged_cases(a: CheckArrays, tolerance: float, alarms: set[int], shared: set[int] | None,
                 ) -> dict[str, tuple[list[int], list[int]]]:
    """Per mutant, the cases (ascending) of its trials detected and missed at
    ``tolerance`` (``judge``'s arguments), for the mutants with any."""
    decided_cases, d_mutant = a.cases[a.decided], a.mutant[a.decided]
    judged = ~np.isin(decided_cases, np.fromiter(alarms, dtype=np.int32, count=len(alarms)))
    if shared is not None:
        judged &= np.isin(decided_cases, np.fromiter(shared, dtype=np.int32, count=len(shared)))
    over = a.decisive > tolerance
    found: dict[str, tuple[list[int], list[int]]] = {}
    for mask, slot in ((judged & over, 0), (judged & ~over, 1)):
        owners, cases = d_mutant[mask], decided_cases[mask]
        order = np.lexsort((cases, owners))
        owners, cases = owners[order], cases[order]
        bounds = np.flatnonzero(np.diff(owners)) + 1
        for part_owner, part in zip(owners[np.r_[0, bounds]] if owners.size else [],
                                    np.split(cases, bounds) if owners.size else []):
            entry = found.setdefault(a.checks[int(part_owner)].mutant_id, ([], []))
            entry[slot].extend(part.tolist())
    return found


def bug_differences(a: CheckArrays, dtype_of: np.ndarray) -> dict[int, np.ndarray]:
    """The real-bug trials' differences (those the tolerance decides, whatever the original
    does on their case), sorted, per dtype code: ``dtype_of[case]`` is the case's code."""
    codes = dtype_of[a.cases[a.decided]]
    return {int(code): np.sort(a.decisive[codes == code]) for code in np.unique(codes)}


def bugs_under(a: CheckArrays, dtype_of: np.ndarray, code: int,
               ceiling: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real-bug trials of dtype ``code`` whose finite difference is at or under
    ``ceiling``, by difference, mutant id and case: (index into ``a.checks``, case index,
    difference), arrays of one length (there may be hundreds of thousands)."""
    cases = a.cases[a.decided]
    mask = (dtype_of[cases] == code) & (a.decisive <= ceiling) & np.isfinite(a.decisive)
    ids = [c.mutant_id for c in a.checks]
    rank = np.empty(len(ids), dtype=np.int64)
    rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    mutant, found, difference = a.mutant[a.decided][mask], cases[mask], a.decisive[mask]
    order = np.lexsort((found, rank[mutant], difference))
    return mutant[order], found[order], difference[order]
