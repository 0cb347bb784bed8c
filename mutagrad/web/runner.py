"""The process that runs one campaign for the service: ``python -m mutagrad.web.runner``.

It reads its plan (JSON) on stdin, writes one JSON line on stdout as soon as the campaign
has an id (``{"campaign": 7}``) or could not start (``{"error": "..."}``), then runs the
campaign with the library (``campaign.start`` / ``campaign.resume``), exactly as
``mutagrad run`` does. It stops with the server (it notices its parent is gone and
interrupts itself, as Ctrl-C would): the campaign then stores what it finished and is
marked interrupted, ready to be resumed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

from mutagrad import campaign
from mutagrad.errors import MutagradError
from mutagrad.store import Store
from mutagrad.values import Settings, Status, SubjectSpec

PARENT_POLL_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """Interrupt this process (as Ctrl-C would) once the server that started it is gone.

    A polling thread, not Linux's parent-death signal: that one fires when the *thread*
    that started the child ends, and the server starts campaigns from short-lived worker
    threads."""
    if os.getppid() != parent:  # the server died before we got here
        raise KeyboardInterrupt

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()


def _announce(payload: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()
    except OSError:
        pass  # the server is gone: the store says everything there is to say


class _AnnouncingStore(Store):
    """A Store that tells the server the campaign's id the moment it is running: when a new
    campaign is created, or when a resumed one is marked running again."""

    announced = False

    def _announce_once(self, campaign_id: int) -> None:
        if not self.announced:
            self.announced = True
            _announce({"campaign": campaign_id})

    def create_campaign(self, **kwargs: Any) -> int:
        campaign_id = super().create_campaign(**kwargs)
        self._announce_once(campaign_id)
        return campaign_id

    def set_status(self, campaign_id: int, status: Status, **kwargs: Any) -> None:
        super().set_status(campaign_id, status, **kwargs)
        if status == Status.RUNNING:
            self._announce_once(campaign_id)


def main() -> int:
    plan = json.loads(sys.stdin.read())
    try:
        _die_with_parent(int(plan["parent"]))
        store = _AnnouncingStore(plan["db"])
        if plan.get("resume") is not None:
            campaign.resume(store, int(plan["resume"]))
        else:
            settings = Settings.from_config(plan["settings"])
            campaign.start(store, SubjectSpec.from_config(plan["spec"]), settings,
                           plan.get("name"))
    except MutagradError as e:
        _announce({"error": str(e)})
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
