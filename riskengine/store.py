"""The store: reports, incidents and where each incident touches the road network.

SQLAlchemy 2 Core over SQLite by default (any SQLAlchemy URL works). Tables are created on first
use; ``meta.schema_version`` records the layout so later versions can migrate an old file.
A report is stored once (unique content hash) and so is an incident (unique fingerprint), which
makes ingesting the same input twice a no-op.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Date,
    Text,
    any_,
    bindparam,
    cast,
    column,
    create_engine,
    event,
    false,
    func,
    insert,
    inspect,
    make_url,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .errors import RiskEngineError
from .events import assign_events, record_events
from .schema import (
    DETAILS_INDEX,
    DETAILS_INDEXED,
    SCHEMA_VERSION,
    WEIGHT_NUMBERS,
    UTCDateTime,
    chat_settings,
    current_schema,
    event_audit,
    event_weights,
    events,
    incident_segments,
    incidents,
    meta,
    metadata,
    migrate,
    reports,
    road_status,
    segment_days,
    source_state,
    unpack_numbers,
)

__all__ = ["DEFAULT_DB", "ReportIn", "Store", "StoreError", "StoreOutcome", "content_hash", "database_url", "metadata"]

if TYPE_CHECKING:
    from .incident import Incident

DEFAULT_DB = "riskengine.db"

log = logging.getLogger(__name__)

INCIDENT_COLUMNS = [c.name for c in incidents.columns]
EVENT_COLUMNS = [c.name for c in events.columns]


class StoreError(RiskEngineError, RuntimeError):
    """The store cannot be opened or has a layout this version cannot read."""


def database_url(db: str | os.PathLike | None) -> str:
    """An SQLAlchemy URL from ``--db``: a URL as given, a plain path as an SQLite file.

    Examples
    --------
    >>> database_url("data/risk.db")
    'sqlite:///data/risk.db'
    >>> database_url("postgresql+psycopg://u@127.0.0.1/risk")
    'postgresql+psycopg://u@127.0.0.1/risk'
    """
    db = str(db or os.environ.get("RISKENGINE_DB") or DEFAULT_DB)
    return db if "://" in db else f"sqlite:///{db}"


def content_hash(text: str | bytes) -> str:
    """SHA-256 of a report's content, whitespace-normalised so a re-saved file is the same report."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


@dataclass(frozen=True)
class ReportIn:
    """A report as it arrives: where from, in what format, its text and publication date."""

    source: str
    format: str
    text: str
    source_ref: str | None = None
    published: dt.date | None = None
    title: str | None = None
    source_key: str | None = None  # the item's id inside its source (feed GUID, file path)


class Revision(NamedTuple):
    """What :meth:`Store.revision` reads: the newest report, audit entry, road status an analyst
    set and poll of the sources."""

    report: int
    audit: int
    status: int
    polled: str


@dataclass(frozen=True)
class StoreOutcome:
    report_id: int
    new_report: bool
    incidents_added: int
    incidents_known: int


def insert_new_incidents(conn, report_id: int, ids: Sequence[str], found: Sequence[Incident],
                         matches: Sequence, now: dt.datetime, same_event=None) -> int:
    """Insert a report's incidents (by their ids) with their segment matches, leaving out those already
    stored (another report told them) or repeated, and give each its event (:mod:`riskengine.events`);
    return how many were inserted."""
    known = set(conn.execute(select(incidents.c.id).where(incidents.c.id.in_(ids))).scalars()) if ids else set()
    rows, links, seen = [], [], set()
    for incident_id, inc, hits in zip(ids, found, matches, strict=True):
        if incident_id in known or incident_id in seen:
            continue
        seen.add(incident_id)
        row = inc.model_dump(mode="python", exclude={"places", "acled_event"})
        row.update(id=incident_id, report_id=report_id, places=[p.model_dump() for p in inc.places], ingested_at=now)
        rows.append({k: _no_nul(v) for k, v in row.items()})
        links.extend({"incident_id": incident_id, "segment_id": s, "distance_km": d} for s, d in hits)
    if not rows:
        return 0
    source, fmt = conn.execute(select(reports.c.source, reports.c.format).where(reports.c.id == report_id)).one()
    joined = assign_events(conn, rows, report_id, source, fmt, same_event)
    conn.execute(insert(incidents), rows)
    if links:
        conn.execute(insert(incident_segments), links)
    record_events(conn, rows, joined, report_id, source, fmt, now)
    return len(rows)


def _no_nul(value):
    """PostgreSQL text cannot hold NUL characters: drop them from strings."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def shown_url(url: str) -> str:
    """A database URL fit for messages and logs: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"


#: How long a writer waits for another process's write to finish before giving up (SQLite).
BUSY_TIMEOUT_MS = 60_000
#: A PostgreSQL advisory lock key: one process at a time creates or migrates the tables.
MIGRATION_LOCK = 0x726B_6D69


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Foreign keys on; WAL, so readers never wait for a writer nor block one; writers wait for each
    other (busy timeout); transactions begun by us (:func:`_sqlite_begin`), not by the driver. For
    big stores: a 64 MB page cache (weighing every event writes millions of rows in key order), the
    file memory-mapped (reads come from the OS cache without a copy), temporary sorts in memory."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute("PRAGMA temp_store=MEMORY")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    """A writer's transaction takes the write lock at once (``BEGIN IMMEDIATE``, waiting its turn),
    so it never fails half-way when another process wrote since it began reading; a reader's is
    deferred and never takes it."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writing") else "BEGIN")


class Store:
    """Reports and incidents in one database; created on first use."""

    def __init__(self, url: str, *, create: bool = True):
        """Open the database at ``url``; unless ``create``, one that does not exist yet (no SQLite
        file, or a server database without the store's tables) is an error, not a new empty store."""
        self.url = url
        #: decides whether a new incident retells a stored event (:class:`riskengine.identity.SameEvent`);
        #: without one (a store used alone) every incident is an event of its own
        self.same_event = None
        #: keeps the events' standing weights up to date (:class:`riskengine.weights.Weigher`); without
        #: one, changed events stay unweighed and readers weigh them in memory
        self.weigher = None
        self._batch = threading.local()  # this thread's depth of :meth:`weighing_deferred`
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if str(path) != ":memory:":
                if not create and not path.is_file():
                    raise StoreError(f"database {str(path)!r} does not exist (ingest and run create it; "
                                     "--create makes an empty one)")
                path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = create_engine(url, future=True)
        except Exception as exc:  # bad URL or missing driver
            raise StoreError(f"cannot open database {shown_url(url)!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        #: the engine for writing: ``with store.writer.begin() as conn`` (on SQLite it waits for
        #: the write lock at the start, see :func:`_sqlite_begin`); reads use :attr:`engine`
        self.writer: Engine = self.engine.execution_options(writing=True)
        if not create and not self._has_tables():
            raise StoreError(f"database {shown_url(url)!r} holds no riskengine store (ingest and run create one; "
                             "--create makes an empty one)")
        self._ensure_schema()

    @classmethod
    def open(cls, db: str | os.PathLike | None = None, *, create: bool = True) -> Store:
        return cls(database_url(db), create=create)

    def _has_tables(self) -> bool:
        try:
            with self.engine.connect() as conn:
                return "meta" in set(inspect(conn).get_table_names())
        except Exception as exc:
            first = (str(getattr(exc, "orig", None) or exc).splitlines() or ["unknown error"])[0]
            raise StoreError(f"cannot open database {shown_url(self.url)!r}: {first}") from None

    def _ensure_schema(self) -> None:
        """Bring the tables up to date, writing only when something is missing or old: opening a
        current store to read never writes, so readers never wait for (or block) a writer. Two
        processes opening a new database at once: one creates it, the other waits and finds it."""
        try:
            with self.engine.connect() as conn:
                if current_schema(conn):
                    return
            with self.writer.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                version = migrate(conn)
        except Exception as exc:
            first = (str(getattr(exc, "orig", None) or exc).splitlines() or ["unknown error"])[0]
            raise StoreError(f"cannot open database {shown_url(self.url)!r}: {first}") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {shown_url(self.url)!r} has schema version {version}; this riskengine "
                             f"reads up to {SCHEMA_VERSION}: upgrade riskengine")
        if version < SCHEMA_VERSION:
            log.info("database %s migrated from schema version %s to %s", shown_url(self.url), version, SCHEMA_VERSION)

    def group_migrated_events(self) -> int:
        """Once, after a migration made one event per stored incident: group those that tell one
        event (:func:`riskengine.events.group_migrated`) with :attr:`same_event`. Returns how many
        reports joined another's event (0 when done before, or when there is nothing to group)."""
        from .events import GROUPED_KEY, group_migrated  # noqa: PLC0415

        if self.same_event is None:
            return 0
        with self.engine.connect() as conn:
            if conn.execute(select(meta.c.value).where(meta.c.key == GROUPED_KEY)).scalar() is not None:
                return 0
        now = dt.datetime.now(dt.UTC)
        try:
            with self.changing_events() as conn:
                if conn.execute(select(meta.c.value).where(meta.c.key == GROUPED_KEY)).scalar() is not None:
                    return 0
                joined = group_migrated(conn, self.same_event, now)
                conn.execute(insert(meta).values(key=GROUPED_KEY, value=now.isoformat()))
        except IntegrityError:  # another process grouped them at the same moment
            return 0
        if joined:
            log.info("grouped the events of %s: %d reports joined the event another report told", shown_url(self.url),
                     joined)
        return joined

    @contextmanager
    def changing_events(self) -> Iterator:
        """A writer's transaction that changes events: before it commits, the events it left
        unweighed are weighed (:mod:`riskengine.weights`), so what is stored always agrees; inside
        :meth:`weighing_deferred`, at the end of the batch instead."""
        with self.writer.begin() as conn:
            yield conn
            if self.weigher is not None and not self.deferring:
                self.weigher.refresh(conn)

    @contextmanager
    def weighing_deferred(self) -> Iterator[None]:
        """Several writes in a row by this thread (a poll's reports, the files of one ingest): the
        events they change are weighed once, at the end, rather than after each report (weighing
        a handful of events costs about as much as a thousand). Meanwhile readers weigh those few
        in memory; if the final weighing fails, the next writer weighs them."""
        self._batch.depth = getattr(self._batch, "depth", 0) + 1
        try:
            yield
        finally:
            self._batch.depth -= 1
            if not self._batch.depth and self.weigher is not None:
                try:
                    with self.writer.begin() as conn:
                        self.weigher.refresh(conn)
                except Exception:  # never hides what the batch raised; nothing stored is lost
                    log.exception("weighing the events of a batch failed: the next writer weighs them")

    @property
    def deferring(self) -> bool:
        """Whether this thread is inside :meth:`weighing_deferred` (its events are weighed at the end)."""
        return bool(getattr(self._batch, "depth", 0))

    def weights_state(self, fingerprint: str) -> tuple[bool, list[str]]:
        """Whether the stored weights come from the rules with ``fingerprint``, and the events whose
        stored weights are not up to date (changed by a writer without rules). A store without
        events has the weights of any rules (none): its readers weigh nothing in memory."""
        from .weights import stored_rules, unweighed  # noqa: PLC0415 - the weights build on the store

        with self.engine.connect() as conn:
            if stored_rules(conn) != fingerprint:
                return _without_events(conn), []
            return True, unweighed(conn)

    def statuses_current(self, fingerprint: str) -> bool:
        """Whether the stored road statuses (``event_statuses``) come from the statuses rules with
        ``fingerprint``, with no event left unweighed (whose statuses may not be up to date); true
        of a store without events, whatever the rules."""
        from .weights import STATUSES_KEY, stored_rules, unweighed  # noqa: PLC0415

        with self.engine.connect() as conn:
            if stored_rules(conn, STATUSES_KEY) != fingerprint:
                return _without_events(conn)
            return not unweighed(conn, first=True)

    def events_changed(self, after: int) -> frozenset[str]:
        """The events with an audit entry after entry ``after`` (every change to an event has one)."""
        query = select(event_audit.c.event_id).where(event_audit.c.id > after).distinct()
        with self.engine.connect() as conn:
            return frozenset(conn.execute(query).scalars())

    def event_weights_frame(self, until: dt.date | None = None, *, since: dt.date | None = None,
                            segments: Sequence[str] | None = None, events: Iterable[str] | None = None,
                            weighing: bool = False, relieving: bool = False) -> pd.DataFrame:
        """The stored standing weights (:func:`riskengine.scoring.standing_weights`; the event id as
        ``incident_id``) of events dated on or before ``until`` and after ``since``, on ``segments``
        (all when None), of ``events`` (all when None), in event then segment order; with ``until``,
        only the rows that still count on that day (``weighing``: that still weigh, for scores; else
        also those that only tell coverage); ``relieving``: only the rows that relieve (reopenings,
        truces; a partial index finds them)."""
        from .scoring import STANDING_COLUMNS  # noqa: PLC0415

        t = event_weights
        # the date as its text (numpy reads ISO dates as they are), not a date object per row; the
        # numbers as the one value that holds them all
        names = [c for c in STANDING_COLUMNS if c not in WEIGHT_NUMBERS]
        columns = [t.c.event_id if c == "incident_id" else type_coerce(t.c[c], Text).label(c)
                   if c in ("date", "weighs_until", "counts_until") else t.c[c] for c in names]
        query = select(*columns, t.c.numbers)  # sorted here, not by SQL: an ORDER BY draws SQLite to the event index
        if until is not None:  # dated by then, and still counting (weighing: a row weighs no longer than it counts)
            query = query.where((t.c.date <= until) & (t.c.counts_until >= until))
            if weighing:
                query = query.where(t.c.weighs_until >= until)
        if since is not None:
            query = query.where(t.c.date > since)
        if segments is not None:
            query = query.where(t.c.segment_id.in_(list(segments)))
        if relieving:  # written out, not bound: the index's condition must be seen in the query
            query = query.where(text("event_weights.base_relief > 0"))
        with self.engine.connect() as conn:
            if events is not None:
                query = query.where(among(t.c.event_id, events, conn.dialect.name))
            rows = _fetch(conn, query)
        if not rows:
            return pd.DataFrame([], columns=STANDING_COLUMNS)
        values = list(zip(*rows, strict=True))
        arrays = {name: np.array(column, dtype=object) for name, column in zip(names, values[:-1], strict=True)}
        arrays.update(unpack_numbers(values[-1]))
        # in event then segment order (sorted as fixed-width texts: twice as quick as Python strings,
        # in the same order)
        order = np.lexsort([arrays["segment_id"].astype(str), arrays["incident_id"].astype(str)])
        return pd.DataFrame({name: pd.Series(arrays[name][order], copy=False) for name in STANDING_COLUMNS})

    def segment_days_frame(self, until: dt.date, since: dt.date) -> pd.DataFrame:
        """The day sums of the standing weights (``segment_days``: segment, date, half-life, summed
        base weight, events) of days after ``since``, on or before ``until``, that still weigh then."""
        d = segment_days
        query = select(d.c.segment_id, type_coerce(d.c.date, Text).label("date"), d.c.half_life_days, d.c.weight,
                       d.c.events).where((d.c.weighs_until >= until) & (d.c.date <= until) & (d.c.date > since))
        with self.engine.connect() as conn:
            rows = _fetch(conn, query)
        return _plain_frame(rows, ["segment_id", "date", "half_life_days", "weight", "events"],
                            floats=frozenset({"half_life_days", "weight", "events"}))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    def add_report(
        self,
        report: ReportIn,
        found: Sequence[Incident],
        matches: Sequence[Iterable[tuple[str, float]]],
        *,
        now: dt.datetime,
    ) -> StoreOutcome:
        """Store a report with its incidents and their segment matches, all or nothing.

        ``matches[i]`` lists ``(segment_id, distance_km)`` for ``found[i]``. A report whose content
        was stored before, and incidents already known by fingerprint, are left as they are.
        """
        digest = content_hash(report.text)
        for attempt in range(2):
            try:
                return self._add_report(report, digest, found, matches, now)
            except IntegrityError:
                # another process stored the same report or incident at the same moment: look again
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _add_report(self, report: ReportIn, digest: str, found: Sequence[Incident],
                    matches: Sequence[Iterable[tuple[str, float]]], now: dt.datetime) -> StoreOutcome:
        with self.changing_events() as conn:
            same = reports.c.content_hash == digest
            if report.source_key is not None:
                same = same | ((reports.c.source == report.source) & (reports.c.source_key == report.source_key))
            existing = conn.execute(select(reports.c.id).where(same)).scalar()
            if existing is not None:
                return StoreOutcome(existing, False, 0, len(found))
            report_id = conn.execute(
                insert(reports).values(
                    source=_no_nul(report.source),
                    source_ref=_no_nul(report.source_ref),
                    source_key=_no_nul(report.source_key),
                    format=report.format,
                    content_hash=digest,
                    published=report.published,
                    ingested_at=now,
                    title=_no_nul(report.title),
                    text=_no_nul(report.text),
                )
            ).inserted_primary_key[0]
            added = insert_new_incidents(conn, report_id, [inc.fingerprint() for inc in found], found, matches, now,
                                         self.same_event)
        return StoreOutcome(report_id, True, added, len(found) - added)

    def replace_report(self, report: ReportIn, found: Sequence[Incident],
                       matches: Sequence[Iterable[tuple[str, float]]], *, now: dt.datetime):
        """Replace the text and incidents of the report stored under ``(report.source, report.source_key)``
        (its source edited it), all or nothing; None when there is none. See :mod:`riskengine.report_edits`."""
        from .report_edits import replace_report  # noqa: PLC0415 - it builds on this module

        return replace_report(self, report, found, matches, now=now)

    def has_report(self, source: str, source_key: str) -> bool:
        """Whether an item of a source (a feed GUID, a file) was stored before."""
        query = select(reports.c.id).where((reports.c.source == source) & (reports.c.source_key == source_key))
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def source_state(self, name: str) -> dict | None:
        """What a source remembered after its last poll (validators, files seen, last error)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(source_state).where(source_state.c.name == name)).mappings().first()
        return dict(row) if row else None

    def save_source_state(self, name: str, *, etag: str | None, last_modified: str | None, seen: dict,
                          polled_at: dt.datetime, error: str | None) -> None:
        """Remember a poll's outcome; failures count up until a poll succeeds."""
        with self.writer.begin() as conn:
            old = conn.execute(select(source_state.c.failures).where(source_state.c.name == name)).scalar()
            values = {"etag": etag, "last_modified": last_modified, "seen": seen, "last_polled_at": polled_at,
                      "last_error": error, "failures": ((old or 0) + 1) if error else 0}
            if old is None:
                conn.execute(insert(source_state).values(name=name, **values))
            else:
                conn.execute(source_state.update().where(source_state.c.name == name).values(**values))

    def chat_language(self, chat_id: str | int) -> str | None:
        """The language a chat chose (``/language``), or None when it chose none."""
        query = select(chat_settings.c.language).where(chat_settings.c.chat_id == str(chat_id))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def set_chat_language(self, chat_id: str | int, language: str | None, now: dt.datetime | None = None) -> None:
        """Remember a chat's language (None forgets it: the user's Telegram language applies again)."""
        values = {"language": language, "updated_at": now or dt.datetime.now(dt.UTC)}
        where = chat_settings.c.chat_id == str(chat_id)
        with self.writer.begin() as conn:
            if conn.execute(chat_settings.update().where(where).values(**values)).rowcount == 0:
                conn.execute(insert(chat_settings).values(chat_id=str(chat_id), **values))

    def incident_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(incidents)).scalar_one())

    def report_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(reports)).scalar_one())

    def revision(self) -> Revision:
        """A cheap token that changes whenever the stored events may have (:class:`Revision`), read
        on every question: four lookups of a largest key, whatever the size of the store.

        Incidents only come with a new report (:meth:`add_report`, an edited report too) and every
        change to an event (a report joining it, an analyst's correction) writes an audit entry, so
        caches of anything computed from the events can be keyed by it. Rows changed by other tools,
        behind riskengine's back, are not seen (nor would the weights and day sums kept from them be
        right): the store is changed through riskengine. The incidents are not counted: a count
        reads every row (70 ms for 1,000,000 on PostgreSQL), on every question.
        """
        query = select(select(func.max(reports.c.id)).scalar_subquery(),
                       select(func.max(event_audit.c.id)).scalar_subquery(),
                       select(func.max(road_status.c.id)).scalar_subquery(),
                       select(func.max(source_state.c.last_polled_at)).scalar_subquery())
        with self.engine.connect() as conn:
            last, audit, status, polled = conn.execute(query).one()
        return Revision(int(last or 0), int(audit or 0), int(status or 0), str(polled))

    def change_token(self) -> tuple[int, int, int]:
        """What a watcher compares to notice a change of the events from any process, cheaply enough
        to ask every second: the newest report, audit entry and analyst's road status (three lookups
        of a largest key; :meth:`revision` also counts the incidents, which costs a scan)."""
        query = select(select(func.max(reports.c.id)).scalar_subquery(),
                       select(func.max(event_audit.c.id)).scalar_subquery(),
                       select(func.max(road_status.c.id)).scalar_subquery())
        with self.engine.connect() as conn:
            report, audit, status = conn.execute(query).one()
        return int(report or 0), int(audit or 0), int(status or 0)

    def event_count(self, status: str = "active") -> int:
        """How many events are stored (active ones by default: not retracted nor merged into another)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)
                                    .where(events.c.status == status)).scalar_one())

    def any_incident_has(self, column: str) -> bool:
        """Whether any stored incident has a value (not NULL) in ``column``."""
        col = incidents.c[column]
        with self.engine.connect() as conn:
            return conn.execute(select(incidents.c.id).where(col.is_not(None)).limit(1)).first() is not None

    def incidents_frame(self, until: dt.date | None = None, *, columns: Sequence[str] | None = None,
                        ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Every incident (dated on or before ``until`` when given) as a DataFrame indexed by id.

        ``columns`` keeps only those columns (and ``id``), in the table's order; ``ids`` reads only
        those incidents (in the usual order: by date, then id).
        """
        if columns is None:
            names = INCIDENT_COLUMNS
        else:
            unknown = set(columns) - set(INCIDENT_COLUMNS)
            if unknown:
                raise KeyError(f"no such incident column(s): {', '.join(sorted(unknown))}")
            names = [c for c in INCIDENT_COLUMNS if c == "id" or c in columns]
        order = [] if "date" in names else ["date"]  # read to merge the chunks of ``ids`` in order
        query = select(*(incidents.c[c] for c in names + order)).order_by(incidents.c.date, incidents.c.id)
        if until is not None:
            query = query.where(incidents.c.date <= until)
        rows = self._rows(query, incidents.c.id, ids)
        frame = _frame(rows, names + order)
        return (frame.drop(columns=order) if order else frame).set_index("id", drop=False)

    def _rows(self, query, id_column, ids: Iterable[str] | None) -> list:
        """The rows of a query: all of them, or those of ``ids`` (one statement, however many)."""
        with self.engine.connect() as conn:
            if ids is None:
                return conn.execute(query).all()
            return conn.execute(query.where(among(id_column, ids, conn.dialect.name))).all()

    def events_frame(self, until: dt.date | None = None, *, columns: Sequence[str] | None = None,
                     ids: Iterable[str] | None = None, active: bool = True,
                     since: dt.date | None = None,
                     tagged: Iterable[str] | Mapping[str, dt.date] | None = None) -> pd.DataFrame:
        """Events (active ones unless ``active`` is False; dated on or before ``until`` and after
        ``since`` when given) as a DataFrame indexed by id, in date then id order; ``columns`` and
        ``ids`` as in :meth:`incidents_frame`. ``tagged``: only events that may carry one of these
        tags (a quick filter on the tags' text in the database: check the tags themselves too); as
        a mapping, each tag only on events dated after its own day."""
        names = EVENT_COLUMNS if columns is None else [c for c in EVENT_COLUMNS if c == "id" or c in columns]
        unknown = set(columns or ()) - set(EVENT_COLUMNS)
        if unknown:
            raise KeyError(f"no such event column(s): {', '.join(sorted(unknown))}")
        order = [] if "date" in names else ["date"]
        # JSON columns come as their text and are decoded once per distinct value (most events
        # share a handful of tag lists): much cheaper than decoding every row; so do SQLite's
        # times (a report's events share its time), which its driver would parse row by row
        as_text = {c for c in names if isinstance(events.c[c].type, JSON)
                   or (isinstance(events.c[c].type, UTCDateTime) and self.engine.dialect.name == "sqlite")}
        query = select(*(type_coerce(events.c[c], Text).label(c) if c in as_text
                         else events.c[c] for c in names + order)).order_by(events.c.date, events.c.id)
        query = _dated(query, until, since)
        if active:
            query = query.where(events.c.status == "active")
        if tagged is not None:
            text_of = cast(events.c.tags, Text)
            after = tagged if isinstance(tagged, Mapping) else dict.fromkeys(tagged)
            # looked for as plain text (instr, strpos): cheaper than a LIKE pattern, and as exact as
            # the check of the tags that follows
            find = func.strpos if self.engine.dialect.name == "postgresql" else func.instr
            query = query.where(or_(false(), *(
                (find(text_of, f'"{tag}"') > 0) & (true() if day is None else events.c.date > day)
                for tag, day in after.items())))
        rows = self._rows(query, events.c.id, ids)
        frame = _frame(rows, names + order)
        for name in as_text:
            if len(frame):
                json_text = isinstance(events.c[name].type, JSON)
                values = _each_once(frame[name].tolist(), json.loads if json_text else _utc_time)
                frame[name] = pd.Series(values, index=frame.index, dtype=object) if json_text else values
        return (frame.drop(columns=order) if order else frame).set_index("id", drop=False)

    def event_records(self, ids: Iterable[str], columns: Sequence[str]) -> list[dict[str, Any]]:
        """The events of ``ids`` (whatever their status) as one dict each, with ``id`` and ``columns``:
        what answers show of thousands of events at once, without a frame in between (JSON decoded
        once per distinct text, dates read once per distinct day)."""
        names = ["id", *(c for c in columns if c != "id")]
        texts = {c for c in names if isinstance(events.c[c].type, (JSON, Date))}
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite" and set(names) <= DETAILS_INDEXED:
                # from the index that holds them: SQLite's planner would take the id's own index
                # and read each event's wide row from the table
                query = select(*(column(c) for c in names)).select_from(text(f"events INDEXED BY {DETAILS_INDEX}"))
                rows = _fetch(conn, query.where(among(column("id"), ids, conn.dialect.name)))
            else:
                query = select(*(type_coerce(events.c[c], Text).label(c) if c in texts else events.c[c]
                                 for c in names))
                rows = _fetch(conn, query.where(among(events.c.id, ids, conn.dialect.name)))
        values = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in names]
        for i, name in enumerate(names):
            if name in texts:
                convert = json.loads if isinstance(events.c[name].type, JSON) else dt.date.fromisoformat
                values[i] = _each_once(values[i], convert)
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]

    def event_matches_frame(self, until: dt.date | None = None, *, since: dt.date | None = None,
                            ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Where each active event (dated on or before ``until``, after ``since``; of ``ids`` when
        given) touches the roads: the segment matches of the report its place comes from, as
        ``incident_id`` (the event's id), ``segment_id``, ``distance_km``."""
        query = (select(events.c.id, incident_segments.c.segment_id, incident_segments.c.distance_km)
                 .join(events, events.c.location_incident == incident_segments.c.incident_id)
                 .order_by(events.c.id, incident_segments.c.segment_id))
        if ids is None:
            with self.engine.connect() as conn:
                rows = conn.execute(_dated(query.where(events.c.status == "active"), until, since)).all()
        else:  # found by id; whether active and when, checked here (else SQLite walks every event of the dates)
            found = _frame(self._rows(query.add_columns(events.c.status, type_coerce(events.c.date, Text)),
                                      events.c.id, ids),
                           ["incident_id", "segment_id", "distance_km", "status", "date"])
            if found.empty:
                return found.drop(columns=["status", "date"])
            keep = found["status"].to_numpy() == "active"
            days = found["date"].to_numpy(dtype=str).astype("datetime64[D]")
            if until is not None:
                keep &= days <= np.datetime64(until, "D")
            if since is not None:
                keep &= days > np.datetime64(since, "D")
            return found.loc[keep, ["incident_id", "segment_id", "distance_km"]].reset_index(drop=True)
        return _frame(rows, ["incident_id", "segment_id", "distance_km"])

    def event_reports_frame(self, until: dt.date | None = None, *, since: dt.date | None = None) -> pd.DataFrame:
        """Every report of each active event: ``event_id``, ``source`` (the incident's own, else its
        report's), ``format``, ``confidence``, ``geo_precision``, ``source_reliability``: what its
        corroboration is computed from (:func:`riskengine.scoring.event_confidence`)."""
        source = func.coalesce(incidents.c.source, reports.c.source)
        query = (select(incidents.c.event_id, source, reports.c.format, incidents.c.confidence,
                        incidents.c.geo_precision, incidents.c.source_reliability)
                 .join(reports, reports.c.id == incidents.c.report_id)
                 .join(events, events.c.id == incidents.c.event_id)
                 .where(events.c.status == "active").order_by(incidents.c.event_id, incidents.c.id))
        query = _dated(query, until, since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, ["event_id", "source", "format", "confidence", "geo_precision", "source_reliability"])

    def matches_frame(self, until: dt.date | None = None) -> pd.DataFrame:
        """Incident-segment matches (``incident_id``, ``segment_id``, ``distance_km``)."""
        query = select(incident_segments).order_by(incident_segments.c.incident_id, incident_segments.c.segment_id)
        if until is not None:
            query = query.join(incidents, incidents.c.id == incident_segments.c.incident_id).where(
                incidents.c.date <= until
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, ["incident_id", "segment_id", "distance_km"])


def among(column, ids: Iterable[str], dialect: str):
    """``column IN ids`` as one parameter however many ids there are (a JSON array read with
    ``json_each`` on SQLite, an array on PostgreSQL): no statement per few hundred ids, no limit on
    parameters, and no time spent naming thousands of them."""
    wanted = list(dict.fromkeys(ids))
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # noqa: PLC0415 - see schema._partial_on

        return column == any_(bindparam(None, wanted, type_=postgresql.ARRAY(Text)))
    listed = func.json_each(bindparam(None, json.dumps(wanted), type_=Text)).table_valued("value")
    return column.in_(select(listed.c.value))


def _without_events(conn) -> bool:
    """Whether the store holds no event at all (a new store, before its first report)."""
    return conn.execute(select(events.c.id).limit(1)).first() is None


def _dated(query, until: dt.date | None, since: dt.date | None):
    """``query`` kept to the events dated on or before ``until`` and after ``since`` (when given)."""
    if until is not None:
        query = query.where(events.c.date <= until)
    if since is not None:
        query = query.where(events.c.date > since)
    return query


def _each_once(values: list, convert: Callable[[str], Any]) -> list:
    """Texts converted (JSON decoded, ISO dates parsed), each distinct text once: most rows share a
    handful of values (equal values share one converted object: read-only); values a driver
    converted already (PostgreSQL's json and dates) are kept."""
    try:  # the distinct values first, then one look-up per row: no Python loop over the rows
        table = {v: convert(v) if isinstance(v, str) else v for v in dict.fromkeys(values)}
    except TypeError:  # an unhashable value (a list PostgreSQL's driver decoded): row by row
        pass
    else:
        return list(map(table.__getitem__, values))
    cache: dict[str, Any] = {}
    out = []
    for value in values:
        if isinstance(value, str):
            converted = cache.get(value)
            if converted is None:
                converted = cache[value] = convert(value)
            out.append(converted)
        else:
            out.append(value)
    return out


def _utc_time(text: str) -> dt.datetime:
    """A time as SQLite keeps a :class:`~riskengine.schema.UTCDateTime` (UTC, without an offset), as
    that type reads it back: aware, in UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _fetch(conn, query) -> list[tuple]:
    """The rows of a Core ``query`` as the driver's plain tuples: no result rows nor type processing
    (tens of thousands of rows a question reads; their dates are read as text or date objects and
    their JSON as text, each converted once per distinct value by the caller). Parameters are
    texts, numbers, lists and dates only."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if conn.dialect.name == "sqlite":  # dates as SQLAlchemy stores them there: ISO text
        for name, value in params.items():
            if isinstance(value, dt.datetime):
                raise TypeError(f"_fetch: no datetime parameters ({name})")
            if isinstance(value, dt.date):
                params[name] = value.isoformat()
    values = [params[name] for name in compiled.positiontup] if compiled.positional else params
    cursor = conn.connection.cursor()
    if conn.dialect.name == "postgresql":  # JSON and dates as their texts, as SQLite gives them
        _as_texts(cursor)
    try:
        cursor.execute(str(compiled), values)
        return cursor.fetchall()
    finally:
        cursor.close()


def _as_texts(cursor) -> None:
    """Make a PostgreSQL (psycopg) cursor return JSON and dates as their texts: the driver would
    decode each row's JSON and make a date object per row, where the callers convert each distinct
    text once (:func:`_each_once`, :func:`riskengine.scoring.as_days`), as they do SQLite's."""
    from psycopg.types.string import TextLoader  # noqa: PLC0415 - only a PostgreSQL store has psycopg

    for name in ("json", "jsonb", "date"):
        cursor.adapters.register_loader(name, TextLoader)


def _plain_frame(rows: Sequence[Sequence], columns: list[str], *, floats: frozenset[str]) -> pd.DataFrame:
    """A frame from many result rows of texts and numbers: the ``floats`` columns as float arrays,
    the others as plain object arrays (a text column made a string column checks every value: for
    a whole network's rows that costs more than reading them)."""
    if not rows:
        return pd.DataFrame([], columns=columns)
    return pd.DataFrame({name: pd.Series(np.array(values, dtype=float if name in floats else object), copy=False)
                         for name, values in zip(columns, zip(*rows, strict=True), strict=True)})


def _frame(rows: Sequence[Sequence], columns: list[str]) -> pd.DataFrame:
    """A frame from result rows, column by column (much faster than from mappings; same dtypes)."""
    if not rows:
        return pd.DataFrame([], columns=columns)
    return pd.DataFrame(dict(zip(columns, (list(c) for c in zip(*rows, strict=True)), strict=True)), columns=columns)
