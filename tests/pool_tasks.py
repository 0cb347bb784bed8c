"""Task functions for the pool tests (importable by worker processes)."""

import os
import time


def init(offset):
    return offset


def handle(offset, task):
    if task == "die":
        os._exit(3)
    if task == "hang":
        time.sleep(600)
    if task == "huge":
        import numpy as np

        return float(np.ones(2**28).sum())  # 2 GiB: over the memory cap
    return offset + task
