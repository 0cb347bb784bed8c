"""A real Dask cluster for the tests: a `dask scheduler` and `dask worker` processes on
127.0.0.1 free ports, as dask/distributed's own utils_test does (no in-process fakes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask(*args: str) -> list[str]:
    # the `dask` command of this interpreter, whatever is on PATH
    return [sys.executable, "-c", "from dask.cli import run_cli; run_cli()", *args]


@contextmanager
def dask_cluster(workers: int = 2) -> Iterator[str]:
    """Start a scheduler and ``workers`` one-thread workers (each under its nanny, as users
    run them); yield the scheduler's address; stop them all."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env,
             "start_new_session": True}
    procs = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                                    "--no-dashboard"), **quiet)]
    try:
        for _ in range(workers):
            procs.append(subprocess.Popen(_dask(
                "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                "--no-dashboard", "--memory-limit", "0"), **quiet))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
