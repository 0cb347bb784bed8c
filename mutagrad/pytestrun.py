"""The user's own pytest tests as the check, in a worker process: one pytest session per
worker, its tests collected once, re-run for each mutant with the mutant swapped in.

A worker starts pytest in-process as ``pytest.main`` would (``_prepareconfig``, configure,
session start, collection) but drives the run loop itself: per mutant it calls
``_pytest.runner.runtestprotocol(item, log=False, nextitem=...)`` on every collected item,
as pytest-rerunfailures re-runs an item, with the last item's ``nextitem=None``.

What is kept from one mutant to the next, and what is not:

- every fixture, of every scope (function, class, module, package, session), is set up
  during one mutant's run and torn down at its end (the last item is run with
  ``nextitem=None``, which tears the whole setup stack down). A module-scoped fixture that
  caches the network's gradients is computed again for each mutant, from that mutant: no
  mutant is judged by another's cached value. Within one mutant's run fixtures are shared
  as in any pytest run;
- what the test modules keep at module level (a global dict filled by a test,
  ``functools.lru_cache`` on a helper) is kept, as it would be between two tests of one
  run: a test that caches the backward's results in a module global is judged on the
  cache. Use fixtures for that;
- item state (``funcargs``, the fixture request) is rebuilt for every run by
  ``runtestprotocol``; reports are not logged, so pytest's session counters, ``-x`` and
  ``--lf`` never carry a failure over.

The mutant is swapped in by name: the function is replaced on every loaded module that
holds it (the user's module, and every test module that did ``from net import backward``),
a method on its class; helpers are rebound as for any mutant (``mutation.bind``); all of it
is put back after each mutant, before the next. Nothing is written to disk: bytecode
writing is off in the worker (no ``__pycache__``, no rewritten-assertion ``.pyc``), and
pytest's cache plugin is not loaded (no ``.pytest_cache``).
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mutagrad.gradcheck import check_layout, flatten, norm, relative_difference_to
from mutagrad.loader import PRIVATE_PREFIX
from mutagrad.mutation import bind
from mutagrad.mutation.methods import installed, is_method, qualname
from mutagrad.precision import equivalence_floor
from mutagrad.subject import Case, Subject
from mutagrad.values import ORIGINAL, Outcome, TestOutcome, classify

# pytest's own options for the worker's session: nothing written into the user's project
# (pytest's cache, pytest-benchmark's .benchmarks), no xdist taking the run loop over, no
# random reordering; a failure's traceback is not rendered (the crash line is kept); the
# tests' output is not captured (it goes to the worker's /dev/null: capturing it cost each
# test a few file operations per phase; capsys and capfd still capture)
PYTEST_OPTIONS = ("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
                  "-p", "no:benchmark", "--tb=line", "-q", "--capture=no")


KILLS = ("failed", "error")  # a test's outcomes that kill a mutant (not passed, skipped)


@dataclass(frozen=True)
class SuiteRun:
    """One run of the selected tests against a mutant (or the original).

    ``tests`` holds every test that did not pass (failed, or errored in setup or
    teardown), or, for the original, every test with its outcome. ``true_errors``, for a
    mutant every test passes, is per campaign case ``(case index, true error or None,
    outcome, error)``: ``missed`` (a real bug there) or ``equivalent``. ``problem`` is why
    the tests could not run at all (a collection error, nothing selected).
    """

    mutant_id: str
    tests: tuple[TestOutcome, ...]
    ran: int
    elapsed: float
    true_errors: tuple[tuple[int, float | None, str, str | None], ...] = ()
    problem: str | None = None

    @property
    def killed(self) -> bool:
        return any(t.outcome in KILLS for t in self.tests)


@dataclass(eq=False)  # pluggy keeps plugins in a set: hashed by identity
class _Recorder:
    """The pytest plugin of a worker's session: it records collection failures, and
    reports a failed test as one line (where and why) instead of rendering its traceback,
    which would cost more than many a test (most mutants fail a test)."""

    errors: list[str] = field(default_factory=list)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or 'collection'}: {_first_line(report)}")

    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:  # tryfirst: _collect
        from _pytest.outcomes import skip
        from _pytest.reports import TestReport

        excinfo = call.excinfo
        if excinfo is None or excinfo.errisinstance(skip.Exception):
            return None  # a pass or a skip: pytest's own report, which renders nothing
        last = excinfo.tb  # the innermost frame, without pytest's Traceback of them all
        while last.tb_next is not None:
            last = last.tb_next
        message = excinfo.exconly().strip().splitlines()
        line = (f"{Path(last.tb_frame.f_code.co_filename).name}:{last.tb_lineno}: "
                f"{message[0] if message else ''}")
        return TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords},
                          "failed", line[:500], call.when, [], call.duration, call.start,
                          call.stop, item.user_properties)


@dataclass
class Session:
    """A worker's state: the subject, the collected items, the modules the mutant goes in."""

    subject: Subject
    cases: list[Case]
    originals: list[np.ndarray]
    items: list[Any] = field(default_factory=list)
    homes: list[ModuleType] = field(default_factory=list)  # modules defining the backward
    holders: list[tuple[Any, str, Any]] = field(default_factory=list)  # (object, name, fn)
    scanned: set[str] = field(default_factory=set)
    problem: str | None = None


def preload() -> None:
    """Import what every worker's session imports, once, in the pool's fork server (see
    ``mutagrad.pytestpreload``): pytest, its own plugins and the installed ones (entry
    points ``pytest11``, with their assertions rewritten as pytest does), numpy and
    mutagrad's modules. Each worker forked from it then starts with them loaded instead of
    importing them again (on the example's machine, with anyio's plugin, 3 s of each
    worker's start on a loaded machine).

    A configuration is parsed on an empty folder (no conftest, no ini file, nothing of the
    user's imported) and dropped unconfigured: no plugin's ``pytest_configure`` runs here.
    Never raises (the workers then import what is missing themselves); prints nothing on
    stdout (the fork server shares the command's).
    """
    import tempfile
    import warnings

    try:
        from _pytest import main as _main  # noqa: F401 - imported for the workers
        from _pytest import runner as _runner  # noqa: F401
        from _pytest.config import _prepareconfig

        from mutagrad import subjects  # noqa: F401 - what worker_init imports

        with (tempfile.TemporaryDirectory() as empty, redirect_stdout(sys.stderr),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            ini = Path(empty, "pytest.ini")
            ini.write_text("[pytest]\n")
            config = _prepareconfig([*PYTEST_OPTIONS, "--noconftest", "-c", str(ini),
                                     "--rootdir", empty, empty])
            config._ensure_unconfigure()  # its import hook out of sys.meta_path, fds back
    except Exception:  # noqa: BLE001, S110 - a plugin may raise anything: the workers will
        pass


def worker_init(spec: Any, tests: Sequence[str], rootdir: str,
                cases: Sequence[Case]) -> Session:
    """Load the subject, start pytest on ``tests`` (absolute node ids) from ``rootdir``,
    collect once. Never raises: what went wrong is the session's ``problem``, reported by
    the first task."""
    from mutagrad import subjects

    sys.dont_write_bytecode = True  # no __pycache__ nor rewritten .pyc beside the user's files
    subject = subjects.load(spec)
    originals = [flatten(subject.gradients(subject.backward, c), subject.param_names)
                 .astype(np.float64) for c in cases]
    session = Session(subject, list(cases), originals)
    try:
        session.items, session.problem = _collect(tests, rootdir)
        if session.problem is None:
            # mutagrad's private import of a lone file is no test's: the mutants go into
            # the imports of the file that the tests made (a package's module is shared)
            session.homes = [m for m in _homes(subject)
                             if not m.__name__.startswith(PRIVATE_PREFIX)]
            if not session.homes:
                session.problem = (f"the selected tests never import "
                                   f"{inspect.getsourcefile(subject.backward)}: the mutants of "
                                   f"{qualname(subject.backward)} cannot reach them")
    except ModuleNotFoundError as e:
        session.problem = (f"pytest could not start: {e}" + (
            " (pytest is not installed here: pip install pytest)"
            if (e.name or "").lstrip("_").startswith("pytest") else ""))
    except Exception as e:  # noqa: BLE001 - pytest or a conftest may raise anything here
        session.problem = f"pytest could not start: {type(e).__name__}: {e}"
    return session


def _collect(tests: Sequence[str], rootdir: str) -> tuple[list[Any], str | None]:
    from _pytest.config import _prepareconfig
    from _pytest.main import Session as PytestSession
    from pluggy import HookimplMarker

    # our one-line report goes before pytest's own (marked here: pytest is imported only
    # in the workers)
    HookimplMarker("pytest")(tryfirst=True)(_Recorder.pytest_runtest_makereport)
    _short_arrays()
    os.chdir(rootdir)  # node ids and the rootdir are found from here, as for `pytest` there
    recorder = _Recorder()
    with redirect_stdout(sys.stderr):
        config = _prepareconfig([*PYTEST_OPTIONS, *tests], plugins=[recorder])
        config._do_configure()
        pytest_session = PytestSession.from_config(config)
        config.hook.pytest_sessionstart(session=pytest_session)
        config.hook.pytest_collection(session=pytest_session)
    if recorder.errors:
        return [], f"collecting the tests failed: {recorder.errors[0]}"
    if not pytest_session.items:
        return [], f"no test collected from {' '.join(tests)}"
    return list(pytest_session.items), None


def _short_arrays() -> None:
    """In this worker, pytest's assertion messages show a numpy array of more than one
    element as ``array(shape=(5, 4), dtype=float64)``, not its values.

    A failed ``assert check(parameters, X, Y) < 2e-7`` has pytest format every value of
    the expression (each array of ``parameters``, ``X``, ``Y``) for the message's
    explanation; numpy's formatting of a 5x4 array costs about 0.3 ms, so that most
    mutants (they fail a test) cost more in messages than in the test. Only the message's
    first line is kept (``assert 0.33 < 2e-07``), where the compared values are mostly
    numbers; an array there is shown by its shape. Verdicts are not affected.
    """
    from _pytest._io.saferepr import SafeRepr

    def repr_ndarray(self: SafeRepr, x: np.ndarray, level: int) -> str:
        if x.size > 1:
            return f"array(shape={x.shape}, dtype={x.dtype})"
        return SafeRepr.repr_instance(self, x, level)

    # reprlib dispatches on the type's name: repr_ndarray, else repr_instance
    SafeRepr.repr_ndarray = repr_ndarray  # type: ignore[attr-defined]


def _homes(subject: Subject) -> list[ModuleType]:
    """Every loaded module made from the backward's file: mutagrad's import of it, and the
    one the tests imported (``import net`` loads the same file under another name).

    The same file is the same inode (through symbolic links too): one ``stat`` per loaded
    module, where resolving every module's path cost a worker a quarter of a second."""
    try:
        home = os.stat(inspect.getsourcefile(subject.backward) or "")
    except OSError:  # no file (the tests then "never import" it)
        return []
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str):
            continue
        try:
            same = os.path.samestat(os.stat(file), home)
        except OSError:  # a module of a zip, a file gone since
            continue
        if same:
            found.append(module)
    return found


def _functions_of(subject: Subject, module: ModuleType) -> Subject:
    """The subject with its backward and helpers taken from ``module`` (one import of the
    backward's file), so a mutant bound from it reads that module's globals."""
    def same(fn: Callable[..., Any]) -> Callable[..., Any]:
        owner, _, name = qualname(fn).rpartition(".")
        value = getattr(getattr(module, owner), name) if owner else getattr(module, name)
        return getattr(value, "__func__", value)

    return replace(subject, backward=same(subject.backward),
                   helpers=tuple(same(h) for h in subject.helpers))


def _scan(session: Session) -> None:
    """Find, in the modules loaded since the last scan, every module attribute that is one
    of the mutated functions (``from net import backward`` made one in the test module)."""
    if len(sys.modules) == len(session.scanned):
        return  # nothing imported since: the common case, per mutant
    originals = {id(fn): fn for home in session.homes
                 for fn in _mutable(_functions_of(session.subject, home))}
    for name, module in list(sys.modules.items()):
        if name in session.scanned:
            continue
        session.scanned.add(name)
        try:
            attributes = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in attributes:
            if id(value) in originals and value is originals[id(value)]:
                session.holders.append((module, attr, value))


def _mutable(subject: Subject) -> list[Callable[..., Any]]:
    return [fn for fn in (subject.backward, *subject.helpers) if not is_method(fn)]


@contextmanager
def _swapped(session: Session, function: str, source: str,
             mutant_id: str) -> Iterator[Callable[..., Any]]:
    """The mutant of ``function`` in place of the original on every module that holds it
    by name (and, for methods, on their classes) for the block; the originals after it.
    Yields the mutant's backward (bound in the first module the tests imported)."""
    replacements: dict[int, Any] = {}
    entries = []
    with ExitStack() as stack:
        for home in session.homes:
            mine = _functions_of(session.subject, home)
            backward = bind(mine, function, source, f"<mutant {mutant_id}>")
            stack.enter_context(installed(backward))  # methods, on their classes
            namespace = backward.__wrapped__.__globals__  # type: ignore[attr-defined]
            for fn in _mutable(mine):
                replacements[id(fn)] = backward if fn is mine.backward else namespace[fn.__name__]
            entries.append(backward)
        swapped = []
        try:
            for holder, attr, fn in session.holders:
                setattr(holder, attr, replacements[id(fn)])
                swapped.append((holder, attr, fn))
            yield entries[0]
        finally:
            for holder, attr, fn in reversed(swapped):
                setattr(holder, attr, fn)


def run_tests(session: Session, mutant_id: str) -> tuple[list[TestOutcome], int]:
    """Every collected item once, as one pytest run: fixtures of every scope are torn down
    after the last item. Returns each test's outcome and how many ran."""
    from _pytest.runner import runtestprotocol

    outcomes = []
    items = session.items
    with redirect_stdout(sys.stderr):
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            reports = runtestprotocol(item, log=False, nextitem=nextitem)
            failed = next((r for r in reports if r.failed), None)
            if failed is None:  # a skip (or an xfail that failed) is no kill, as in pytest
                outcome = "skipped" if any(r.skipped for r in reports) else "passed"
                outcomes.append(TestOutcome(mutant_id, item.nodeid, outcome, None))
            else:
                outcomes.append(TestOutcome(mutant_id, item.nodeid, "failed" if failed.when == "call"
                                            else "error", _first_line(failed)))
    return outcomes, len(items)


def _first_line(report: Any) -> str:
    """Where and why a test failed, one line: ``test_net.py:41: assert 0.31 < 2e-07``."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return str(report.longrepr).strip().splitlines()[-1][:500] if report.longrepr else ""
    message = crash.message.strip().splitlines()[0] if crash.message.strip() else ""
    return f"{Path(crash.path).name}:{crash.lineno}: {message}"[:500]


def worker_task(session: Session, task: Any) -> SuiteRun:
    """Run the selected tests against one mutant ``(mutant_id, function, source)``, or the
    original (``ORIGINAL``); for a mutant every test passes, its true error on each case."""
    start = time.perf_counter()
    if session.problem is not None:
        return SuiteRun(ORIGINAL if task == ORIGINAL else task[0], (), 0, 0.0,
                        problem=session.problem)
    _scan(session)  # modules the tests imported lazily, during an earlier run
    if task == ORIGINAL:
        outcomes, ran = run_tests(session, ORIGINAL)
        return SuiteRun(ORIGINAL, tuple(outcomes), ran, time.perf_counter() - start)
    mutant_id, function, source = task
    with _swapped(session, function, source, mutant_id) as backward:
        outcomes, ran = run_tests(session, mutant_id)
        failed = tuple(t for t in outcomes if t.outcome in KILLS)
        errors = () if failed else true_errors(session, backward)
    return SuiteRun(mutant_id, failed, ran, time.perf_counter() - start, errors)


def true_errors(session: Session, backward: Callable[..., Any]
                ) -> tuple[tuple[int, float | None, str, str | None], ...]:
    """A surviving mutant's true error on each campaign case (the relative difference
    between its gradient and the original's, as ``trial.evaluate`` measures it), and
    whether it is a real bug there (``missed``) or not one (``equivalent``: at the floor of
    rounding, ``values.classify``). A mutant that fails on a case is a real bug there."""
    subject = session.subject
    found: list[tuple[int, float | None, str, str | None]] = []
    for index, (case, original) in enumerate(zip(session.cases, session.originals)):
        try:
            grads = subject.gradients(backward, case)
            check_layout(grads, subject.param_names,
                         tuple(np.shape(case.params[k]) for k in subject.param_names))
            flat = flatten(grads, subject.param_names).astype(np.float64)
            error = relative_difference_to(flat, original, norm(original))
        except Exception as e:  # noqa: BLE001 - a mutant may raise anything
            if not case.intact():
                case.restore()
            found.append((index, None, Outcome.MISSED.value, f"{type(e).__name__}: {e}"[:500]))
            continue
        if not math.isfinite(error):
            found.append((index, None, Outcome.MISSED.value, "NaN or inf in the gradient"))
            continue
        # the tests passed: for classify that is a difference at the tolerance, so a real
        # bug is "missed" and a mutant at the floor of rounding "equivalent"
        outcome = classify(0.0, error, 1.0, equivalence_floor(case.dtype))
        found.append((index, error, outcome.value, None))
    return tuple(found)

