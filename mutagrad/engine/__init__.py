"""Engines: where a campaign's evaluations run. The local process pool by default; a Dask
distributed cluster with a scheduler address. Same tasks, same sandbox, same events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mutagrad.engine.events import Done, Engine, Failed, Feed, WorkerStartError
from mutagrad.engine.local import CallFailed, Pool
from mutagrad.errors import InvalidInput

__all__ = ["CallFailed", "Done", "Engine", "Failed", "Feed", "Pool", "WorkerStartError",
           "open_engine", "reach"]


def open_engine(jobs: int, init: Callable[..., Any], handle: Callable[[Any, Any], Any],
                memory_bytes: int | None = None, preload: tuple[str, ...] = (),
                scheduler: str | None = None) -> Engine:
    """The local pool of ``jobs`` processes, or, given a scheduler address
    (``tcp://host:8786``), the Dask cluster behind it (``jobs`` is then the cluster's)."""
    if not scheduler:
        return Pool(jobs, init, handle, memory_bytes, preload)
    try:
        from mutagrad.engine.dask import DaskEngine
    except ImportError:
        raise InvalidInput("--scheduler needs Dask distributed: pip install "
                           "'mutagrad[dask]'") from None
    return DaskEngine(scheduler, init, handle, memory_bytes, preload)


def reach(scheduler: str | None) -> None:
    """Raise ``SchedulerUnreachable`` (exit 2) unless a Dask scheduler answers at
    ``scheduler``; nothing for the local pool. Called before anything is written (a store
    created for a campaign that cannot start would be left behind, empty)."""
    if not scheduler:
        return
    try:
        from mutagrad.engine.dask import connect
    except ImportError:
        raise InvalidInput("--scheduler needs Dask distributed: pip install "
                           "'mutagrad[dask]'") from None
    connect(scheduler).close()  # type: ignore[no-untyped-call]  # distributed is untyped
