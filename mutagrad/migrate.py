"""Creating a results database at the newest revision, and upgrading an older one in place
with Alembic (revisions in mutagrad/migrations/).

The store calls ``create`` for a new database and ``upgrade`` when it opens a database whose
revision is older than this mutagrad's. A SQLite file is copied first (``results.db`` -> ``results.db.bak-<revision>``),
so an upgrade that fails half-way loses nothing; PostgreSQL upgrades run in one transaction.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported only to upgrade (it costs every command half a second otherwise);
# opening a database at HEAD reads its revision with one query. A test checks that HEAD is
# the newest revision in mutagrad/migrations/versions.
HEAD = "0006"
_LOCATION = str(Path(__file__).with_name("migrations"))
LEGACY_REVISION = "0001"  # what a database of mutagrad 0.1 (schema version 1) is


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _LOCATION)
    config.attributes["engine"] = engine
    return config


def head() -> str:
    """The newest revision this mutagrad knows."""
    return HEAD


def revisions() -> set[str]:
    """Every revision in mutagrad/migrations/versions (read with Alembic)."""
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory(_LOCATION).walk_revisions()}


def known(revision: str) -> bool:
    return revision == HEAD or revision in revisions()


def current(engine: Engine) -> str | None:
    """The database's revision (None: not under Alembic yet)."""
    version = sa.table("alembic_version", sa.column("version_num", sa.String))
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.select(version.c.version_num)).scalars().first()


def backup(database: str, revision: str) -> Path:
    """A copy of a SQLite file before it is upgraded."""
    target = Path(f"{database}.bak-{revision}")
    shutil.copy2(database, target)
    return target


# Alembic's own version table, as ``alembic stamp`` makes it (the same DDL, so that Alembic
# upgrades a database made by ``create`` later)
_VERSION = sa.Table("alembic_version", sa.MetaData(),
                    sa.Column("version_num", sa.String(32), nullable=False),
                    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def create(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """A new database at ``HEAD``: the models' tables (``metadata``) and the version table
    stamped ``HEAD``, on ``connection``, in the caller's transaction (which the caller
    commits with its own rows: a database is made whole or not at all).

    The same schema as an empty database upgraded through every revision (a test compares
    the two, table by table), without importing Alembic nor replaying the chain: that cost
    every new database about half a second.
    """
    metadata.create_all(connection)
    _VERSION.create(connection)
    connection.execute(_VERSION.insert().values(version_num=HEAD))


def upgrade(engine: Engine, stamp: str | None = None) -> None:
    """Bring the database to ``head``; ``stamp`` first records a revision the database
    already has (a legacy file made before Alembic)."""
    from alembic import command

    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if stamp is not None:
            command.stamp(config, stamp)
        command.upgrade(config, "head")
