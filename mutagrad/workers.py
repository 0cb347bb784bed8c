"""A small process pool built for code that may hang, crash, exit or eat memory.

``concurrent.futures`` breaks the whole pool when one worker dies (``os._exit``, a segfault,
the OOM killer); here a dead or hung worker costs its current task only: the parent notices
(its pipe closes, or the task outlives its hard deadline), kills and restarts that worker,
and reports the task as ``Failed`` (``died`` or ``hung``).

Workers are forked from a clean fork server (or spawned where there is none; never forked
from the parent, whose threads would be copied mid-flight) as soon as the pool is made,
so their start-up overlaps the caller's own preparation, and a restart after a crash costs
milliseconds; ``run`` then sends them the state to build. They run
with single-threaded BLAS, ignore Ctrl-C (the parent handles it), write to /dev/null (a
mutant's prints must not garble the parent's display) and live under an address-space
limit, so a huge allocation raises MemoryError inside the worker. Each worker holds up to
two tasks, so it never waits while the parent stores results.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Self

from mutagrad.errors import MutagradError

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_IN_FLIGHT = 2


class WorkerStartError(MutagradError):
    """A worker died before it could take a task: nothing would ever run."""


@dataclass(frozen=True)
class Done:
    task: Any
    result: Any


@dataclass(frozen=True)
class Failed:
    task: Any
    reason: str  # "died" or "hung"
    detail: str


def _limit_memory(extra_bytes: int | None) -> None:
    if not extra_bytes:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: no cap, the hard deadline still protects the campaign


def _worker(conn: Connection, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
            memory_bytes: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    state = init(*conn.recv())
    _limit_memory(memory_bytes)
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            return
        conn.send(handle(state, task))


class _Slot:
    def __init__(self, pool: Pool):
        self.pool = pool
        self.tasks: deque[tuple[Any, float]] = deque()  # (task, hard deadline in seconds)
        self.started = 0.0  # when the head task started running
        self.start()

    def start(self) -> None:
        parent, child = self.pool.ctx.Pipe()
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})
        try:
            self.process = self.pool.ctx.Process(
                target=_worker, daemon=True,
                args=(child, self.pool.init, self.pool.handle, self.pool.memory_bytes))
            self.process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.conn = parent
        self.ready = False
        if self.pool.init_args is not None:
            self.send(self.pool.init_args)

    def send(self, message: Any) -> None:
        """Send, unless the worker has just died: its sentinel reports that, and the tasks
        queued behind the one it died on are sent again to its replacement."""
        try:
            self.conn.send(message)
        except OSError:
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def overdue(self, now: float) -> bool:
        return bool(self.tasks) and now > self.started + self.tasks[0][1]


class Pool:
    """``Pool(jobs, init, handle)`` spawns the workers now; ``run(init_args, tasks, deadline)``
    has each build ``state = init(*init_args)`` once and call ``handle(state, task)`` per task.
    Use as a context manager."""

    def __init__(self, jobs: int, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
                 memory_bytes: int | None = None, preload: tuple[str, ...] = ()):
        self.ctx: Any
        if "forkserver" in mp.get_all_start_methods():
            self.ctx = mp.get_context("forkserver")
            self.ctx.set_forkserver_preload(list(preload))
        else:
            self.ctx = mp.get_context("spawn")
        self.init, self.handle = init, handle
        self.init_args: tuple[Any, ...] | None = None
        self.memory_bytes = memory_bytes
        self.queue: deque[Any] = deque()
        self.slots = [_Slot(self) for _ in range(max(1, jobs))]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for slot in self.slots:
            if slot.process.is_alive() and not slot.tasks and slot.ready:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
            slot.kill()

    def submit(self, task: Any) -> None:
        """Add a task while ``run`` is iterating."""
        self.queue.append(task)

    def run(self, init_args: tuple[Any, ...], tasks: Iterable[Any],
            deadline: Callable[[Any], float]) -> Iterator[Done | Failed]:
        """Yield one ``Done`` or ``Failed`` per task, in completion order.

        ``deadline(task)`` is the task's hard wall-time limit, counted from when it starts.
        """
        self.init_args = init_args
        for slot in self.slots:
            slot.send(init_args)
        self.queue.extend(tasks)
        while self.queue or any(s.tasks for s in self.slots):
            self._feed(deadline)
            waiting: dict[Any, _Slot] = {s.conn: s for s in self.slots}
            waiting.update({s.process.sentinel: s for s in self.slots})
            now = time.monotonic()
            busy = [s.started + s.tasks[0][1] - now for s in self.slots if s.tasks]
            serviced: set[int] = set()  # a death shows on both pipe and sentinel: handle once
            for ready in wait(list(waiting), timeout=max(0.0, min(busy)) if busy else 1.0):
                slot = waiting[ready]
                if id(slot) not in serviced:
                    serviced.add(id(slot))
                    yield from self._service(slot, ready is slot.conn, deadline)
            now = time.monotonic()
            for slot in self.slots:
                if slot.overdue(now):
                    yield from self._restart(slot, "hung", "killed after its hard deadline")

    def _feed(self, deadline: Callable[[Any], float]) -> None:
        for slot in self.slots:
            while slot.ready and len(slot.tasks) < _IN_FLIGHT and self.queue:
                task = self.queue.popleft()
                if not slot.tasks:
                    slot.started = time.monotonic()
                slot.tasks.append((task, deadline(task)))
                slot.send(task)

    def _service(self, slot: _Slot, readable: bool,
                 deadline: Callable[[Any], float]) -> Iterator[Done | Failed]:
        message: Any = None
        if readable:
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):
                message = None
        if message == "ready":
            slot.ready = True
            return
        if message is None:  # the pipe closed or the process sentinel fired: it died
            slot.process.join(5)
            if not slot.ready and not slot.tasks:
                slot.kill()
                raise WorkerStartError(
                    f"a worker process failed to start (exit code {slot.process.exitcode}); "
                    "run with --jobs 1 to see why")
            yield from self._restart(slot, "died",
                                     f"worker process died (exit code {slot.process.exitcode})")
            return
        task, _ = slot.tasks.popleft()
        slot.started = time.monotonic()
        self._feed(deadline)  # keep the worker busy while the caller handles the result
        yield Done(task, message)

    def _restart(self, slot: _Slot, reason: str, detail: str) -> Iterator[Failed]:
        """The head task failed; tasks queued behind it are sent again to a fresh worker."""
        failed, _ = slot.tasks.popleft()
        for task, _ in reversed(slot.tasks):
            self.queue.appendleft(task)
        slot.tasks.clear()
        slot.kill()
        slot.start()
        yield Failed(failed, reason, detail)
