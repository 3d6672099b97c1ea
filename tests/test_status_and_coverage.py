"""Road status apart from risk (open / restricted / checkpoint / closed) and what every answer rests
on: "no data" is never shown as "safe" (real SQLite store, real rules)."""

from __future__ import annotations

import datetime as dt
import json

from riskengine.cli import main
from riskengine.corrections import Corrections
from riskengine.incident import Incident
from riskengine.road_status import segment_statuses, set_status
from riskengine.store import ReportIn, Store

AT = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
STRETCH = "coastal-abu-grein-sirte"


def _ingest(engine, name: str, when: dt.datetime, **fields) -> str:
    base = {"event_type": "Strategic developments", "sub_event_type": "Other", "date": when.date(),
            "segments": [STRETCH], "location_kind": "stretch", "geo_precision": 2, "source": name,
            "source_reliability": "B", "evidence": f"{name} told it", "summary": f"{name}"}
    inc = Incident(**{**base, **fields})
    engine.ingest_incidents(ReportIn(name, "jsonl", f"{name} {when}"), [inc], now=when)
    return inc.fingerprint()


def test_an_empty_store_says_no_recent_reports_not_insignificant(engine):
    route = engine.route("Misrata", "Sirte", AT)
    assert route["score"] == 0 and route["level"] == 1
    assert route["level_name"] == "No recent reports" and route["coverage"]["covered"] is False
    assert route["coverage"]["uncovered_segments"] == [s["id"] for s in route["segments"]]
    assert {s["level_name"] for s in engine.segments(AT)["segments"]} == {"No recent reports"}
    assert engine.explain(STRETCH, AT)["level_name"] == "No recent reports"


def test_a_recent_report_about_the_area_makes_a_quiet_road_quiet(engine):
    # a peaceful protest in Sirte: no threat to drivers, but someone reports from there
    engine.ingest_incidents(ReportIn("outlet", "jsonl", "protest"), [Incident(
        event_type="Protests", sub_event_type="Peaceful protest", date=(AT - 3 * DAY).date(), lat=31.205,
        lon=16.588, geo_precision=1, source="outlet", evidence="a sit-in in Sirte")], now=AT - 3 * DAY)
    seg = next(s for s in engine.segments(AT)["segments"] if s["id"] == STRETCH)
    assert seg["score"] == 0 and seg["level_name"] == "Insignificant"
    assert seg["coverage"]["events"] == 1 and seg["coverage"]["sources"] == ["outlet"]
    assert seg["coverage"]["newest_event"] == (AT - 3 * DAY).date().isoformat()
    # two months later the same report is too old to vouch for the road
    later = AT + dt.timedelta(days=60)
    assert next(s for s in engine.segments(later)["segments"] if s["id"] == STRETCH)["level_name"] == \
        "No recent reports"


def test_sources_not_polled_for_days_cover_nothing(engine):
    _ingest(engine, "outlet", AT - DAY, event_type="Protests", sub_event_type="Peaceful protest")
    engine.store.save_source_state("feed", etag=None, last_modified=None, seen={}, polled_at=AT - 5 * DAY,
                                   error=None)
    seg = next(s for s in engine.segments(AT)["segments"] if s["id"] == STRETCH)
    assert seg["coverage"]["covered"] is False and "not polled since" in seg["coverage"]["why_not"]
    # a poll that fails brings nothing in: it does not count as polled
    engine.store.save_source_state("feed", etag=None, last_modified=None, seen={}, polled_at=AT - dt.timedelta(hours=2),
                                   error="HTTP 503")
    assert next(s for s in engine.segments(AT)["segments"] if s["id"] == STRETCH)["coverage"]["covered"] is False
    engine.store.save_source_state("feed", etag=None, last_modified=None, seen={}, polled_at=AT - dt.timedelta(hours=1),
                                   error=None)
    seg = next(s for s in engine.segments(AT)["segments"] if s["id"] == STRETCH)
    assert seg["coverage"]["covered"] is True and seg["coverage"]["sources_polled_at"].startswith("2026-11-20T07")


def test_a_reported_closure_closes_the_segment_and_routes_go_round_it(engine):
    before = engine.route("Misrata", "Sirte", AT)
    assert STRETCH in [s["id"] for s in before["segments"]] and before["status"] == "open"
    _ingest(engine, "wire", AT - DAY, tags=["road_closure"])
    status = segment_statuses(engine, AT)[STRETCH]
    assert status["status"] == "closed" and status["source"] == "wire" and status["since"] == "2026-11-19"
    route = engine.route("Misrata", "Sirte", AT)
    assert STRETCH not in [s["id"] for s in route["segments"]]
    assert [c["segment"] for c in route["avoided_closed"]] == [STRETCH]
    assert route["status"] == "open" and route["distance_km"] > before["distance_km"]
    # a closure does not last for ever: a week later (rules/road_status.yaml) it has lapsed
    assert segment_statuses(engine, AT + 8 * DAY)[STRETCH]["status"] == "open"


def test_a_newer_reopening_opens_it_and_a_retracted_closure_never_closed_it(engine):
    closure = _ingest(engine, "wire", AT - 2 * DAY, tags=["road_closure"])
    _ingest(engine, "channel", AT - DAY, tags=["reopening"], event_type="Strategic developments")
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "open"
    assert segment_statuses(engine, AT - dt.timedelta(hours=36))[STRETCH]["status"] == "closed"
    Corrections(engine).retract(closure, "analyst", "the closure was a rumour", AT)
    assert segment_statuses(engine, AT - dt.timedelta(hours=36))[STRETCH]["status"] == "open"


def test_restrictions_and_checkpoints_are_statuses_too(engine):
    _ingest(engine, "outlet", AT - DAY, tags=["road_restriction"])
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "restricted"
    _ingest(engine, "channel", AT - dt.timedelta(hours=10), tags=["illegal_checkpoint"],
            event_type="Violence against civilians", sub_event_type="Attack", date=AT.date())
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "checkpoint"  # the newest word wins


def test_an_analyst_sets_a_status_until_a_time(engine):
    set_status(engine, STRETCH, "closed", who="desk", why="convoy escort only, army says", now=AT,
               until=AT + 2 * DAY)
    status = segment_statuses(engine, AT + DAY)[STRETCH]
    assert status["status"] == "closed" and status["by"] == "desk" and "army" in status["detail"]
    assert segment_statuses(engine, AT + 3 * DAY)[STRETCH]["status"] == "open"
    assert engine.route("Misrata", "Sirte", AT + DAY)["avoided_closed"][0]["by"] == "desk"


def test_questions_through_one_day_see_each_new_word_at_once(engine):
    """A service asks at the time each question comes: what reports say is read once a day while
    the store does not change, yet an analyst's word counts to the minute and a new report at once."""
    _ingest(engine, "wire", AT - DAY, tags=["road_closure"])
    minute = dt.timedelta(minutes=1)
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "closed"
    set_status(engine, STRETCH, "open", who="desk", why="the army lifted it for the morning", now=AT + minute,
               until=AT + 90 * minute)
    assert segment_statuses(engine, AT + 2 * minute)[STRETCH]["by"] == "desk"
    assert engine.route("Misrata", "Sirte", AT + 3 * minute)["avoided_closed"] == []
    assert segment_statuses(engine, AT + 91 * minute)[STRETCH]["status"] == "closed"  # the analyst's word lapsed
    other = "coastal-sirte-bin-jawad"
    assert segment_statuses(engine, AT + 92 * minute)[other]["status"] == "open"
    _ingest(engine, "channel", AT + 93 * minute, tags=["illegal_checkpoint"], segments=[other], date=AT.date(),
            event_type="Violence against civilians", sub_event_type="Attack")
    assert segment_statuses(engine, AT + 94 * minute)[other]["status"] == "checkpoint"


def test_status_on_the_command_line(tmp_path, capsys):
    db = str(tmp_path / "risk.db")
    Store.open(db)
    assert main(["--db", db, "status", STRETCH, "closed", "--at", "2026-11-20", "--why", "bridge down",
                 "--by", "desk"]) == 0
    assert main(["--db", db, "status", "--at", "2026-11-21", "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out[out.index("{\n"):])
    [row] = [r for r in doc["segments"] if r["id"] == STRETCH]
    assert row["status"] == "closed" and row["by"] == "desk"
    assert main(["--db", db, "status", STRETCH, "closed"]) == 2  # no --why
    assert "--why" in capsys.readouterr().err
    assert main(["--db", db, "route", "Misrata", "Sirte", "--at", "2026-11-21"]) == 0
    assert "goes round coastal-abu-grein-sirte: closed" in capsys.readouterr().out.replace("\n", " ")


def test_statuses_kept_when_events_are_weighed_equal_those_found_from_the_events(db_url, rules, gazetteer, network):
    """The statuses reports set are kept per segment when events are weighed (``event_statuses``);
    an engine whose rules the store was not weighed with finds them from the recent events instead.
    Both say the same of every segment on every day, through corrections."""
    import random

    from riskengine.engine import RiskEngine
    from riskengine.schema import event_statuses

    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    rng = random.Random(11)
    tags = [["road_closure"], ["road_restriction"], ["illegal_checkpoint"], ["reopening"],
            ["road_closure", "road_restriction"], []]
    ids = []
    for n in range(60):
        segment = rng.choice(network.segments)
        lon, lat = segment.geometry.interpolate(rng.random(), normalized=True).coords[0]
        when = AT - dt.timedelta(days=rng.randrange(40), hours=rng.randrange(24))
        inc = Incident(event_type="Strategic developments", sub_event_type="Other", date=when.date(),
                       lat=lat + rng.uniform(-0.3, 0.3), lon=lon + rng.uniform(-0.3, 0.3),
                       geo_precision=rng.choice([1, 2, 3]), tags=rng.choice(tags), source=f"outlet {n % 7}",
                       evidence=f"Report {n}: the road near kilometre {rng.randrange(300)} was shut by a group.")
        engine.ingest_incidents(ReportIn(f"outlet {n % 7}", "jsonl", f"report {n}"), [inc], now=when)
        ids.append(inc.fingerprint())
    Corrections(engine).retract(ids[3], "desk", "a rumour", AT)
    assert engine.stored_statuses_current()
    with engine.store.engine.connect() as conn:
        assert conn.execute(event_statuses.select()).first() is not None

    def from_events() -> RiskEngine:
        other = RiskEngine(Store.open(db_url), rules, gazetteer, network)
        other.weigher.statuses_fingerprint = "rules the statuses were not made with"
        assert not other.stored_statuses_current()
        return other

    scan = from_events()
    seen = set()
    for days in range(-42, 3):
        at = AT + dt.timedelta(days=days)
        kept, found = segment_statuses(engine, at), segment_statuses(scan, at)
        assert kept == found, at
        seen.update(s["status"] for s in kept.values())
    assert seen == {"open", "restricted", "checkpoint", "closed"}
    # a retracted event, then restored: its statuses go and come back with it
    Corrections(engine).restore(ids[3], "desk", "confirmed after all", AT)
    assert segment_statuses(engine, AT - 20 * DAY) == segment_statuses(from_events(), AT - 20 * DAY)


def test_other_statuses_rules_make_the_kept_statuses_again_without_weighing_again(fresh_db, rules_copy, rules,
                                                                                   gazetteer, network):
    """Road statuses kept with the weights follow ``road_status.yaml``: a writer with other statuses
    rules makes them again for every event, and weighs no event again (the weights do not depend
    on them)."""
    from sqlalchemy import func, select

    from riskengine.engine import RiskEngine
    from riskengine.rules import RuleBook
    from riskengine.schema import event_statuses
    from riskengine.weights import Weigher

    engine = RiskEngine(Store.open(fresh_db), rules, gazetteer, network)
    _ingest(engine, "wire", AT - 4 * DAY, tags=["road_closure"])
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "closed"
    # closures now lapse after two days
    path = rules_copy / "road_status.yaml"
    path.write_text(path.read_text().replace("road_closure: {status: closed, lasts_days: 7}",
                                             "road_closure: {status: closed, lasts_days: 2}"))
    shorter = RuleBook.load(rules_copy)
    assert shorter.fingerprint == rules.fingerprint and shorter.statuses_fingerprint != rules.statuses_fingerprint
    reader = RiskEngine(Store.open(fresh_db), shorter, gazetteer, network)
    assert not reader.stored_statuses_current()
    assert segment_statuses(reader, AT)[STRETCH]["status"] == "open"  # found from the events meanwhile
    with engine.store.writer.begin() as conn:
        assert Weigher(shorter).refresh(conn) == 0  # no event weighed again
        lapse = conn.execute(select(func.max(event_statuses.c.expires))).scalar_one()
    assert lapse == (AT - 2 * DAY).date()
    writer = RiskEngine(Store.open(fresh_db), shorter, gazetteer, network)
    assert writer.stored_statuses_current()
    assert segment_statuses(writer, AT)[STRETCH]["status"] == "open"
    assert segment_statuses(writer, AT - 3 * DAY)[STRETCH]["status"] == "closed"
    # and the engine with the first rules finds them from the events now
    assert not engine.stored_statuses_current()
    assert segment_statuses(engine, AT)[STRETCH]["status"] == "closed"
