"""Time limits on the user's code, in the running process: SIGALRM raises ``EvaluationTimeout``
inside whatever runs (the main thread, on Unix; elsewhere there is no soft limit and the
worker pool's hard deadline still protects a campaign)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EvaluationTimeout(BaseException):
    """Raised inside code that ran too long (a BaseException: ``except Exception`` in the
    user's code must not swallow it)."""


def _usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def alarm_handler() -> Iterator[None]:
    """Route SIGALRM to ``EvaluationTimeout`` for the block; ``arm`` starts the clock."""
    if not _usable():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise EvaluationTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def arm(seconds: float | None) -> None:
    """Raise ``EvaluationTimeout`` in ``seconds`` (0 or None: disarm)."""
    if _usable():
        signal.setitimer(signal.ITIMER_REAL, seconds or 0)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """The block raises ``EvaluationTimeout`` when it runs longer than ``seconds``."""
    with alarm_handler():
        arm(seconds)
        try:
            yield
        finally:
            arm(0)
