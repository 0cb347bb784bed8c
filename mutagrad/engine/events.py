"""What every engine streams back: one ``Done`` or ``Failed`` per task."""

from __future__ import annotations

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
    per task (``handle(state, task)`` in a sandbox, ``state = init(*init_args)``), and
    ``submit`` adds a task while ``run`` iterates. ``remote`` says whether the work leaves
    this machine (then a user's subject file must travel as its source).
    """

    remote: bool

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def run(self, init_args: tuple[Any, ...], tasks: Iterable[Any],
            deadline: Callable[[Any], float]) -> Iterator[Done | Failed]: ...

    def submit(self, task: Any) -> None: ...
