"""Commands on campaigns as a fresh user meets them: export's formats and defaults, stores
that cannot be written, --resume with options, a failed run's leftovers, Ctrl-C."""

import csv
import ctypes
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli


def _trials(db: Path, campaign: int) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("select count(*) from trials where campaign_id = ?",
                         (campaign,)).fetchone()[0]


@pytest.fixture
def two_campaigns(tmp_path, capsys, monkeypatch):
    """A folder holding results.db with two small campaigns (1: linear1d, 2: mlp3)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTAGRAD_DB")
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1").code == 0
    assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--category", "sign",
                   "--jobs", "1").code == 0
    return tmp_path


def test_export_tells_the_format_by_the_suffix_and_defaults_to_the_latest(two_campaigns,
                                                                           capsys):
    db = two_campaigns / "results.db"
    latest = 2
    assert _trials(db, 2) != _trials(db, 1)
    for name in ("t.json", "t.csv", "t.jsonl"):
        ran = run_cli(capsys, "export", "-o", name)
        assert ran.code == 0, ran.err
        assert f"campaign {latest}" in ran.out
    document = json.loads((two_campaigns / "t.json").read_text())
    rows = list(csv.DictReader(io.StringIO((two_campaigns / "t.csv").read_text())))
    lines = [json.loads(line) for line in (two_campaigns / "t.jsonl").read_text().splitlines()]
    assert document["campaign"]["id"] == latest
    assert len(document["trials"]) == len(rows) == len(lines) == _trials(db, latest)
    assert lines == document["trials"]
    assert [r["mutant_id"] for r in rows] == [t["mutant_id"] for t in lines]
    # the default campaign is the one 'results' shows
    shown = json.loads(run_cli(capsys, "results", "--json").out)["campaign"]["id"]
    assert shown == latest


def test_export_dash_is_stdout_and_a_conflicting_format_is_refused(two_campaigns, capsys):
    ran = run_cli(capsys, "export", "1", "-o", "-")
    assert ran.code == 0 and not (two_campaigns / "-").exists()
    assert len(list(csv.DictReader(io.StringIO(ran.out)))) == _trials(
        two_campaigns / "results.db", 1)
    ran = run_cli(capsys, "export", "1", "-o", "-", "--format", "json")
    assert json.loads(ran.out)["campaign"]["id"] == 1
    for fmt, name in (("csv", "x.json"), ("json", "x.csv"), ("jsonl", "x.json")):
        ran = run_cli(capsys, "export", "--format", fmt, "-o", name)
        assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.err
        assert name in ran.err and "--format" in ran.err
        assert not (two_campaigns / name).exists()
    ran = run_cli(capsys, "export", "--format", "stryker", "-o", "s.json")  # JSON as well
    assert ran.code == 0 and json.loads((two_campaigns / "s.json").read_text())["files"]


# -- Ctrl-C, as a terminal sends it: SIGINT to the whole process group ---------------------

GATE_SUBJECT = str(Path(__file__).with_name("gate_subject.py"))
STOPPED = re.compile(r"mutagrad: error: interrupted: campaign (\d+) stored (\d+) trials; "
                     r"resume with mutagrad run --resume (\d+)")
BEFORE = "mutagrad: error: interrupted before any trial was stored"


def _start(*args: str, cwd: Path, gate: Path) -> subprocess.Popen:
    env = {**os.environ, "MUTAGRAD_GATE": str(gate), "MUTAGRAD_DB": str(cwd / "results.db")}
    return subprocess.Popen([sys.executable, "-m", "mutagrad", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group, as a terminal's job


def _until(found, proc: subprocess.Popen, seconds: float = 120):
    """Poll for an observable state of the run (never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        value = found()
        if value:
            return value
        time.sleep(0.005)
    _, err = proc.communicate(timeout=60)
    pytest.fail(f"the state never came (exit {proc.returncode}): {err}")


def _ctrl_c(proc: subprocess.Popen) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _fork_server_of(pid: int) -> bool:
    """Whether ``pid`` has started its fork server (a child process importing the workers'
    modules): the seconds where a Ctrl-C used to print the fork server's traceback."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and b"forkserver" in (stat.parent / "cmdline").read_bytes():
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def test_ctrl_c_while_the_users_file_is_imported_is_one_line_and_leaves_nothing(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "net.py").write_text(
        "import os, time\nfrom pathlib import Path\n\n"
        "gate = Path(os.environ['MUTAGRAD_GATE'])\n(gate / 'reached').touch()\n"
        "while not (gate / 'open').exists():\n    time.sleep(0.01)\n")
    proc = _start("run", "net.py", "--cases", "1", cwd=tmp_path, gate=gate)
    _until((gate / "reached").exists, proc)
    code, err = _ctrl_c(proc)
    assert code == 130 and err.strip() == BEFORE, err
    assert not (tmp_path / "results.db").exists()


def test_ctrl_c_while_the_workers_start_is_one_line_from_every_process(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "open").touch()
    proc = _start("run", GATE_SUBJECT, "--cases", "4", "--jobs", "2", cwd=tmp_path, gate=gate)
    _until(lambda: _fork_server_of(proc.pid), proc)
    code, err = _ctrl_c(proc)
    assert code == 130 and len(err.strip().splitlines()) == 1, err
    stopped = STOPPED.fullmatch(err.strip())
    if stopped is None:  # before the campaign was stored: nothing is left
        assert err.strip() == BEFORE
        assert _stored(tmp_path / "results.db") == {}
    else:  # the campaign had started: it says what it holds, and holds it
        cid, count, again = map(int, stopped.groups())
        assert cid == again == 1 and _stored(tmp_path / "results.db") == {1: count}


def test_ctrl_c_mid_campaign_says_what_is_stored_and_loses_no_trial(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    whole = tmp_path / "whole"
    whole.mkdir()
    (gate / "open").touch()
    assert _start("run", GATE_SUBJECT, "--cases", "6", "--jobs", "1", cwd=whole,
                  gate=gate).wait(timeout=300) == 0
    (gate / "open").unlink()
    (gate / "reached").unlink()
    proc = _start("run", GATE_SUBJECT, "--cases", "6", "--jobs", "1", cwd=tmp_path, gate=gate)
    _until((gate / "reached").exists, proc)  # a mutant is running in a worker
    code, err = _ctrl_c(proc)
    assert code == 130, err
    stopped = STOPPED.fullmatch(err.strip())
    assert stopped, err  # one line, from every process of the group
    cid, count, _ = map(int, stopped.groups())
    assert _stored(tmp_path / "results.db") == {cid: count} and count > 0
    with sqlite3.connect(tmp_path / "results.db") as c:
        assert c.execute("select status from campaigns").fetchone() == ("interrupted",)
    # every stored trial is one of the uninterrupted campaign's, with the same numbers
    assert _trial_rows(tmp_path / "results.db") <= _trial_rows(whole / "results.db")


def _stored(db: Path) -> dict[int, int]:
    """Trials per campaign, read with sqlite3 itself ({} when there is no file)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as c:
        counted = dict(c.execute("select campaign_id, count(*) from trials group by 1"))
        return {cid: counted.get(cid, 0) for (cid,) in c.execute("select id from campaigns")}


def _trial_rows(db: Path) -> set[tuple]:
    with sqlite3.connect(db) as c:
        return set(c.execute("select mutant_id, case_index, strategy, epsilon, difference, "
                             "true_error, outcome from trials"))


EXERCISE = Path(__file__).parent.parent / "examples" / "exercise"


def test_a_run_that_fails_before_its_campaign_starts_leaves_no_new_store(tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.delenv("MUTAGRAD_DB")
    monkeypatch.chdir(tmp_path)
    net = str(EXERCISE / "gradient_checking.py")
    ran = run_cli(capsys, "run", net, "--check", "no_such_check", "--cases", "1", "--jobs", "1")
    assert ran.code == 2 and "no_such_check" in ran.err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a store that was there before is never removed, even when this run adds nothing to it
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1").code == 0
    kept = _stored(tmp_path / "results.db")
    ran = run_cli(capsys, "run", net, "--check", "no_such_check", "--cases", "1", "--jobs", "1")
    assert ran.code == 2 and _stored(tmp_path / "results.db") == kept and kept[1] > 0


# -- stores this process cannot write ------------------------------------------------------

def _without_permission_override() -> None:
    """In the child, before it runs mutagrad: drop the capabilities that let root write
    anywhere (a no-op for other users), so file modes mean for it what they mean for them."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP: gone after exec


def _as_user(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MUTAGRAD_DB"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, preexec_fn=_without_permission_override, check=False)


READS = (["results", "--json"], ["history", "--json"], ["results", "1", "--json"],
         ["export", "1", "-o", "-"], ["export", "-o", "-", "--format", "json"],
         ["report", "1", "--html", os.devnull])


@pytest.mark.parametrize("locked", ["folder", "file"])
def test_a_read_only_store_is_read_and_a_write_refused_in_one_line(two_campaigns, locked):
    # a copy no process holds open, in WAL mode as mutagrad leaves it: no -wal nor -shm
    folder = two_campaigns / "shared"
    folder.mkdir()
    with sqlite3.connect(two_campaigns / "results.db") as source, \
            sqlite3.connect(folder / "results.db") as copy:
        source.backup(copy)
    expected = [_as_user("-m", "mutagrad", *args, cwd=folder).stdout for args in READS]
    shown = json.loads(expected[0])["mutants"][0]["mutant_id"]
    expected.append(_as_user("-m", "mutagrad", "show", shown, "--json", cwd=folder).stdout)
    assert sorted(p.name for p in folder.iterdir()) == ["results.db"]
    target = folder if locked == "folder" else folder / "results.db"
    mode = target.stat().st_mode
    files = sorted(p.name for p in folder.iterdir())
    target.chmod(0o555 if locked == "folder" else 0o444)
    try:
        probe = _as_user("-c", f"import os; print(os.access({str(target)!r}, os.W_OK))",
                         cwd=folder)
        assert probe.stdout.strip() == "False"  # the child really cannot write it
        for args, want in zip([*READS, ["show", shown, "--json"]], expected, strict=True):
            ran = _as_user("-m", "mutagrad", *args, cwd=folder)
            assert ran.returncode == 0, (args, ran.stderr)
            assert ran.stdout == want, args
        ran = _as_user("-m", "mutagrad", "run", "linear1d", "--cases", "1", cwd=folder)
        assert ran.returncode == 2 and len(ran.stderr.strip().splitlines()) == 1, ran.stderr
        assert "results.db" in ran.stderr and "--db" in ran.stderr
        assert "Traceback" not in ran.stderr and "internal error" not in ran.stderr
        if locked == "folder":
            assert sorted(p.name for p in folder.iterdir()) == files  # nothing made beside it
    finally:
        target.chmod(mode)
    assert _stored(folder / "results.db") == {1: _trials(folder / "results.db", 1),
                                               2: _trials(folder / "results.db", 2)}


@pytest.mark.parametrize("where", ["no/such/folder/r.db", "/proc/mutagrad-test.db"])
def test_an_unwritable_db_path_is_one_line_naming_it_with_a_hint(tmp_path, capsys, where):
    path = where if where.startswith("/") else str(tmp_path / where)
    ran = run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1", "--db", path)
    assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.err
    assert path in ran.err and "--db" in ran.err and "cannot read" not in ran.err
    assert not os.path.exists(path)


def test_resume_refuses_a_subject_or_plan_option_that_differs_from_the_stored_plan(
        tmp_path, capsys):
    db = str(tmp_path / "r.db")
    plan = ("--cases", "2", "--category", "sign", "--jobs", "1", "--db", db)
    assert run_cli(capsys, "run", "mlp3", *plan).code == 0
    with sqlite3.connect(db) as c:  # as a Ctrl-C leaves it, minus one mutant's trials
        c.execute("update campaigns set status = 'interrupted'")
        c.execute("delete from trials where mutant_id = (select max(mutant_id) from trials)")
    stored = _stored(Path(db))
    for given, named in ((["mlp3-seedbugs"], "mlp3-seedbugs (planned: mlp3)"),
                         (["--cases", "3"], "--cases 3 (planned: 2)"),
                         (["--epsilon", "1e-6"], "--epsilon 1e-06 (planned: 1e-07)"),
                         (["--strategy", "forward"], "--strategy forward (planned: centered)"),
                         (["--category", "factor"], "--category factor (planned: sign)"),
                         (["--no-jitter"], "--no-jitter (planned: --jitter)"),
                         (["--all"], "--all (new campaigns only)")):
        ran = run_cli(capsys, "run", "--resume", "1", *given, "--db", db)
        assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.err
        assert named in ran.err, ran.err
        assert _stored(Path(db)) == stored  # nothing ran
    # the same values as the plan, and the options that may change, finish it
    ran = run_cli(capsys, "run", "--resume", "1", "mlp3", *plan[:4], "--jobs", "2",
                  "--db", db)
    assert ran.code == 0, ran.err
    with sqlite3.connect(db) as c:
        assert c.execute("select status from campaigns").fetchone() == ("finished",)
    assert _stored(Path(db))[1] > stored[1]


# -- wide tables, piped --------------------------------------------------------------------

def _piped(*args: str, cwd: Path, columns: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "MUTAGRAD_DB")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "mutagrad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def test_wide_tables_are_whole_when_piped(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTAGRAD_DB")
    assert run_cli(capsys, "run", str(EXERCISE / "gradient_checking.py"), "--check",
                   "gradient_check_n", "--strategy", "centered", "--cases", "1",
                   "--category", "sign", "--jobs", "1").code == 0
    rows = json.loads(run_cli(capsys, "strategies", "--json").out)["strategies"]
    ran = _piped("strategies", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    header = next(line for line in ran.stdout.splitlines() if line.startswith("strategy"))
    assert header.split() == ["strategy", "dtype", "caught", "rate", "(95%", "CI)",
                              "1", "check", "alarms", "fwd", "/1k", "fwd"]
    for row in rows:  # each on one line, its numbers whole
        line = next(x for x in ran.stdout.splitlines() if x.startswith(row["strategy"] + " "))
        assert f"{row['detected']}/{row['bugs']}" in line and line.rstrip().endswith(
            f"{row['per_1000']:.1f}"), line
    assert "…" not in ran.stdout


def test_show_keeps_each_outcome_whole_on_a_narrow_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTAGRAD_DB")
    # mlp3's seed 51 at m = 6: the cost loses precision, every mutant is indeterminate there
    assert run_cli(capsys, "run", "mlp3", "--seed", "51", "--cases", "1", "--batch", "6",
                   "--category", "sign", "--jobs", "1").code == 0
    shown = json.loads(run_cli(capsys, "results", "--json").out)["mutants"][0]["mutant_id"]
    outcomes = [t["outcome_at_tolerance"] for t in json.loads(
        run_cli(capsys, "show", shown, "--json", "--top", "0").out)["trials"]]
    assert outcomes == ["indeterminate"]
    ran = _piped("show", shown, "--top", "0", cwd=tmp_path, columns="80")
    table = ran.stdout.split("per case", 1)[1].splitlines()
    assert max(len(line) for line in table) <= 80
    assert any(line.split()[5:6] == ["indeterminate"] for line in table
               if line.startswith("seed=51")), ran.stdout


def test_a_campaign_with_the_users_check_is_judged_and_headed_by_it(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    ran = run_cli(capsys, "run", str(EXERCISE / "gradient_checking.py"), "--check",
                  "gradient_check_n", "--strategy", "centered", "--cases", "1",
                  "--category", "sign", "--jobs", "1", "--db", db)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0].startswith(
        "campaign 1: gradient_checking.py, finished; check check:gradient_check_n,")
    judged = json.loads(run_cli(capsys, "results", "--json", "--db", db).out)
    assert judged["strategy"] == "check:gradient_check_n"
    with sqlite3.connect(db) as c:  # both ran, on every trial
        assert dict(c.execute("select strategy, count(*) from trials group by 1")) == {
            "centered": _trials(Path(db), 1) // 2, "check:gradient_check_n": _trials(
                Path(db), 1) // 2}
    other = json.loads(run_cli(capsys, "results", "--strategy", "centered", "--json",
                               "--db", db).out)
    assert other["strategy"] == "centered"


def test_a_ctrl_c_while_the_new_database_is_made_leaves_no_file(tmp_path, capsys,
                                                                 monkeypatch):
    """The schema is made in one transaction, which pysqlite does not open for DDL by
    itself: cut after the tables, it rolls back whole; the file this run made is removed,
    and a file emptied that way reads as no results, not as one being made elsewhere."""
    from mutagrad import migrate

    made = migrate.create

    def cut(connection, metadata):
        metadata.create_all(connection)  # every table made, then Ctrl-C
        raise KeyboardInterrupt

    db = tmp_path / "results.db"
    monkeypatch.setattr(migrate, "create", cut)
    ran = run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1", "--db", str(db))
    assert ran.code == 130 and "interrupted before any trial was stored" in ran.err
    assert list(tmp_path.iterdir()) == []
    # the same cut outside the CLI: the transaction leaves an empty file, never half a schema
    from mutagrad.store import Store

    with pytest.raises(KeyboardInterrupt):
        Store(str(db))
    with sqlite3.connect(db) as c:
        assert c.execute("select name from sqlite_master").fetchall() == []
    ran = run_cli(capsys, "history", "--db", str(db))
    assert ran.code == 2 and "no results in" in ran.err and "another process" not in ran.err
    monkeypatch.setattr(migrate, "create", made)
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1",
                   "--db", str(db)).code == 0  # the empty file is made a store as usual


def test_a_ctrl_c_during_the_closing_report_says_the_campaign_finished(tmp_path, capsys,
                                                                       monkeypatch):
    from mutagrad import cli_campaign

    def cut(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_campaign, "_render_results", cut)  # the closing report only
    db = tmp_path / "results.db"
    ran = run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1", "--db", str(db))
    assert ran.code == 130
    assert ran.err.strip().splitlines() == [
        ("mutagrad: error: interrupted after campaign 1 finished: its results are stored "
         "(mutagrad results 1)")]
    with sqlite3.connect(db) as c:
        assert c.execute("select status from campaigns").fetchall() == [("finished",)]


def test_an_interrupted_suite_says_how_many_subjects_did_not_start(tmp_path, capsys,
                                                                   monkeypatch):
    from mutagrad import campaign

    real, calls = campaign.start, []

    def start(store, spec, settings, name=None, on_progress=None, *rest):
        calls.append(spec)

        def ctrl_c(event):  # the second subject's first progress: as a Ctrl-C lands there
            raise KeyboardInterrupt

        return real(store, spec, settings, name, ctrl_c if len(calls) == 2 else on_progress,
                    *rest)

    monkeypatch.setattr(campaign, "start", start)
    ran = run_cli(capsys, "run", "linear1d", "mlp3", "l2", "--cases", "1", "--jobs", "1",
                  "--db", str(tmp_path / "r.db"))
    assert ran.code == 130 and len(calls) == 2
    [line] = ran.err.strip().splitlines()
    assert re.fullmatch(r"mutagrad: error: interrupted: campaign 2 stored \d+ trials; resume "
                        r"with mutagrad run --resume 2; 1 of the suite's 3 subjects did not "
                        r"start \(name them to run them\)", line), line


HANGING_FORWARD = '''
import os
import numpy as np

def init_params(rng):
    return {"W1": rng.standard_normal((1, 4)), "b1": np.zeros((1, 1))}

def forward_propagation_n(X, Y, parameters):
    if X.shape[1] == 6:  # hangs on the batch-6 cases only, wherever it runs
        open(os.environ["HANG_MARKER"], "w").close()
        while True:
            pass
    A1 = 1 / (1 + np.exp(-(parameters["W1"] @ X + parameters["b1"])))
    cost = -np.sum(Y * np.log(A1) + (1 - Y) * np.log(1 - A1)) / X.shape[1]
    return cost, (X, Y, A1)

def backward_propagation_n(X, Y, cache):
    X, Y, A1 = cache
    dZ1 = A1 - Y
    return {"dW1": dZ1 @ X.T / X.shape[1], "db1": np.sum(dZ1, axis=1, keepdims=True) / X.shape[1]}
'''


def test_ctrl_c_ends_a_run_whose_forward_hangs(tmp_path):
    # the forward hangs while the mutants are made and the numerical sides computed: a
    # Ctrl-C must still end the command (it waited for the mutants forever)
    (tmp_path / "hang.py").write_text(HANGING_FORWARD)
    marker = tmp_path / "hanging"
    env = {**os.environ, "HANG_MARKER": str(marker)}
    env.pop("MUTAGRAD_DB", None)
    child = subprocess.Popen([sys.executable, "-m", "mutagrad", "run", "hang.py", "--cases", "1",
                              "--timeout", "1", "--db", str(tmp_path / "r.db")],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the forward never ran"
        time.sleep(1)  # well inside the wait for the mutants
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "mutagrad: error: interrupted before any trial was stored"
    assert not (tmp_path / "r.db").exists()  # nothing stored: the file it made is gone


def test_a_forward_that_raises_on_some_cases_is_the_users_error_in_one_line(tmp_path, capsys,
                                                                             monkeypatch):
    # it raises in the workers computing the numerical sides: the user reads their file and
    # line, exit 2, as for a raising backward (it was "case_references failed in a worker")
    source = HANGING_FORWARD.replace(
        'open(os.environ["HANG_MARKER"], "w").close()\n        while True:\n            pass',
        'raise RuntimeError("no batch of 6")')
    (tmp_path / "raises.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    ran = run_cli(capsys, "run", "raises.py", "--cases", "1", "--db", str(tmp_path / "r.db"))
    assert ran.code == 2, ran.err
    line = ran.err.strip().splitlines()[-1]
    assert "RuntimeError: no batch of 6 at raises.py:" in line and "forward_propagation_n" in line
    assert "case_references" not in ran.err
