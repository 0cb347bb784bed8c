"""Campaigns: faults isolated, every difference stored, interruption and resume, reads."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli

from mutagrad import analysis, campaign, gradcheck, mutation
from mutagrad.engine import Pool
from mutagrad.store import Store
from mutagrad.subjects import load
from mutagrad.trial import ORIGINAL

FAULTY = str(Path(__file__).parent / "faulty_subject.py")


def test_faults_each_get_their_own_outcome(tmp_path):
    store = Store(str(tmp_path / "f.db"))
    cid = campaign.start(store, FAULTY, campaign.Settings(cases=2, timeout=0.5, memory_mb=512,
                                                          jobs=2))
    status = {(v.mutant.original, v.mutant.replacement, v.mutant.line): v
              for v in analysis.report(store, cid).verdicts}
    source = Path(FAULTY).read_text().splitlines()
    by_flag = {}
    for (orig, repl, line), v in status.items():
        flag = source[line - 1].split("=")[0].strip()
        by_flag[flag] = v
    assert by_flag["hang"].status == "timeout"
    assert by_flag["stuck"].status == "timeout"  # blocks SIGALRM: the hard deadline kills it
    assert by_flag["boom"].status == "crashed" and "RuntimeError: boom" in by_flag["boom"].error
    assert by_flag["die"].status == "crashed" and "exit code 7" in by_flag["die"].error
    assert by_flag["nan"].status == "nonfinite"
    assert by_flag["wrong"].status == "shape"
    assert by_flag["huge"].status == "crashed" and "MemoryError" in by_flag["huge"].error
    assert by_flag["scribble"].status == "aliasing"  # its own outcome, never "crashed"
    assert "the backward writes into its input x" in by_flag["scribble"].error
    assert by_flag["dtheta"].status == "detected"
    assert store.campaign(cid).status == "finished"
    # every (mutant, case) has its trial, faults included
    trials = store.trials(cid)
    assert len(trials) == (len(status) + 1) * 2


def _seed_style_difference(subject, backward, case, eps):
    """Independent: a fresh numerical gradient per mutant, the way the seed does it."""
    numerical = gradcheck.numerical_gradient(subject, case, eps)
    return gradcheck.compare(subject.gradients(backward, case), numerical).difference


def test_stored_differences_equal_an_independent_check(tmp_path):
    store = Store(str(tmp_path / "c.db"))
    settings = campaign.Settings(cases=2, batches=(1, 5), epsilons=(1e-7, 1e-5),
                                 categories=("factor", "sign"), jobs=2)
    cid = campaign.start(store, "mlp3", settings)
    subject = load("mlp3")
    mutants = {m.id: m for m in mutation.mutants_of(subject, ["factor", "sign"])}
    cases = campaign.build_cases(subject, settings)
    trials = store.trials(cid)
    assert len(trials) == (len(mutants) + 1) * len(cases) * 2
    numeric = [t for t in trials if t.difference is not None]
    assert len(numeric) > 50
    for t in numeric[::5]:
        case = cases[t.case_index]
        backward = (subject.backward if t.mutant_id == ORIGINAL
                    else mutation.mutant_backward(subject, mutants[t.mutant_id]))
        want = _seed_style_difference(subject, backward, case, t.epsilon)
        assert t.difference == pytest.approx(want, rel=1e-12)
        if t.mutant_id != ORIGINAL:
            true = gradcheck.gradient_difference(subject.gradients(backward, case),
                                                 subject.gradients(subject.backward, case),
                                                 subject.param_names)
            assert t.true_error == pytest.approx(true, rel=1e-12)


def test_seedbugs_original_failing_is_said_loudly(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 's.db'}"
    ran = run_cli(capsys, "run", "mlp3-seedbugs", "--db", db, "--cases", "1",
                  "--category", "sign", "--jobs", "1")
    assert "THE ORIGINAL BACKWARD FAILS THE CHECK on 2 of 2 cases" in ran.out
    assert Store(db).campaign().original_alarms == 2


def test_results_recompute_outcomes_at_another_tolerance(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    cid = campaign.start(store, "mlp3", campaign.Settings(cases=1, categories=("factor",),
                                                          jobs=1))
    strict = analysis.report(store, cid, tolerance=1e-7)
    loose = analysis.report(store, cid, tolerance=0.5)
    assert strict.total.missed == 0
    assert loose.total.missed > 0
    for v in loose.verdicts:
        if v.status == "missed":
            # missed at 0.5 means some real-bug difference is <= 0.5: its kill tolerance
            assert v.kill_tolerance is not None and v.kill_tolerance <= 0.5
    # The kill tolerance is the boundary: just under it the bug is caught on every case,
    # at it the bug is missed on at least one.
    some = next(v for v in strict.verdicts if v.kill_tolerance)
    kill = some.kill_tolerance
    under = {v.mutant.mutant_id: v for v in analysis.report(store, cid, kill * 0.999).verdicts}
    at = {v.mutant.mutant_id: v for v in analysis.report(store, cid, kill).verdicts}
    assert under[some.mutant.mutant_id].missed == 0
    assert at[some.mutant.mutant_id].missed > 0
    by_id = {v.mutant.mutant_id: v for v in strict.verdicts}
    for v in loose.verdicts:
        if v.status == "missed":
            assert by_id[v.mutant.mutant_id].status == "detected"


def test_wilson_interval_matches_closed_form():
    low, high = analysis.wilson(8, 10)
    # statsmodels proportion_confint(8, 10, method="wilson") = (0.4901625, 0.9433178)
    assert low == pytest.approx(0.4901625, abs=1e-6)
    assert high == pytest.approx(0.9433178, abs=1e-6)
    assert analysis.wilson(0, 0) == (0.0, 1.0)


def _cli(*args, db, **kw):
    return subprocess.Popen([sys.executable, "-m", "mutagrad", *args, "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _count(db_file: Path) -> int:
    if not db_file.exists():
        return 0
    try:
        with sqlite3.connect(db_file) as c:
            return c.execute("select count(*) from trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _trial_set(db: str, cid: int = 1):
    return sorted((t.mutant_id, t.case_index, t.strategy, t.epsilon, t.difference,
                   t.true_error, t.outcome) for t in Store(db).trials(cid))


GATE_SUBJECT = str(Path(__file__).with_name("gate_subject.py"))
RUN = ("run", GATE_SUBJECT, "--cases", "6", "--jobs", "1")


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120,
              stored: Path | None = None) -> None:
    """Wait for an event (a file the gate mutant touches), not for a count of trials; with
    ``stored``, also for the campaign's plan in that database (stored with the original's
    trials once the last mutant is made, which may come after the first mutants started)."""
    deadline = time.monotonic() + seconds

    def reached() -> bool:
        return path.exists() and (stored is None or _count(stored) > 0)

    while not reached() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reached(), proc.stderr.read() if proc.poll() is not None else "timed out"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupt_then_resume_equals_uninterrupted(tmp_path, sig):
    opened, closed = tmp_path / "opened", tmp_path / "closed"
    opened.mkdir()
    closed.mkdir()
    (opened / "open").touch()
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    assert _cli(*RUN, db=whole, env={**os.environ, "MUTAGRAD_GATE": str(opened)}).wait(
        timeout=300) == 0
    cut_file = tmp_path / "cut.db"
    cut = f"sqlite:///{cut_file}"
    proc = _cli(*RUN, db=cut, env={**os.environ, "MUTAGRAD_GATE": str(closed)})
    _wait_for(closed / "reached", proc, stored=cut_file)  # mid-campaign: the gate mutant runs
    proc.send_signal(sig)
    if sig == signal.SIGKILL:
        # a killed parent cannot stop its workers: free the one waiting at the gate, or it
        # would hold the pipes open
        (closed / "open").touch()
    _, err = proc.communicate(timeout=60)
    stored = _count(cut_file)
    assert 0 < stored < len(_trial_set(whole))
    assert Store(cut).campaign(1).status == "interrupted"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume 1" in err
    resumed = _cli("run", "--resume", "1", db=cut,
                   env={**os.environ, "MUTAGRAD_GATE": str(opened)})
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()  # type: ignore[union-attr]
    assert Store(cut).campaign(1).status == "finished"
    assert _trial_set(cut) == _trial_set(whole)


def test_results_while_a_campaign_writes(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    db = f"sqlite:///{tmp_path / 'live.db'}"
    proc = _cli(*RUN, db=db, env={**os.environ, "MUTAGRAD_GATE": str(gate)})
    _wait_for(gate / "reached", proc)
    reader = subprocess.run([sys.executable, "-m", "mutagrad", "results", "--json",
                             "--db", db], capture_output=True, text=True, check=False)
    assert reader.returncode == 0, reader.stderr
    live = json.loads(reader.stdout)
    assert live["campaign"]["status"] == "running"
    (gate / "open").touch()
    assert proc.wait(timeout=300) == 0
    final = json.loads(subprocess.run([sys.executable, "-m", "mutagrad", "results", "--json",
                                       "--db", db], capture_output=True, text=True,
                                      check=True).stdout)
    done = {m["mutant_id"]: m["status"] for m in final["mutants"]}
    for m in live["mutants"]:
        # a mutant already judged while running keeps a consistent status: only cases
        # still to come can turn a missed/equivalent into detected, never back
        if m["status"] == "detected":
            assert done[m["mutant_id"]] == "detected"
    assert live["total"]["mutants"] == final["total"]["mutants"]
    assert any(m["status"] == "pending" for m in live["mutants"])


def test_schema_version_mismatch_is_one_line(tmp_path, capsys):
    db_file = tmp_path / "old.db"
    Store(str(db_file))
    with sqlite3.connect(db_file) as c:
        c.execute("update mutagrad_schema set version = 99")
    ran = run_cli(capsys, "history", "--db", str(db_file))
    assert ran.code == 2
    assert "schema version 99" in ran.err and len(ran.err.strip().splitlines()) == 1


def test_foreign_database_and_missing_database(tmp_path, capsys):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("create table stuff (x int)")
    ran = run_cli(capsys, "results", "--db", str(foreign))
    assert ran.code == 2 and "not a mutagrad database" in ran.err
    ran = run_cli(capsys, "results", "--db", str(tmp_path / "none.db"))
    assert ran.code == 2 and "mutagrad run" in ran.err
    assert not (tmp_path / "none.db").exists()  # a read never creates a database


def test_query_verbs(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--category", "factor",
                   "--jobs", "1", "--db", db, "--name", "first").code == 0
    assert run_cli(capsys, "run", "mlp3-seedbugs", "--cases", "1", "--category", "factor",
                   "--jobs", "1", "--db", db).code == 0
    history = json.loads(run_cli(capsys, "history", "--json", "--db", db).out)
    assert [h["id"] for h in history] == [2, 1] and history[1]["name"] == "first"
    results = json.loads(run_cli(capsys, "results", "first", "--json", "--db", db).out)
    some = results["mutants"][0]["mutant_id"]
    shown = json.loads(run_cli(capsys, "show", some[:7], "--campaign", "1", "--json",
                               "--db", db).out)
    assert shown["mutant"]["mutant_id"] == some and len(shown["trials"]) == 2
    compared = json.loads(run_cli(capsys, "compare", "1", "2", "--json", "--db", db).out)
    # seedbugs' source has dW2 * 2 and 4./m: the mutant sets differ and some ids are shared
    assert compared["changes"]
    out = tmp_path / "t.csv"
    assert run_cli(capsys, "export", "1", "--format", "csv", "-o", str(out), "--db", db).code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("campaign,mutant_id") and len(lines) == 1 + len(
        Store(db).trials(1))
    exported = json.loads(run_cli(capsys, "export", "1", "--format", "json", "--db", db).out)
    assert len(exported["trials"]) == len(lines) - 1


def test_fail_under_gates(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'g.db'}"
    assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--category", "factor",
                   "--jobs", "1", "--db", db, "--fail-under", "0.9").code == 0
    assert run_cli(capsys, "results", "--tolerance", "0.5", "--fail-under", "90",
                   "--db", db).code == 1


@pytest.mark.parametrize("args, fix", [
    (["run", "mlp3", "--batch", "0"], "--batch"),
    (["run", "mlp3", "--epsilon", "1e-7,x"], "--epsilon"),
    (["run", "mlp3", "--dtype", "float16"], "float64, float32"),
    (["run", "mlp3", "--cases", "0"], "--cases"),
    (["run"], "--resume"),
    (["results", "--only", "nope"], "--only"),
])
def test_run_bad_input(capsys, args, fix):
    ran = run_cli(capsys, *args)
    assert ran.code == 2 and fix in ran.err and "Traceback" not in ran.err


def test_numerical_gradient_is_computed_once_per_case_and_epsilon(monkeypatch, tmp_path):
    calls = []
    real = gradcheck.perturbed_costs

    def counting(cost, params, keys, eps, with_base=False):
        calls.append((id(params), eps))
        return real(cost, params, keys, eps, with_base)

    monkeypatch.setattr(gradcheck, "perturbed_costs", counting)
    # three strategies share one pass of J(theta +- eps e_i) per case and epsilon
    settings = campaign.Settings(cases=2, epsilons=(1e-7, 1e-6), categories=("sign",), jobs=2,
                                 strategies=("centered", "forward", "max-relerr"))
    subject = load("mlp3")
    campaign.prepare(subject, campaign.build_cases(subject, settings), settings)
    assert len(calls) == len(set(calls)) == 2 * 2 * 2
    # a campaign has its workers compute them: one call per case and epsilon, none twice
    mapped = []
    real_map = Pool.map

    def spying(pool, fn, many):
        mapped.extend((args[1].label, args[3]) for args in many)
        return real_map(pool, fn, many)

    monkeypatch.setattr(Pool, "map", spying)
    campaign.start(Store(str(tmp_path / "n.db")), "mlp3", settings)
    assert len(mapped) == len(set(mapped)) == 2 * 2 * 2


@pytest.mark.parametrize("args, fix", [
    (["--timeout", "0"], "--timeout"), (["--jobs", "0"], "--jobs"), (["--batch", "0"], "--batch"),
])
def test_bad_run_options_leave_no_database(tmp_path, capsys, args, fix):
    db = tmp_path / "never.db"
    ran = run_cli(capsys, "run", "mlp3", "--db", str(db), *args)
    assert ran.code == 2 and fix in ran.err
    assert not db.exists()
