"""The results database: SQLAlchemy 2.x models and queries. The only module that speaks SQL.

ORM rows never leave this module: callers get frozen dataclasses. Every public method is
one unit of work (one transaction). The URL is any SQLAlchemy URL; SQLite (the default,
``results.db``) runs in WAL mode so readers never block the campaign that writes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    exists,
    false,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column, sessionmaker

from mutagrad import migrate
from mutagrad.errors import InvalidInput, MutagradError
from mutagrad.values import (
    FIXED_OUTCOMES,
    ORIGINAL,
    STATUS_ORDER,
    CampaignInfo,
    CaseInfo,
    Judging,
    MutantInfo,
    MutantTally,
    Status,
    doubtful,
    read_plan,
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
        # one check's trials of a campaign, mutant by mutant: what every report groups by
        Index("ix_trials_check", "campaign_id", "strategy", "epsilon", "mutant_id",
              "case_index"),
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
    # the note puts the check in doubt on this case (values.doubtful), as SQL can read it
    doubtful: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


_MUTANT_FIELDS = tuple(MutantInfo.__dataclass_fields__)
_TRIAL_FIELDS = tuple(TrialInfo.__dataclass_fields__)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def resolve_url(url: str | None) -> str:
    """``--db`` wins, then ``MUTAGRAD_DB``, then ``results.db``; a bare path means SQLite."""
    url = url or os.environ.get("MUTAGRAD_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # journal_mode=WAL is written into the file: it is set once the file is known to be
    # mutagrad's (Store._check_schema), so a foreign database is never changed
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """A mutagrad results database. ``Store(url, create=False)`` only reads what exists."""

    def __init__(self, url: str | None = None, create: bool = True):
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
        try:
            self.engine: Engine = create_engine(self.url)
        except (ArgumentError, ImportError, SQLAlchemyError) as e:
            raise InvalidInput(f"cannot open database {self.url!r}: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._check_schema(create)

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
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")

    def _open_schema(self, create: bool) -> None:
        try:
            tables = set(inspect(self.engine).get_table_names())
            if not tables:
                if create:
                    migrate.upgrade(self.engine)
                    self._set_schema_version()
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

    def add_trials(self, campaign_id: int, trials: Iterable[Any]) -> None:
        """Insert finished trials (any objects with TrialInfo's fields) in one transaction."""
        rows = [{"campaign_id": campaign_id, "doubtful": doubtful(t.note),
                 **{f: getattr(t, f) for f in _TRIAL_FIELDS}} for t in trials]
        if not rows:
            return
        try:
            with self.Session.begin() as s:
                s.execute(insert(_Trial), rows)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot write trials to {self.url}: {_first_line(e)}") from e

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

    def _campaign_info(self, row: _Campaign) -> CampaignInfo:
        status = Status(row.status)
        if status == Status.RUNNING and row.host == os.uname().nodename and not _alive(row.pid):
            status = Status.INTERRUPTED  # killed without a chance to say so
        settings, spec, unsupported = read_plan(dict(row.config), row.subject)
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
        with _reading(self.url), self.Session() as s:
            query = select(_Campaign).order_by(_Campaign.id.desc())
            if subject:
                query = query.where(_Campaign.subject == subject)
            if limit:
                query = query.limit(limit)
            return [self._campaign_info(r) for r in s.scalars(query)]

    def mutants(self, campaign_id: int) -> list[MutantInfo]:
        with _reading(self.url), self.Session() as s:
            rows = s.scalars(select(_Mutant).where(_Mutant.campaign_id == campaign_id)
                             .order_by(_Mutant.line, _Mutant.mutant_id))
            return [MutantInfo(**{f: getattr(r, f) for f in _MUTANT_FIELDS}) for r in rows]

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

    def stored_epsilon(self, campaign_id: int, strategy: str, epsilon: float) -> float:
        """The epsilon exactly as stored with the trials (the plan's may differ in the last
        bits after a round trip); ``epsilon`` itself when no trial has it yet."""
        query = (select(_Trial.epsilon).where(_Trial.campaign_id == campaign_id,
                                              _Trial.mutant_id == ORIGINAL,
                                              _Trial.strategy == strategy)
                 .distinct())
        with _reading(self.url), self.Session() as s:
            stored = list(s.scalars(query))
        return next((e for e in stored if abs(e - epsilon) <= 1e-9 * abs(epsilon)), epsilon)

    def tally_mutants(self, campaign_id: int, judging: Judging) -> list[MutantTally]:
        """Each mutant's trials of one check, judged and counted in one query (mutants
        with no trial yet are absent)."""
        t, rank = _Trial, _rank(campaign_id, judging)
        decided = rank <= STATUS_ORDER.index("missed")
        counted = (select(t.mutant_id.label("mutant_id"), func.min(rank).label("rank"),
                          func.count().label("trials"),
                          func.sum(case((rank == 0, 1), else_=0)).label("detected"),
                          func.sum(case((rank == 1, 1), else_=0)).label("missed"),
                          func.min(case((decided, t.difference))).label("kill"),
                          func.sum(case((decided & t.difference.is_(None), 1), else_=0))
                          .label("unbounded"),
                          func.min(case((t.error.is_not(None), t.case_index)))
                          .label("first_error"))
                   .select_from(t).join(_Case, _case_of(t))
                   .where(*_judged_trials(campaign_id, judging), t.mutant_id != ORIGINAL)
                   .group_by(t.mutant_id).subquery())
        other = aliased(_Trial)
        error = (select(other.error).where(other.campaign_id == campaign_id,
                                           other.mutant_id == counted.c.mutant_id,
                                           other.strategy == judging.strategy,
                                           other.epsilon == judging.epsilon,
                                           other.case_index == counted.c.first_error)
                 .scalar_subquery())
        query = select(counted.c.mutant_id, counted.c.rank, counted.c.trials,
                       counted.c.detected, counted.c.missed, counted.c.kill,
                       counted.c.unbounded, error)
        with _reading(self.url), self.Session() as s:
            return [MutantTally(mutant_id, STATUS_ORDER[rank], trials, detected, missed,
                                kill if kill is not None else (math.inf if unbounded else None),
                                error)
                    for mutant_id, rank, trials, detected, missed, kill, unbounded, error
                    in s.execute(query)]

    def judged_trials(self, campaign_id: int, judging: Judging,
                      statuses: Sequence[str] = STATUS_ORDER) -> Iterator[tuple[str, int, str]]:
        """(mutant id, case index, outcome) of one check's mutant trials whose outcome is
        in ``statuses``, by mutant and case, streamed in chunks."""
        t, rank = _Trial, _rank(campaign_id, judging)
        query = (select(t.mutant_id, t.case_index, rank).select_from(t)
                 .join(_Case, _case_of(t))
                 .where(*_judged_trials(campaign_id, judging), t.mutant_id != ORIGINAL,
                        rank.in_([STATUS_ORDER.index(x) for x in statuses]))
                 .order_by(t.mutant_id, t.case_index))
        with _reading(self.url), self.Session() as s:
            for mutant_id, index, r in s.execute(query.execution_options(yield_per=_CHUNK)):
                yield mutant_id, index, STATUS_ORDER[r]

    def bug_difference_counts(self, campaign_id: int, thresholds: Sequence[float],
                              strategy: str | None = None
                              ) -> list[tuple[str, str, float, int, int, float | None, int]]:
        """The real-bug trials' differences, counted against increasing ``thresholds``.

        A real-bug trial (the tolerance sweep's): a mutant trial stored ``detected`` or
        ``missed``, or ``indeterminate`` only because the original alarmed (no note). Rows
        (dtype, strategy, epsilon, above, trials, smallest difference, unbounded): ``above``
        is how many thresholds lie strictly under the difference (all of them for a
        difference not stored, i.e. infinite), ``unbounded`` how many such trials there are.
        """
        t = _Trial
        bucket = case((t.difference.is_(None), len(thresholds)),
                      else_=_count_under(t.difference, list(thresholds), 0, len(thresholds)))
        query = (select(_Case.dtype, t.strategy, t.epsilon, bucket, func.count(),
                        func.min(t.difference),
                        func.sum(case((t.difference.is_(None), 1), else_=0)))
                 .select_from(t).join(_Case, _case_of(t))
                 .where(*_bug_trials(campaign_id, strategy))
                 .group_by(_Case.dtype, t.strategy, t.epsilon, bucket))
        with _reading(self.url), self.Session() as s:
            return [(d, st, e, int(b), int(n), low, int(u or 0))
                    for d, st, e, b, n, low, u in s.execute(query)]

    def bug_trials_under(self, campaign_id: int, dtype: str, strategy: str, epsilon: float,
                         ceiling: float) -> list[tuple[str, str, float]]:
        """(mutant id, case label, difference) of the real-bug trials (as in
        ``bug_difference_counts``) of one check whose difference is at or under ``ceiling``."""
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

    def done_count(self, campaign_id: int) -> int:
        """How many (mutant id, case index) pairs have their trials stored (counted in SQL)."""
        pairs = (select(_Trial.mutant_id, _Trial.case_index)
                 .where(_Trial.campaign_id == campaign_id).distinct().subquery())
        with _reading(self.url), self.Session() as s:
            return int(s.scalar(select(func.count()).select_from(pairs)) or 0)

    def done_keys(self, campaign_id: int) -> set[tuple[str, int]]:
        """(mutant id, case index) pairs that already have their trials stored."""
        with _reading(self.url), self.Session() as s:
            rows = s.execute(select(_Trial.mutant_id, _Trial.case_index)
                             .where(_Trial.campaign_id == campaign_id).distinct())
            return {(m, c) for m, c in rows}


_CHUNK = 10_000  # rows per fetch when a query streams


def _case_of(t: type[_Trial]) -> ColumnElement[bool]:
    return (_Case.campaign_id == t.campaign_id) & (_Case.index == t.case_index)


def _judged_trials(campaign_id: int, judging: Judging) -> list[ColumnElement[bool]]:
    """The WHERE clauses that pick one check's trials of a campaign (and its shared cases)."""
    t = _Trial
    where = [t.campaign_id == campaign_id, t.strategy == judging.strategy,
             t.epsilon == judging.epsilon]
    if judging.shared_with is not None:
        other = aliased(_Case)
        shared = exists().where(other.campaign_id == judging.shared_with,
                                other.batch == _Case.batch, other.dtype == _Case.dtype,
                                other.seed.is_not_distinct_from(_Case.seed))
        mine = select(_Case.index).where(_Case.campaign_id == campaign_id, shared)
        where.append(t.case_index.in_(mine))
    return where


def _bug_trials(campaign_id: int, strategy: str | None) -> list[ColumnElement[bool]]:
    t = _Trial
    where = [t.campaign_id == campaign_id, t.mutant_id != ORIGINAL,
             t.outcome.in_(("detected", "missed"))
             | ((t.outcome == "indeterminate") & t.note.is_(None))]
    if strategy is not None:
        where.append(t.strategy == strategy)
    return where


def _count_under(value: Any, thresholds: list[float], lo: int,
                 hi: int) -> ColumnElement[int]:
    """How many of the sorted ``thresholds[lo:hi]`` lie strictly under ``value``, plus lo:
    a binary search written as nested CASEs (log2 of the count comparisons a row)."""
    if lo == hi:
        return literal(lo)
    mid = (lo + hi) // 2
    return case((value > thresholds[mid], _count_under(value, thresholds, mid + 1, hi)),
                else_=_count_under(value, thresholds, lo, mid))


def _rank(campaign_id: int, judging: Judging) -> ColumnElement[int]:
    """A mutant trial's outcome at the judging's tolerance, as its place in STATUS_ORDER.

    The rules of ``analysis.outcome_at`` (its docstring states them): an outcome that does
    not depend on the tolerance is kept; a true error that overflowed is nonfinite; at or
    under the dtype's floor, equivalent; on a case where the check cannot be trusted (the
    trial's note, or the original alarms there at this tolerance), indeterminate; else
    detected when the difference (NULL: infinite) is over the tolerance, missed when not.
    Needs the trial's case joined (its dtype).
    """
    t, o = _Trial, aliased(_Trial)
    fixed = sorted(FIXED_OUTCOMES)
    alarms = select(o.case_index).where(
        o.campaign_id == campaign_id, o.mutant_id == ORIGINAL, o.strategy == judging.strategy,
        o.epsilon == judging.epsilon, o.outcome.not_in(fixed),
        or_(o.difference.is_(None), o.difference > judging.tolerance))
    floor = case(judging.floors, value=_Case.dtype, else_=0.0) if judging.floors else 0.0
    place = {name: i for i, name in enumerate(STATUS_ORDER)}
    return case(
        (t.outcome.in_(fixed), case({x: place[x] for x in fixed}, value=t.outcome)),
        (t.true_error.is_(None), place["nonfinite"]),
        (t.true_error <= floor, place["equivalent"]),
        (t.doubtful | t.case_index.in_(alarms), place["indeterminate"]),
        (t.difference.is_(None) | (t.difference > judging.tolerance), place["detected"]),
        else_=place["missed"])

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
