"""The store's tables, and the migrations that bring an older database up to date.

``meta.schema_version`` says which layout a database has; :func:`migrate` runs the steps from
that version to :data:`SCHEMA_VERSION` in one transaction, so a database is never half-migrated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 12

#: The events whose stored weights are not up to date: the condition of their partial index, and of
#: the query that finds them (written the same, so that SQLite's planner sees the index answers it).
UNWEIGHED = "weighed IS NOT TRUE"
#: The incidents told with a vague date (ACLED's time precision 2, a week, or 3, a month): the
#: condition of their partial index, and of the query that reads them.
VAGUE_DATE = "time_precision >= 2"


class UTCDateTime(TypeDecorator):
    """An aware datetime, stored as UTC and read back as aware UTC on every backend (SQLite keeps
    no offset, PostgreSQL converts): so comparisons with an aware ``now`` mean the same everywhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData()

meta = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("source_ref", Text),
    Column("source_key", Text),  # v2: the item's id inside its source (feed GUID, file path)
    Column("format", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("published", Date),
    Column("ingested_at", UTCDateTime(), nullable=False),
    Column("title", Text),
    Column("text", Text),
    Index("ux_reports_source_key", "source", "source_key", unique=True),
)

def what_and_where() -> list[Column]:
    """The columns that say what happened, when and where: an incident's as read from one report,
    and an event's as its reports give it together (new Column objects for each table)."""
    return [
        Column("event_type", String(64), nullable=False),
        Column("sub_event_type", String(64)),
        Column("tags", JSON, nullable=False),
        Column("date", Date, nullable=False),
        Column("lat", Float),
        Column("lon", Float),
        Column("geo_precision", Integer, nullable=False),
        Column("radius_km", Float),
        Column("location_kind", String(16), nullable=False),
        Column("geometry_wkt", Text),
        Column("segments", JSON, nullable=False),
        Column("places", JSON, nullable=False),
        Column("actors", JSON, nullable=False),
        Column("targets", JSON, nullable=False),
        Column("fatalities", Integer, nullable=False),
    ]


incidents = Table(
    "incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("report_id", Integer, ForeignKey("reports.id"), nullable=False),
    *what_and_where(),
    Column("confidence", Float),
    Column("source", Text),
    Column("source_reliability", String(1)),
    Column("evidence", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("ingested_at", UTCDateTime()),  # v2: when the engine learnt of it
    Column("event_id", String(32)),  # v4: the event this report of it belongs to
    Column("time_precision", Integer),  # v4: ACLED's 1 day, 2 week, 3 month (NULL: not known)
    Column("date_stated", Boolean),  # v4: False when the publication date stood in (NULL: not known)
    Index("ix_incidents_date", "date"),
    Index("ix_incidents_report", "report_id"),
    Index("ix_incidents_event_type", "event_type"),
    Index("ix_incidents_event", "event_id"),
    # v12: the few incidents told with a vague date (a week, a month), which every report's search for
    # the event it retells reads by date (partial: see _partial_on)
    Index("ix_incidents_vague", "date", sqlite_where=text(VAGUE_DATE)),
)

incident_segments = Table(
    "incident_segments",
    metadata,
    Column("incident_id", String(32), ForeignKey("incidents.id"), primary_key=True),
    Column("segment_id", String(120), primary_key=True),
    Column("distance_km", Float, nullable=False),
    Index("ix_incident_segments_segment", "segment_id"),
)

# ---- v2: sources, subscriptions and the alert outbox -----------------------------------------

source_state = Table(
    "source_state",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("seen", JSON, nullable=False),
    Column("last_polled_at", UTCDateTime()),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False, default=0),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # route | segment | place
    Column("target", String(250), nullable=False),  # "Sirte|Sebha", a segment id, or a place name
    Column("radius_km", Float),
    Column("min_level", Integer, nullable=False),
    Column("quiet_start", String(5)),
    Column("quiet_end", String(5)),
    Column("timezone", String(64), nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_level", Integer, nullable=False, default=1),
    Column("alerted_level", Integer, nullable=False, default=0),
    Column("episode", Integer, nullable=False, default=0),
    # v9: the subscriber's choices on buttons: the event kinds told (NULL: all), sent without sound,
    # and held (but never an Extreme level) until a time
    Column("event_kinds", JSON),
    Column("silent", Boolean, nullable=False, default=False),
    Column("snoozed_until", UTCDateTime()),
    UniqueConstraint("chat_id", "channel", "kind", "target", name="ux_subscriptions_target"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(250), nullable=False, unique=True),  # idempotency key: one alert, one row
    Column("subscription_id", Integer, ForeignKey("subscriptions.id")),
    Column("chat_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # level | incident | digest
    Column("text", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("not_before", UTCDateTime(), nullable=False),
    Column("status", String(12), nullable=False),  # pending sent dead merged (told in another) cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime()),
    # v7: the dispatcher sending it now, and until when that claim holds (its lease; NULL: nobody's)
    Column("claimed_by", String(120)),
    Column("claimed_until", UTCDateTime()),
    # v9: the situation an alert belongs to ("sub:<id>:ep:<episode>": later alerts of it edit or reply to
    # the first one sent), and the message id the channel gave the sent alert (Telegram's, to edit it)
    Column("thread", String(120)),
    Column("message_id", BigInteger),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_thread", "thread", sqlite_where=text("thread IS NOT NULL")),  # partial: see _partial_on
    # v7: the claims held (few rows: the alerts in flight), by dispatcher
    Index("ix_outbox_claims", "claimed_by", "claimed_until", sqlite_where=text("claimed_by IS NOT NULL")),
)

# ---- v3: what each chat chose (the bot's language) --------------------------------------------

chat_settings = Table(
    "chat_settings",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("language", String(8)),  # "en", "ar"; NULL: follow the user's Telegram language
    Column("updated_at", UTCDateTime()),
)


# ---- v4: events (several reports of one happening), analysts' corrections, road status -------

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),  # the id of the incident that first told it
    Column("status", String(12), nullable=False),  # active | retracted | merged | withdrawn (no report left)
    Column("merged_into", String(32)),
    Column("lead_incident", String(32), nullable=False),  # the report whose kind, date and words it shows
    Column("location_incident", String(32), nullable=False),  # the report whose location it takes
    Column("pinned", JSON, nullable=False),  # what an analyst set: event_type, sub_event_type, tags, date
    # copied from the lead and location reports (and the pins) so that scoring reads one table
    *what_and_where(),
    Column("summary", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("reports", Integer, nullable=False),
    Column("sources", JSON, nullable=False),  # the distinct sources that told it
    Column("ingested_at", UTCDateTime()),  # when the first report of it was learnt
    Column("updated_at", UTCDateTime()),  # when a report joined it or an analyst changed it
    Column("weighed", Boolean),  # v5: its rows in event_weights are up to date (NULL/false: not yet)
    Index("ix_events_date", "date"),
    # v12: the events not weighed yet, which every question asks for (partial: see _partial_on); an
    # index of every event's flag made PostgreSQL walk all the events to find none
    Index("ix_events_unweighed", "id", sqlite_where=text(UNWEIGHED)),
)
# v6 (v5: status and date; before, status alone): the active events of a period, and the words of
# their tags (the few that set a road status are found without reading every event's row)
Index("ix_events_status_date", events.c.status, events.c.date, cast(events.c.tags, Text))
#: What the answers show of an event (``RiskEngine.event_details``).
EVENT_DETAILS = ("event_type", "sub_event_type", "tags", "date", "summary", "evidence", "sources", "reports")
#: v10, SQLite only: those of thousands of events at once, found by id and read from the index
#: alone, not from the table's wide rows through their rowid (PostgreSQL limits the size of an
#: index row, and a long evidence would not fit)
DETAILS_INDEX = "ix_events_details"
#: The columns it holds.
DETAILS_INDEXED = frozenset({"id", *EVENT_DETAILS})
Index(DETAILS_INDEX, events.c.id, *(events.c[c] for c in EVENT_DETAILS)).ddl_if(dialect="sqlite")

event_audit = Table(
    "event_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # created joined retract restore move retype merge split
    Column("actor", Text, nullable=False),  # "engine" or who the analyst is
    Column("at", UTCDateTime(), nullable=False),
    Column("why", Text),
    Column("detail", JSON, nullable=False),
    Index("ix_event_audit_event", "event_id"),
)

road_status = Table(
    "road_status",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("segment_id", String(120), nullable=False),
    Column("status", String(12), nullable=False),  # open | restricted | checkpoint | closed
    Column("detail", Text),
    Column("since", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime()),  # NULL: until a newer report or analyst says otherwise
    Column("actor", Text, nullable=False),
    Column("why", Text),
    Column("set_at", UTCDateTime(), nullable=False),
    Index("ix_road_status_segment", "segment_id"),
)


# ---- v5: what each active event weighs on each segment, apart from its age ---------------------

# kept in segment then "counts until" order (SQLite: a table without rowid, clustered on its key),
# so the rows that still count on a route's segments are read from a few contiguous pages; an
# event's rows are found by its index
event_weights = Table(
    "event_weights",
    metadata,
    Column("segment_id", String(120), primary_key=True),
    Column("counts_until", Date, primary_key=True),  # the last day the row can count (weight or coverage)
    Column("event_id", String(32), primary_key=True),
    Column("date", Date, nullable=False),
    Column("weighs_until", Date),  # the last day it can weigh (NULL: it never weighs, it tells coverage)
    Column("rule_id", String(64), nullable=False),
    # what SQL reads of the numbers: the day sums (summed weights by half-life), the relieving rows
    Column("half_life_days", Float, nullable=False),
    Column("base_weight", Float, nullable=False),
    Column("base_relief", Float, nullable=False),
    # v10: every number of the row (:data:`WEIGHT_NUMBERS`) in one value (:func:`pack_numbers`)
    Column("numbers", LargeBinary, nullable=False),
    Index("ix_event_weights_event", "event_id"),
    Index("ix_event_weights_counts_until", "counts_until"),
    Index("ix_event_weights_weighs_until", "weighs_until"),
    # v6: the few rows that relieve (reopenings, truces), read apart from the day sums below
    Index("ix_event_weights_relief", "weighs_until", sqlite_where=text("base_relief > 0")),
    sqlite_with_rowid=False,
)

#: The numbers of a row of ``event_weights``, in the order ``numbers`` holds them.
WEIGHT_NUMBERS = ("distance_km", "gap_km", "severity", "half_life_days", "distance_decay", "confidence",
                  "fatalities_boost", "base_weight", "base_relief")
#: How ``numbers`` holds each of them: an IEEE double, little-endian whatever the machine (exact, as
#: a column of floats would keep it).
_NUMBER = np.dtype("<f8")


def pack_numbers(columns: Mapping[str, Sequence[float]]) -> list[bytes]:
    """Each row's :data:`WEIGHT_NUMBERS` (from ``columns``, by name) as one ``numbers`` value.

    A question reads thousands of rows: the driver makes one object per value it reads, so one
    value for nine numbers makes that read about twice as quick as nine float columns (and the
    numbers come back as arrays at once: :func:`unpack_numbers`)."""
    table = np.column_stack([np.asarray(columns[name], dtype=_NUMBER) for name in WEIGHT_NUMBERS])
    return np.ascontiguousarray(table, dtype=_NUMBER).view(f"V{table.shape[1] * _NUMBER.itemsize}").ravel().tolist()


def unpack_numbers(values: Sequence[bytes]) -> dict[str, np.ndarray]:
    """The :data:`WEIGHT_NUMBERS` of rows from their ``numbers`` values, one float array per name."""
    table = np.frombuffer(b"".join(values), dtype=_NUMBER).reshape(len(values), len(WEIGHT_NUMBERS))
    table = table.astype(float).T.copy()  # native order, each number's column contiguous
    return dict(zip(WEIGHT_NUMBERS, table, strict=True))

#: v6: the sum of the base weights of the rows of ``event_weights`` that weigh, by segment, day and
#: half-life. Rows of one day and half-life decay alike (an age counts from the day's midnight), so
#: a segment's weight at any time is a sum over these few rows, however many events there are.
#: Kept equal to the sums of ``event_weights`` by the writer that changes it (:mod:`riskengine.weights`).
segment_days = Table(
    "segment_days",
    metadata,
    Column("segment_id", String(120), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("half_life_days", Float, primary_key=True),
    Column("weighs_until", Date, nullable=False),  # the rows' last day of weight (equal for one day and half-life)
    Column("weight", Float, nullable=False),  # the sum of their base weights
    Column("events", Integer, nullable=False),  # how many rows (events: one row per event and segment)
    Index("ix_segment_days_weighs_until", "weighs_until"),
    sqlite_with_rowid=False,
)

# ---- v11: the road statuses reports set, where they lie on the roads ---------------------------

# what :func:`riskengine.road_status.statuses_told` makes of an event whose tags set a road status:
# one row per segment it lies on, written when the event is weighed (with the same rules), so that
# a question reads the few statuses still in force rather than every recent event's tags
event_statuses = Table(
    "event_statuses",
    metadata,
    Column("event_id", String(32), primary_key=True),
    Column("segment_id", String(120), primary_key=True),
    Column("status", String(12), nullable=False),  # restricted | checkpoint | closed | open (a reopening)
    Column("date", Date, nullable=False),
    Column("expires", Date, nullable=False),  # the first day it no longer holds
    Column("learnt", UTCDateTime()),  # when the engine learnt of the event (NULL: not known)
    Index("ix_event_statuses_expires", "expires"),
)


# ---- v8: travellers followed along their road while they share a live location ----------------

#: One row per chat: the route it asked for last (``/risk``), and the journey followed while it
#: shares a live location. Everything a worker needs to go on from another's last update is here.
travellers = Table(
    "travellers",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("asked_from", Text),  # the route it asked for last (/risk FROM TO), canonical names
    Column("asked_to", Text),
    Column("asked_at", UTCDateTime()),
    Column("message_id", Integer),  # the live location followed; NULL: not following
    Column("started_at", UTCDateTime()),  # the journey's start (with the chat: the journey's identity)
    Column("route_from", Text),  # the route followed; NULL: the nearest road
    Column("route_to", Text),
    Column("course", JSON),  # [[segment id, forward], ...] in travel order; NULL: direction not known yet
    Column("min_level", Integer),  # alert for segments at this level or more
    Column("last_lat", Float),
    Column("last_lon", Float),
    Column("last_at", UTCDateTime()),
    Column("live_until", UTCDateTime()),
    Column("alerted", JSON),  # the segment ids already alerted in this journey
    Index("ix_travellers_live_until", "live_until"),
)


# ---- v9: what a chat is in the middle of, and the webhook updates already handled -----------------

#: A dialog in progress (the bot asked a question and waits for the chat's answer): kept in the
#: store, so that the answer may reach any worker.
dialogs = Table(
    "dialogs",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("awaiting", String(32), nullable=False),  # what the next message answers, e.g. "risk"
    Column("data", JSON),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: Telegram may deliver one update twice (a worker that answered too late): the first worker to
#: insert its id handles it, any other drops it. Old rows are pruned.
handled_updates = Table(
    "handled_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("handled_at", UTCDateTime(), nullable=False),
    Index("ix_handled_updates_at", "handled_at"),
)


#: Each user's command budget (a token bucket: ``tokens`` left at ``at``, Unix seconds), shared by
#: every worker, so that N workers do not give a user N times the rate limit.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("warned", Boolean, nullable=False, default=False),
)


def _v1_to_v2(conn: Connection) -> None:
    """v2 adds where a report came from inside its source, and when each incident was learnt."""
    columns = {c["name"] for c in inspect(conn).get_columns("reports")}
    if "source_key" not in columns:
        conn.execute(text("ALTER TABLE reports ADD COLUMN source_key TEXT"))
    conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ux_reports_source_key ON reports (source, source_key)"))
    if "ingested_at" not in {c["name"] for c in inspect(conn).get_columns("incidents")}:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(text(f"ALTER TABLE incidents ADD COLUMN ingested_at {kind}"))
    conn.execute(text("UPDATE incidents SET ingested_at = (SELECT ingested_at FROM reports "
                      "WHERE reports.id = incidents.report_id) WHERE ingested_at IS NULL"))


def _v2_to_v3(conn: Connection) -> None:
    """v3 adds each chat's settings (the language the bot speaks to it)."""
    metadata.create_all(conn, tables=[chat_settings])


def _v3_to_v4(conn: Connection) -> None:
    """v4 groups incidents into events: each stored incident becomes an event of its own (as it was
    counted before); later reports of the same event join it."""
    columns = {c["name"] for c in inspect(conn).get_columns("incidents")}
    for name, kind in (("event_id", "VARCHAR(32)"), ("time_precision", "INTEGER"), ("date_stated", "BOOLEAN")):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE incidents ADD COLUMN {name} {kind}"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_incidents_event ON incidents (event_id)"))
    metadata.create_all(conn, tables=[events, event_audit, road_status])
    from .events import found_events_for_orphans  # noqa: PLC0415 - the events module builds on this one

    found_events_for_orphans(conn)


def _v4_to_v5(conn: Connection) -> None:
    """v5 stores what each event weighs on each segment apart from its age (:mod:`riskengine.weights`);
    every event starts unweighed, and the first engine that writes weighs them."""
    if "weighed" not in {c["name"] for c in inspect(conn).get_columns("events")}:
        conn.execute(text("ALTER TABLE events ADD COLUMN weighed BOOLEAN"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_events_weighed ON events (weighed)"))
    conn.execute(text("DROP INDEX IF EXISTS ix_events_status"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_events_status_date ON events (status, date)"))
    metadata.create_all(conn, tables=[event_weights])


def _v5_to_v6(conn: Connection) -> None:
    """v6 keeps each segment's weights summed by day and half-life (``segment_days``), from the
    standing weights stored so far, and indexes the rows that relieve."""
    metadata.create_all(conn, tables=[segment_days])
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_event_weights_relief ON event_weights (weighs_until) "
                      "WHERE base_relief > 0"))
    conn.execute(text("DROP INDEX IF EXISTS ix_events_status_date"))
    conn.execute(text("CREATE INDEX ix_events_status_date ON events (status, date, CAST(tags AS TEXT))"))
    from .weights import sum_days  # noqa: PLC0415 - the weights build on this module

    sum_days(conn)


def _v6_to_v7(conn: Connection) -> None:
    """v7 lets several dispatchers share the outbox: each claims the alerts it sends, for a lease
    (:meth:`riskengine.outbox.Outbox.claim`); alerts stored before start unclaimed."""
    if "outbox" not in set(inspect(conn).get_table_names()):
        return  # older than the outbox (v1): created whole, as it is now, after the steps
    columns = {c["name"] for c in inspect(conn).get_columns("outbox")}
    kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    for name, sql_type in (("claimed_by", "VARCHAR(120)"), ("claimed_until", kind)):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {name} {sql_type}"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_outbox_claims ON outbox (claimed_by, claimed_until) "
                      "WHERE claimed_by IS NOT NULL"))


def _v7_to_v8(conn: Connection) -> None:
    """v8 follows travellers who share a live location (:mod:`riskengine.enroute`): the route each
    chat asked for last and its journey, in the store so that any worker can take the next update."""
    metadata.create_all(conn, tables=[travellers])


def _v8_to_v9(conn: Connection) -> None:
    """v9: subscribers' choices on buttons (event kinds, silent, snooze), the alerts' threads and sent
    message ids (updates edit or reply to the first alert), dialogs, handled webhook updates and the
    users' command budgets."""
    kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    tables = set(inspect(conn).get_table_names())
    if "subscriptions" in tables:
        columns = {c["name"] for c in inspect(conn).get_columns("subscriptions")}
        for name, sql_type in (("event_kinds", "JSON"), ("silent", "BOOLEAN NOT NULL DEFAULT FALSE"),
                               ("snoozed_until", kind)):
            if name not in columns:
                conn.execute(text(f"ALTER TABLE subscriptions ADD COLUMN {name} {sql_type}"))
    if "outbox" in tables:
        columns = {c["name"] for c in inspect(conn).get_columns("outbox")}
        for name, sql_type in (("thread", "VARCHAR(120)"), ("message_id", "BIGINT")):
            if name not in columns:
                conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {name} {sql_type}"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_outbox_thread ON outbox (thread) WHERE thread IS NOT NULL"))
    metadata.create_all(conn, tables=[dialogs, handled_updates, rate_buckets])


def _v9_to_v10(conn: Connection) -> None:
    """v10 keeps the numbers of each row of ``event_weights`` in one value (``numbers``): the table is
    made again empty, with its day sums, and every event is unweighed; the first engine that writes
    weighs them all again (until then, readers weigh in memory: the answers do not change). SQLite
    also indexes what answers show of events (``ix_events_details``)."""
    conn.execute(text("DROP TABLE IF EXISTS event_weights"))
    metadata.create_all(conn, tables=[event_weights, segment_days])
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {DETAILS_INDEX} ON events (id, {', '.join(EVENT_DETAILS)})"))
    conn.execute(segment_days.delete())
    conn.execute(update(events).values(weighed=False))
    from .weights import RULES_KEY  # noqa: PLC0415 - the weights build on this module

    conn.execute(meta.delete().where(meta.c.key == RULES_KEY))


def _v10_to_v11(conn: Connection) -> None:
    """v11 keeps the road statuses reports set, per segment (``event_statuses``), written when events
    are weighed: the first engine that writes makes them for every event (not weighing them again);
    until then, readers find the statuses from the events themselves."""
    metadata.create_all(conn, tables=[event_statuses])


def _v11_to_v12(conn: Connection) -> None:
    """v12 finds the events not weighed yet by a partial index of them alone (``ix_events_unweighed``),
    not by an index of every event's flag; and the incidents told with a vague date by their own
    (``ix_incidents_vague``)."""
    conn.execute(text("DROP INDEX IF EXISTS ix_events_weighed"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_events_unweighed ON events (id) WHERE {UNWEIGHED}"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_incidents_vague ON incidents (date) WHERE {VAGUE_DATE}"))


MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6, 6: _v6_to_v7, 7: _v7_to_v8,
              8: _v8_to_v9, 9: _v9_to_v10, 10: _v10_to_v11, 11: _v11_to_v12}


def current_schema(conn: Connection) -> bool:
    """Whether the database has every table at :data:`SCHEMA_VERSION` already (read only)."""
    existing = set(inspect(conn).get_table_names())
    if "meta" not in existing or not set(metadata.tables) <= existing:
        return False
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return row is not None and int(row.value) == SCHEMA_VERSION


def _partial_on(dialect: str) -> None:
    """The partial indexes' conditions (each written once, for SQLite, where its index is defined)
    given to ``dialect`` too, before its tables are made. Not given where they are defined: a
    ``postgresql_where`` there would import SQLAlchemy's PostgreSQL dialect in every process, a
    twentieth of a question's whole process on SQLite."""
    for table in metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"]["where"]
            if where is not None and dialect != "sqlite":
                index.dialect_options[dialect]["where"] = where


def migrate(conn: Connection) -> int:
    """Create missing tables and bring the layout to :data:`SCHEMA_VERSION`; returns the old version."""
    _partial_on(conn.dialect.name)
    metadata.create_all(conn, tables=[meta])
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    existing = set(inspect(conn).get_table_names())
    if row is None and "reports" not in existing:
        metadata.create_all(conn)
        conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        # a new store has no events from before events existed: nothing to group on first open
        conn.execute(meta.insert().values(key="events_grouped", value="new store"))
        return SCHEMA_VERSION
    version = int(row.value) if row is not None else 1
    if version > SCHEMA_VERSION:
        return version
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](conn)
    metadata.create_all(conn)
    if row is None:
        conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    else:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
    return version
