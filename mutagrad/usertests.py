"""The user's own tests as the check: a campaign whose verdict per mutant is "does any of my
pytest tests fail?", run in memory at about the tests' own cost.

A mutant is ``detected`` when a selected test fails or errors, and survives when all pass;
a survivor is then told apart, on the subject's mutagrad cases, into a *missed real bug*
(its gradient differs from the original's there) and an *equivalent* mutant (its true
error is at the floor of rounding on every case). A run that hangs or kills its worker is
``timeout`` or ``crashed``, as in any campaign. The tests must pass on the original
backward first (a red suite stops the campaign, in one line, before any mutant runs).

Cost: each worker (``mutagrad.pytestrun``) starts one pytest session and collects once;
a mutant then costs one run of the selected tests (their own work: numerical gradients)
plus pytest's per-test protocol and the mutant's compilation, and, for a survivor,
``cases x (forward + backward)`` for its true errors.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

from mutagrad import __version__, analysis, mutation, subjects
from mutagrad.campaign import (
    FLUSH_ROWS,
    FLUSH_SECONDS,
    ProgressCallback,
    ProgressEvent,
    SubjectBroken,
    build_cases,
    case_info,
    mutant_info,
    source_hash,
    stopping,
    validate_settings,
)
from mutagrad.engine import Done, Engine, open_engine
from mutagrad.errors import InvalidInput
from mutagrad.mutation import Mutant
from mutagrad.pytestrun import KILLS, SuiteRun, worker_init, worker_task
from mutagrad.store import Store
from mutagrad.subject import Case, validate
from mutagrad.values import (
    ORIGINAL,
    PYTEST,
    Outcome,
    Settings,
    Status,
    SubjectSpec,
    TestOutcome,
    TrialResult,
    plan_config,
)


class RedSuite(SubjectBroken):
    """The selected tests fail on the original backward: no mutant can be judged by them."""


def resolve(tests: Sequence[str], folder: Path) -> tuple[str, ...]:
    """The selected tests as absolute paths (``path`` or ``path::test``), read from
    ``folder``. Raises ``InvalidInput`` for a path that does not exist."""
    if not tests:
        raise InvalidInput("name the tests to run: --pytest tests/test_net.py", parameter="pytest")
    found = []
    for test in tests:
        path, sep, rest = test.partition("::")
        absolute = (folder / path).resolve()
        if not absolute.exists():
            raise InvalidInput(f"no test file or folder {path} (from {folder}): give a path "
                               "to a test file, a folder, or FILE::TEST", parameter="pytest")
        found.append(f"{absolute}{sep}{rest}")
    return tuple(found)


def rootdir(tests: Sequence[str]) -> str:
    """The folder the workers run pytest from: the selected tests' common folder."""
    paths = [Path(t.partition("::")[0]) for t in tests]
    return os.path.commonpath([str(p if p.is_dir() else p.parent) for p in paths])


def start(store: Store, spec: str | SubjectSpec, settings: Settings, tests: Sequence[str],
          name: str | None = None, on_progress: ProgressCallback | None = None) -> int:
    """A new campaign whose check is the pytest ``tests`` (paths or node ids, relative to
    the working folder); returns its id. Raises ``RedSuite`` when they fail on the original,
    ``InvalidInput`` when they cannot run (a collection error, nothing selected, tests that
    never import the subject's file)."""
    settings = replace(settings, pytest=resolve(tests, Path.cwd()))
    validate_settings(settings)
    spec = spec if isinstance(spec, SubjectSpec) else subjects.parse_spec(spec)
    subject = subjects.load(spec)
    validate(subject, subject.case())
    cases = build_cases(subject, settings)
    with _pool(settings, spec, cases) as pool:  # workers start while mutants are made
        mutants = mutation.mutants_of(subject, list(settings.categories) or None,
                                      list(settings.operators) or None)
        campaign_id = store.create_campaign(
            name=name, subject=subject.name, source_hash=source_hash(subject),
            config=plan_config(settings, spec, {}), tool_version=__version__,
            mutants=[mutant_info(m) for m in mutants],
            cases=[case_info(i, c) for i, c in enumerate(cases)])
        _execute(store, campaign_id, mutants, len(cases), settings, pool, on_progress)
    return campaign_id


def resume(store: Store, ref: str | int, on_progress: ProgressCallback | None = None,
           jobs: int | None = None, timeout: float | None = None) -> int:
    """Run the mutants an interrupted campaign of the user's tests has not judged yet."""
    info = store.campaign(ref)
    if info.status in (Status.FINISHED, Status.RUNNING):
        raise InvalidInput(f"campaign {info.id} is {info.status}: only an interrupted campaign "
                           "is resumed")
    settings = info.settings.running(jobs, timeout)
    subject = subjects.load(info.spec)
    if source_hash(subject) != info.source_hash:
        raise InvalidInput(f"{info.subject}'s source changed since campaign {info.id} started: "
                           f"start a new campaign with 'mutagrad run {info.spec.target}'")
    store.set_status(info.id, Status.RUNNING)
    cases = build_cases(subject, settings)
    complete, partial = store.stored_progress(info.id, len(cases))
    done = complete | {m for m, _ in partial}  # a mutant's trials are stored together
    planned = {m.mutant_id for m in store.mutants(info.id)}
    with _pool(settings, info.spec, cases) as pool:
        mutants = [m for m in mutation.mutants_of(subject, list(settings.categories) or None,
                                                  list(settings.operators) or None,
                                                  shape_aware=False) if m.id in planned]
        _execute(store, info.id, mutants, len(cases), settings, pool, on_progress, done)
    return info.id


def _pool(settings: Settings, spec: SubjectSpec, cases: list[Case]) -> _Run:
    engine = open_engine(settings.jobs, worker_init, worker_task,
                         memory_bytes=settings.memory_mb << 20, preload=("mutagrad.pytestpreload",))
    return _Run(engine, (spec, settings.pytest, rootdir(settings.pytest), cases),
                settings.timeout)


@dataclass
class _Run:
    """The engine with the workers' init arguments and each run's hard time limit (the
    tests run as one evaluation: past ``timeout`` seconds the worker is killed)."""

    engine: Engine
    init: tuple[Any, ...]
    timeout: float

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.__exit__(*exc)

    def run(self, tasks: list[Any]) -> Any:
        return self.engine.run(self.init, tasks, lambda task: self.timeout)


def _execute(store: Store, campaign_id: int, mutants: Sequence[Mutant], cases: int,
             settings: Settings, pool: _Run, on_progress: ProgressCallback | None,
             done: set[str] | None = None) -> None:
    done = done or set()
    pending: list[tuple[list[TrialResult], list[TestOutcome]]] = []
    last = time.monotonic()

    def flush(force: bool = False) -> None:
        nonlocal last
        if pending and (force or len(pending) * cases >= FLUSH_ROWS
                        or time.monotonic() - last > FLUSH_SECONDS):
            batch = pending[:]  # out of the buffer first: never inserted twice
            pending.clear()
            store.add_trials(campaign_id, [t for trials, _ in batch for t in trials],
                             [t for _, tests in batch for t in tests])
            last = time.monotonic()

    def settle() -> int:
        flush(force=True)
        return campaign_id

    with stopping(store, settle, failed=(RedSuite, InvalidInput)):
        original = _original(pool)
        if ORIGINAL not in done:
            store.add_trials(campaign_id, [TrialResult(ORIGINAL, i, PYTEST, 0.0, None, None,
                                                       Outcome.PASSED.value, None,
                                                       original.elapsed)
                                           for i in range(cases)], original.tests)
        store.set_status(campaign_id, Status.RUNNING, original_alarms=0)
        tasks = [(m.id, m.function, m.function_source) for m in mutants if m.id not in done]
        total, finished, detected = len(mutants), len(mutants) - len(tasks), 0
        if on_progress:
            on_progress(ProgressEvent(finished, total, 0))
        for event in pool.run(tasks) if tasks else ():
            trials, tests = _judged(event, cases)
            pending.append((trials, tests))
            finished += 1
            detected += bool(tests)
            if on_progress:
                on_progress(ProgressEvent(finished, total, detected))
            flush()
        flush(force=True)
        analysis.store_summary(store, campaign_id)  # what history shows
        store.set_status(campaign_id, Status.FINISHED, finished=True)


def _original(pool: _Run) -> SuiteRun:
    """The selected tests on the original backward: they must all pass."""
    event = next(iter(pool.run([ORIGINAL])))
    if not isinstance(event, Done):
        raise RedSuite(f"your tests {'hung' if event.reason == 'hung' else 'died'} on the "
                       f"original backward ({event.detail}): run them with pytest to see why")
    run: SuiteRun = event.result
    if run.problem is not None:
        raise InvalidInput(run.problem, parameter="pytest")
    failing = [t for t in run.tests if t.outcome in KILLS]
    if failing:
        first = failing[0]
        raise RedSuite(f"{len(failing)} of your {run.ran} tests fail on the original backward "
                       f"({first.test}: {first.line}): fix them before running mutants")
    return run


def _judged(event: Any, cases: int) -> tuple[list[TrialResult], list[TestOutcome]]:
    """A mutant's trials (one per case) and its failing tests, from its run's event."""
    if not isinstance(event, Done):
        mutant_id = event.task[0]
        outcome = Outcome.TIMEOUT if event.reason == "hung" else Outcome.CRASHED
        return ([TrialResult(mutant_id, i, PYTEST, 0.0, None, None, outcome.value,
                             event.detail, 0.0) for i in range(cases)], [])
    run: SuiteRun = event.result
    if run.killed:
        first = run.tests[0]
        why = f"{first.test}: {first.line}"
        return ([TrialResult(run.mutant_id, i, PYTEST, 0.0, None, None,
                             Outcome.DETECTED.value, why, run.elapsed) for i in range(cases)],
                list(run.tests))
    return ([TrialResult(run.mutant_id, i, PYTEST, 0.0, None, error, outcome, why, run.elapsed)
             for i, error, outcome, why in run.true_errors], [])


# -- reading a finished campaign back ------------------------------------------------------

@dataclass(frozen=True)
class TestKills:
    """Per test, how many mutants it kills (and how many no other test kills); the
    survivors no test kills, split into real bugs the tests miss and equivalent mutants."""

    __test__ = False  # not a test class

    tests: tuple[tuple[str, int, int], ...]  # (node id, mutants killed, killed by it alone)
    missed: tuple[analysis.Verdict, ...]
    equivalent: tuple[analysis.Verdict, ...]
    killed_by: dict[str, tuple[TestOutcome, ...]]  # mutant id -> the tests that failed


def kills(store: Store, report: analysis.Report) -> TestKills:
    """What the user's tests did in a stored campaign (``report`` is its analysis)."""
    outcomes = store.test_outcomes(report.campaign.id)
    selected = [t.test for t in outcomes if t.mutant_id == ORIGINAL]
    killed_by: dict[str, list[TestOutcome]] = {}
    for t in outcomes:
        if t.mutant_id != ORIGINAL:
            killed_by.setdefault(t.mutant_id, []).append(t)
    per_test = Counter(t.test for ts in killed_by.values() for t in ts)
    alone = Counter(ts[0].test for ts in killed_by.values() if len(ts) == 1)
    return TestKills(tuple((t, per_test[t], alone[t]) for t in selected),
                     tuple(v for v in report.verdicts if v.status == "missed"),
                     tuple(v for v in report.verdicts if v.status == "equivalent"),
                     {m: tuple(ts) for m, ts in killed_by.items()})
