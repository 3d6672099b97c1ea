"""The store: created on first use, versioned, idempotent, all-or-nothing.

Tests taking ``db_url`` run on SQLite and, when ``$RISKENGINE_TEST_PG`` is set, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from riskengine.incident import Incident
from riskengine.store import SCHEMA_VERSION, ReportIn, Store, StoreError, database_url

from .conftest import NOW


def _incident(**fields) -> Incident:
    return Incident.model_validate({"event_type": "Battles", "sub_event_type": "Armed clash", "date": "2026-11-10",
                                    "lat": 31.76, "lon": 14.01, **fields})


def test_created_on_first_use_with_indexes_and_a_schema_version(db_url):
    store = Store.open(db_url)
    assert store.schema_version() == SCHEMA_VERSION
    inspector = inspect(store.engine)
    assert {"meta", "reports", "incidents", "incident_segments"} <= set(inspector.get_table_names())
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("incidents")}
    assert ("date",) in indexed
    assert ("segment_id",) in {tuple(ix["column_names"]) for ix in inspector.get_indexes("incident_segments")}


def test_plain_path_and_environment_variable_become_sqlite_urls(monkeypatch, tmp_path):
    assert database_url(tmp_path / "x.db") == f"sqlite:///{tmp_path}/x.db"
    monkeypatch.setenv("RISKENGINE_DB", str(tmp_path / "env.db"))
    assert database_url(None) == f"sqlite:///{tmp_path}/env.db"


def test_a_plain_path_opens_an_sqlite_file_in_a_new_directory(tmp_path):
    path = tmp_path / "new" / "risk.db"
    store = Store.open(path)
    assert store.engine.dialect.name == "sqlite" and store.schema_version() == SCHEMA_VERSION
    assert path.is_file()


def test_same_report_twice_changes_nothing(db_url):
    store = Store.open(db_url)
    report = ReportIn(source="test", format="jsonl", text="one report")
    first = store.add_report(report, [_incident()], [[("coastal-a-b", 1.5)]], now=NOW)
    again = store.add_report(report, [_incident()], [[("coastal-a-b", 1.5)]], now=NOW)
    assert first.new_report and first.incidents_added == 1
    assert not again.new_report and again.incidents_added == 0
    assert store.report_count() == 1 and store.incident_count() == 1


def test_an_incident_already_known_from_another_report_is_not_duplicated(db_url):
    store = Store.open(db_url)
    store.add_report(ReportIn("a", "jsonl", "first file"), [_incident()], [[]], now=NOW)
    outcome = store.add_report(ReportIn("b", "jsonl", "second file, same row"), [_incident(), _incident(fatalities=2)],
                               [[], []], now=NOW)
    assert outcome.incidents_added == 1 and outcome.incidents_known == 1
    assert store.incident_count() == 2


def test_incidents_frame_filters_by_date_and_keeps_lists(db_url):
    store = Store.open(db_url)
    store.add_report(ReportIn("a", "jsonl", "x"), [_incident(tags=["clashes"]), _incident(date="2026-11-20")],
                     [[("s", 0.0)], [("s", 2.0)]], now=NOW)
    frame = store.incidents_frame(until=dt.date(2026, 11, 15))
    assert len(frame) == 1 and frame.iloc[0]["tags"] == ["clashes"]
    assert len(store.matches_frame(until=dt.date(2026, 11, 15))) == 1
    assert len(store.matches_frame()) == 2


def test_failed_write_leaves_nothing_half_stored(db_url):
    store = Store.open(db_url)
    with pytest.raises(ValueError):
        store.add_report(ReportIn("a", "jsonl", "x"), [_incident(), _incident(fatalities=1)], [[]], now=NOW)
    assert store.report_count() == 0 and store.incident_count() == 0


def test_newer_schema_is_refused_with_a_clear_message(db_url):
    store = Store.open(db_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(db_url)


def test_long_sources_nul_characters_and_offsets_mean_the_same_on_every_backend(db_url):
    store = Store.open(db_url)
    long_source = "; ".join(f"Local outlet number {i}" for i in range(15))  # an ACLED cell of many outlets
    local = dt.datetime(2026, 11, 20, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    outcome = store.add_report(ReportIn(source=long_source, format="text", text="a report\x00 with a NUL"),
                               [_incident(source=long_source, evidence="clash\x00")], [[("s", 1.0)]], now=local)
    assert outcome.new_report and outcome.incidents_added == 1
    frame = store.incidents_frame()
    assert frame.iloc[0]["source"] == long_source and frame.iloc[0]["evidence"] == "clash"
    learnt = frame.iloc[0]["ingested_at"]
    assert learnt == dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC) and learnt.utcoffset() == dt.timedelta(0)


def test_frames_come_back_in_a_stable_order(db_url):
    store = Store.open(db_url)
    found = [_incident(fatalities=k, date=f"2026-11-{10 + k % 3:02d}") for k in range(6)]
    store.add_report(ReportIn("a", "jsonl", "x"), found, [[("s1", 0.0), ("s0", 1.0)]] * 6, now=NOW)
    frame = store.incidents_frame()
    assert list(zip(frame["date"], frame["id"], strict=True)) == sorted(zip(frame["date"], frame["id"], strict=True))
    matches = store.matches_frame()
    pairs = list(zip(matches["incident_id"], matches["segment_id"], strict=True))
    assert pairs == sorted(pairs)


def test_a_password_never_appears_in_errors():
    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://riskengine:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
