"""Database backends for the store's tests: SQLite always, PostgreSQL when a server is
installed (a throwaway cluster on a Unix socket in a temporary folder: no network)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def postgres_available() -> bool:
    return bool(_pg_bin("initdb") and _pg_bin("pg_ctl"))


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL cluster; yield its SQLAlchemy URL; stop and delete it."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    assert initdb and pg_ctl
    folder = tempfile.mkdtemp(prefix="mutagrad-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    port = "54329"
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*as_user, pg_ctl, "-D", data, "-w", "-l", os.path.join(folder, "log"),
                        "-o", f"-k {folder} -c listen_addresses='' -p {port} -F", "start"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
