"""The Dask engine: a campaign's chunks on a Dask distributed cluster, streamed back to one
writer (the driver, which alone talks to the store).

Each chunk (a few mutants, each over all its cases) runs inside a Dask worker in the same
sandbox the local engine uses: a ``local.Pool`` of one process with the per-evaluation
deadline and the memory cap. A mutant that hangs, exits, eats memory or raises costs its
sandbox process, never the Dask worker, and gets the same ``Failed`` event as locally. The
sandboxes live in a worker plugin (one per chunk running at once on that worker, kept
between chunks, so the campaign's state is built once per sandbox); a Dask worker that
dies mid-chunk has its chunk run again elsewhere by the scheduler.

The state the tasks share (cases, numerical sides, the original's gradients) is scattered
to every worker once, not shipped with each chunk.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from typing import Any, Self

from distributed import Client, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker

from mutagrad.engine.events import Done, Failed
from mutagrad.engine.local import CallFailed, Pool
from mutagrad.errors import MutagradError

CHUNKS_PER_THREAD = 4  # enough chunks to balance the load, few enough to keep overhead low
MAX_CHUNK = 32


class SchedulerUnreachable(MutagradError):
    """No Dask scheduler answers at the address given, or it has no workers."""

    exit_code = 2


class _Sandboxes(WorkerPlugin):
    """A Dask worker plugin: sandbox pools on that worker, one per chunk running at once.

    They go when the driver unregisters the plugin (its campaign ended), or after
    ``IDLE_SECONDS`` unused (a driver killed before it could say so).
    """

    IDLE_SECONDS = 120.0

    def __init__(self, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
                 memory_bytes: int | None, preload: tuple[str, ...]):
        self.init, self.handle = init, handle
        self.memory_bytes, self.preload = memory_bytes, preload

    def setup(self, worker: Any) -> None:
        self.lock = threading.Lock()
        self.free: list[tuple[Pool, float]] = []  # (pool, when it was last used)
        self.closed = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def teardown(self, worker: Any) -> None:
        self.closed.set()
        with self.lock:
            pools, self.free = self.free, []
        for pool, _ in pools:
            pool.close()

    def _reap(self) -> None:
        while not self.closed.wait(self.IDLE_SECONDS / 4):
            now = time.monotonic()
            with self.lock:
                idle = [p for p, used in self.free if now - used > self.IDLE_SECONDS]
                self.free = [(p, used) for p, used in self.free if p not in idle]
            for pool in idle:
                pool.close()

    @contextmanager
    def checkout(self) -> Iterator[Pool]:
        with self.lock:
            pool = self.free.pop()[0] if self.free else None
        if pool is None:
            pool = Pool(1, self.init, self.handle, self.memory_bytes, self.preload)
        try:
            yield pool
        except BaseException:
            pool.close()
            raise
        with self.lock:
            if not self.closed.is_set():
                self.free.append((pool, time.monotonic()))
                return
        pool.close()  # the campaign ended while this chunk ran


def run_chunk(plugin: str, init_args: tuple[Any, ...], chunk: list[Any],
              deadline: Callable[[Any], float]) -> list[Done | Failed]:
    """The Dask task: the chunk's tasks through one of this worker's sandboxes."""
    sandboxes = get_worker().plugins[plugin]
    assert isinstance(sandboxes, _Sandboxes)
    with sandboxes.checkout() as pool:
        return list(pool.run(init_args, chunk, deadline))


def connect(address: str, timeout: float = 10.0) -> Client:
    """A client of the scheduler at ``address``; ``SchedulerUnreachable`` when none answers
    within ``timeout`` seconds."""
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} ({type(e).__name__}): start "
            "one with 'dask scheduler', or check --scheduler / MUTAGRAD_SCHEDULER") from None


class DaskEngine:
    """``DaskEngine(address, init, handle)`` connects now; then as ``local.Pool``."""

    remote = True

    def __init__(self, address: str, init: Callable[..., Any],
                 handle: Callable[[Any, Any], Any], memory_bytes: int | None = None,
                 preload: tuple[str, ...] = (), connect_timeout: float = 10.0):
        self.address = address
        self.client = connect(address, connect_timeout)
        self.sandboxes = _Sandboxes(init, handle, memory_bytes, preload)
        self.queue: deque[Any] = deque()
        self.connect_timeout = connect_timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def submit(self, task: Any) -> None:
        """Add a task while ``run`` is iterating."""
        self.queue.append(task)

    def _lost(self) -> SchedulerUnreachable:
        return SchedulerUnreachable(
            f"lost the Dask scheduler at {self.address}: finished trials are stored; resume "
            "the campaign (mutagrad run --resume) when a scheduler is back")

    def _threads(self) -> int:
        try:
            self.client.wait_for_workers(1, timeout=self.connect_timeout)
            return max(1, sum(self.client.nthreads().values()))
        except TimeoutError:
            raise SchedulerUnreachable(
                f"the Dask scheduler at {self.address} has no workers: start some with "
                f"'dask worker {self.address}'") from None
        except OSError:  # distributed's CommClosedError: it went away between two phases
            raise self._lost() from None

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[fn(*args) for args in calls]`` as Dask tasks (trusted code: no sandbox)."""
        self._threads()
        futures = [self.client.submit(fn, *args, pure=False) for args in calls]
        try:
            return list(self.client.gather(futures))
        except MutagradError:
            raise
        except Exception as e:
            raise CallFailed(f"{fn.__name__} failed on the cluster: "
                             f"{type(e).__name__}: {e}") from e

    def run(self, init_args: tuple[Any, ...], tasks: Iterable[Any],
            deadline: Callable[[Any], float]) -> Iterator[Done | Failed]:
        """Yield one ``Done`` or ``Failed`` per task, in completion order."""
        threads = self._threads()
        self.queue.extend(tasks)
        size = max(1, min(MAX_CHUNK, math.ceil(len(self.queue) / (threads * CHUNKS_PER_THREAD))))
        plugin = f"mutagrad-sandboxes-{uuid.uuid4().hex}"
        try:
            self.client.register_plugin(self.sandboxes, name=plugin)
            # On every worker, so a dead worker's replica is not the only one.
            [state] = self.client.scatter([init_args], broadcast=True, hash=False)
        except OSError:
            raise self._lost() from None
        chunks: dict[Any, list[Any]] = {}

        def send() -> list[Any]:
            sent = []
            while self.queue:
                chunk = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
                future = self.client.submit(run_chunk, plugin, state, chunk, deadline,
                                            pure=False)
                chunks[future] = chunk
                sent.append(future)
            return sent

        pending = as_completed(send(), loop=self.client.loop)
        try:
            for future in pending:
                chunk = chunks.pop(future)
                try:
                    events = future.result()
                except KilledWorker as e:  # it killed several workers: blame its tasks
                    events = [Failed(task, "died", f"its chunk killed Dask workers ({e})")
                              for task in chunk]
                except CancelledError:
                    raise self._lost() from None
                for event in events:
                    yield event
                    for more in send():  # tasks the caller submitted meanwhile
                        pending.add(more)
        finally:
            for future in chunks:
                future.cancel()
            try:
                self.client.unregister_worker_plugin(plugin)
            except Exception:  # noqa: BLE001, S110 - closing: the cluster may be gone
                pass
