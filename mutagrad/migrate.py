"""Upgrading a results database in place, with Alembic (revisions in mutagrad/migrations/).

The store calls ``upgrade`` when it opens a database whose revision is older than this
mutagrad's. A SQLite file is copied first (``results.db`` -> ``results.db.bak-<revision>``),
so an upgrade that fails half-way loses nothing; PostgreSQL upgrades run in one transaction.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

_LOCATION = str(Path(__file__).with_name("migrations"))
LEGACY_REVISION = "0001"  # what a database of mutagrad 0.1 (schema version 1) is


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", _LOCATION)
    config.attributes["engine"] = engine
    return config


def head() -> str:
    """The newest revision this mutagrad knows."""
    revision = ScriptDirectory(_LOCATION).get_current_head()
    assert revision is not None
    return revision


def known(revision: str) -> bool:
    return revision in {s.revision for s in ScriptDirectory(_LOCATION).walk_revisions()}


def current(engine: Engine) -> str | None:
    """The database's revision (None: not under Alembic yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def backup(database: str, revision: str) -> Path:
    """A copy of a SQLite file before it is upgraded."""
    target = Path(f"{database}.bak-{revision}")
    shutil.copy2(database, target)
    return target


def upgrade(engine: Engine, stamp: str | None = None) -> None:
    """Bring the database to ``head``; ``stamp`` first records a revision the database
    already has (a legacy file made before Alembic)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if stamp is not None:
            command.stamp(config, stamp)
        command.upgrade(config, "head")
