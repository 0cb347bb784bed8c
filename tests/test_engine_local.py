"""The process pool: a dying, hanging or memory-hungry task costs itself only."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pool_tasks import handle, init

from mutagrad.engine import Done, Failed, Feed, Pool


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


def test_a_feed_runs_tasks_as_they_arrive_and_the_run_ends_when_it_closes():
    # A campaign's mutants reach the pool while it runs: tasks put from another thread
    # after the first results (a death among them) all run, once; until the feed closes
    # the run waits for more instead of ending when it has nothing to do.
    feed = Feed(convert=lambda item: None if item == "skip" else item)
    feed.put(range(10))
    later = [*range(10, 40), "skip", "die"]

    def more():
        for i in range(0, len(later), 7):
            feed.put(later[i:i + 7])
        feed.close()

    events = []
    with Pool(2, init, handle, preload=("pool_tasks",)) as pool:
        for event in pool.run((100,), feed, lambda t: 30.0):
            events.append(event)
            if len(events) == 3:
                threading.Thread(target=more).start()
    feed.dispose()
    done = sorted(e.result for e in events if isinstance(e, Done))
    assert done == [100 + i for i in range(40)]
    assert [(e.task, e.reason) for e in events if isinstance(e, Failed)] == [("die", "died")]


def test_a_feed_iterated_gives_every_task_in_order_once_closed():
    # what an engine that does not stream sees (Dask takes the whole plan at once)
    feed = Feed(convert=lambda item: item * 2)
    putter = threading.Thread(target=lambda: [*map(feed.put, ([i] for i in range(200))),
                                              feed.close()])
    putter.start()
    assert list(feed) == [2 * i for i in range(200)]
    putter.join()
    feed.dispose()


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
