"""The service's memo: a finished campaign's answers are kept, a live one's are refreshed,
and concurrent readers of one key share one computation."""

import threading
import time
from datetime import datetime

from mutagrad.values import CampaignInfo, Settings, Status, SubjectSpec
from mutagrad.web.cache import Memo


def _info(status):
    return CampaignInfo(1, None, "mlp3", "h", Settings(), SubjectSpec("mlp3"), {}, "0",
                        datetime(2026, 1, 1), None, Status(status), 0, None)


def test_settled_answers_are_kept_live_ones_refreshed():
    memo, calls = Memo(live_seconds=0.5), []

    def compute():
        calls.append(1)
        return len(calls)

    assert memo.get(_info("finished"), "r", compute) == 1
    time.sleep(0.6)
    assert memo.get(_info("finished"), "r", compute) == 1  # a finished campaign never changes
    assert memo.get(_info("running"), "r", compute) == 2   # the status is part of the key
    assert memo.get(_info("running"), "r", compute) == 2
    time.sleep(0.6)
    assert memo.get(_info("running"), "r", compute) == 3   # stale after live_seconds


def test_concurrent_readers_share_one_computation():
    memo, calls = Memo(), []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "report"

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get(_info("running"), "r", slow)))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["report"] * 20 and len(calls) == 1


def test_least_recently_used_is_evicted():
    memo = Memo(entries=2)
    for key in ("a", "b", "c"):
        memo.get(_info("finished"), key, lambda key=key: key)
    assert memo.get(_info("finished"), "a", lambda: "again") == "again"
    assert memo.get(_info("finished"), "c", lambda: "again") == "c"
