"""The user's own pytest tests as the check (run --pytest): verdicts equal to a fresh pytest
run per mutant, the mutant seen through ``from net import ...``, fixtures that do not carry
one mutant's values to the next, the user's files untouched, a red suite refused."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from seedcode import gradient_check_n

from mutagrad import analysis, campaign, mutation, subjects, usertests
from mutagrad.store import Store
from mutagrad.values import ORIGINAL, Settings

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "seednet"
SETTINGS = Settings(cases=2, jobs=2)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes (new files show up too)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _project(tmp_path: Path, tests: str | None = None, name: str = "project") -> Path:
    """The example (net.py and its two tests) copied; ``tests`` replaces its test file."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLE, folder)
    if tests is not None:
        (folder / "test_net.py").write_text(textwrap.dedent(tests))
    return folder


def _failing_tests(folder: Path) -> frozenset[str]:
    """A fresh ``pytest`` process on the folder as it is on disk: the tests that fail."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
                          "test_net.py"], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    return frozenset(re.findall(r"^(?:FAILED|ERROR) test_net\.py::(\S+)", ran.stdout,
                                re.MULTILINE))


def _naive_reference(tmp_path: Path, mutants: list[mutation.Mutant],
                     tests: str | None = None) -> dict[str, frozenset[str]]:
    """Each mutant written into a copy of the project (with ``tests`` as its test file) and
    run by a fresh pytest process (two copies, one per core); the tests that fail."""
    copies = [_project(tmp_path, tests, name=f"naive{i}") for i in range(2)]

    def run(i: int) -> dict[str, frozenset[str]]:
        found = {}
        for m in mutants[i::2]:
            (copies[i] / "net.py").write_text(m.source)
            found[m.id] = _failing_tests(copies[i])
        return found

    with ThreadPoolExecutor(2) as pool:
        return {k: v for part in pool.map(run, range(2)) for k, v in part.items()}


def _killed_by(store: Store, campaign_id: int) -> dict[str, frozenset[str]]:
    tests = store.test_outcomes(campaign_id)
    return {m.mutant_id: frozenset(t.test.rpartition("::")[2] for t in tests
                                   if t.mutant_id == m.mutant_id)
            for m in store.mutants(campaign_id)}


def test_every_verdict_equals_a_fresh_pytest_run_on_a_written_copy(tmp_path):
    project = _project(tmp_path)
    before = _snapshot(project)
    store = Store(str(tmp_path / "r.db"))
    campaign_id = usertests.start(store, str(project / "net.py"), SETTINGS,
                                  [str(project / "test_net.py")])
    assert _snapshot(project) == before  # no mutant, no __pycache__, no .pytest_cache
    mutants = mutation.mutants_of(subjects.load(str(project / "net.py")))
    assert len(mutants) == len(store.mutants(campaign_id)) > 100
    reference = _naive_reference(tmp_path, mutants)
    in_memory = _killed_by(store, campaign_id)
    assert in_memory == reference  # the same tests fail, for every mutant
    assert sum(bool(v) for v in reference.values()) > 50  # the comparison is not trivial
    report = analysis.report(store, campaign_id)
    for v in report.verdicts:
        assert (v.status == "detected") == bool(reference[v.mutant.mutant_id]), v


NAMES = """
    import numpy as np
    import net
    from net import SHAPES, backward_propagation_n, forward_propagation_n

    SEEN = []  # what the test module's name pointed at, per run


    def test_by_name():
        SEEN.append((backward_propagation_n, net.backward_propagation_n))
        rs = np.random.RandomState(1)
        X, Y = rs.randn(4, 3), np.array([1, 1, 0])
        params = {k: rs.randn(*s) for k, s in SHAPES.items()}
        _, cache = forward_propagation_n(X, Y, params)
        assert np.isfinite(backward_propagation_n(X, Y, cache)["dW1"]).all()
"""

# Runs the worker's code (the same calls the pool's workers make) in a fresh process, as
# the pool does: it prints what the test module saw and what both modules hold afterwards.
DRIVER = """
import json, sys
from mutagrad import mutation, subjects
from mutagrad.pytestrun import worker_init, worker_task
from mutagrad.values import ORIGINAL
net_py, test_py, root = sys.argv[1:4]
subject = subjects.load(net_py)
session = worker_init(subjects.parse_spec(net_py), [test_py], root, [subject.case()])
assert session.problem is None, session.problem
worker_task(session, ORIGINAL)
net, test = sys.modules["net"], sys.modules["test_net"]
original = net.backward_propagation_n
mutants = mutation.mutants_of(subject)[:5]
after = []
for m in mutants:
    worker_task(session, (m.id, m.function, m.function_source))
    after.append([net.backward_propagation_n is original,
                  test.backward_propagation_n is original])
seen = [[a is original, b is original, a is b, a.__wrapped__.__code__.co_filename
         if hasattr(a, "__wrapped__") else None] for a, b in test.SEEN]
print(json.dumps({"after": after, "seen": seen, "ids": [m.id for m in mutants]}))
"""


def test_a_test_that_imported_the_backward_by_name_sees_each_mutant_then_the_original(tmp_path):
    project = _project(tmp_path, NAMES)
    ran = subprocess.run([sys.executable, "-c", DRIVER, str(project / "net.py"),
                          str(project / "test_net.py"), str(project)],
                         capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    # the original's run saw the original; each mutant's run saw that mutant, under both
    # names (the test module's own and the module's attribute)
    assert found["seen"][0] == [True, True, True, None]
    assert [s[:3] for s in found["seen"][1:]] == [[False, False, True]] * 5
    assert [s[3] for s in found["seen"][1:]] == [f"<mutant {i}>" for i in found["ids"]]
    # after each mutant, both modules hold the original function again
    assert found["after"] == [[True, True]] * 5


CACHED = """
    import numpy as np
    import pytest
    from net import SHAPES, backward_propagation_n, forward_propagation_n


    @pytest.fixture(scope="module")
    def network():
        rs = np.random.RandomState(1)
        X, Y = rs.randn(4, 3), np.array([1, 1, 0])
        params = {k: rs.randn(*s) for k, s in SHAPES.items()}
        _, cache = forward_propagation_n(X, Y, params)
        return X, Y, params, backward_propagation_n(X, Y, cache)  # cached for the module


    def numerical(X, Y, params, key, eps=1e-6):
        grad = np.zeros_like(params[key])
        for i in np.ndindex(*grad.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][i] += eps
            minus[key][i] -= eps
            grad[i] = (forward_propagation_n(X, Y, plus)[0]
                       - forward_propagation_n(X, Y, minus)[0]) / (2 * eps)
        return grad


    @pytest.mark.parametrize("key", list(SHAPES))
    def test_gradient(network, key):
        X, Y, params, grads = network
        assert np.allclose(grads["d" + key], numerical(X, Y, params, key), atol=1e-6)
"""


def test_a_module_scoped_fixture_is_computed_from_each_mutant_not_kept_from_another(tmp_path):
    project = _project(tmp_path, CACHED)
    store = Store(str(tmp_path / "r.db"))
    settings = Settings(cases=1, jobs=2, categories=("sign",))
    campaign_id = usertests.start(store, str(project / "net.py"), settings,
                                  [str(project / "test_net.py")])
    subject = subjects.load(str(project / "net.py"))
    mutants = mutation.mutants_of(subject, ["sign"])
    reference = _naive_reference(tmp_path, mutants, CACHED)
    assert _killed_by(store, campaign_id) == reference
    # had the fixture kept the original's (or an earlier mutant's) gradients, every mutant
    # after the first would pass; they are caught, each by the tests of its own gradient
    assert sum(bool(v) for v in reference.values()) == len(mutants)
    assert len(set(reference.values())) > 1  # different mutants, different failing tests


WEAK = """
    import numpy as np
    from net import SHAPES, backward_propagation_n, forward_propagation_n


    def test_last_layer_only():
        rng = np.random.default_rng(3)
        X, Y = rng.standard_normal((4, 5)), rng.integers(0, 2, size=(1, 5))
        params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
        _, cache = forward_propagation_n(X, Y, params)
        grads = backward_propagation_n(X, Y, cache)
        eps = 1e-6
        for i in np.ndindex(*SHAPES["W3"]):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus["W3"][i] += eps
            minus["W3"][i] -= eps
            numeric = (forward_propagation_n(X, Y, plus)[0]
                       - forward_propagation_n(X, Y, minus)[0]) / (2 * eps)
            assert abs(grads["dW3"][i] - numeric) < 1e-6
"""


def test_survivors_split_into_real_bugs_and_equivalents_by_their_true_error(tmp_path, capsys):
    project = _project(tmp_path, WEAK)
    store = Store(str(tmp_path / "r.db"))
    campaign_id = usertests.start(store, str(project / "net.py"), SETTINGS,
                                  [str(project / "test_net.py")])
    report = analysis.report(store, campaign_id)
    found = usertests.kills(store, report)
    assert found.missed and found.equivalent  # a test of dW3 only misses the other layers
    subject = subjects.load(str(project / "net.py"))
    by_id = {m.id: m for m in mutation.mutants_of(subject)}
    cases = campaign.build_cases(subject, SETTINGS)  # the campaign's inputs
    for verdicts, real in ((found.missed, True), (found.equivalent, False)):
        for v in verdicts:
            # independently: the mutant's whole file, executed, against the original's
            # gradient on the same cases
            namespace: dict = {}
            code = compile(by_id[v.mutant.mutant_id].source, "mutant.py", "exec")
            exec(code, namespace)  # noqa: S102 - the mutant's file, as a user would run it
            worst = max(_mutant_vs_original(namespace, subject, case) for case in cases)
            assert (worst > 1e-10) == real, (v.mutant.mutant_id, worst)
    ran = run_cli(capsys, "results", str(campaign_id), "--db", str(tmp_path / "r.db"))
    assert f"{len(found.missed)} real bugs your tests miss" in ran.out
    assert "test_last_layer_only" in ran.out


def _mutant_vs_original(namespace, subject, case):
    X, Y = case.data["X"], case.data["Y"]
    params = {k: np.array(v) for k, v in case.params.items()}
    _, cache = namespace["forward_propagation_n"](X, Y, params)
    try:
        mutant = namespace["backward_propagation_n"](X, Y, cache)
        got = np.concatenate([np.ravel(mutant["d" + k]) for k in subject.param_names])
    except Exception:  # noqa: BLE001 - a crash on the case is a real bug there
        return np.inf
    grads = subject.gradients(subject.backward, case)
    want = np.concatenate([np.ravel(grads[k]) for k in subject.param_names])
    if got.shape != want.shape:
        return np.inf
    return float(np.linalg.norm(got - want) / (np.linalg.norm(got) + np.linalg.norm(want)))


def test_the_example_tests_are_the_seeds_check(tmp_path):
    """The example's test file computes the seed's difference: the same number as the
    exercise's own gradient_check_n (tests/seedcode.py) on the exercise's case."""
    # another test's net.py may be imported already: this one is the example's
    saved = {n: sys.modules.pop(n) for n in ("net", "test_net") if n in sys.modules}
    sys.path.insert(0, str(EXAMPLE))
    try:
        import net
        import test_net
        rs = np.random.RandomState(1)
        X, Y = rs.randn(4, 3), np.array([1, 1, 0])
        params = {k: rs.randn(*s) for k, s in net.SHAPES.items()}
        _, cache = net.forward_propagation_n(X, Y, params)
        grads = net.backward_propagation_n(X, Y, cache)
        seed = gradient_check_n(params, grads, X, Y, net.forward_propagation_n)
        assert test_net.gradient_check_n(params, X, Y) == pytest.approx(seed, rel=1e-6)
    finally:
        sys.path.remove(str(EXAMPLE))
        sys.modules.pop("net", None)
        sys.modules.pop("test_net", None)
        sys.modules.update(saved)


RED = """
    from net import backward_propagation_n


    def test_passes():
        assert callable(backward_propagation_n)


    def test_fails_on_the_original():
        assert backward_propagation_n is None
"""


def test_a_red_suite_stops_the_campaign_in_one_line_before_any_mutant(tmp_path, capsys):
    project = _project(tmp_path, RED)
    db = tmp_path / "r.db"
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest",
                  str(project / "test_net.py"), "--jobs", "1", "--db", str(db))
    assert ran.code == 1
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert "1 of your 2 tests fail on the original" in ran.err
    assert "test_fails_on_the_original" in ran.err and "Traceback" not in ran.err
    assert not db.exists()  # this run created the store and stored nothing: none is left
    Store(str(db)).close()  # a store that exists keeps the failed campaign and its note
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest",
                  str(project / "test_net.py"), "--jobs", "1", "--db", str(db))
    assert ran.code == 1
    store = Store(str(db))
    assert store.trials(1) == [] and store.campaign(1).status == "failed"


ARRAY_IN_ASSERT = """
    import numpy as np
    from net import SHAPES, backward_propagation_n, forward_propagation_n


    def test_array_in_the_first_line():
        rs = np.random.RandomState(1)
        X, Y = rs.randn(4, 3), np.array([1, 1, 0])
        params = {k: rs.randn(*s) for k, s in SHAPES.items()}
        _, cache = forward_propagation_n(X, Y, params)
        assert backward_propagation_n(X, Y, cache)["dW1"] is None
"""


def test_a_failed_assert_shows_an_array_by_its_shape(tmp_path):
    """pytest's assertion message names each value of the expression; the workers show an
    array by its shape and dtype (formatting each one cost more than many a test)."""
    project = _project(tmp_path, ARRAY_IN_ASSERT)
    store = Store(str(tmp_path / "r.db"))
    with pytest.raises(usertests.RedSuite) as red:
        usertests.start(store, str(project / "net.py"), Settings(cases=1, jobs=1),
                        [str(project / "test_net.py")])
    shape = np.shape(subjects.load(str(project / "net.py")).case().params["W1"])
    assert f"assert array(shape={shape}, dtype=float64) is None" in str(red.value)


def test_tests_that_cannot_run_are_bad_input_in_one_line(tmp_path, capsys):
    project = _project(tmp_path, "import no_such_module\n")
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest",
                  str(project / "test_net.py"), "--jobs", "1")
    assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.err
    assert "collecting the tests failed" in ran.err and "no_such_module" in ran.err
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest", "no/such/tests.py")
    assert ran.code == 2 and "no test file or folder no/such/tests.py" in ran.err
    elsewhere = _project(tmp_path, "def test_nothing():\n    pass\n", name="unrelated")
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest",
                  str(elsewhere / "test_net.py"), "--jobs", "1")
    assert ran.code == 2 and "never import" in ran.err, ran.err


def test_run_and_results_show_what_each_test_kills_as_json(tmp_path, capsys, monkeypatch):
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    (project / "pyproject.toml").write_text('[tool.mutagrad]\npytest = ["test_net.py"]\n')
    before = _snapshot(project)
    ran = run_cli(capsys, "run", "net.py", "--own-tests", "--cases", "1", "--category", "sign",
                  "--jobs", "2", "--json", "--db", str(tmp_path / "r.db"))
    assert ran.code == 0, ran.err
    assert _snapshot(project) == before
    found = json.loads(ran.out)
    assert found["strategy"] == "pytest"
    kills = {t["test"].rpartition("::")[2]: t["kills"] for t in found["tests"]["tests"]}
    assert set(kills) == {"test_gradient_check_exercise_case", "test_gradient_check_batch_of_six"}
    detected = [m for m in found["mutants"] if m["status"] == "detected"]
    assert max(kills.values()) == len(detected) == len(found["tests"]["killed_by"]) > 0
    store = Store(str(tmp_path / "r.db"))
    assert {t.outcome for t in store.test_outcomes(1) if t.mutant_id == ORIGINAL} == {"passed"}


def _verdicts(store: Store, campaign_id: int) -> dict[str, str]:
    return {v.mutant.mutant_id: v.status for v in analysis.report(store, campaign_id).verdicts}


def test_a_package_module_shared_by_mutagrad_and_the_tests_gets_the_mutants(tmp_path):
    """A file inside a package is imported once, as seednet_pkg.net, by mutagrad and the
    tests alike: the mutants go into that one module, and the verdicts are the flat
    example's."""
    flat = _project(tmp_path)
    packaged = tmp_path / "packaged"
    package = packaged / "seednet_pkg"  # a name no other test's package takes
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(flat / "net.py", package / "net.py")
    (packaged / "test_net.py").write_text(
        (flat / "test_net.py").read_text().replace("from net import",
                                                   "from seednet_pkg.net import"))
    store = Store(str(tmp_path / "r.db"))
    settings = Settings(cases=1, jobs=2, categories=("sign",))
    a = usertests.start(store, str(flat / "net.py"), settings, [str(flat / "test_net.py")])
    b = usertests.start(store, str(package / "net.py"), settings,
                        [str(packaged / "test_net.py")])
    assert _verdicts(store, a) == _verdicts(store, b)
    assert "detected" in _verdicts(store, b).values()


def test_an_interrupted_campaign_of_your_tests_resumes_to_the_same_verdicts(tmp_path, capsys):
    import sqlite3

    project = _project(tmp_path)
    db = tmp_path / "r.db"
    ran = run_cli(capsys, "run", str(project / "net.py"), "--pytest",
                  str(project / "test_net.py"), "--category", "sign,activation", "--cases", "1",
                  "--jobs", "2", "--db", str(db))
    assert ran.code == 0, ran.err
    store = Store(str(db))
    before, kills = _verdicts(store, 1), store.test_outcomes(1)
    dropped = sorted(before)[::2]
    with sqlite3.connect(db) as c:  # as if killed before these mutants were stored
        marks = ",".join("?" * len(dropped))
        c.execute(f"delete from trials where mutant_id in ({marks})", dropped)
        c.execute(f"delete from test_kills where mutant_id in ({marks})", dropped)
        # and their arrays, which a campaign writes only for the trials it stored
        c.execute(f"delete from mutant_checks where mutant_id in ({marks})", dropped)
        c.execute("update campaigns set status = 'interrupted', finished_at = null")
    assert set(_verdicts(store, 1).values()) >= {"pending"}
    ran = run_cli(capsys, "run", "--resume", "1", "--db", str(db))
    assert ran.code == 0, ran.err
    assert _verdicts(store, 1) == before and store.test_outcomes(1) == kills


SKIPPING = """
    import pytest
    from net import backward_propagation_n


    @pytest.mark.skip(reason="not today")
    def test_skipped():
        assert backward_propagation_n is None


    def test_runs():
        assert callable(backward_propagation_n)
"""


def test_a_skipped_test_is_no_kill_nor_a_red_suite(tmp_path):
    project = _project(tmp_path, SKIPPING)
    store = Store(str(tmp_path / "r.db"))
    campaign_id = usertests.start(store, str(project / "net.py"),
                                  Settings(cases=1, jobs=1, categories=("sign",)),
                                  [str(project / "test_net.py")])
    outcomes = {t.test.rpartition("::")[2]: t.outcome for t in store.test_outcomes(campaign_id)
                if t.mutant_id == ORIGINAL}
    assert outcomes == {"test_skipped": "skipped", "test_runs": "passed"}
    assert not [t for t in store.test_outcomes(campaign_id) if t.mutant_id != ORIGINAL]
    assert "detected" not in _verdicts(store, campaign_id).values()


HANGS_OR_DIES = """
    import os

    import numpy as np
    from net import SHAPES, backward_propagation_n, forward_propagation_n


    def test_db3_or_hang_or_die():
        rs = np.random.RandomState(1)
        X, Y = rs.randn(4, 3), np.array([1, 1, 0])
        params = {k: rs.randn(*s) for k, s in SHAPES.items()}
        _, cache = forward_propagation_n(X, Y, params)
        expected = np.mean(cache[9] - Y)  # db3 = mean(A3 - Y)
        db3 = backward_propagation_n(X, Y, cache)["db3"].item()
        if db3 > expected + 1e-12:
            while True:  # a test that hangs on this bug
                pass
        if db3 < expected - 1e-12:
            os._exit(3)  # a test that kills its process on this one
"""


def _db3_of(source: str) -> tuple[float, float]:
    """The mutant's db3 on the test's case, and the original's (mean(A3 - Y))."""
    namespace: dict = {}
    exec(compile(source, "mutant.py", "exec"), namespace)  # noqa: S102 - the mutant's file
    rs = np.random.RandomState(1)
    X, Y = rs.randn(4, 3), np.array([1, 1, 0])
    params = {k: rs.randn(*s) for k, s in namespace["SHAPES"].items()}
    _, cache = namespace["forward_propagation_n"](X, Y, params)
    return float(namespace["backward_propagation_n"](X, Y, cache)["db3"].item()), float(
        np.mean(cache[9] - Y))


def test_a_run_that_hangs_is_a_timeout_and_one_that_dies_is_crashed(tmp_path):
    project = _project(tmp_path, HANGS_OR_DIES)
    store = Store(str(tmp_path / "r.db"))
    settings = Settings(cases=1, jobs=2, categories=("sign",), timeout=3.0)
    campaign_id = usertests.start(store, str(project / "net.py"), settings,
                                  [str(project / "test_net.py")])
    found = {m: s if s in ("timeout", "crashed") else "survived"
             for m, s in _verdicts(store, campaign_id).items()}
    subject = subjects.load(str(project / "net.py"))
    expected = {}
    for m in mutation.mutants_of(subject, ["sign"]):
        db3, want = _db3_of(m.source)
        expected[m.id] = ("timeout" if db3 > want + 1e-12 else "crashed" if db3 < want - 1e-12
                          else "survived")
    assert found == expected
    assert {"timeout", "crashed", "survived"} <= set(found.values())


SCRIPT = """
import os

with open(os.environ["MARKS"], "a") as marks:  # one line each time this file runs
    marks.write(__name__ + "\\n")
from mutagrad.cli import main

if __name__ == "__main__":
    main()
"""


def test_the_console_script_is_not_run_again_in_each_worker(tmp_path):
    """The `mutagrad` console script is a file run as __main__; multiprocessing runs such a
    file again in each worker it starts (importing the whole CLI there) unless told not
    to. A script that notes each of its runs is run once, by its own process."""
    project = _project(tmp_path)
    script, marks = tmp_path / "mutagrad_script.py", tmp_path / "marks.txt"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
           "MARKS": str(marks)}
    ran = subprocess.run([sys.executable, str(script), "run", "net.py", "--pytest",
                          "test_net.py", "--category", "sign", "--cases", "1", "--jobs", "2",
                          "--db", str(tmp_path / "r.db")], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert ran.returncode == 0, ran.stderr
    assert marks.read_text().splitlines() == ["__main__"]


PRELOAD = """
import json, sys
from importlib.metadata import entry_points

import mutagrad.pytestpreload
from _pytest.assertion.rewrite import AssertionRewritingHook
from mutagrad.pytestrun import PYTEST_OPTIONS

blocked = {o[3:] for o in PYTEST_OPTIONS if o.startswith("no:")}
plugins = {e.module for e in entry_points(group="pytest11") if e.name not in blocked}
print(json.dumps({"missing": sorted(plugins - set(sys.modules)),
                  "hooks": [type(h).__name__ for h in sys.meta_path
                            if isinstance(h, AssertionRewritingHook)],
                  "user": [m for m in ("net", "test_net", "conftest") if m in sys.modules]}))
"""


def test_the_fork_server_preloads_pytest_and_its_plugins_and_nothing_of_the_users(tmp_path):
    """What the fork server of a --pytest pool imports once for all its workers: pytest's
    plugins and the installed ones, with no import hook left behind, no file of the
    user's imported (it runs in the user's folder), nothing printed on stdout."""
    project = _project(tmp_path)
    (project / "conftest.py").write_text("raise SystemExit('a conftest ran')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    before = _snapshot(project)
    ran = subprocess.run([sys.executable, "-c", PRELOAD], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(ran.stdout) == {"missing": [], "hooks": [], "user": []}
    assert _snapshot(project) == before
