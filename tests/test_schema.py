"""Schema versions: a database made by an older riskengine is migrated, its data kept."""

from __future__ import annotations

import datetime as dt
import sqlite3

from sqlalchemy import inspect

from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.rules import RuleBook
from riskengine.schema import SCHEMA_VERSION, UNWEIGHED
from riskengine.store import Store

V1 = """
CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE reports (id INTEGER PRIMARY KEY AUTOINCREMENT, source VARCHAR(200) NOT NULL, source_ref TEXT,
  format VARCHAR(16) NOT NULL, content_hash VARCHAR(64) NOT NULL UNIQUE, published DATE,
  ingested_at DATETIME NOT NULL, title TEXT, text TEXT);
CREATE TABLE incidents (id VARCHAR(32) PRIMARY KEY, report_id INTEGER NOT NULL REFERENCES reports(id),
  event_type VARCHAR(64) NOT NULL, sub_event_type VARCHAR(64), tags JSON NOT NULL, date DATE NOT NULL,
  lat FLOAT, lon FLOAT, geo_precision INTEGER NOT NULL, radius_km FLOAT, location_kind VARCHAR(16) NOT NULL,
  geometry_wkt TEXT, segments JSON NOT NULL, places JSON NOT NULL, actors JSON NOT NULL, targets JSON NOT NULL,
  fatalities INTEGER NOT NULL, confidence FLOAT, source VARCHAR(200), source_reliability VARCHAR(1),
  evidence TEXT NOT NULL, summary TEXT NOT NULL);
CREATE TABLE incident_segments (incident_id VARCHAR(32) NOT NULL REFERENCES incidents(id),
  segment_id VARCHAR(120) NOT NULL, distance_km FLOAT NOT NULL, PRIMARY KEY (incident_id, segment_id));
INSERT INTO reports VALUES (1, 'old.csv', 'old.csv', 'acled', 'abc', '2026-11-01', '2026-11-02 10:00:00', NULL, 'x');
INSERT INTO incidents VALUES ('i1', 1, 'Battles', 'Armed clash', '[]', '2026-11-01', 31.7, 14.0, 1, NULL, 'point',
  NULL, '[]', '[]', '[]', '[]', 0, NULL, 'old', NULL, 'clash', 'clash in Bani Walid');
INSERT INTO incident_segments VALUES ('i1', 'tarhuna-tarhuna-bani-walid', 3.5);
"""


def test_a_version_1_database_is_migrated_and_keeps_its_data(tmp_path, gazetteer, network):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1)
    store = Store.open(str(path))
    assert store.schema_version() == SCHEMA_VERSION
    columns = {c["name"] for c in inspect(store.engine).get_columns("reports")}
    assert "source_key" in columns
    assert {"subscriptions", "outbox", "source_state"} <= set(inspect(store.engine).get_table_names())
    frame = store.incidents_frame()
    assert list(frame.index) == ["i1"] and str(frame.loc["i1", "ingested_at"]).startswith("2026-11-02 10:00")
    assert len(store.matches_frame()) == 1
    # v4: the old incident is an event of its own, scored from the same row and segment match
    events = store.events_frame()
    assert list(events.index) == ["i1"] and events.loc["i1", "sources"] == ["old"]
    assert store.event_matches_frame()[["incident_id", "segment_id"]].values.tolist() == \
        store.matches_frame()[["incident_id", "segment_id"]].values.tolist()
    assert Store.open(str(path)).schema_version() == SCHEMA_VERSION  # opening again changes nothing
    # v5: no standing weights yet (readers weigh in memory); the first engine that groups the old
    # events weighs them, so the old incident weighs on its segment from the stored rows
    assert store.event_weights_frame().empty
    engine = RiskEngine(store, RuleBook.load(DEFAULT_RULES_DIR), gazetteer, network)
    stored = store.event_weights_frame()
    assert stored[["incident_id", "segment_id"]].values.tolist() == [["i1", "tarhuna-tarhuna-bani-walid"]]
    assert engine.assess(dt.datetime(2026, 11, 2, tzinfo=dt.UTC)).segments.loc["tarhuna-tarhuna-bani-walid",
                                                                             "score"] > 0


def test_a_version_2_database_gains_chat_settings_and_keeps_its_subscriptions(tmp_path):
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1.replace("'schema_version', '1'", "'schema_version', '2'")
                           .replace("format VARCHAR(16)", "source_key TEXT, format VARCHAR(16)")
                           .replace("'old.csv', 'old.csv', 'acled'", "'old.csv', 'old.csv', NULL, 'acled'")
                           .replace("summary TEXT NOT NULL)", "summary TEXT NOT NULL, ingested_at DATETIME)")
                           .replace("'clash in Bani Walid')", "'clash in Bani Walid', '2026-11-02 10:00:00')"))
        conn.executescript("""
CREATE TABLE subscriptions (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id VARCHAR(64) NOT NULL,
  channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, target VARCHAR(250) NOT NULL, radius_km FLOAT,
  min_level INTEGER NOT NULL, quiet_start VARCHAR(5), quiet_end VARCHAR(5), timezone VARCHAR(64) NOT NULL,
  paused BOOLEAN NOT NULL, created_at DATETIME NOT NULL, last_level INTEGER NOT NULL,
  alerted_level INTEGER NOT NULL, episode INTEGER NOT NULL);
INSERT INTO subscriptions VALUES (1, '555', 'telegram', 'route', 'Misrata|Sebha', NULL, 3, NULL, NULL,
  'Africa/Tripoli', 0, '2026-11-01 09:00:00', 1, 0, 0);
""")
    fresh = Store.open(str(tmp_path / "fresh.db"))
    assert "chat_settings" in set(inspect(fresh.engine).get_table_names()) and fresh.schema_version() == SCHEMA_VERSION
    store = Store.open(str(path))
    assert store.schema_version() == SCHEMA_VERSION
    assert "chat_settings" in set(inspect(store.engine).get_table_names())
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT target FROM subscriptions").scalars().all() == ["Misrata|Sebha"]
    assert store.chat_language("555") is None
    store.set_chat_language("555", "ar")
    assert Store.open(str(path)).chat_language(555) == "ar"  # a choice survives a restart
    store.set_chat_language(555, "en")
    assert store.chat_language("555") == "en"


V3_TWICE = """
INSERT INTO reports VALUES (2, 'wire', NULL, 'text', 'def', '2026-11-02', '2026-11-02 11:00:00', NULL, 'wire story');
INSERT INTO incidents VALUES ('i2', 2, 'Battles', 'Armed clash', '["clashes"]', '2026-11-01', 31.71, 14.01, 1,
  NULL, 'point', NULL, '[]', '[]', '[]', '[]', 2, 0.8, NULL, 'B', 'clashes told again', 'clashes near Bani Walid');
INSERT INTO incident_segments VALUES ('i2', 'tarhuna-tarhuna-bani-walid', 3.5);
"""


def test_an_old_store_that_counted_one_clash_twice_counts_it_once_after_the_upgrade(tmp_path, rules, gazetteer,
                                                                                    network):
    from riskengine.engine import RiskEngine

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1 + V3_TWICE)
    store = Store.open(str(path))
    assert store.event_count() == 2  # the migration alone keeps them apart, as they were counted
    engine = RiskEngine(store, rules, gazetteer, network)  # the first engine groups them
    assert engine.store.event_count() == 1 and engine.store.incident_count() == 2
    [event] = engine.store.events_frame().to_dict("records")
    assert event["sources"] == ["old", "wire"] and event["fatalities"] == 2
    assert RiskEngine(Store.open(str(path)), rules, gazetteer, network).store.event_count() == 1  # once


def test_a_version_5_store_gains_the_day_sums_of_its_weights(tmp_path, rules, gazetteer, network):
    from riskengine.engine import RiskEngine
    from riskengine.incident import Incident
    from riskengine.store import ReportIn

    path = str(tmp_path / "v5.db")
    engine = RiskEngine(Store.open(path), rules, gazetteer, network)
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    for day, (lat, lon) in enumerate([(31.2, 16.6), (30.1, 15.9), (31.35, 15.3)]):
        engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text=f"v5 report {day}"), [Incident(
            event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
            date=at.date() - dt.timedelta(days=day), lat=lat, lon=lon, geo_precision=1, source="desk",
            evidence=f"Gunmen stopped a lorry on the road, day {day}.")], now=at)
    before = engine.assess(at).segments
    assert (before["score"] > 0).sum() >= 2
    # as riskengine before v6 left it: standing weights stored, no day sums
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE segment_days")
        conn.execute("DROP INDEX ix_event_weights_relief")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    store = Store.open(path)
    assert store.schema_version() == SCHEMA_VERSION
    after = RiskEngine(store, rules, gazetteer, network).assess(at).segments
    assert after["score"].round(9).tolist() == before["score"].round(9).tolist()
    assert after["incidents"].tolist() == before["incidents"].tolist()
    # the first writer weighs every event again, in the current layout, with its day sums
    _write_something(RiskEngine(store, rules, gazetteer, network), at)
    with sqlite3.connect(path) as conn:
        sums = conn.execute("SELECT count(*), sum(events) FROM segment_days").fetchone()
        rows = conn.execute("SELECT count(*) FROM event_weights WHERE weighs_until IS NOT NULL").fetchone()
    assert sums[0] > 0 and sums[1] == rows[0]


def _as_left_by(store: Store, version: int, *statements: str) -> Store:
    """The store as riskengine ``version`` left it (``statements`` undo what came after), opened
    again by this riskengine: migrated to the current version."""
    from sqlalchemy import text

    with store.writer.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.execute(text(f"UPDATE meta SET value = '{version}' WHERE key = 'schema_version'"))
    again = Store.open(store.url)
    assert again.schema_version() == SCHEMA_VERSION
    return again


def _write_something(engine, at: dt.datetime) -> None:
    """Store one report (a writer's transaction, which weighs what is unweighed)."""
    from riskengine.incident import Incident
    from riskengine.store import ReportIn

    engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text="a quiet note from the desert"), [Incident(
        event_type="Protests", sub_event_type="Peaceful protest", date=at.date(), lat=24.0, lon=23.0,
        geo_precision=3, source="desk", evidence="A small crowd gathered at a remote well.")], now=at)


def test_a_version_9_store_keeps_its_answers_and_weighs_again_with_packed_numbers(db_url, rules, gazetteer, network):
    from sqlalchemy import text

    from riskengine.engine import RiskEngine
    from riskengine.incident import Incident
    from riskengine.store import ReportIn

    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    for day, (lat, lon) in enumerate([(31.2, 16.6), (30.1, 15.9), (27.05, 14.4)]):
        engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text=f"v9 report {day}"), [Incident(
            event_type="Explosions/Remote violence", sub_event_type="Shelling/artillery/missile attack",
            date=at.date() - dt.timedelta(days=day), lat=lat, lon=lon, geo_precision=1, source="desk",
            fatalities=day, evidence=f"Shells fell beside the highway, day {day}.")], now=at)
    before = engine.route("Misrata", "Sebha", at)
    assert before["incidents"]

    def count(sql: str) -> int:
        with Store.open(db_url).engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()

    kept = count("SELECT count(*) FROM event_weights")
    assert kept > 0
    # as riskengine v9 left it: each number of a row in its own column, no packed numbers (SQLite
    # and PostgreSQL alike)
    with engine.store.writer.begin() as conn:
        conn.execute(text("DROP TABLE event_weights"))
        conn.execute(text(
            "CREATE TABLE event_weights (segment_id VARCHAR(120) NOT NULL, counts_until DATE NOT NULL, "
            "event_id VARCHAR(32) NOT NULL, date DATE NOT NULL, weighs_until DATE, distance_km FLOAT NOT NULL, "
            "gap_km FLOAT NOT NULL, rule_id VARCHAR(64) NOT NULL, severity FLOAT NOT NULL, "
            "half_life_days FLOAT NOT NULL, distance_decay FLOAT NOT NULL, confidence FLOAT NOT NULL, "
            "fatalities_boost FLOAT NOT NULL, base_weight FLOAT NOT NULL, base_relief FLOAT NOT NULL, "
            "PRIMARY KEY (segment_id, counts_until, event_id))"))
        conn.execute(text("CREATE INDEX ix_event_weights_event ON event_weights (event_id)"))
        conn.execute(text("INSERT INTO event_weights VALUES ('coastal', '2026-12-01', 'old', '2026-11-20', NULL, "
                          "1, 1, 'r', 1, 1, 1, 1, 1, 1, 0)"))
        conn.execute(text("UPDATE meta SET value = '9' WHERE key = 'schema_version'"))
    store = Store.open(db_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert "numbers" in {c["name"] for c in inspect(store.engine).get_columns("event_weights")}
    assert count("SELECT count(*) FROM event_weights") == 0
    # until a writer weighs again, a reader weighs in memory: the same answer
    assert RiskEngine(store, rules, gazetteer, network).route("Misrata", "Sebha", at) == before
    _write_something(RiskEngine(store, rules, gazetteer, network), at)
    assert count("SELECT count(*) FROM event_weights WHERE event_id NOT IN "
                 "(SELECT id FROM events WHERE evidence LIKE '%remote well%')") == kept
    assert count("SELECT count(*) FROM events WHERE weighed IS NULL OR NOT weighed") == 0
    assert RiskEngine(Store.open(db_url), rules, gazetteer, network).route("Misrata", "Sebha", at) == before

def test_a_version_10_store_keeps_its_road_statuses_and_weighs_them_again(db_url, rules, gazetteer, network):
    from sqlalchemy import text

    from riskengine.engine import RiskEngine
    from riskengine.incident import Incident
    from riskengine.road_status import segment_statuses
    from riskengine.store import ReportIn

    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    for day, (segment, tag) in enumerate([(network.segments[0], "road_closure"),
                                          (network.segments[-1], "illegal_checkpoint")]):
        lon, lat = segment.geometry.interpolate(0.5, normalized=True).coords[0]
        engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text=f"v10 report {day}"), [Incident(
            event_type="Strategic developments", sub_event_type="Other", tags=[tag],
            date=at.date() - dt.timedelta(days=day), lat=lat, lon=lon, geo_precision=1, source="desk",
            evidence=f"Armed men shut the highway with sand barriers, day {day}.")], now=at)
    before = engine.route("Misrata", "Sebha", at), segment_statuses(engine, at)
    assert {s["status"] for s in before[1].values()} == {"open", "closed", "checkpoint"}

    def count(sql: str) -> int:
        with Store.open(db_url).engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()

    kept = count("SELECT count(*) FROM event_statuses")
    assert kept > 0
    # as riskengine v10 left it: no statuses kept
    store = _as_left_by(engine.store, 10, "DROP TABLE event_statuses", "DELETE FROM meta WHERE key = 'statuses_rules'")
    assert count("SELECT count(*) FROM event_statuses") == 0
    # the weights are kept (no event is weighed again); until a writer makes the statuses, a reader
    # finds them from the events: the same answers
    assert count("SELECT count(*) FROM events WHERE weighed IS NULL OR NOT weighed") == 0
    reader = RiskEngine(store, rules, gazetteer, network)
    assert not reader.stored_statuses_current()
    assert (reader.route("Misrata", "Sebha", at), segment_statuses(reader, at)) == before
    _write_something(RiskEngine(store, rules, gazetteer, network), at)
    assert count("SELECT count(*) FROM event_statuses") == kept
    reader = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    assert reader.stored_statuses_current()
    assert (reader.route("Misrata", "Sebha", at), segment_statuses(reader, at)) == before


def test_a_version_11_store_finds_its_unweighed_events_by_an_index_of_them_alone(db_url, rules, gazetteer, network):
    """Every question asks whether any event is left unweighed: v12 answers from an index of those
    events alone (an index of every event's flag had PostgreSQL walk all the events to find none)."""
    from sqlalchemy import text

    from riskengine.weights import Weigher

    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    _write_something(engine, at)
    [event] = engine.store.events_frame()["id"].tolist()
    fingerprint = Weigher(rules).fingerprint
    assert engine.store.weights_state(fingerprint) == (True, [])
    # as riskengine v11 left it, with the event changed by a writer without rules (not weighed yet)
    store = _as_left_by(engine.store, 11, "DROP INDEX ix_events_unweighed", "DROP INDEX ix_incidents_vague",
                        "CREATE INDEX ix_events_weighed ON events (weighed)", "UPDATE events SET weighed = NULL")
    sql = ("SELECT indexname FROM pg_indexes WHERE tablename = 'events'" if store.engine.dialect.name == "postgresql"
           else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
    with store.engine.connect() as conn:
        indexes = set(conn.execute(text(sql)).scalars())
    assert "ix_events_unweighed" in indexes and "ix_events_weighed" not in indexes
    with store.engine.connect() as conn:
        on_incidents = set(conn.execute(text(sql.replace("'events'", "'incidents'"))).scalars())
    assert "ix_incidents_vague" in on_incidents
    assert store.weights_state(fingerprint) == (True, [event])  # still found
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            plan = conn.execute(text(f"EXPLAIN QUERY PLAN SELECT events.id FROM events WHERE events.{UNWEIGHED} "
                                     "ORDER BY events.id LIMIT 1")).all()
        assert any("ix_events_unweighed" in row[-1] for row in plan), plan
    _write_something(RiskEngine(store, rules, gazetteer, network), at)  # a writer weighs it
    assert Store.open(db_url).weights_state(fingerprint) == (True, [])


def test_the_partial_indexes_are_partial_on_both_backends(db_url):
    """Each partial index's condition is written once (for SQLite) and given to PostgreSQL when its
    store is made: both keep only the rows it is for (an index of every row would be the whole table)."""
    from sqlalchemy import text

    partial = {"ix_outbox_thread": "thread", "ix_outbox_claims": "claimed_by", "ix_event_weights_relief": "base_relief",
               "ix_events_unweighed": "weighed", "ix_incidents_vague": "time_precision"}
    store = Store.open(db_url)
    sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = :name" if store.engine.dialect.name == "postgresql"
           else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name")
    with store.engine.connect() as conn:
        for name, column in partial.items():
            made = conn.execute(text(sql), {"name": name}).scalar_one()
            assert column in made.partition(" WHERE ")[2], made


def test_a_version_6_store_keeps_its_outbox_and_gains_claims(db_url):
    from riskengine.alerts import AlertIn, AlertPolicy
    from riskengine.outbox import Outbox

    at = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    old = Store.open(db_url)
    box = Outbox(old, AlertPolicy.load(DEFAULT_RULES_DIR))
    box.enqueue([AlertIn(key=k, subscription_id=None, chat_id="c1", channel="console", kind="level", text=k)
                 for k in ("told", "waiting")], at)
    box.mark_sent(box.rows()[0]["id"], at)
    # as riskengine before v7 left it: an outbox without claims (SQLite and PostgreSQL alike)
    store = _as_left_by(old, 6, "DROP INDEX ix_outbox_claims", "ALTER TABLE outbox DROP COLUMN claimed_by",
                        "ALTER TABLE outbox DROP COLUMN claimed_until")
    assert {"claimed_by", "claimed_until"} <= {c["name"] for c in inspect(store.engine).get_columns("outbox")}
    assert "ix_outbox_claims" in {i["name"] for i in inspect(store.engine).get_indexes("outbox")}
    box = Outbox(store, AlertPolicy.load(DEFAULT_RULES_DIR))
    assert [(r["key"], r["status"], r["claimed_by"]) for r in box.rows()] == [("told", "sent", None),
                                                                              ("waiting", "pending", None)]

    class Recorder:
        channel, sent = "console", []

        def send(self, alert) -> None:
            self.sent.append(alert.key)

    recorder = Recorder()
    assert [a.key for a in box.dispatch({"console": recorder}, at).sent] == ["waiting"] == recorder.sent
    assert box.counts() == {"sent": 2}
    assert Store.open(db_url).schema_version() == SCHEMA_VERSION  # opening again changes nothing


def test_a_version_7_store_keeps_its_chats_and_gains_the_travellers_followed(db_url):
    from sqlalchemy import text

    from riskengine.enroute import Journeys

    at = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    store = Store.open(db_url)
    store.set_chat_language("c1", "ar", at)
    # as riskengine before v8 left it: no table of travellers (SQLite and PostgreSQL alike)
    with store.writer.begin() as conn:
        conn.execute(text("DROP TABLE travellers"))
        conn.execute(text("UPDATE meta SET value = '7' WHERE key = 'schema_version'"))
    assert "travellers" not in inspect(store.engine).get_table_names()
    store = Store.open(db_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert "travellers" in inspect(store.engine).get_table_names()
    assert "ix_travellers_live_until" in {i["name"] for i in inspect(store.engine).get_indexes("travellers")}
    assert store.chat_language("c1") == "ar"
    journeys = Journeys(store)
    journeys.remember_route("c1", "Misrata", "Sebha", at)
    journeys.start("c1", 5, lat=31.0, lon=15.0, live_until=at + dt.timedelta(hours=1), route=None, course=None,
                   min_level=3, now=at)
    assert journeys.claim("c1", 5, ["coastal-misrata-abu-grein"]) == ["coastal-misrata-abu-grein"]
    again = Journeys(Store.open(db_url)).get("c1")  # opening again changes nothing
    assert (again.asked_from, again.asked_to, again.message_id, again.alerted) == (
        "Misrata", "Sebha", 5, ["coastal-misrata-abu-grein"])
    assert again.live_until == at + dt.timedelta(hours=1) and Store.open(db_url).schema_version() == SCHEMA_VERSION


def test_a_version_8_store_keeps_its_subscriptions_and_alerts_and_gains_choices_threads_and_dialogs(db_url):
    from sqlalchemy import select, text

    from riskengine.alerts import AlertIn, AlertPolicy
    from riskengine.engine import DEFAULT_RULES_DIR
    from riskengine.outbox import Outbox
    from riskengine.schema import dialogs, handled_updates, outbox, rate_buckets, subscriptions
    from riskengine.subscriptions import Subscriptions

    at = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    store = Store.open(db_url)
    sub = Subscriptions(store).add(chat_id="c1", channel="telegram", kind="route", target="Misrata|Sebha",
                                   min_level=3, now=at)
    box = Outbox(store, AlertPolicy.load(DEFAULT_RULES_DIR))
    box.enqueue([AlertIn(key="told", subscription_id=sub.id, chat_id="c1", channel="telegram", kind="level",
                         text="High on Misrata - Sebha")], at)
    # as riskengine before v9 left it: no choices, threads, message ids, dialogs nor handled updates
    with store.writer.begin() as conn:
        for table, column in (("subscriptions", "event_kinds"), ("subscriptions", "silent"),
                              ("subscriptions", "snoozed_until"), ("outbox", "thread"), ("outbox", "message_id")):
            if column == "thread":
                conn.execute(text("DROP INDEX ix_outbox_thread"))
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("DROP TABLE dialogs"))
        conn.execute(text("DROP TABLE handled_updates"))
        conn.execute(text("DROP TABLE rate_buckets"))
        conn.execute(text("UPDATE meta SET value = '8' WHERE key = 'schema_version'"))
    store = Store.open(db_url)
    assert store.schema_version() == SCHEMA_VERSION
    names = set(inspect(store.engine).get_table_names())
    assert {dialogs.name, handled_updates.name, rate_buckets.name} <= names
    assert "ix_outbox_thread" in {i["name"] for i in inspect(store.engine).get_indexes("outbox")}
    with store.engine.connect() as conn:
        kept = conn.execute(select(subscriptions.c.target, subscriptions.c.silent, subscriptions.c.event_kinds,
                                   subscriptions.c.snoozed_until)).one()
        alert = conn.execute(select(outbox.c.key, outbox.c.thread, outbox.c.message_id)).one()
    assert tuple(kept) == ("Misrata|Sebha", False, None, None)
    assert tuple(alert) == ("told", None, None)
    assert Store.open(db_url).schema_version() == SCHEMA_VERSION  # opening again changes nothing
