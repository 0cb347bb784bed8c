"""The local engine: a small process pool built for code that may hang, crash, exit or eat
memory. It is also the sandbox the Dask engine runs each chunk in, inside a Dask worker.

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
two tasks, so it never waits while the parent stores results. A worker exits the moment the
process that made the pool dies, even mid-task (a driver killed with SIGKILL).

Before ``run``, ``map`` calls trusted functions on the same workers in parallel (a campaign
computes its numerical sides this way). A pool may ``run`` several batches of tasks with
the same state: the workers keep it (the Dask engine keeps one sandbox per Dask worker thread).
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any, Self

from mutagrad.engine.events import Done, Failed, Feed, WorkerStartError
from mutagrad.errors import MutagradError

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_IN_FLIGHT = 2


_START_LOCK = threading.Lock()  # environment and process flags are per process, not thread


class CallFailed(MutagradError):
    """A function run with ``Pool.map`` raised, or its worker died."""


@contextmanager
def _starting_worker() -> Iterator[None]:
    """Single-threaded BLAS for the child; and, inside a daemonic process (a Dask worker
    under its nanny), lift multiprocessing's "no children" rule for this start: the sandbox
    workers die with their parent anyway (their pipe closes).

    Ctrl-C is blocked in this thread meanwhile: the fork server started here (and every
    worker it forks) inherits the blocked signal, so a Ctrl-C in a terminal, which reaches
    the whole process group, never interrupts its imports or a worker's start with a
    traceback of its own; the parent handles it (``_worker`` then ignores it for good)."""
    with _START_LOCK:
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})
        config = mp.current_process()._config  # type: ignore[attr-defined]
        daemon = config.pop("daemon", None)
        mask = None
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            # the resource tracker unblocks Ctrl-C in the thread that starts it: first
            resource_tracker.ensure_running()
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            if mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            if daemon is not None:
                config["daemon"] = daemon
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


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


def _die_with_owner(owner: int) -> None:
    """End this worker the moment ``owner`` (the process that made the pool) dies.

    A worker notices a closed pipe only between tasks: an owner killed with SIGKILL (no
    chance to close the pool) left each worker running its current task to the end, a hung
    mutant its whole deadline. The kernel's parent-death signal cannot help: the parent is
    the fork server, which itself waits for its children to exit. So a daemon thread
    waits on the owner (a pidfd, woken by its exit; else a check each second) and exits
    the process; the task runs in the main thread, untouched."""

    def watch() -> None:
        try:
            fd = os.pidfd_open(owner)
        except ProcessLookupError:
            os._exit(1)
        except (AttributeError, OSError):  # not Linux 5.3+: look once a second
            while True:
                time.sleep(1.0)
                try:
                    os.kill(owner, 0)
                except ProcessLookupError:
                    os._exit(1)
                except PermissionError:
                    pass  # alive, someone else's: cannot be, but never kill for it
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def _worker(conn: Connection, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
            memory_bytes: int | None, owner: int) -> None:
    _die_with_owner(owner)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    state: Any = None
    while True:
        message = conn.recv()
        if message is None:
            return
        kind, body = message
        if kind == "task":
            conn.send(handle(state, body))
        elif kind == "init":
            state = init(*decode_state(conn.recv_bytes()))
            _limit_memory(memory_bytes)
            conn.send("ready")
        else:  # "call", from Pool.map
            fn, args = body
            try:
                conn.send(("ok", fn(*args)))
            except MutagradError as e:  # ours: one line for the user, raised as it is
                conn.send(("raise", e))
            except Exception as e:  # noqa: BLE001 - reported to the caller, who raises
                conn.send(("error", f"{type(e).__name__}: {e}"))


class _Slot:
    def __init__(self, pool: Pool):
        self.pool = pool
        self.tasks: deque[tuple[Any, float]] = deque()  # (task, hard deadline in seconds)
        self.started = 0.0  # when the head task started running
        self.start()

    def start(self) -> None:
        parent, child = self.pool.ctx.Pipe()
        with _starting_worker():
            self.process = self.pool.ctx.Process(
                target=_worker, daemon=True,
                args=(child, self.pool.init, self.pool.handle, self.pool.memory_bytes,
                      os.getpid()))
            self.process.start()
        child.close()
        self.conn = parent
        self.ready = False
        if self.pool.state is not None:
            self.send_state()

    def send_state(self) -> None:
        """The init arguments: the message, then their bytes as they are (no pickling, no
        copy), which the worker decodes."""
        assert self.pool.state is not None
        self.send(("init", None))
        try:
            self.conn.send_bytes(self.pool.state)
        except OSError:
            pass  # it has just died: its sentinel says so

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


def encode_state(init_args: tuple[Any, ...]) -> bytes:
    """The workers' init arguments as ``decode_state`` reads them, pickled a piece at a time
    (a list item by item).

    Pickled whole into each worker's pipe, they were held in the parent at once with the
    pickle's memo of every object in them: about 30 MB a worker for a campaign of 8,000
    cases, and the parent's memory never shrank back; the bytes are about a fifth of the
    objects, which the caller can then let go of. Objects shared between two items of a
    list are copied, one copy per item."""
    buffer = io.BytesIO()
    pickle.dump(len(init_args), buffer)
    for arg in init_args:
        items = arg if type(arg) is list else None
        pickle.dump(None if items is None else len(items), buffer)
        for item in (arg,) if items is None else items:
            pickle.dump(item, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def decode_state(state: bytes) -> tuple[Any, ...]:
    """The init arguments ``encode_state`` encoded."""
    with io.BytesIO(state) as f:
        args: list[Any] = []
        for _ in range(pickle.load(f)):
            count = pickle.load(f)
            args.append(pickle.load(f) if count is None
                        else [pickle.load(f) for _ in range(count)])
    return tuple(args)


class Pool:
    """``Pool(jobs, init, handle)`` spawns the workers now; ``run(init_args, tasks, deadline)``
    has each build ``state = init(*init_args)`` once and call ``handle(state, task)`` per task.
    Use as a context manager."""

    def __init__(self, jobs: int, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
                 memory_bytes: int | None = None, preload: tuple[str, ...] = ()):
        self.remote = False
        self.ctx: Any
        if "forkserver" in mp.get_all_start_methods():
            self.ctx = mp.get_context("forkserver")
            self.ctx.set_forkserver_preload(list(preload))
        else:
            self.ctx = mp.get_context("spawn")
        self.init, self.handle = init, handle
        self.state: bytes | None = None  # the init arguments, as each worker reads them
        self.memory_bytes = memory_bytes
        self.queue: deque[Any] = deque()
        # Started in the background: the fork server's start-up (it imports ``preload``)
        # overlaps the caller's own preparation instead of blocking it.
        self._slots: list[_Slot] = []
        self._start_error: BaseException | None = None
        self._starter = threading.Thread(target=self._start_slots, args=(max(1, jobs),),
                                         daemon=True)
        self._starter.start()

    def _start_slots(self, jobs: int) -> None:
        try:
            for _ in range(jobs):
                self._slots.append(_Slot(self))
        except BaseException as e:  # noqa: BLE001 - raised where the slots are first used
            self._start_error = e

    @property
    def slots(self) -> list[_Slot]:
        if self._starter.is_alive() or self._start_error is not None:
            self._starter.join()
            if self._start_error is not None:
                raise self._start_error
        return self._slots

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._starter.join()
        for slot in self._slots:
            if slot.process.is_alive() and not slot.tasks and slot.ready:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
            slot.kill()

    def submit(self, task: Any) -> None:
        """Add a task while ``run`` is iterating."""
        self.queue.append(task)

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[fn(*args) for args in calls]``, spread over the workers; only before ``run``.

        For trusted code (no deadline, no memory cap): an exception, or a worker's death,
        raises ``CallFailed``. ``fn`` must be importable by the workers.
        """
        if self.state is not None:
            raise RuntimeError("Pool.map runs before Pool.run")
        results: list[Any] = [None] * len(calls)
        pending = deque(enumerate(calls))
        busy: dict[int, int] = {}  # slot number -> call index
        while pending or busy:
            for n, slot in enumerate(self.slots):
                if n not in busy and pending:
                    busy[n], args = pending.popleft()
                    slot.send(("call", (fn, args)))
            waiting = {s.conn: n for n, s in enumerate(self.slots) if n in busy}
            waiting.update({s.process.sentinel: n for n, s in enumerate(self.slots) if n in busy})
            for ready in wait(list(waiting)):
                n = waiting[ready]
                if n not in busy:
                    continue
                try:
                    kind, value = self.slots[n].conn.recv()
                except (EOFError, OSError):
                    code = self.slots[n].process.join(5) or self.slots[n].process.exitcode
                    raise CallFailed(f"a worker died computing {fn.__name__} "
                                     f"(exit code {code})") from None
                if kind == "raise":
                    raise value
                if kind == "error":
                    raise CallFailed(f"{fn.__name__} failed in a worker: {value}")
                results[busy.pop(n)] = value
        return results

    def run(self, init_args: tuple[Any, ...], tasks: Iterable[Any],
            deadline: Callable[[Any], float]) -> Iterator[Done | Failed]:
        """Yield one ``Done`` or ``Failed`` per task, in completion order.

        ``tasks`` may be a ``Feed``: its tasks are sent as they arrive, and the run ends when
        it is closed and every task has an event.
        ``deadline(task)`` is the task's hard wall-time limit, counted from when it starts.
        The workers build their state from ``init_args`` on the first run; later runs (with
        the same ``init_args``) reuse that state.
        """
        if self.state is None:
            slots = self.slots  # all started first: one started after the state is set
            self.state = encode_state(init_args)  # sends it itself, would build it twice
            for slot in slots:
                slot.send_state()
        del init_args  # the workers (and any started again) read the bytes: let them go
        feed = tasks if isinstance(tasks, Feed) else None
        if feed is None:
            self.queue.extend(tasks)
        while True:
            more = feed is not None and feed.open  # before taking: nothing put is missed
            if feed is not None:
                self.queue.extend(feed.take())
            if not (self.queue or more or any(s.tasks for s in self.slots)):
                break
            self._feed(deadline)
            waiting: dict[Any, Any] = {s.conn: s for s in self.slots}
            waiting.update({s.process.sentinel: s for s in self.slots})
            if more:
                waiting[feed] = feed  # news: tasks, or the feed closed
            now = time.monotonic()
            busy = [s.started + s.tasks[0][1] - now for s in self.slots if s.tasks]
            serviced: set[int] = set()  # a death shows on both pipe and sentinel: handle once
            for ready in wait(list(waiting), timeout=max(0.0, min(busy)) if busy else 1.0):
                slot = waiting[ready]
                if slot is feed:
                    continue  # taken at the top of the loop
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
                slot.send(("task", task))

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
