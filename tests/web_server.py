"""A real `mutagrad serve` process for tests (datasette's test_cli_serve_server as the model)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``mutagrad serve --db DB`` on 127.0.0.1 and a free port, ready when constructed."""

    def __init__(self, db: str, *args: str, timeout: float = 60.0):
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mutagrad", "serve", "--db", db, "--port", str(self.port),
             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mutagrad serve exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/api/subjects", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mutagrad serve did not answer within {timeout} s")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> str:
        """SIGKILL: no chance to clean up, as when the machine or the OOM killer stops it."""
        self.process.send_signal(signal.SIGKILL)
        out, _ = self.process.communicate(timeout=30)
        return out

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                out, _ = self.process.communicate(timeout=60)
                return out
            except subprocess.TimeoutExpired:
                self.process.kill()
        out, _ = self.process.communicate()
        return out or ""
