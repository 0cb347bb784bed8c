"""What every engine streams back: one ``Done`` or ``Failed`` per task."""

from __future__ import annotations

import os
import select
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from mutagrad.errors import MutagradError


@dataclass(frozen=True)
class Done:
    task: Any
    result: Any


@dataclass(frozen=True)
class Failed:
    task: Any
    reason: str  # "died" or "hung"
    detail: str


class WorkerStartError(MutagradError):
    """A worker died before it could take a task: nothing would ever run."""


class Engine(Protocol):
    """Where a campaign's evaluations run: the local pool or a Dask cluster.

    ``map`` runs trusted calls in parallel (the numerical sides); ``run`` streams one event
    per task (``handle(state, task)`` in a sandbox, ``state = init(*init_args)``), its
    ``tasks`` a list or a ``Feed`` (tasks that arrive while it runs), and ``submit`` adds a
    task while ``run`` iterates. ``remote`` says whether the work leaves
    this machine (then a user's subject file must travel as its source).
    """

    remote: bool

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def run(self, init_args: tuple[Any, ...], tasks: Iterable[Any],
            deadline: Callable[[Any], float]) -> Iterator[Done | Failed]: ...

    def submit(self, task: Any) -> None: ...


class Feed:
    """Tasks that arrive while an engine runs (a campaign's mutants, as they are made).

    Any thread may ``put`` tasks and must ``close`` the feed when no more will come; the
    engine's loop waits on it with the workers (``fileno`` turns readable on news) and
    ``take``s what has arrived, so ``run`` ends only when the feed is closed and drained.
    ``convert`` turns each item into a task (or None: no task), and ``on_closed`` is called
    once the feed is closed, both in the thread that takes (the engine's loop, which then
    may act at once on the news). An engine that does not stream just iterates the feed:
    every task, until it closes.
    """

    def __init__(self, convert: Callable[[Any], Any] = lambda item: item,
                 on_closed: Callable[[], None] = lambda: None):
        self.convert = convert
        self.on_closed = on_closed
        self._lock = threading.Lock()
        self._items: deque[Any] = deque()
        self._open = True
        self._told = False  # on_closed called
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def put(self, items: Iterable[Any]) -> None:
        with self._lock:
            self._items.extend(items)
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._open = False
        self._wake()

    @property
    def open(self) -> bool:
        with self._lock:
            return self._open

    def fileno(self) -> int:
        return self._read

    def take(self) -> list[Any]:
        """The tasks that have arrived since the last call (never blocks)."""
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass  # drained
        with self._lock:
            items = list(self._items)
            self._items.clear()
            told, self._told = self._told, self._told or not self._open
        tasks = [task for task in map(self.convert, items) if task is not None]
        if not told and self._told:
            self.on_closed()
        return tasks

    def __iter__(self) -> Iterator[Any]:
        """Every task, in order, each as soon as it arrives; ends when the feed is closed."""
        while True:
            is_open = self.open
            yield from self.take()
            if not is_open:
                return
            select.select([self._read], [], [])

    def dispose(self) -> None:
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _wake(self) -> None:
        try:
            os.write(self._write, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (already readable) or disposed
