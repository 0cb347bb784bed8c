"""Time limits on the user's code, in the running process: SIGALRM raises ``EvaluationTimeout``
inside whatever runs (the main thread, on Unix; elsewhere there is no soft limit and the
worker pool's hard deadline still protects a campaign)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class EvaluationTimeout(BaseException):
    """Raised inside code that ran too long (a BaseException: ``except Exception`` in the
    user's code must not swallow it)."""


def _usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _disarmed(seconds: float | None) -> None:
    return None


def _arm_now(seconds: float | None) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds or 0)


Arm = Callable[[float | None], None]


@contextmanager
def alarm_handler() -> Iterator[Arm]:
    """Route SIGALRM to ``EvaluationTimeout`` for the block, which gets the ``arm`` to start
    the clock with: the hot loop calls it twice per evaluation, so whether a soft limit is
    usable here (the main thread, on Unix) is decided once, not per call."""
    if not _usable():
        yield _disarmed
        return

    def expire(signum: int, frame: Any) -> None:
        raise EvaluationTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        yield _arm_now
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
    with alarm_handler() as arm_:
        arm_(seconds)
        try:
            yield
        finally:
            arm_(0)
