"""A small process pool built for code that may hang, crash, exit or eat memory.

``concurrent.futures`` breaks the whole pool when one worker dies (``os._exit``, a segfault,
the OOM killer); here a dead or hung worker costs its current task only: the parent notices
(its pipe closes, or the task outlives its hard deadline), kills and restarts that worker,
and reports the task as ``died`` or ``hung``. Workers are spawned (no fork with threads),
run with single-threaded BLAS, ignore Ctrl-C (the parent handles it) and live under an
address-space limit, so a huge allocation raises MemoryError inside the worker.
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
from typing import Any

from mutagrad.errors import MutagradError

class WorkerStartError(MutagradError):
    """A worker died before it could take a task: nothing would ever run."""


_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
        current = pages * os.sysconf("SC_PAGE_SIZE")
        limit = current + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: no cap, the hard deadline still protects the campaign


def _worker(conn: Connection, init: Callable[..., Any], init_args: tuple[Any, ...],
            handle: Callable[[Any, Any], Any], memory_bytes: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # a mutant's prints must not garble the parent's progress display
    os.dup2(devnull, 2)
    state = init(*init_args)
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
        self.task: Any = None
        self.deadline = 0.0
        self.start()

    def start(self) -> None:
        parent, child = self.pool.ctx.Pipe()
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})
        try:
            self.process = self.pool.ctx.Process(
                target=_worker, daemon=True,
                args=(child, self.pool.init, self.pool.init_args, self.pool.handle,
                      self.pool.memory_bytes))
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

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class Pool:
    """``Pool(jobs, init, init_args, handle)``: each worker runs ``state = init(*init_args)``
    once, then ``handle(state, task)`` per task. Use as a context manager."""

    def __init__(self, jobs: int, init: Callable[..., Any], init_args: tuple[Any, ...],
                 handle: Callable[[Any, Any], Any], memory_bytes: int | None = None):
        self.ctx = mp.get_context("spawn")
        self.init, self.init_args, self.handle = init, init_args, handle
        self.memory_bytes = memory_bytes
        self.slots = [_Slot(self) for _ in range(max(1, jobs))]

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for slot in self.slots:
            if slot.process.is_alive() and slot.task is None and slot.ready:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
            slot.kill()

    def run(self, tasks: Iterable[Any], deadline: Callable[[Any], float]) -> Iterator[Done | Failed]:
        """Yield one ``Done`` or ``Failed`` per task, in completion order.

        ``deadline(task)`` is the task's hard wall-time limit in seconds, counted from when a
        worker takes it. Tasks may be added while iterating with ``submit``.
        """
        self.queue: deque[Any] = deque(tasks)
        while self.queue or any(s.task is not None for s in self.slots):
            for slot in self.slots:
                if slot.ready and slot.task is None and self.queue:
                    slot.task = self.queue.popleft()
                    slot.deadline = time.monotonic() + deadline(slot.task)
                    slot.conn.send(slot.task)
            waiting = {s.conn: s for s in self.slots}
            waiting.update({s.process.sentinel: s for s in self.slots})
            now = time.monotonic()
            busy = [s.deadline - now for s in self.slots if s.task is not None]
            serviced: set[int] = set()  # a death shows on both pipe and sentinel: handle once
            for ready in wait(list(waiting), timeout=max(0.0, min(busy)) if busy else 1.0):
                slot = waiting[ready]
                if id(slot) not in serviced:
                    serviced.add(id(slot))
                    yield from self._service(slot, ready is slot.conn)
            now = time.monotonic()
            for slot in self.slots:
                if slot.task is not None and now > slot.deadline:
                    task, slot.task = slot.task, None
                    slot.kill()
                    slot.start()
                    yield Failed(task, "hung", "killed after its hard deadline")

    def submit(self, task: Any) -> None:
        self.queue.append(task)

    def _service(self, slot: _Slot, readable: bool) -> Iterator[Done | Failed]:
        message: Any = None
        if readable:
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):
                message = None
            else:
                if message == "ready":
                    slot.ready = True
                    return
                task, slot.task = slot.task, None
                yield Done(task, message)
                return
        if message is None:  # the pipe closed or the process sentinel fired: it died
            slot.process.join(5)
            code = slot.process.exitcode
            task, slot.task = slot.task, None
            was_ready = slot.ready
            slot.kill()
            if not was_ready and task is None:
                raise WorkerStartError(f"a worker process failed to start (exit code {code}); "
                                       "run with --jobs 1 to see why")
            slot.start()
            if task is not None:
                yield Failed(task, "died", f"worker process died (exit code {code})")
