"""The results database: SQLAlchemy 2.x models and queries. The only module that speaks SQL.

ORM rows never leave this module: callers get frozen dataclasses. Every public method is
one unit of work (one transaction). The URL is any SQLAlchemy URL; SQLite (the default,
``results.db``) runs in WAL mode so readers never block the campaign that writes.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
import urllib.parse
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker
from sqlalchemy.sql import Select

from mutagrad import migrate
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.values import (
    DECIDED,
    FIXED_OUTCOMES,
    ORIGINAL,
    PYTEST,
    STATUS_ORDER,
    CampaignInfo,
    CaseInfo,
    Judging,
    MutantCheck,
    MutantInfo,
    MutantTally,
    Settings,
    Status,
    SubjectSpec,
    TestOutcome,
    read_plan,
    trial_kind,
)
from mutagrad.values import TrialResult as TrialInfo  # one trial, as stored and as computed

# mutagrad_schema.version: 1 was mutagrad 0.1 (no Alembic); 2 means "Alembic manages the
# schema" (alembic_version says the revision), so mutagrad 0.1 refuses such a file.
SCHEMA_VERSION = 2
DEFAULT_URL = "sqlite:///results.db"


class StoreError(MutagradError):
    """The database could not be reached, read or written: an environment error."""

    exit_code = 2


class _SchemaInProgress(Exception):
    """Another process is creating the schema of this database right now."""


class SchemaMismatch(InvalidInput):
    """The database was written by another version of mutagrad's schema."""


class Base(DeclarativeBase):
    pass


class _Schema(Base):
    __tablename__ = "mutagrad_schema"
    version: Mapped[int] = mapped_column(primary_key=True)


class _Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    source_hash: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    tool_version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    original_alarms: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class _Mutant(Base):
    __tablename__ = "mutants"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    mutant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(60))
    function: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(1000))
    line: Mapped[int]
    original: Mapped[str] = mapped_column(Text)
    replacement: Mapped[str] = mapped_column(Text)
    diff: Mapped[str] = mapped_column(Text)
    hidden_by: Mapped[str | None] = mapped_column(Text)


class _Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("campaign_id", "index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    index: Mapped[int]
    seed: Mapped[int | None]
    batch: Mapped[int]
    dtype: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))


class _Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("campaign_id", "mutant_id", "case_index", "strategy", "epsilon"),
        Index("ix_trials_campaign_outcome", "campaign_id", "outcome"),
        # one check's trials of a campaign, mutant by mutant: what every report groups by,
        # covering what it counts (no row of the table is read)
        Index("ix_trials_check", "campaign_id", "strategy", "epsilon", "mutant_id",
              "case_index", "kind", "decisive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    mutant_id: Mapped[str] = mapped_column(String(40))
    case_index: Mapped[int]
    strategy: Mapped[str] = mapped_column(String(40))
    epsilon: Mapped[float] = mapped_column(Float)
    difference: Mapped[float | None] = mapped_column(Float)
    true_error: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    elapsed: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    # what the trial is whatever the tolerance (values.trial_kind), and, when the tolerance
    # decides it (kind DECIDED), the difference it is judged by (inf: not finite): reports
    # count these in SQL without re-reading outcomes, notes and true errors
    kind: Mapped[int] = mapped_column(default=DECIDED, server_default=str(DECIDED))
    decisive: Mapped[float | None] = mapped_column(Float)


class _TestKill(Base):
    """A test of the user's that failed (or errored) on a mutant, with its one-line reason;
    for the original, every test it ran (all passed), so the selection is known."""

    __tablename__ = "test_kills"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    mutant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    test: Mapped[str] = mapped_column(String(1000), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))
    line: Mapped[str | None] = mapped_column(Text)


_FIXED_KINDS = sorted(STATUS_ORDER.index(o) for o in FIXED_OUTCOMES)
_FIXED_SET = frozenset(_FIXED_KINDS)


class _MutantCheck(Base):
    """One mutant's trials of one check as arrays (values.MutantCheck): a row exists only
    while it is current (``add_trials`` deletes the rows of the mutants it writes)."""

    __tablename__ = "mutant_checks"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    mutant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(40), primary_key=True)
    epsilon: Mapped[float] = mapped_column(Float, primary_key=True)
    trials: Mapped[int]
    min_kind: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    error_case: Mapped[int | None]
    cases: Mapped[bytes] = mapped_column(LargeBinary)
    kinds: Mapped[bytes] = mapped_column(LargeBinary)
    decisive: Mapped[bytes] = mapped_column(LargeBinary)


_CAMPAIGN_COLUMNS = ("id", "name", "subject", "source_hash", "config", "tool_version",
                     "started_at", "finished_at", "status", "host", "pid", "original_alarms",
                     "note", "summary")
_MUTANT_FIELDS = tuple(MutantInfo.__dataclass_fields__)
_TEST_FIELDS = tuple(f.name for f in fields(TestOutcome))  # not its ClassVar
_TRIAL_FIELDS = tuple(TrialInfo.__dataclass_fields__)
# a trial's row as add_trials writes it, in the table's order (the compiled insert's)
_TRIAL_COLUMNS = ("campaign_id", *_TRIAL_FIELDS, "kind", "decisive")
_MUTANT_AT = _TRIAL_COLUMNS.index("mutant_id")
_TRIALS: Table = _Trial.__table__  # type: ignore[assignment]  # a Table, typed as FromClause


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def resolve_url(url: str | None) -> str:
    """``--db`` wins, then ``MUTAGRAD_DB``, then ``results.db``; a bare path means SQLite."""
    url = url or os.environ.get("MUTAGRAD_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


def sqlite_file(url: str | None) -> str | None:
    """The file a ``--db`` value names, when it is a SQLite file (None otherwise)."""
    try:
        parsed = make_url(resolve_url(url))
    except ArgumentError:
        return None
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    return database if on_disk else None


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # journal_mode=WAL is written into the file: it is set once the file is known to be
    # mutagrad's (Store._check_schema), so a foreign database is never changed
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _unwritable(database: str) -> str | None:
    """Why SQLite cannot write ``database`` (and its -wal and -shm files beside it), as far
    as permissions tell; None when it can."""
    folder = os.path.dirname(os.path.abspath(database))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    if os.path.exists(database) and not os.access(database, os.W_OK):
        return f"{database} is read-only"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is not writable"
    return None


def _read_only_url(database: str) -> str:
    """SQLite's URI for reading a file this process cannot write. A WAL database needs its
    -shm file, made beside it: where the folder is writable (or the WAL holds trials not
    yet in the file) ``mode=ro`` reads through it; otherwise ``immutable=1`` reads the file
    alone and creates nothing."""
    path = urllib.parse.quote(os.path.abspath(database))
    wal = f"{database}-wal"
    folder_writable = os.access(os.path.dirname(os.path.abspath(database)), os.W_OK | os.X_OK)
    pending = os.path.exists(wal) and os.path.getsize(wal) > 0
    mode = "mode=ro" if folder_writable or pending else "immutable=1"
    return f"sqlite:///file:{path}?{mode}&uri=true"


WRITE_HINT = "pass --db with a file in a folder you can write, or set MUTAGRAD_DB"


class Store:
    """A mutagrad results database. ``Store(url, create=False)`` only reads what exists;
    ``read_only=True`` says the caller never writes: a SQLite file this process cannot
    write (or whose folder it cannot) is then opened read-only instead of refused.

    Raises ``StoreError`` when the database cannot be opened for what the caller does (a
    folder that does not exist or cannot be written, for a caller that writes)."""

    def __init__(self, url: str | None = None, create: bool = True, read_only: bool = False):
        self.url = resolve_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as e:
            raise InvalidInput(f"not a database URL: {self.url!r} (try sqlite:///results.db)") from e
        database = parsed.database
        on_disk = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        if on_disk and not create and not os.path.exists(database):  # type: ignore[arg-type]
            raise InvalidInput(f"no results database at {database}: "
                               "run 'mutagrad run SUBJECT' first, or pass --db")
        self.read_only = False
        self._file = str(database) if on_disk else None
        problem = _unwritable(self._file) if self._file else None
        if problem and not read_only:
            raise StoreError(f"cannot write the results database {database}: {problem} "
                             f"({WRITE_HINT})")
        engine_url = self.url
        if problem and self._file:  # a reader: the file as it is, never written
            self.read_only = True
            engine_url = _read_only_url(self._file)
        try:
            self.engine: Engine = create_engine(engine_url)
        except (ArgumentError, ImportError, SQLAlchemyError) as e:
            raise InvalidInput(f"cannot open database {self.url!r}: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._check_schema(create)

    @functools.cached_property
    def _trial_insert(self) -> tuple[str, bool]:
        """The insert of one trial row (``_TRIAL_COLUMNS``), compiled once for this
        database, and whether it takes each row as a tuple (else as a dict)."""
        dialect = self.engine.dialect
        statement = insert(_TRIALS).compile(dialect=dialect, column_keys=list(_TRIAL_COLUMNS))
        if dialect.positional and tuple(statement.positiontup or ()) != _TRIAL_COLUMNS:
            raise AssertionError(f"the trials table's columns are not {_TRIAL_COLUMNS}")
        return str(statement), bool(dialect.positional)

    def _check_schema(self, create: bool) -> None:
        """Create a new database, upgrade an older one in place, refuse a newer one.

        Several processes may open a new file at once (campaigns started together): one
        creates the schema, the others wait for it and read it (about 5 s at most)."""
        for _ in range(50):
            try:
                self._open_schema(create)
                break
            except _SchemaInProgress:
                time.sleep(0.1)
        else:
            raise StoreError(f"{self.url} is being created by another process and did not "
                             "become ready: try again")
        if self.engine.dialect.name == "sqlite" and not self.read_only:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")

    def _open_schema(self, create: bool) -> None:
        try:
            tables = set(inspect(self.engine).get_table_names())
            if not tables:
                if not create:  # an empty file (a creation cut short): nothing to read
                    raise InvalidInput(f"no results in {self._file or self.url}: run "
                                       "'mutagrad run SUBJECT' first, or pass --db")
                self._create_schema()
                return
            if tables <= {"alembic_version"}:
                raise _SchemaInProgress()  # another process is creating the schema
            if _Schema.__tablename__ not in tables:
                raise InvalidInput(f"{self.url} is not a mutagrad database "
                                   "(it has other tables): pass --db with another file")
            with self.Session() as s:
                version = s.scalar(select(func.max(_Schema.version)))
            revision = migrate.current(self.engine) if version == SCHEMA_VERSION else None
        except SQLAlchemyError as e:
            if "already exists" in str(e) or "locked" in str(e):
                raise _SchemaInProgress() from e  # another process is creating it
            if self._file and "unable to open database file" in str(e):
                verb = "read" if self.read_only or not create else "create or open"
                raise StoreError(f"cannot {verb} the results database {self._file}: "
                                 f"{_first_line(e)} ({WRITE_HINT})") from e
            raise StoreError(f"cannot read database {self.url}: {_first_line(e)}") from e
        if version is None:
            raise _SchemaInProgress()  # tables made, version not written yet
        newer = (version is None or version > SCHEMA_VERSION
                 or (revision is not None and not migrate.known(revision)))
        if newer:
            at = f" revision {revision}" if revision else ""
            raise SchemaMismatch(
                f"{self.url} holds results in schema version {version}{at}, written by a newer "
                "mutagrad: upgrade mutagrad to read it, or pass --db with another file")
        if (version == 1 or revision != migrate.head()) and self.read_only:
            raise StoreError(f"{self._file} was written by an older mutagrad and cannot be "
                             "upgraded here, where it is read-only: make it writable once "
                             "(mutagrad upgrades it in place, keeping a copy)")
        if version == 1 or revision != migrate.head():
            self._upgrade(migrate.LEGACY_REVISION if version == 1 else None,
                          revision or migrate.LEGACY_REVISION)

    def _upgrade(self, stamp: str | None, revision: str) -> None:
        database = make_url(self.url).database
        if self.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
            try:
                migrate.backup(str(database), revision)
            except OSError as e:
                raise StoreError(f"cannot back up {database} before upgrading it: {e}") from e
        try:
            migrate.upgrade(self.engine, stamp=stamp)
            self._set_schema_version()
        except SQLAlchemyError as e:
            raise StoreError(f"upgrading {self.url} failed (the copy {database}.bak-"
                             f"{revision} is intact): {_first_line(e)}") from e

    def _create_schema(self) -> None:
        """Every table, Alembic's stamp and the schema version, in one transaction: a
        creation cut short (Ctrl-C, a kill) leaves an empty database, never half a schema
        that the next command would take for one being created by another process."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                # pysqlite runs DDL outside any transaction unless one is begun by hand
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            migrate.create(connection, Base.metadata)
            connection.execute(insert(_Schema).values(version=SCHEMA_VERSION))
            connection.commit()

    def _set_schema_version(self) -> None:
        with self.Session.begin() as s:
            s.execute(delete(_Schema))
            s.add(_Schema(version=SCHEMA_VERSION))

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ----------------------------------------------------------------------

    def create_campaign(self, *, name: str | None, subject: str, source_hash: str,
                        config: dict[str, Any], tool_version: str,
                        mutants: Sequence[MutantInfo], cases: Sequence[CaseInfo]) -> int:
        try:
            with self.Session.begin() as s:
                row = _Campaign(name=name, subject=subject, source_hash=source_hash,
                                config=config, tool_version=tool_version, started_at=now(),
                                status=Status.RUNNING.value, host=os.uname().nodename, pid=os.getpid())
                s.add(row)
                s.flush()
                if mutants:
                    s.execute(insert(_Mutant), [
                        {"campaign_id": row.id, **{f: getattr(m, f) for f in _MUTANT_FIELDS}}
                        for m in mutants])
                if cases:
                    s.execute(insert(_Case), [
                        {"campaign_id": row.id, "index": c.index, "seed": c.seed,
                         "batch": c.batch, "dtype": c.dtype, "label": c.label} for c in cases])
                return row.id
        except SQLAlchemyError as e:
            raise StoreError(f"cannot write to {self.url}: {_first_line(e)}") from e

    def add_trials(self, campaign_id: int, trials: Iterable[Any],
                   tests: Iterable[TestOutcome] = ()) -> None:
        """Insert finished trials (any objects with TrialInfo's fields) and, for a campaign
        whose check is the user's tests, what those tests did, in one transaction."""
        get = attrgetter(*_TRIAL_FIELDS)
        rows = [(campaign_id, *get(t), *_judgeable(t)) for t in trials]
        test_rows = [{"campaign_id": campaign_id, **{f: getattr(t, f) for f in _TEST_FIELDS}}
                     for t in tests]
        if not rows and not test_rows:
            return
        try:
            with self.Session.begin() as s:
                if rows:
                    # One executemany of plain tuples, the statement compiled once by
                    # SQLAlchemy for this database: binding each row's parameters through
                    # the compiled statement cost twice the database's own work, in the
                    # process that must keep up with every worker. The values are already
                    # the column types (str, int, float, None): nothing to convert.
                    sql, positional = self._trial_insert
                    s.connection().exec_driver_sql(
                        sql, rows if positional else [dict(zip(_TRIAL_COLUMNS, r))
                                                      for r in rows])
                    # the arrays of the mutants written to are no longer current: gone in
                    # the same transaction, so a row of mutant_checks is never stale
                    written = sorted({r[_MUTANT_AT] for r in rows} - {ORIGINAL})
                    for at in range(0, len(written), 500):
                        s.execute(delete(_MutantCheck).where(
                            _MutantCheck.campaign_id == campaign_id,
                            _MutantCheck.mutant_id.in_(written[at:at + 500])))
                if test_rows:
                    s.execute(insert(_TestKill), test_rows)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot write trials to {self.url}: {_first_line(e)}") from e

    def test_outcomes(self, campaign_id: int) -> list[TestOutcome]:
        """The stored test outcomes of a campaign, by mutant then test."""
        with _reading(self.url), self.Session() as s:
            rows = s.scalars(select(_TestKill).where(_TestKill.campaign_id == campaign_id)
                             .order_by(_TestKill.mutant_id, _TestKill.test))
            return [TestOutcome(**{f: getattr(r, f) for f in _TEST_FIELDS}) for r in rows]

    def set_status(self, campaign_id: int, status: Status, *, original_alarms: int | None = None,
                   note: str | None = None, finished: bool = False) -> None:
        values: dict[str, Any] = {"status": Status(status).value, "pid": os.getpid(),
                                  "host": os.uname().nodename}
        if original_alarms is not None:
            values["original_alarms"] = original_alarms
        if note is not None:
            values["note"] = note
        values["finished_at"] = now() if finished else None
        try:
            with self.Session.begin() as s:
                s.execute(update(_Campaign).where(_Campaign.id == campaign_id).values(**values))
        except SQLAlchemyError as e:
            raise StoreError(f"cannot update campaign {campaign_id}: {_first_line(e)}") from e

    # -- reading ----------------------------------------------------------------------

    def _campaign_info(self, row: Any,
                       plans: dict[str, tuple[Settings, SubjectSpec, dict[str, str]]] | None = None
                       ) -> CampaignInfo:
        """``row``: a ``_Campaign`` or a row of its ``_CAMPAIGN_COLUMNS``; ``plans``: the
        plans read so far, by their JSON (campaigns often share one)."""
        status = Status(row.status)
        if status == Status.RUNNING and row.host == os.uname().nodename and not _alive(row.pid):
            status = Status.INTERRUPTED  # killed without a chance to say so
        if plans is None:
            settings, spec, unsupported = read_plan(dict(row.config), row.subject)
        else:
            key = json.dumps([row.config, row.subject], sort_keys=True)
            if key not in plans:
                plans[key] = read_plan(dict(row.config), row.subject)
            settings, spec, unsupported = plans[key]
            unsupported = dict(unsupported)
        return CampaignInfo(row.id, row.name, row.subject, row.source_hash, settings, spec,
                            unsupported, row.tool_version, row.started_at, row.finished_at,
                            status, row.original_alarms, row.note, row.summary)

    def campaign(self, ref: str | int | None = None) -> CampaignInfo:
        """A campaign by id or name; ``None`` is the latest."""
        with _reading(self.url), self.Session() as s:
            query = select(_Campaign)
            if ref is None:
                row = s.scalars(query.order_by(_Campaign.id.desc()).limit(1)).first()
                if row is None:
                    raise InvalidInput("no campaign yet: run 'mutagrad run SUBJECT' first")
                return self._campaign_info(row)
            text = str(ref)
            if text.isdigit():
                row = s.get(_Campaign, int(text))
            else:
                row = s.scalars(query.where(_Campaign.name == text)
                                .order_by(_Campaign.id.desc()).limit(1)).first()
            if row is None:
                raise InvalidInput(f"no campaign {text!r}: see 'mutagrad history'")
            return self._campaign_info(row)

    def campaigns(self, subject: str | None = None, limit: int | None = None) -> list[CampaignInfo]:
        """Newest first. Read as plain rows, not ORM objects (a thousand campaigns in
        ``history``: the ORM's bookkeeping cost more than the rest of the command)."""
        c = _Campaign
        with _reading(self.url), self.Session() as s:
            query = select(*(getattr(c, name) for name in _CAMPAIGN_COLUMNS)).order_by(
                c.id.desc())
            if subject:
                query = query.where(c.subject == subject)
            if limit:
                query = query.limit(limit)
            plans: dict[str, tuple[Settings, SubjectSpec, dict[str, str]]] = {}
            return [self._campaign_info(r, plans) for r in s.execute(query)]

    def mutants(self, campaign_id: int) -> list[MutantInfo]:
        columns = [getattr(_Mutant, f) for f in _MUTANT_FIELDS]  # rows, not ORM objects
        with _reading(self.url), self.Session() as s:
            rows = s.execute(select(*columns).where(_Mutant.campaign_id == campaign_id)
                             .order_by(_Mutant.line, _Mutant.mutant_id))
            return [MutantInfo(*r) for r in rows]

    def cases(self, campaign_id: int) -> list[CaseInfo]:
        with _reading(self.url), self.Session() as s:
            rows = s.scalars(select(_Case).where(_Case.campaign_id == campaign_id)
                             .order_by(_Case.index))
            return [CaseInfo(r.index, r.seed, r.batch, r.dtype, r.label) for r in rows]

    def trials(self, campaign_id: int, mutant_id: str | None = None) -> list[TrialInfo]:
        columns = [getattr(_Trial, f) for f in _TRIAL_FIELDS]
        query = select(*columns).where(_Trial.campaign_id == campaign_id)
        if mutant_id is not None:
            query = query.where(_Trial.mutant_id == mutant_id)
        query = query.order_by(_Trial.mutant_id, _Trial.case_index, _Trial.strategy,
                               _Trial.epsilon)
        with _reading(self.url), self.Session() as s:
            return [TrialInfo(*row) for row in s.execute(query)]

    # -- judging in the database (mutagrad.analysis states the rules) ------------------

    def tally_mutants(self, campaign_id: int, judging: Judging) -> list[MutantTally]:
        """Each mutant's trials of one check, judged and counted in one pass over the
        covering index (mutants with no trial yet are absent).

        A real bug on a case where the original alarms is indeterminate, not judged: those
        cases' trials (few: one per mutant and alarm case) are counted apart, by index
        seeks, and taken off the pass's counts."""
        t, tol = _Trial, judging.tolerance
        with _reading(self.url), self.Session() as s:
            shared = None
            if judging.shared_with is not None:  # once, not once per mutant
                shared = self.shared_cases(campaign_id, judging.shared_with)
            alarms = [i for i in s.scalars(_alarm_cases(campaign_id, judging))
                      if shared is None or i in shared]
            judged = t.case_index.not_in(alarms) if alarms else None
            counted = (select(
                t.mutant_id, func.count(), func.min(t.kind),
                func.count(case((t.decisive > tol, 1))), func.count(case((t.decisive <= tol, 1))),
                func.min(t.decisive) if judged is None else func.min(case((judged, t.decisive))))
                .where(*_judged_trials(campaign_id, judging), t.mutant_id != ORIGINAL)
                .group_by(t.mutant_id))
            rows = list(s.execute(counted))
            # the first stored error by case, of the mutants with a trial of a fixed kind
            # (errors come with those outcomes): a few index seeks each
            errors = {}
            # the rest is read by index seeks on the shared cases, filtered here
            unshared = replace(judging, shared_with=None)
            for mutant_id, _, kind, *_ in rows:
                if kind in _FIXED_KINDS:
                    errors[mutant_id] = self.first_error(campaign_id, unshared, mutant_id,
                                                         shared)
            unjudged: dict[str, tuple[int, int]] = {}
            if alarms:
                planned = select(_Mutant.mutant_id).where(_Mutant.campaign_id == campaign_id)
                on_alarms = (select(t.mutant_id, func.count(case((t.decisive > tol, 1))),
                                    func.count(case((t.decisive <= tol, 1))))
                             .where(*_judged_trials(campaign_id, unshared),
                                    t.mutant_id.in_(planned), t.case_index.in_(alarms))
                             .group_by(t.mutant_id))
                unjudged = {m: (over, under) for m, over, under in s.execute(on_alarms)}
        tallies = []
        for mutant_id, trials, kind, detected, missed, kill in rows:
            over, under = unjudged.get(mutant_id, (0, 0))
            detected, missed = detected - over, missed - under
            status = ("detected" if detected else "missed" if missed else
                      STATUS_ORDER[min(kind, STATUS_ORDER.index("indeterminate")
                                       if over + under else DECIDED)])
            tallies.append(MutantTally(mutant_id, status, trials, detected, missed, kill,
                                       errors.get(mutant_id)))
        return tallies

    def shared_cases(self, campaign_id: int, other: int) -> set[int]:
        """The indices of the campaign's cases (seed, batch, dtype) that ``other`` also ran
        (matched here: in SQL, thousands of cases against thousands took seconds)."""
        c = _Case
        with _reading(self.url), self.Session() as s:
            theirs = {(seed, batch, dtype) for seed, batch, dtype in s.execute(
                select(c.seed, c.batch, c.dtype).where(c.campaign_id == other))}
            return {index for index, *key in s.execute(
                select(c.index, c.seed, c.batch, c.dtype).where(c.campaign_id == campaign_id))
                if tuple(key) in theirs}

    def first_error(self, campaign_id: int, judging: Judging, mutant_id: str,
                    among: set[int] | None = None) -> str | None:
        """A mutant's first stored error by case, among its trials of a fixed outcome in
        the judging's check (and in the cases ``among``): index seeks, a few rows read."""
        t = _Trial
        first = (select(t.case_index, t.error).where(
            *_judged_trials(campaign_id, judging), t.mutant_id == mutant_id,
            t.kind.in_(_FIXED_KINDS), t.error.is_not(None))
            .order_by(t.case_index).execution_options(yield_per=64))
        with _reading(self.url), self.Session() as s:
            return next((error for index, error in s.execute(first)
                         if among is None or index in among), None)

    def mutant_checks(self, campaign_id: int, strategy: str,
                      epsilon: float) -> list[MutantCheck] | None:
        """Every mutant's trials of one check as arrays (``values.MutantCheck``), in the
        mutants' order; None when some mutant has none current (a campaign running, or
        stored by a mutagrad older than them): judge it with ``tally_mutants`` then."""
        m = _MutantCheck
        query = (select(m.mutant_id, m.trials, m.min_kind, m.error, m.error_case, m.cases,
                        m.kinds, m.decisive)
                 .where(m.campaign_id == campaign_id, m.strategy == strategy,
                        m.epsilon == epsilon))
        planned = select(func.count()).where(_Mutant.campaign_id == campaign_id)
        with _reading(self.url), self.Session() as s:
            rows = {r[0]: MutantCheck(*r) for r in s.execute(query)}
            if len(rows) != s.scalar(planned):
                return None
            order = s.scalars(select(_Mutant.mutant_id).where(_Mutant.campaign_id == campaign_id)
                              .order_by(_Mutant.line, _Mutant.mutant_id))
            found = [rows.get(i) for i in order]
        return None if None in found else found  # type: ignore[return-value]

    def has_mutant_checks(self, campaign_id: int, strategy: str, epsilon: float) -> bool:
        """Whether every mutant has its arrays of this check current (none read)."""
        m = _MutantCheck
        present = select(func.count()).where(m.campaign_id == campaign_id,
                                             m.strategy == strategy, m.epsilon == epsilon)
        planned = select(func.count()).where(_Mutant.campaign_id == campaign_id)
        with _reading(self.url), self.Session() as s:
            return s.scalar(present) == s.scalar(planned)

    def checks(self, campaign_id: int) -> list[tuple[str, float]]:
        """The (strategy, epsilon) checks a campaign ran on the original, in order."""
        t = _Trial
        # deduplicated here: DISTINCT would have SQLite walk the campaign's whole part of
        # the check index instead of seeking the original's rows
        query = select(t.strategy, t.epsilon).where(t.campaign_id == campaign_id,
                                                    t.mutant_id == ORIGINAL)
        with _reading(self.url), self.Session() as s:
            return sorted({(name, epsilon) for name, epsilon in s.execute(query)})

    def build_mutant_checks(self, campaign_id: int) -> int:
        """Bring a campaign's ``mutant_checks`` current: write the rows missing (every row
        for a campaign that just stopped; the resumed mutants' after a resume). Streams
        each check's part of the covering index once; memory holds one mutant's arrays at a
        time (about 13 bytes a trial). Returns how many rows it wrote."""
        m = _MutantCheck
        written = 0
        try:
            for name, epsilon in self.checks(campaign_id):
                with self.Session.begin() as s:
                    planned = list(s.scalars(select(_Mutant.mutant_id)
                                             .where(_Mutant.campaign_id == campaign_id)))
                    present = set(s.scalars(select(m.mutant_id).where(
                        m.campaign_id == campaign_id, m.strategy == name, m.epsilon == epsilon)))
                    missing = set(planned) - present
                    if missing:
                        _write_mutant_checks(s, campaign_id, name, epsilon, missing)
                        written += len(missing)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot update campaign {campaign_id}: {_first_line(e)}") from e
        return written

    def judged_trials(self, campaign_id: int, judging: Judging,
                      statuses: Sequence[str] = STATUS_ORDER) -> Iterator[tuple[str, int, str]]:
        """(mutant id, case index, outcome) of one check's mutant trials whose outcome is
        in ``statuses``, by mutant and case, streamed in chunks."""
        t, rank = _Trial, _rank(campaign_id, judging)
        query = (select(t.mutant_id, t.case_index, rank)
                 .where(*_judged_trials(campaign_id, judging), t.mutant_id != ORIGINAL,
                        rank.in_([STATUS_ORDER.index(x) for x in statuses]))
                 .order_by(t.mutant_id, t.case_index))
        with _reading(self.url), self.Session() as s:
            for mutant_id, index, r in s.execute(query.execution_options(yield_per=_CHUNK)):
                yield mutant_id, index, STATUS_ORDER[r]

    def bug_difference_counts(self, campaign_id: int, thresholds: Sequence[float],
                              strategy: str | None = None
                              ) -> list[tuple[str, str, float, int, int, float]]:
        """The real-bug trials' differences, counted against increasing ``thresholds``.

        A real-bug trial: one the tolerance decides (``values.trial_kind``: a real bug on a
        case the check can be trusted on, whatever the original does there). Rows (dtype,
        strategy, epsilon, above, trials, smallest difference): ``above`` is how many
        thresholds lie strictly under the difference (all, for a difference not finite).
        """
        t = _Trial
        bucket = _count_under(t.decisive, list(thresholds), 0, len(thresholds))
        checks = [(name, epsilon) for name, epsilon in self.checks(campaign_id)
                  if strategy is None or name == strategy]
        rows = []
        with _reading(self.url), self.Session() as s:
            dtypes = list(s.scalars(select(_Case.dtype).distinct()
                                    .where(_Case.campaign_id == campaign_id)))
            # one check at a time down its part of the covering index: no join, and the
            # grouping sorts one check's trials, not the campaign's
            for name, epsilon in checks:
                for dtype in dtypes:
                    where = [*_bug_trials(campaign_id, name), t.epsilon == epsilon]
                    if len(dtypes) > 1:
                        where.append(t.case_index.in_(
                            select(_Case.index).where(_Case.campaign_id == campaign_id,
                                                      _Case.dtype == dtype)))
                    query = (select(bucket, func.count(), func.min(t.decisive))
                             .where(*where).group_by(bucket))
                    rows += [(dtype, name, epsilon, int(b), int(n),
                              math.inf if low is None else low)
                             for b, n, low in s.execute(query)]
        return rows

    def bug_trials_under(self, campaign_id: int, dtype: str, strategy: str, epsilon: float,
                         ceiling: float) -> list[tuple[str, str, float]]:
        """(mutant id, case label, difference) of the real-bug trials (as in
        ``bug_difference_counts``) of one check whose finite difference is at or under
        ``ceiling``, smallest first."""
        t = _Trial
        query = (select(t.mutant_id, _Case.label, t.difference).select_from(t)
                 .join(_Case, _case_of(t))
                 .where(*_bug_trials(campaign_id, strategy), _Case.dtype == dtype,
                        t.epsilon == epsilon, t.difference <= ceiling)
                 .order_by(t.difference, t.mutant_id, t.case_index))
        with _reading(self.url), self.Session() as s:
            return [(m, label, d) for m, label, d in s.execute(query) if d is not None]

    def set_summary(self, campaign_id: int, summary: dict[str, Any]) -> None:
        """Store a campaign's counts at its own tolerance (``history`` reads only these)."""
        try:
            with self.Session.begin() as s:
                s.execute(update(_Campaign).where(_Campaign.id == campaign_id)
                          .values(summary=summary))
        except SQLAlchemyError as e:
            raise StoreError(f"cannot update campaign {campaign_id}: {_first_line(e)}") from e

    def iter_trials(self, campaign_id: int) -> Iterator[TrialInfo]:
        """Every trial of a campaign, in ``trials``' order, streamed in chunks."""
        columns = [getattr(_Trial, f) for f in _TRIAL_FIELDS]
        query = (select(*columns).where(_Trial.campaign_id == campaign_id)
                 .order_by(_Trial.mutant_id, _Trial.case_index, _Trial.strategy,
                           _Trial.epsilon))
        with _reading(self.url), self.Session() as s:
            for row in s.execute(query.execution_options(yield_per=_CHUNK)):
                yield TrialInfo(*row)

    def set_hidden_by(self, campaign_id: int, mutant_id: str, hidden_by: str) -> None:
        """Record what the exploratory cases found for a mutant."""
        try:
            with self.Session.begin() as s:
                s.execute(update(_Mutant).where(_Mutant.campaign_id == campaign_id,
                                                _Mutant.mutant_id == mutant_id)
                          .values(hidden_by=hidden_by))
        except SQLAlchemyError as e:
            raise StoreError(f"cannot update mutant {mutant_id}: {_first_line(e)}") from e

    def unexplored_equivalents(self, campaign_id: int) -> set[str]:
        """Mutants equivalent on every stored trial and not explored yet (one query)."""
        equivalent = func.sum(case((_Trial.outcome == "equivalent", 1), else_=0))
        query = (select(_Trial.mutant_id).join(_Mutant, (_Mutant.campaign_id == _Trial.campaign_id)
                                               & (_Mutant.mutant_id == _Trial.mutant_id))
                 .where(_Trial.campaign_id == campaign_id, _Mutant.hidden_by.is_(None))
                 .group_by(_Trial.mutant_id).having(func.count() == equivalent))
        with _reading(self.url), self.Session() as s:
            return set(s.scalars(query))

    def trial_count(self, campaign_id: int) -> int:
        """How many trials a campaign has stored (counted in SQL)."""
        query = select(func.count()).select_from(_Trial).where(_Trial.campaign_id == campaign_id)
        with _reading(self.url), self.Session() as s:
            return int(s.scalar(query) or 0)

    def done_count(self, campaign_id: int) -> int:
        """How many (mutant id, case index) pairs have their trials stored (counted in SQL)."""
        pairs = (select(_Trial.mutant_id, _Trial.case_index)
                 .where(_Trial.campaign_id == campaign_id).distinct().subquery())
        with _reading(self.url), self.Session() as s:
            return int(s.scalar(select(func.count()).select_from(pairs)) or 0)

    def stored_progress(self, campaign_id: int,
                        cases: int) -> tuple[set[str], set[tuple[str, int]]]:
        """What a campaign of ``cases`` cases already has: the mutants (and the original)
        with trials on every case, and the (mutant id, case index) pairs of the others.
        Memory follows the unfinished mutants, not the trials."""
        t = _Trial
        per_mutant = (select(t.mutant_id).where(t.campaign_id == campaign_id)
                      .group_by(t.mutant_id))
        complete = per_mutant.having(func.count(t.case_index.distinct()) >= cases)
        partial = per_mutant.having(func.count(t.case_index.distinct()) < cases)
        pairs = (select(t.mutant_id, t.case_index)
                 .where(t.campaign_id == campaign_id, t.mutant_id.in_(partial)).distinct())
        with _reading(self.url), self.Session() as s:
            return set(s.scalars(complete)), {(m, c) for m, c in s.execute(pairs)}


_CHUNK = 10_000  # rows per fetch when a query streams


def _write_mutant_checks(s: Session, campaign_id: int, name: str, epsilon: float,
                         missing: set[str]) -> None:
    """The ``mutant_checks`` rows of the ``missing`` mutants for one check, each written as
    soon as its run of trials (they come by mutant) is read."""
    t, m = _Trial, _MutantCheck
    where = [t.campaign_id == campaign_id, t.strategy == name, t.epsilon == epsilon]
    if len(missing) <= 500:  # a resume: seek those mutants only
        where.append(t.mutant_id.in_(sorted(missing)))
    query = (select(t.mutant_id, t.case_index, t.kind, t.decisive)
             .where(*where).order_by(t.mutant_id, t.case_index)
             .execution_options(yield_per=_CHUNK))
    built = {i: _Arrays() for i in missing}
    rows: list[dict[str, Any]] = []

    def finish(mutant_id: str) -> None:
        arrays = built.pop(mutant_id)
        error, error_case = None, None
        if arrays.fixed:  # the first stored error by case: an index seek
            first = s.execute(
                select(t.case_index, t.error)
                .where(t.campaign_id == campaign_id, t.strategy == name, t.epsilon == epsilon,
                       t.mutant_id == mutant_id, t.kind.in_(_FIXED_KINDS),
                       t.error.is_not(None))
                .order_by(t.case_index).limit(1)).first()
            if first is not None:
                error_case, error = first
        rows.append({"campaign_id": campaign_id, "mutant_id": mutant_id, "strategy": name,
                     "epsilon": epsilon, "error": error, "error_case": error_case,
                     **arrays.columns()})
        if len(rows) >= 200:
            s.execute(insert(m), rows)
            rows.clear()

    last = None
    # a chunk of rows at a time, a mutant's run of rows at once: millions of rows, so no
    # Python call per row
    for part in s.execute(query).partitions():
        for mutant_id, run in groupby(part, key=itemgetter(0)):
            if last is not None and last != mutant_id and last in built:
                finish(last)  # its run is over
            last = mutant_id
            arrays = built.get(mutant_id)
            if arrays is not None:
                arrays.extend(list(run))
    for mutant_id in list(built):  # the last one, and any without trials
        finish(mutant_id)
    if rows:
        s.execute(insert(m), rows)


class _Arrays:
    """One mutant's trials of one check, as ``values.MutantCheck``'s arrays grow."""

    def __init__(self) -> None:
        self.cases, self.kinds, self.decisive = array("i"), array("B"), array("d")
        self.fixed = False

    def extend(self, rows: Sequence[Any]) -> None:
        """(mutant id, case index, kind, decisive) rows of this mutant, by case."""
        _, cases, kinds, decisive = zip(*rows, strict=True)
        self.cases.extend(cases)
        self.kinds.extend(kinds)
        self.decisive.extend([math.inf if d is None else d
                              for k, d in zip(kinds, decisive, strict=True) if k == DECIDED])
        self.fixed = self.fixed or not _FIXED_SET.isdisjoint(kinds)

    def columns(self) -> dict[str, Any]:
        if sys.byteorder == "big":  # stored little-endian, whatever machine wrote them
            for a in (self.cases, self.decisive):
                a.byteswap()
        return {"trials": len(self.cases), "min_kind": min(self.kinds, default=None),
                "cases": self.cases.tobytes(), "kinds": self.kinds.tobytes(),
                "decisive": self.decisive.tobytes()}


def _case_of(t: type[_Trial]) -> ColumnElement[bool]:
    return (_Case.campaign_id == t.campaign_id) & (_Case.index == t.case_index)




def _judgeable(t: Any) -> tuple[int, float | None]:
    """The columns a trial is counted by (``values.trial_kind``), from its fields: its kind
    and the difference it is judged by (None unless the tolerance decides it)."""
    if t.strategy == PYTEST and t.outcome in STATUS_ORDER:
        # the user's tests judged it (usertests): its outcome, whatever the tolerance
        return STATUS_ORDER.index(t.outcome), None
    kind = trial_kind(t.outcome, t.true_error, t.note)
    if kind != DECIDED:
        return kind, None
    return kind, (t.difference if t.difference is not None else math.inf)


def _shared_cases(campaign_id: int, other: int) -> Select[Any]:
    """The indices of the campaign's cases (seed, batch, dtype) that ``other`` also ran."""
    mine, theirs = aliased(_Case), aliased(_Case)
    shared = exists().where(theirs.campaign_id == other,
                            theirs.batch == mine.batch, theirs.dtype == mine.dtype,
                            theirs.seed.is_not_distinct_from(mine.seed))
    return select(mine.index).where(mine.campaign_id == campaign_id, shared)


def _shared(t: Any, campaign_id: int, judging: Judging) -> list[ColumnElement[bool]]:
    """Only the cases (seed, batch, dtype) the judging's other campaign also ran."""
    if judging.shared_with is None:
        return []
    return [t.case_index.in_(_shared_cases(campaign_id, judging.shared_with))]


def _judged_trials(campaign_id: int, judging: Judging) -> list[ColumnElement[bool]]:
    """The WHERE clauses that pick one check's trials of a campaign (and its shared cases)."""
    t = _Trial
    return [t.campaign_id == campaign_id, t.strategy == judging.strategy,
            t.epsilon == judging.epsilon, *_shared(t, campaign_id, judging)]


def _alarm_cases(campaign_id: int, judging: Judging) -> Select[Any]:
    """The cases on which the original fails the check at the judging's tolerance."""
    o = aliased(_Trial)
    return select(o.case_index).where(
        o.campaign_id == campaign_id, o.mutant_id == ORIGINAL, o.strategy == judging.strategy,
        o.epsilon == judging.epsilon, o.outcome.not_in([x.value for x in FIXED_OUTCOMES]),
        or_(o.difference.is_(None), o.difference > judging.tolerance))


def _bug_trials(campaign_id: int, strategy: str | None) -> list[ColumnElement[bool]]:
    t = _Trial
    where = [t.campaign_id == campaign_id, t.mutant_id != ORIGINAL, t.kind == DECIDED]
    if strategy is not None:
        where.append(t.strategy == strategy)
    return where


def _count_under(value: Any, thresholds: list[float], lo: int, hi: int) -> ColumnElement[int]:
    """How many of the sorted ``thresholds[lo:hi]`` lie strictly under ``value``, plus lo:
    a binary search written as nested CASEs (log2 of the count comparisons a row)."""
    if lo == hi:
        return literal(lo)
    mid = (lo + hi) // 2
    return case((value > thresholds[mid], _count_under(value, thresholds, mid + 1, hi)),
                else_=_count_under(value, thresholds, lo, mid))


def _rank(campaign_id: int, judging: Judging) -> ColumnElement[int]:
    """A mutant trial's outcome at the judging's tolerance, as its place in STATUS_ORDER:
    its kind, unless the tolerance decides it (analysis.outcome_at states the rules)."""
    t = _Trial
    return case(
        (t.kind != DECIDED, t.kind),
        (t.case_index.in_(_alarm_cases(campaign_id, judging)),
         STATUS_ORDER.index("indeterminate")),
        (t.decisive > judging.tolerance, STATUS_ORDER.index("detected")),
        else_=STATUS_ORDER.index("missed"))


def _first_line(error: BaseException) -> str:
    """SQLAlchemy's messages run to several lines (the SQL, a link): the first says it."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


@contextmanager
def _reading(url: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as e:
        raise StoreError(f"cannot read database {url}: {_first_line(e)}") from e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
