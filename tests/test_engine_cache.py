"""The engine's cache: answers stay right when the store changes, and the same question gets the same answer.

The engine keeps its assessments (and the incident rows of its answers) while ``Store.revision()``
does not change. Tests taking ``db_url`` run on SQLite and, when ``$RISKENGINE_TEST_PG`` is set, on
PostgreSQL.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pandas as pd
import pytest

from riskengine.engine import RiskEngine
from riskengine.incident import Incident
from riskengine.scoring import assess
from riskengine.store import ReportIn, Store

from .conftest import NOW

AT = NOW


def _incident(**fields) -> Incident:
    """An ambush on the road just outside Sirte (on the coastal road towards Misrata)."""
    return Incident.model_validate({"event_type": "Violence against civilians", "sub_event_type": "Attack",
                                    "tags": ["ambush"], "date": "2026-11-15", "lat": 31.25, "lon": 16.45,
                                    "geo_precision": 1, "source": "test", "evidence": "Gunmen ambushed a lorry.",
                                    **fields})


def _ingest(engine: RiskEngine, text: str, *found: Incident) -> None:
    outcome = engine.ingest_incidents(ReportIn(source="test", format="jsonl", text=text), list(found), now=NOW)
    assert outcome.new_report


@pytest.fixture
def cached(db_url, rules, gazetteer, network) -> RiskEngine:
    return RiskEngine(Store.open(db_url), rules, gazetteer, network)


def test_after_an_ingest_the_next_route_shows_the_new_incident(cached):
    _ingest(cached, "a clash near Misrata", _incident(event_type="Battles", sub_event_type="Armed clash",
                                                      tags=["clashes"], lat=32.35, lon=15.05, date="2026-11-10"))
    before = cached.route("Misrata", "Sirte", AT)
    assert cached.route("Misrata", "Sirte", AT) == before  # from the cache
    new = _incident()
    _ingest(cached, "an ambush near Sirte", new)
    after = cached.route("Misrata", "Sirte", AT)
    assert new.fingerprint() in {row["id"] for row in after["incidents"]}
    assert new.fingerprint() not in {row["id"] for row in before["incidents"]}
    assert after["score"] > before["score"]


def test_two_calls_at_the_same_time_give_identical_json(cached):
    _ingest(cached, "two incidents", _incident(), _incident(sub_event_type=None, tags=[], lat=31.6, lon=15.6))
    first = cached.route("Sirte", "Misrata", AT)
    second = cached.route("Sirte", "Misrata", AT)
    assert first["incidents"], "the route should have incidents"
    assert json.dumps(first, default=str) == json.dumps(second, default=str)
    # the same instant written in another time zone is the same question
    elsewhere = cached.route("Sirte", "Misrata", AT.astimezone(dt.timezone(dt.timedelta(hours=2))))
    assert json.dumps(elsewhere, default=str) == json.dumps(first, default=str)


def test_a_cached_answer_is_the_answer_of_a_fresh_engine(cached, db_url, rules, gazetteer, network):
    _ingest(cached, "two incidents", _incident(), _incident(sub_event_type=None, tags=[], lat=31.6, lon=15.6))
    worst = cached.route("Sirte", "Misrata", AT)["worst_segment"]  # fills the cache
    assert worst is not None
    warm = [cached.route("Sirte", "Misrata", AT), cached.explain(worst, AT), cached.segments(AT)]
    fresh = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    cold = [fresh.route("Sirte", "Misrata", AT), fresh.explain(worst, AT), fresh.segments(AT)]
    assert json.dumps(warm, default=str) == json.dumps(cold, default=str)


def test_the_cached_assessment_is_the_one_computed_from_the_whole_store(cached):
    _ingest(cached, "three incidents", _incident(), _incident(date="2026-11-20"),
            _incident(sub_event_type=None, tags=[], lat=31.6, lon=15.6, date="2026-10-01"))
    got = cached.assess(AT)
    assert cached.assess(AT) is got
    until = AT.date()
    expected = assess(cached.rules, cached.network.segments, cached.scoring_frame(until),
                      cached.store.event_matches_frame(until), AT)
    # ids are read as plain objects rather than checked strings; segment scores come from day sums
    pd.testing.assert_frame_equal(got.contributions, expected.contributions, check_dtype=False)
    pd.testing.assert_frame_equal(got.segments, expected.segments, check_exact=False, rtol=1e-12, atol=1e-12)


def test_another_engine_writing_to_the_same_store_is_seen(cached, db_url, rules, gazetteer, network):
    before = cached.route("Misrata", "Sirte", AT)
    writer = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    _ingest(writer, "an ambush near Sirte, stored by another process", _incident())
    after = cached.route("Misrata", "Sirte", AT)
    assert not before["incidents"] and after["incidents"]


def test_the_same_report_again_keeps_the_cache(cached):
    _ingest(cached, "an ambush near Sirte", _incident())
    revision = cached.store.revision()
    got = cached.assess(AT)
    outcome = cached.ingest_incidents(ReportIn(source="test", format="jsonl", text="an ambush near Sirte"),
                                      [_incident()], now=NOW)
    assert not outcome.new_report
    assert cached.store.revision() == revision
    assert cached.assess(AT) is got


def test_a_new_time_is_a_new_assessment(cached):
    _ingest(cached, "an ambush near Sirte", _incident())
    now = cached.route("Sirte", "Misrata", AT)
    later = cached.route("Sirte", "Misrata", AT + dt.timedelta(days=30))
    assert later["at"] != now["at"] and later["score"] < now["score"]  # it decayed
    assert cached.route("Sirte", "Misrata", AT) == now


def test_questions_at_each_new_time_about_other_roads_are_a_fresh_engines_answers(cached, db_url, rules,
                                                                                   gazetteer, network):
    """A service asks at the time each question comes: from its second question of the day it reads
    the whole network once and answers the next ones from it, each as a fresh engine would."""
    _ingest(cached, "an ambush near Sirte", _incident())
    _ingest(cached, "shelling near Waddan", _incident(lat=29.16, lon=16.14, date="2026-11-14",
                                                      evidence="Shells fell near Waddan."))
    _ingest(cached, "a clash at Zliten", _incident(lat=32.47, lon=14.57, date="2026-11-16",
                                                   evidence="Gunmen fought at the Zliten gate."))
    questions = [("Tripoli", "Misrata"), ("Sirte", "Sebha"), ("Sirte", "Misrata"), ("Tripoli", "Misrata")]
    for minutes, (start, end) in enumerate(questions):
        at = AT + dt.timedelta(minutes=minutes, seconds=7)
        fresh = RiskEngine(Store.open(db_url), rules, gazetteer, network)
        answer = fresh.route(start, end, at)
        assert json.dumps(cached.route(start, end, at)) == json.dumps(answer), (start, end)
        # a one-off question reads its route's segments and its alternative's, never the whole network
        assert all(key[2] is not None for key in fresh._read), (start, end)
        if minutes == 0:
            assert answer["alternative"] is not None
            assert all(key[2] is not None for key in cached._read)
    assert any(key[2] is None for key in cached._read)  # the whole network, read once


def test_shared_rows_of_an_answer_refuse_changes_and_copies_are_free(cached):
    _ingest(cached, "an ambush near Sirte", _incident())
    doc = cached.route("Sirte", "Misrata", AT)
    row = doc["incidents"][0]
    with pytest.raises(TypeError, match="copy it"):
        row["summary"] = "changed"
    with pytest.raises(TypeError, match="copy it"):
        row["tags"].append("kidnapping")
    mine = copy.deepcopy(doc)
    mine["incidents"][0]["summary"] = "changed"
    mine["incidents"][0]["tags"].append("kidnapping")
    doc["incidents"].append({"id": "mine"})  # the lists and the document themselves are the caller's
    again = cached.route("Sirte", "Misrata", AT)
    assert again["incidents"][0]["summary"] != "changed" and again["incidents"][0]["tags"] == ["ambush"]
    assert len(again["incidents"]) == 1


def test_a_naive_time_is_refused(cached):
    with pytest.raises(ValueError, match="timezone-aware"):
        cached.route("Sirte", "Misrata", dt.datetime(2026, 11, 17, 12, 0))


def test_events_past_every_rules_horizon_are_not_read_and_change_nothing(engine):
    """Only events young enough to weigh are read; the scores are those of all events scored."""
    horizon = engine.rules.horizon_days
    for n, age in enumerate([3, 120, horizon - 2, horizon + 2, 3 * horizon]):
        engine.ingest_incidents(ReportIn("t", "jsonl", f"r{n}"), [Incident(
            event_type="Explosions/Remote violence", sub_event_type="Remote explosive/landmine/IED",
            tags=["ied_landmine"], date=AT.date() - dt.timedelta(days=age), lat=29.17, lon=16.16, geo_precision=1,
            source="t", evidence=f"mine {n}")], now=AT)
    read = engine.scoring_frame(AT.date(), AT.date() - dt.timedelta(days=horizon))
    assert len(read) == 3  # the two older ones are not read
    everything = assess(engine.rules, engine.network.segments, engine.scoring_frame(AT.date()),
                        engine.store.event_matches_frame(AT.date()), AT)
    pd.testing.assert_frame_equal(engine.assess(AT).segments, everything.segments)


def test_a_service_that_has_answered_follows_closures_and_reopenings(cached, db_url, rules, gazetteer, network):
    """An engine that has answered about the whole network keeps what a change does not touch (rows,
    coverage, road statuses) and makes again what it does: a closure reported on the road closes it,
    an ordinary incident elsewhere leaves the statuses as they were, a retraction reopens it."""
    def fresh() -> RiskEngine:
        return RiskEngine(Store.open(db_url), rules, gazetteer, network)

    def answers(engine: RiskEngine) -> list:
        return [engine.route("Misrata", "Sirte", AT), engine.route("Tripoli", "Sebha", AT), engine.segments(AT)]

    _ingest(cached, "an ambush", _incident())
    assert answers(cached) == answers(fresh())  # the cached engine has now read the whole network
    closure = _incident(event_type="Strategic developments", sub_event_type="Other", tags=["road_closure"],
                        evidence="The coastal road was closed with sand barriers.", date="2026-11-16",
                        lat=None, lon=None, location_kind="stretch", segments=["coastal-abu-grein-sirte"],
                        geo_precision=2)
    _ingest(cached, "a closure", closure)
    after = answers(cached)
    assert after == answers(fresh())
    statuses = {s["id"]: s["status"]["status"] for s in after[2]["segments"]}
    assert "closed" in statuses.values()
    _ingest(cached, "a clash far away", _incident(event_type="Battles", sub_event_type="Armed clash", tags=[],
                                                 lat=24.9, lon=10.2, evidence="Clashes near Ghat."))
    assert answers(cached) == answers(fresh())
    from riskengine.corrections import Corrections

    Corrections(cached).retract(closure.fingerprint(), who="desk", why="a false report", now=NOW)
    reopened = answers(cached)
    assert reopened == answers(fresh())
    assert "closed" not in {s["status"]["status"] for s in reopened[2]["segments"]}
