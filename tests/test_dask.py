"""The Dask engine on a real cluster (a scheduler and two workers on 127.0.0.1): the same
campaign stores the same trials as the local pool, faults get the same outcomes without
harming a Dask worker, a dead Dask worker's chunk runs again, and the driver can die and
resume."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pool_tasks
import psutil
import pytest
from cli_helpers import run_cli
from dask_cluster import dask_cluster, free_port
from distributed import Client

from mutagrad import analysis, campaign, subjects
from mutagrad.engine.dask import DaskEngine, SchedulerUnreachable
from mutagrad.store import Store
from mutagrad.values import ORIGINAL

HERE = Path(__file__).parent
FAULTY = str(HERE / "faulty_subject.py")
SLOW = str(HERE / "slow_subject.py")


def _trials(store: Store, cid: int) -> list[tuple]:
    return sorted((t.mutant_id, t.case_index, t.strategy, t.epsilon, t.difference,
                   t.true_error, t.outcome, t.error, t.note) for t in store.trials(cid))


def _worker_pids(address: str) -> dict[str, int]:
    with Client(address, timeout=30) as client:
        return client.run(os.getpid)


def test_dask_stores_the_same_trials_as_the_local_pool(tmp_path, dask_scheduler):
    settings = campaign.Settings(cases=2, batches=(1, 5), epsilons=(1e-7, 1e-5),
                                 strategies=("centered", "directional"), jobs=2)
    local = Store(str(tmp_path / "local.db"))
    on_dask = Store(str(tmp_path / "dask.db"))
    a = campaign.start(local, "mlp3", settings)
    b = campaign.start(on_dask, "mlp3", settings, scheduler=dask_scheduler)
    assert on_dask.campaign(b).status == "finished"
    assert len(_trials(local, a)) == (len(local.mutants(a)) + 1) * 4 * 4  # 4 cases, 4 checks
    assert _trials(local, a) == _trials(on_dask, b)
    # the campaign's sandboxes went with it (a fork server may stay, as in any process)
    deadline = time.monotonic() + 30
    while max(_sandboxes(dask_scheduler).values()) > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert max(_sandboxes(dask_scheduler).values()) == 0


def _sandboxes(address: str) -> dict[str, int]:
    def count() -> int:
        import psutil

        return sum("forkserver" not in " ".join(c.cmdline())
                   for c in psutil.Process().children(recursive=True))

    with Client(address, timeout=30) as client:
        return client.run(count)


def test_faults_get_the_same_outcome_on_dask_and_spare_its_workers(tmp_path, dask_scheduler):
    settings = campaign.Settings(cases=2, timeout=0.5, memory_mb=512, jobs=2)
    before = _worker_pids(dask_scheduler)
    local = Store(str(tmp_path / "local.db"))
    on_dask = Store(str(tmp_path / "dask.db"))
    a = campaign.start(local, FAULTY, settings)
    b = campaign.start(on_dask, FAULTY, settings, scheduler=dask_scheduler)

    def outcomes(store, cid):
        return sorted((t.mutant_id, t.case_index, t.outcome) for t in store.trials(cid))

    assert outcomes(local, a) == outcomes(on_dask, b)
    statuses = {v.status for v in analysis.report(on_dask, b).verdicts}
    assert {"timeout", "crashed", "nonfinite", "shape", "detected"} <= statuses
    assert _worker_pids(dask_scheduler) == before  # hang, exit, MemoryError: no worker lost


def test_a_users_file_travels_as_its_source(tmp_path):
    copy = tmp_path / "mine.py"
    shutil.copy(FAULTY, copy)
    spec = subjects.travelling(subjects.parse_spec(str(copy)))
    copy.unlink()  # the worker's machine has no such file
    assert "files" not in spec.config()
    assert subjects.load(spec).name == "faulty"


def test_an_unreachable_scheduler_is_one_line_exit_2(capsys, tmp_path):
    db = tmp_path / "results.db"
    ran = run_cli(capsys, "run", "linear1d", "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                  "--db", str(db))
    assert ran.code == 2
    assert "cannot reach the Dask scheduler" in ran.err
    assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err
    assert list(tmp_path.iterdir()) == []  # no store created for a campaign that never ran


def test_a_dask_campaign_writes_to_postgresql(postgres_url, dask_scheduler, tmp_path):
    settings = campaign.Settings(cases=1, categories=("sign", "factor"), jobs=2)
    store = Store(postgres_url)
    cid = campaign.start(store, "mlp3", settings, scheduler=dask_scheduler)
    local = Store(str(tmp_path / "local.db"))
    assert store.campaign(cid).status == "finished"
    assert _trials(store, cid) == _trials(local, campaign.start(local, "mlp3", settings))


def _cli(*args, db):
    return subprocess.Popen([sys.executable, "-m", "mutagrad", *args, "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_driver_dies_and_resume_finishes_on_dask(tmp_path, dask_scheduler):
    db = f"sqlite:///{tmp_path / 'cut.db'}"
    # 40 cases of a 20 ms backward: seconds of work after the first chunk is stored, so the
    # kill lands mid-campaign even on a loaded machine (at 20 cases and a 40-trial threshold
    # a CI run once stored all 240 trials before the kill)
    proc = _cli("run", SLOW, "--cases", "40", "--scheduler", dask_scheduler, db=db)
    deadline = time.monotonic() + 120
    store = None
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            store = store or Store(db)
            if store.trials(1):
                break
        except Exception:  # noqa: BLE001 - not created yet
            store = None
        time.sleep(0.05)
    assert proc.poll() is None, "the campaign finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stored = len(Store(db).trials(1))
    assert 0 < stored < 12 * 40
    resumed = _cli("run", "--resume", "1", "--scheduler", dask_scheduler, db=db)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()  # type: ignore[union-attr]
    trials = Store(db).trials(1)
    assert len(trials) == len({(t.mutant_id, t.case_index) for t in trials}) == 12 * 40


def test_a_lost_scheduler_stops_the_campaign_and_resume_finishes_it(tmp_path):
    """On a cluster of its own: its scheduler is killed mid-campaign."""
    store = Store(str(tmp_path / "lost.db"))
    with dask_cluster(1) as address:
        threading.Thread(target=_kill_when_stored,
                         args=(store, _scheduler_of(address))).start()
        with pytest.raises(SchedulerUnreachable, match="lost the Dask scheduler"):
            campaign.start(store, SLOW, campaign.Settings(cases=40), scheduler=address)
    assert store.campaign(1).status == "interrupted"
    assert 0 < len(store.trials(1)) < 12 * 40
    with dask_cluster(1) as address:
        campaign.resume(store, 1, scheduler=address)
    trials = store.trials(1)
    assert len(trials) == len({(t.mutant_id, t.case_index) for t in trials}) == 12 * 40


def test_a_scheduler_lost_between_two_phases_is_the_same_one_line_error():
    """Killed after the client connected and before its next call (the original's checks
    done, the mutants not yet sent): not distributed's CommClosedError traceback."""
    with dask_cluster(1) as address:
        engine = DaskEngine(address, pool_tasks.init, pool_tasks.handle)
        _scheduler_of(address).kill()
        with pytest.raises(SchedulerUnreachable, match="lost the Dask scheduler"):
            list(engine.run((1,), [1, 2], lambda task: 30.0))
        engine.close()


def _scheduler_of(address: str) -> psutil.Process:
    port = address.rsplit(":", 1)[1]
    # "... scheduler --port N" as started, or "dask scheduler [tcp://HOST:N]" once it has
    # set its process title (setproctitle installed)
    return next(p for p in psutil.process_iter(["cmdline"])
                if "scheduler" in (cmd := " ".join(p.info["cmdline"] or []))
                and (f"--port {port}" in cmd or cmd.startswith("dask scheduler")
                     and f":{port}]" in cmd))


def _kill_when_stored(store: Store, process: psutil.Process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # a mutant's first chunk (the original's trials come first, in a phase of
            # their own): seconds of work are left (see above)
            if any(t.mutant_id != ORIGINAL for t in store.trials(1)):
                break
        except Exception:  # noqa: BLE001, S110 - not created yet
            pass
        time.sleep(0.05)
    process.kill()


def test_killing_a_dask_worker_mid_campaign_loses_nothing(tmp_path, dask_scheduler):
    """Last in this file: the killed worker's nanny starts a new one."""
    settings = campaign.Settings(cases=20, jobs=2)
    store = Store(str(tmp_path / "killed.db"))
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        with Client(dask_scheduler, timeout=30) as client:
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items()
                        if any("run_chunk" in str(k) for k in keys)]
                if busy:
                    time.sleep(0.3)  # well inside its chunk (each takes about 0.8 s)
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                    return
                time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    cid = campaign.start(store, SLOW, settings, scheduler=dask_scheduler)
    killer.join()
    assert killed, "no chunk was seen running"
    assert store.campaign(cid).status == "finished"
    trials = store.trials(cid)
    keys = [(t.mutant_id, t.case_index) for t in trials]
    assert len(keys) == len(set(keys)) == 12 * 20  # 11 mutants and the original
    assert not [t for t in trials if t.outcome in ("crashed", "timeout")]
