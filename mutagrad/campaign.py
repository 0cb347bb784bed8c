"""Campaigns: every mutant of a subject on many cases, every difference stored.

Cost model (DESIGN.md): the forward is never mutated, so each case's numerical gradient is
computed ONCE per (strategy, epsilon), by the workers in parallel (one call per case and
epsilon), and shared by every task, which then pays one forward (for the backward's cache)
and one backward per (mutant, case). A campaign costs about
``cases x (2P forwards + mutants x (forward + backward))``. The workers are an engine: the
local pool, or a Dask cluster (``scheduler``).
"""

from __future__ import annotations

import functools
import hashlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mutagrad import __version__, analysis, explore, gradcheck, mutation, subjects
from mutagrad import strategies as strategy
from mutagrad.engine import Done, Engine, Feed, open_engine
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.explore import Exploration, Recipe
from mutagrad.mutation import Mutant
from mutagrad.store import Store
from mutagrad.subject import (
    FAMILIES,
    Case,
    Subject,
    family_case,
    jittered,
    validate,
    validate_case_options,
)
from mutagrad.trial import CaseData, case_references, evaluate, worker_init, worker_task
from mutagrad.values import (
    ORIGINAL,
    CaseInfo,
    MutantInfo,
    Outcome,
    Settings,
    Status,
    SubjectSpec,
    TrialResult,
    plan_config,
)

FLUSH_ROWS = 500
FLUSH_SECONDS = 1.0
SETTLE_SECONDS = 5.0  # how long a stopping campaign waits for its last mutants to be made


class CampaignInterrupted(MutagradError):
    """Ctrl-C: every finished trial is stored and the campaign can be resumed."""

    exit_code = 130


class SubjectBroken(MutagradError):
    """The subject's own backward crashes or returns the wrong shapes: nothing to compare."""


def validate_settings(settings: Settings) -> None:
    """Raise ``InvalidInput`` (naming the parameter) for a plan that cannot run."""
    if settings.cases < 1:
        raise InvalidInput(f"cases must be at least 1, got {settings.cases}", parameter="cases")
    for batch in settings.batches:
        validate_case_options(batch, "float64")
    for dtype in settings.dtypes:
        validate_case_options(None, dtype)
    for eps in settings.epsilons:
        if not eps > 0:
            raise InvalidInput(f"epsilon must be positive, got {eps}", parameter="epsilons")
    if settings.tolerance is not None and not settings.tolerance > 0:
        raise InvalidInput(f"tolerance must be positive, got {settings.tolerance}",
                           parameter="tolerance")
    if not settings.strategies:
        raise InvalidInput("at least one strategy is needed", parameter="strategies")
    strategy.validate(settings.strategies)
    for family in settings.families:
        if family not in FAMILIES:
            raise InvalidInput(f"unknown case family {family!r}: use one of "
                               f"{', '.join(FAMILIES)}", parameter="families")
    if settings.seed < 0:
        raise InvalidInput(f"seed must be 0 or more, got {settings.seed}", parameter="seed")
    if settings.memory_mb < 64:
        raise InvalidInput(f"memory must be at least 64 MiB, got {settings.memory_mb}",
                           parameter="memory_mb")
    if not settings.timeout > 0:
        raise InvalidInput(f"timeout must be positive, got {settings.timeout}",
                           parameter="timeout")
    if settings.jobs < 1:
        raise InvalidInput(f"jobs must be at least 1, got {settings.jobs}", parameter="jobs")


def tolerances(settings: Settings) -> dict[str, float]:
    """The tolerance each strategy of the plan judges with: the plan's, or its own."""
    return {s: strategy.get(s).tolerance if settings.tolerance is None
            else settings.tolerance for s in settings.strategies}


@dataclass(frozen=True)
class ProgressEvent:
    done: int          # mutants with every case evaluated
    total: int | None  # None while a new campaign's mutants are still being made
    detected: int      # mutants detected on at least one case so far
    subject: str = ""


@dataclass(frozen=True)
class Ran:
    """What ``run_all`` ran: the campaigns, and the suite name when there were several."""

    campaigns: tuple[int, ...]
    suite: str | None


ProgressCallback = Callable[[ProgressEvent], None]


def build_cases(subject: Subject, settings: Settings) -> list[Case]:
    """seeds x batch sizes x dtypes (a subject without a batch dimension has one batch).

    With ``jitter``, every case but those of the first seed (the user's exact
    initialisation) has its parameters moved off their initial values.
    A subject with several kinds of case (a layer's grid points and non-square variant)
    gets at least one seed per kind, so ``cases`` below the grid's size still covers it.
    """
    batches = settings.batches if subject.batched else (subject.default_batch,)
    cases = []
    for seed in range(settings.seed, settings.seed + max(settings.cases, subject.kinds)):
        for batch in batches:
            for dtype in settings.dtypes:
                case = subject.case(seed, batch, dtype)
                cases.append(jittered(case) if settings.jitter and seed != settings.seed
                             else case)
    for family in settings.families:  # one case of each family per seed, largest batch
        for seed in range(settings.seed, settings.seed + settings.cases):
            case = family_case(subject.case(seed, max(batches), settings.dtypes[0]), family)
            cases.append(jittered(case) if settings.jitter else case)
    return cases


def coverage(specs: Sequence[SubjectSpec], settings: Settings) -> list[str]:
    """What the planned cases cannot show, per layer subject: every case square, or every
    case with batch 1 (a missing 1/N, a swapped height and width look right)."""
    from mutagrad.pairs import coverage_warnings

    warnings = []
    for spec in specs:
        subject = subjects.load(spec)
        if subject.vary_batch:
            cases = build_cases(subject, replace(settings, dtypes=settings.dtypes[:1]))
            warnings += [f"{subject.name}: {w}" for w in coverage_warnings(cases)]
    return warnings


def source_hash(subject: Subject) -> str:
    _, text = mutation.source_of(subject.backward)
    return hashlib.sha256(text.encode()).hexdigest()


def mutant_info(m: Mutant) -> MutantInfo:
    return MutantInfo(m.id, m.category, m.operator, m.function, m.location, m.line,
                      m.original, m.replacement, m.diff)


def case_info(index: int, case: Case) -> CaseInfo:
    return CaseInfo(index, case.seed, case.batch, case.dtype, case.label)


def prepare(subject: Subject, cases: Sequence[Case], settings: Settings,
            engine: Engine | None = None, spec: SubjectSpec | None = None) -> list[CaseData]:
    """Numerical sides, once per case, strategy and epsilon: every mutant reuses them.

    With an engine (and the subject's spec) they are computed by its workers in parallel,
    one call per (case, epsilon); otherwise here.
    """
    if engine is None or spec is None:
        refs = [strategy.references(subject, case, settings.strategies, settings.epsilons)
                for case in cases]
    else:
        calls = [(spec, case, settings.strategies, (eps,))
                 for case in cases for eps in settings.epsilons]
        parts = iter(engine.map(case_references, calls))
        refs = [{k: v for _ in settings.epsilons for k, v in next(parts).items()}
                for _ in cases]
    # one tuple per distinct layout, not one per case (thousands of cases, one layout)
    layouts: dict[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]] = {}
    shapes = [layouts.setdefault(layout, layout) for layout in (
        tuple(np.shape(case.params[k]) for k in subject.param_names) for case in cases)]
    return [CaseData(index, case, subject.param_names, shapes[index], refs[index])
            for index, case in enumerate(cases)]


def supported(subject: Subject, settings: Settings) -> tuple[Settings, dict[str, str]]:
    """The settings without the strategies this subject cannot use, and why."""
    settings = replace(settings, strategies=strategy.expand(settings.strategies))
    for name in settings.strategies:
        if strategy.is_user_check(name):  # the user's functions exist and fit a style
            strategy.parse_user_check(name).functions(subject)
    reasons = {}
    if "complex-step" in settings.strategies:
        reason = strategy.complex_unsafe(subject, subject.case())
        if reason:
            reasons["complex-step"] = reason
    kept = tuple(s for s in settings.strategies if s not in reasons)
    if not kept:
        raise InvalidInput(f"no strategy can run on {subject.name}: "
                           + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    return replace(settings, strategies=kept), reasons


def _cost_on(subject: Subject, case: Case, params: dict[str, np.ndarray]) -> float:
    return subject.cost(params, case)


def _subgradient_notes(subject: Subject, data: list[CaseData],
                       trials: list[TrialResult]) -> list[TrialResult]:
    """Where a step crosses a kink, say whether the original's own gradient is a valid
    subgradient there (a note on the original's trials; 3 forwards per kinked check)."""
    extra: dict[tuple[int, str, float], str] = {}
    for d in data:
        for (name, eps), reference in d.references.items():
            if reference.kinks:
                grads = subject.gradients(subject.backward, d.case)
                analytic = gradcheck.flatten(grads, d.keys).astype(np.float64)
                found = gradcheck.subgradient_at_kinks(
                    functools.partial(_cost_on, subject, d.case), d.case.params, d.keys,
                    reference.kinks, eps, analytic)
                if found:
                    extra[(d.index, name, eps)] = found
    return [replace(t, note=f"{t.note}; {extra[(t.case_index, t.strategy, t.epsilon)]}")
            if (t.case_index, t.strategy, t.epsilon) in extra else t for t in trials]


_NO_ALARMS: frozenset[tuple[str, float]] = frozenset()  # shared by the cases without


def check_original(subject: Subject, data: list[CaseData],
                    settings: Settings) -> tuple[list[TrialResult], list[CaseData]]:
    """Run the subject's own backward first: its differences are the false-alarm evidence.

    Returns its trials and ``data`` itself, each case replaced in place by one that carries
    the original's gradient (a campaign of thousands of cases does not hold two lists)."""
    trials = evaluate(subject, subject.backward, ORIGINAL, data, tolerances(settings),
                      settings.timeout)
    broken = [t for t in trials if t.outcome not in (Outcome.PASSED, Outcome.ALARM)]
    if broken:
        t = broken[0]
        why = f"{t.outcome}: {t.error}" if t.error else t.outcome
        raise SubjectBroken(f"the subject's own backward fails on case "
                            f"{data[t.case_index].case.label} ({why}): fix it before running "
                            "mutants")
    trials = _subgradient_notes(subject, data, trials)
    alarms: dict[int, set[tuple[str, float]]] = {d.index: set() for d in data}
    for t in trials:
        if t.outcome == Outcome.ALARM:
            alarms[t.case_index].add((t.strategy, t.epsilon))
    for i, d in enumerate(data):
        grads = subject.gradients(subject.backward, d.case)
        flat = gradcheck.flatten(grads, d.keys).astype(np.float64)
        cost = (float(subject.own_cost(subject.backward, d.case.params, d.case))
                if subject.own_cost is not None else None)
        data[i] = replace(d, original=flat, alarms=frozenset(alarms[d.index]) or _NO_ALARMS,
                          original_cost=cost)
    return trials, data


def _failed_trials(mutant_id: str, index: int, checks: Sequence[tuple[str, float]],
                   outcome: Outcome, error: str, elapsed: float) -> list[TrialResult]:
    return [TrialResult(mutant_id, index, name, eps, None, None, outcome.value, error,
                        elapsed) for name, eps in checks]


class _Shipped:
    """The prepared cases on their way to the engine, and per case index the checks a
    failed trial is stored for: all the parent keeps of them once the engine has them."""

    def __init__(self, data: list[CaseData]):
        self.data: list[CaseData] | None = data
        shared: dict[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]] = {}
        self.checks = {d.index: shared.setdefault(k, k) for d in data
                       for k in (tuple(d.references),)}

    def take(self) -> list[CaseData]:
        data, self.data = self.data, None
        assert data is not None, "the prepared cases are shipped once"
        return data


# -- the parent ---------------------------------------------------------------------------

def run_all(store: Store, specs: Sequence[SubjectSpec], settings: Settings,
            name: str | None = None, on_progress: ProgressCallback | None = None,
            mutants_dir: str | None = None, scheduler: str | None = None) -> Ran:
    """One campaign per subject; several make a suite, named ``name`` or by the time.
    ``scheduler``: on that Dask cluster (see ``start``)."""
    if not specs:
        raise InvalidInput("no subject to run", parameter="subject")
    suite = None
    if len(specs) > 1:
        suite = name = name or "suite " + time.strftime("%Y-%m-%d %H:%M:%S")
    ids = []
    for spec in specs:
        def progress(e: ProgressEvent, target: str = Path(spec.target).name) -> None:
            if on_progress:
                on_progress(replace(e, subject=target))

        ids.append(start(store, spec, settings, name, progress, mutants_dir, scheduler))
    return Ran(tuple(ids), suite)


def start(store: Store, spec: str | SubjectSpec, settings: Settings, name: str | None = None,
          on_progress: ProgressCallback | None = None,
          mutants_dir: str | None = None, scheduler: str | None = None) -> int:
    """Plan and run a new campaign; returns its id (stored even when interrupted).

    ``scheduler`` (``tcp://host:8786``) runs the work on that Dask cluster instead of the
    local pool; this process still plans and writes every trial.

    The mutants are made while the workers compute the numerical sides, and the local
    pool runs each batch of them as soon as it is made (``mutation.generate_batches``);
    the plan (every mutant, every case) is stored once the last is made, before any trial.
    """
    validate_settings(settings)
    spec = spec if isinstance(spec, SubjectSpec) else subjects.parse_spec(spec)
    subject = subjects.load(spec)
    validate(subject, subject.case())
    settings, unsupported = supported(subject, settings)
    mutation.mutated_names(subject)  # a helper in another file: said before anything runs
    with engine_for(settings, scheduler) as pool:  # workers start while the plan is made
        cases = build_cases(subject, settings)
        infos = [case_info(i, c) for i, c in enumerate(cases)]
        spec = _for_workers(spec, pool)
        data = _prepare_soon(subject, cases, settings, pool, spec)  # while mutants are made
        del cases  # the prepared cases hold them, till the workers have them
        making = _Making(subject, settings)

        def plan() -> int:
            mutants = making.result()
            if mutants_dir:
                mutation.export(subject.name, mutants, mutants_dir)
            return store.create_campaign(
                name=name, subject=subject.name, source_hash=source_hash(subject),
                config=plan_config(settings, spec, unsupported),
                tool_version=__version__,
                mutants=[mutant_info(m) for m in mutants], cases=infos)

        try:
            return _execute(store, _Row(plan, can_plan=making.done.is_set), subject, spec,
                            making, data, settings, on_progress, pool)
        finally:
            making.feed.dispose()


def _wait(event: threading.Event) -> None:
    """``event.wait()``, a moment at a time: a Ctrl-C the kernel hands to another thread
    reaches the main thread only when it runs Python again, never inside one long wait."""
    while not event.wait(0.2):
        pass


class _Making:
    """A new campaign's mutants, made in a thread while the workers compute the numerical
    sides and then run the first batches: ``feed`` gets each batch's kept mutants, then
    closes."""

    def __init__(self, subject: Subject, settings: Settings):
        self.feed = Feed()
        self.mutants: list[Mutant] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        threading.Thread(target=self._make, args=(subject, settings), daemon=True,
                         name="mutagrad-mutants").start()

    def _make(self, subject: Subject, settings: Settings) -> None:
        try:
            for batch in mutation.generate_batches(subject, list(settings.categories) or None,
                                                   list(settings.operators) or None):
                self.mutants.extend(batch.kept)
                self.feed.put(batch.kept)
        except BaseException as e:  # noqa: BLE001 - raised where the mutants are awaited
            self.error = e
        finally:
            self.done.set()
            self.feed.close()

    def result(self) -> list[Mutant]:
        """Every kept mutant, once all are made (raises what making them raised)."""
        _wait(self.done)
        if self.error is not None:
            raise self.error
        return self.mutants


class _Row:
    """A campaign's id: stored already (a resume), or when ``plan`` stores it (a new
    campaign, once its last mutant is made: its rows wait in memory till then)."""

    def __init__(self, plan: Callable[[], int] | None = None, id: int | None = None,
                 can_plan: Callable[[], bool] = lambda: True):
        self.plan, self.id, self.can_plan = plan, id, can_plan
        self.then: list[Callable[[int], None]] = []

    def known(self) -> int | None:
        """The id, storing the plan first when that needs no wait; None while it would."""
        if self.id is None and self.can_plan():
            self.stored()
        return self.id

    def stored(self) -> int:
        """The id, storing the plan now if it is not yet (waits for the last mutant)."""
        if self.id is None:
            assert self.plan is not None
            self.id = self.plan()
            for then in self.then:
                then(self.id)
        return self.id

    def when_stored(self, then: Callable[[int], None]) -> None:
        """``then(id)`` now if the id is known, else as soon as the plan is stored."""
        if self.id is not None:
            then(self.id)
        else:
            self.then.append(then)


def _for_workers(spec: SubjectSpec, engine: Engine) -> SubjectSpec:
    """A user's file travels to a cluster as its source, not as a driver-only path."""
    return subjects.travelling(spec) if engine.remote else spec


def _prepare_soon(subject: Subject, cases: Sequence[Case], settings: Settings, engine: Engine,
                  spec: SubjectSpec) -> _Soon:
    """``prepare`` on the engine's workers, started now: the parent meanwhile makes the
    mutants and stores the plan."""
    soon = _Soon()

    def work() -> None:
        try:
            soon.result = prepare(subject, cases, settings, engine, spec)
        except BaseException as e:  # noqa: BLE001 - raised where the result is awaited
            soon.error = e
        finally:
            soon.done.set()

    threading.Thread(target=work, daemon=True).start()
    return soon


class _Soon:
    """The prepared cases, computed in a thread. Unlike a ``Future``'s, ``take()`` hands
    them over and keeps no reference: once the workers have them, the parent lets them go
    (thousands of cases are tens of megabytes of small objects)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: list[CaseData] | None = None
        self.error: BaseException | None = None

    def take(self) -> list[CaseData]:
        """Wait for the cases (raising what preparing them raised) and hand them over."""
        _wait(self.done)
        if self.error is not None:
            raise self.error
        result, self.result = self.result, None
        assert result is not None, "the prepared cases are taken once"
        return result


def engine_for(settings: Settings, scheduler: str | None = None) -> Engine:
    """The engine a plan runs on: the local pool of ``settings.jobs`` sandboxed workers, or
    the Dask cluster at ``scheduler``."""
    return open_engine(settings.jobs, worker_init, worker_task,
                       memory_bytes=settings.memory_mb << 20, preload=("mutagrad.trial",),
                       scheduler=scheduler)


def resume(store: Store, ref: str | int, on_progress: ProgressCallback | None = None,
           jobs: int | None = None, timeout: float | None = None,
           scheduler: str | None = None) -> int:
    """Run only the trials a stored campaign is missing, with the plan it was started with."""
    info = store.campaign(ref)
    if info.status == Status.FINISHED:
        raise InvalidInput(f"campaign {info.id} is already finished: see 'mutagrad results {info.id}'")
    if info.status == Status.RUNNING:
        raise InvalidInput(f"campaign {info.id} is still running (pid on this host): "
                           "wait for it, or stop it before resuming")
    settings = info.settings.running(jobs, timeout)
    validate_settings(settings)
    spec = info.spec
    subject = subjects.load(spec)
    if source_hash(subject) != info.source_hash:
        raise InvalidInput(f"{info.subject}'s source changed since campaign {info.id} started: "
                           f"start a new campaign with 'mutagrad run {spec.target}'")
    store.set_status(info.id, Status.RUNNING)
    with engine_for(settings, scheduler) as pool:
        spec = _for_workers(spec, pool)
        cases = build_cases(subject, settings)
        count = len(cases)
        data = _prepare_soon(subject, cases, settings, pool, spec)
        del cases
        # the stored plan's mutants, whatever today's generation would drop or add
        planned = {m.mutant_id for m in store.mutants(info.id)}
        mutants = [m for m in mutation.mutants_of(subject, list(settings.categories) or None,
                                                  list(settings.operators) or None,
                                                  shape_aware=False)
                   if m.id in planned]
        _execute(store, _Row(id=info.id), subject, spec, mutants, data, settings, on_progress,
                 pool, done=Stored(*store.stored_progress(info.id, count)))
    return info.id


@dataclass(frozen=True)
class Stored:
    """What a resumed campaign already has (``Store.stored_progress``): the mutants with
    trials on every case, and the (mutant, case) pairs of the others."""

    complete: set[str] = field(default_factory=set)
    pairs: set[tuple[str, int]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.complete or self.pairs)

    def started(self, mutant_id: str) -> bool:
        return mutant_id in self.complete or any(m == mutant_id for m, _ in self.pairs)

    def missing(self, mutant_id: str, cases: tuple[int, ...]) -> tuple[int, ...]:
        """The cases still to run (``cases`` itself, shared, for an untouched mutant)."""
        if mutant_id in self.complete:
            return ()
        if not self.pairs:
            return cases
        return tuple(i for i in cases if (mutant_id, i) not in self.pairs)


def _execute(store: Store, row: _Row, subject: Subject, spec: SubjectSpec,
             mutants: Sequence[Mutant] | _Making, prepared: _Soon,
             settings: Settings, on_progress: ProgressCallback | None, pool: Engine,
             done: Stored | None = None) -> int:
    done = done or Stored()
    buffer: list[TrialResult] = []
    hidden: list[tuple[str, str]] = []  # (mutant id, what its exploration found)
    last_flush = time.monotonic()

    def flush(force: bool = False) -> None:
        nonlocal last_flush
        campaign_id = row.stored() if force else row.known()
        if campaign_id is None:
            return  # the plan is not stored yet: the rows wait for it
        if buffer and (force or len(buffer) >= FLUSH_ROWS
                       or time.monotonic() - last_flush > FLUSH_SECONDS):
            # Taken out of the buffer before the write: if Ctrl-C lands mid-commit the rows
            # are either committed or rerun by --resume, never inserted twice.
            pending = buffer[:]
            buffer.clear()
            store.add_trials(campaign_id, pending)
            last_flush = time.monotonic()
        while hidden:
            store.set_hidden_by(campaign_id, *hidden.pop(0))

    def settle() -> int | None:
        """Stopping: the plan and every finished row stored (None when no plan can be:
        making the mutants failed, which is then the error to report, or they are still
        being made after a while: the user's forward may hang, and a Ctrl-C must end it)."""
        if isinstance(mutants, _Making) and not mutants.done.wait(SETTLE_SECONDS):
            return None
        try:
            campaign_id = row.stored()
        except Exception:  # noqa: BLE001 - the error being raised says why
            return None
        flush(force=True)
        return campaign_id

    # the user's own check broke (failed_kept): a resume would judge the rest with another
    # check
    with stopping(store, settle, failed=(SubjectBroken,),
                  failed_kept=(strategy.UserCheckFailed,)):
        original_trials, data = check_original(subject, prepared.take(), settings)
        alarms = sum(t.outcome == Outcome.ALARM for t in original_trials)
        shipped = _Shipped(data)
        del data  # the engine takes them from ``shipped``, and the parent lets them go

        def running(campaign_id: int) -> None:
            if not done.started(ORIGINAL):
                store.add_trials(campaign_id, original_trials)
            store.set_status(campaign_id, Status.RUNNING, original_alarms=alarms)

        row.when_stored(running)
        explorations = _explorations(store, row.id, subject, mutants, settings, done)
        _run_mutants(mutants, shipped, done, settings, spec, buffer, flush, on_progress, pool,
                     explorations, lambda m, found: hidden.append((m, found)))
        flush(force=True)
        campaign_id = row.stored()
        analysis.store_summary(store, campaign_id)
        store.set_status(campaign_id, Status.FINISHED, finished=True)
    return campaign_id


@contextmanager
def stopping(store: Store, settle: Callable[[], int | None], *,
             failed: tuple[type[BaseException], ...] = (),
             failed_kept: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """A running campaign's way out when it stops short, for every kind of campaign.

    ``settle()`` stores what must be kept (the plan, if not stored yet, and every finished
    trial) and returns the campaign's id; None when no plan can be stored (making the
    mutants failed: that error is the one to report, and no campaign exists).

    Ctrl-C: the finished trials are stored, the campaign is marked interrupted and
    ``CampaignInterrupted`` says how many trials it holds and how to resume. An error in
    ``failed`` marks it failed (nothing is judged); one in ``failed_kept`` marks it failed
    with its summary. Anything else marks it interrupted (a resume finishes it). A second
    Ctrl-C while this is stored is ignored: it would cut the very write that keeps the
    trials."""
    try:
        yield
    except KeyboardInterrupt:
        with _ignoring_ctrl_c():
            stopped = _stopped(store, settle, Status.INTERRUPTED)
            if stopped is None:
                raise
            stored = store.trial_count(stopped)
        raise CampaignInterrupted(
            f"interrupted: campaign {stopped} stored {stored} trials; resume with "
            f"mutagrad run --resume {stopped}") from None
    except failed as e:
        with _ignoring_ctrl_c():
            stopped = settle()
            if stopped is not None:
                store.set_status(stopped, Status.FAILED, note=str(e), finished=True)
        raise
    except failed_kept as e:
        with _ignoring_ctrl_c():
            _stopped(store, settle, Status.FAILED, note=str(e))
        raise
    except BaseException:
        with _ignoring_ctrl_c():
            _stopped(store, settle, Status.INTERRUPTED)
        raise


def _stopped(store: Store, settle: Callable[[], int | None], status: Status,
             note: str | None = None) -> int | None:
    campaign_id = settle()
    if campaign_id is None:
        return None
    summarise_stopped(store, campaign_id)
    if status == Status.FAILED:
        store.set_status(campaign_id, status, note=note, finished=True)
    else:
        store.set_status(campaign_id, status)
    return campaign_id


@contextmanager
def _ignoring_ctrl_c() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives Ctrl-C
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def summarise_stopped(store: Store, campaign_id: int) -> None:
    """The summary of a campaign cut short; what stopped it is the error to report, so a
    summary that cannot be made now is left to ``history`` to compute."""
    try:
        analysis.store_summary(store, campaign_id)
    except Exception:  # noqa: BLE001, S110 - the original error is being raised
        pass


class _Explorer:
    """Which mutants to try on exploratory cases: those equivalent on every case."""

    def __init__(self, recipes: tuple[Recipe, ...], enabled: bool):
        self.recipes = recipes
        self.enabled = enabled
        self.equivalent: dict[str, bool] = {}

    def task(self, m: Mutant) -> Exploration:
        return Exploration(m.id, m.function, m.function_source, self.recipes)


def evaluate_mutants(mutants: Sequence[Mutant], data: list[CaseData], settings: Settings,
                     spec: SubjectSpec, pool: Engine) -> list[TrialResult]:
    """Every mutant on every prepared case (``data``, with the original's gradients: see
    ``check_original``) in the engine's sandbox, as a campaign runs them but with nothing
    stored or explored: one ``TrialResult`` per (mutant, case, strategy, epsilon); a worker
    that dies or hangs costs its case a ``crashed`` or ``timeout`` trial."""
    trials: list[TrialResult] = []
    _run_mutants(mutants, _Shipped(data), Stored(), settings, spec, trials,
                 lambda force=False: None, None,
                 pool, _Explorer((), False), lambda mutant_id, found: None)
    return trials


def _explorations(store: Store, campaign_id: int | None, subject: Subject,
                  mutants: Sequence[Mutant] | _Making, settings: Settings,
                  done: Stored) -> _Explorer:
    explorer = _Explorer(explore.recipes(subject, settings.seed, settings.batches),
                         settings.explore)
    if settings.explore and done and campaign_id is not None and not isinstance(mutants,
                                                                                 _Making):
        # a resume: mutants finished before it, not yet explored
        pending = store.unexplored_equivalents(campaign_id)
        explorer.equivalent = {m.id: True for m in mutants if m.id in pending}
    return explorer


def _run_mutants(mutants: Sequence[Mutant] | _Making, shipped: _Shipped, done: Stored,
                 settings: Settings, spec: SubjectSpec, buffer: list[TrialResult],
                 flush: Callable[..., None], on_progress: ProgressCallback | None,
                 pool: Engine, explorer: _Explorer,
                 record: Callable[[str, str], None]) -> None:
    """Every mutant on every case (those ``done`` lacks), through the engine; ``mutants``
    is a list, or a new campaign's mutants as they are made (run batch by batch)."""
    checks = shipped.checks
    by_id: dict[str, Mutant] = {}
    remaining: dict[str, int] = {}
    detected: set[str] = set()
    every_case = tuple(checks)  # one tuple shared by every fresh task

    def task_of(m: Mutant) -> Any:
        by_id[m.id] = m
        missing = done.missing(m.id, every_case)
        if missing:
            remaining[m.id] = len(missing)
            explorer.equivalent.setdefault(m.id, True)
            return (m.id, m.function, m.function_source, missing)
        if explorer.equivalent.get(m.id) and explorer.enabled:
            return explorer.task(m)  # finished before a resume, not yet explored
        return None

    tasks: Iterable[Any]
    total: int | None
    if isinstance(mutants, _Making):
        tasks, total, finished = mutants.feed, None, 0
        # in this thread, as the engine takes each batch; and once the last is made, the
        # plan is stored at once (even while every worker is busy with one long mutant)
        mutants.feed.convert, mutants.feed.on_closed = task_of, flush
    else:
        tasks = [t for t in map(task_of, mutants) if t is not None]
        total, finished = len(mutants), len(mutants) - len(remaining)
        if on_progress:
            on_progress(ProgressEvent(finished, total, 0))
        if not tasks:
            return

    def progress() -> None:
        nonlocal total
        if total is None and isinstance(mutants, _Making) and mutants.done.is_set():
            total = len(mutants.mutants)  # every mutant made: the bar can show its end
        if on_progress:
            on_progress(ProgressEvent(finished, total, len(detected)))

    if isinstance(mutants, _Making):
        progress()  # the mutants start: the numerical sides and the original's check are done

    def deadline(task: Any) -> float:
        # The soft limit (SIGALRM in the worker) normally fires first; this hard one catches
        # code that blocks signals or hangs inside C.
        cases = len(task.recipes) if isinstance(task, Exploration) else len(task[3])
        return cases * settings.timeout * 2 + 2.0

    for event in pool.run((spec, shipped.take(), tolerances(settings), settings.timeout), tasks,
                          deadline):
        if isinstance(event.task, Exploration):
            found = event.result.hidden_by if isinstance(event, Done) else (
                f"exploration stopped: {event.detail}")
            record(event.task.mutant_id, found)
            continue
        mutant_id, function, source, indices = event.task
        if isinstance(event, Done) and isinstance(event.result, strategy.UserCheckFailed):
            raise event.result  # the user's own check broke: theirs to fix
        if isinstance(event, Done):
            results: list[TrialResult] = event.result
        elif len(indices) > 1:
            # Isolate: rerun case by case to find the one that kills or hangs the worker.
            for i in indices:
                pool.submit((mutant_id, function, source, (i,)))
            continue
        else:
            outcome = Outcome.TIMEOUT if event.reason == "hung" else Outcome.CRASHED
            results = _failed_trials(mutant_id, indices[0], checks[indices[0]], outcome,
                                     event.detail, deadline(event.task))
        buffer.extend(results)
        if any(r.outcome == Outcome.DETECTED for r in results):
            detected.add(mutant_id)
        if any(r.outcome != Outcome.EQUIVALENT for r in results):
            explorer.equivalent[mutant_id] = False
        remaining[mutant_id] -= len(indices)
        if remaining[mutant_id] == 0:
            if explorer.enabled and explorer.equivalent.get(mutant_id):
                pool.submit(explorer.task(by_id[mutant_id]))
            finished += 1
            progress()
        flush()
    if total is None:  # the total is known now: said once more
        progress()
