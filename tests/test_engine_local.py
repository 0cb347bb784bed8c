"""The process pool: a dying, hanging or memory-hungry task costs itself only."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pool_tasks import handle, init

from mutagrad.engine import Done, Failed, Pool


@pytest.mark.parametrize("jobs", [1, 2])
def test_deaths_with_prefetched_tasks_lose_nothing(jobs):
    tasks = []
    for i in range(40):
        tasks += ["die", i] if i % 5 == 0 else [i]
    with Pool(jobs, init, handle, preload=("pool_tasks",)) as pool:
        events = list(pool.run((100,), tasks, lambda t: 30.0))
    done = sorted(e.result for e in events if isinstance(e, Done))
    failed = [e for e in events if isinstance(e, Failed)]
    assert done == [100 + i for i in range(40)]
    assert len(failed) == 8 and all(e.task == "die" and e.reason == "died" for e in failed)
    assert all("exit code 3" in e.detail for e in failed)


def test_hang_is_killed_at_its_deadline_and_memory_is_capped():
    with Pool(1, init, handle, memory_bytes=512 << 20, preload=("pool_tasks",)) as pool:
        events = list(pool.run((0,), ["hang", 1, "huge", 2], lambda t: 1.0))
    by_task = {e.task: e for e in events}
    assert isinstance(by_task["hang"], Failed) and by_task["hang"].reason == "hung"
    assert isinstance(by_task["huge"], Failed)  # MemoryError is not caught by this handler
    assert by_task[1].result == 1 and by_task[2].result == 2


DRIVER = """
import sys
from mutagrad.engine import Pool
from pool_tasks import handle, init

with Pool(2, init, handle, preload=("pool_tasks",)) as pool:
    for event in pool.run((0,), ["hang", "hang"], lambda t: 600.0):
        pass
"""


def test_workers_die_with_a_driver_killed_by_sigkill():
    """A driver killed with SIGKILL cannot close its pool: its workers, each in a task that
    would run 600 s, must still go at once, not when their task ends."""
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=env)
    try:
        me = psutil.Process(driver.pid)
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:  # the fork server and two workers, in their task
            workers = [p for p in me.children(recursive=True)
                       if p.ppid() != driver.pid and p.status() == psutil.STATUS_SLEEPING]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        time.sleep(0.5)  # both inside time.sleep(600)
        descendants = me.children(recursive=True)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == [], [p.cmdline() for p in alive]
