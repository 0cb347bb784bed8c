"""Campaigns the service runs: one child process each (``mutagrad.web.runner``), same engine.

A campaign runs in its own process, not in the server: the engine times mutants out with
SIGALRM (main thread only), and a subject's code must never be able to take the server
down. The child writes to the same store; the server only reads it back. The service never
runs code that arrives in a request: a subject is a built-in, or a ``.py`` file directly
under ``--subjects DIR`` (named by its file name, resolved and checked to stay inside).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mutagrad import campaign, subjects
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.store import Store
from mutagrad.values import Settings, SubjectSpec

START_SECONDS = 120.0  # a child that has not named its campaign by then is stopped


class Busy(MutagradError):
    """The server already runs as many campaigns as it allows."""


def subject_files(folder: Path | None) -> list[str]:
    """The ``.py`` files a request may name (adapter files excluded: they are found beside)."""
    if folder is None:
        return []
    return sorted(p.name for p in folder.glob("*.py")
                  if p.is_file() and not p.name.endswith(subjects.ADAPTER_SUFFIX)
                  and not p.name.startswith("_"))


def resolve_subject(name: str, folder: Path | None) -> SubjectSpec:
    """A built-in name, or a file listed by ``subject_files``; anything else is refused."""
    if name in subjects.BUILTIN:
        return subjects.parse_spec(name)
    if folder is not None and name in subject_files(folder):
        path = (folder / name).resolve()
        if path.parent == folder.resolve():
            return subjects.parse_spec(str(path))
    where = " or a file under --subjects (see /api/subjects)" if folder else ""
    raise InvalidInput(f"unknown subject {name!r}: use a built-in ({', '.join(subjects.BUILTIN)})"
                       f"{where}")


@dataclass
class Jobs:
    """The campaigns this server started and still runs (at most ``limit`` at a time)."""

    store: Store
    limit: int = 1
    _running: dict[int, subprocess.Popen[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _busy(self) -> int:
        """Campaigns of ours still running (a process that finished its campaign and is
        shutting its workers down no longer counts)."""
        return sum(p.poll() is None and self.store.campaign(i).status == "running"
                   for i, p in self._running.items())

    def start(self, spec: SubjectSpec, settings: Settings, name: str | None) -> int:
        campaign.validate_settings(settings)
        return self._launch({"spec": spec.config(), "settings": settings.config(),
                             "name": name})

    def resume(self, campaign_id: int) -> int:
        return self._launch({"resume": campaign_id})

    def _launch(self, plan: dict[str, Any]) -> int:
        with self._lock:
            if self._busy() >= self.limit:
                raise Busy(f"this server already runs {self.limit} campaign(s): wait for it "
                           "to finish (see /api/campaigns)")
            process = subprocess.Popen(
                [sys.executable, "-m", "mutagrad.web.runner"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps({**plan, "db": self.store.url, "parent": os.getpid()}))
            process.stdin.close()
            answer = _first_line(process)
            if "campaign" not in answer:
                process.wait()
                raise InvalidInput(answer.get("error") or "the campaign did not start")
            campaign_id = int(answer["campaign"])
            self._running[campaign_id] = process
        threading.Thread(target=_reap, args=(process,), daemon=True).start()
        return campaign_id

    def stop_all(self) -> None:
        """Interrupt every campaign (they store what they finished and can be resumed)."""
        with self._lock:
            for p in self._running.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)  # it stores what it finished: resumable
            for p in self._running.values():
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


def _first_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def read() -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            result.update(json.loads(line) if line.strip() else {})
        except json.JSONDecodeError:
            result["error"] = f"the campaign process said {line.strip()[:200]!r}"

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_SECONDS)
    if reader.is_alive():
        process.kill()
        return {"error": f"the campaign did not start within {START_SECONDS:.0f} s"}
    return result


def _reap(process: subprocess.Popen[str]) -> None:
    """Drain the child's output and wait for it, so no zombie looks like a live campaign."""
    if process.stdout is not None:
        for _ in process.stdout:
            pass
    process.wait()
