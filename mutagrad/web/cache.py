"""Reports the service has already computed, so fifty readers cost one computation.

A finished campaign never changes: its report at a given tolerance (and its curves) is kept
until evicted (least recently used first). A running or interrupted one is recomputed at most
once every ``LIVE_SECONDS``, or every ``COST_FACTOR`` times what the last computation took
when that is longer (a report over 50,000 trials takes a second or two: the server must not
spend all its time on it), and concurrent readers of the same key wait for one computation
instead of each starting their own. The key includes the campaign's status, so the first
read after a campaign finishes computes afresh.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from mutagrad.values import CampaignInfo

T = TypeVar("T")
LIVE_SECONDS = 1.0
COST_FACTOR = 3.0
ENTRIES = 256
SETTLED = ("finished", "failed")


class Memo:
    def __init__(self, entries: int = ENTRIES, live_seconds: float = LIVE_SECONDS):
        self.entries = entries
        self.live_seconds = live_seconds
        self._values: OrderedDict[Hashable, tuple[float, float, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, key: Hashable, settled: bool) -> tuple[bool, Any]:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None:
                at, cost, value = hit
                if settled or time.monotonic() - at < max(self.live_seconds, COST_FACTOR * cost):
                    self._values.move_to_end(key)
                    return True, value
        return False, None

    def get(self, info: CampaignInfo, what: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s value for ``what`` of campaign ``info``, shared while fresh."""
        key = (info.id, info.status, what)
        settled = info.status in SETTLED
        ok, value = self._fresh(key, settled)
        if ok:
            return value
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one computation per key at a time; the others wait for its result
            ok, value = self._fresh(key, settled)
            if ok:
                return value
            start = time.monotonic()
            value = compute()
            now = time.monotonic()
            with self._lock:
                self._values[key] = (now, now - start, value)
                self._values.move_to_end(key)
                while len(self._values) > self.entries:
                    old, _ = self._values.popitem(last=False)
                    self._locks.pop(old, None)
            return value
