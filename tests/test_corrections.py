"""Analysts' corrections to events (retract, restore, retype, move, merge, split) on a real SQLite store,
through the Python API and the ``riskengine incidents`` command; scores follow every change."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from riskengine.cli import main
from riskengine.corrections import CorrectionError, Corrections, UnknownEventError
from riskengine.engine import RiskEngine
from riskengine.incident import Incident
from riskengine.store import ReportIn, Store

DAY = dt.date(2026, 11, 16)
NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 11, 17, 13, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
SEGMENT = "fezzan-brak-sebha"


def _at(engine, town: str, *, kind=("Violence against civilians", "Attack", ["ambush"]), source="desk-one",
        words="our own test wording") -> Incident:
    place = engine.gazetteer.resolve(town)
    event_type, sub, tags = kind
    return Incident(event_type=event_type, sub_event_type=sub, tags=list(tags), date=DAY, lat=place.lat,
                    lon=place.lon, geo_precision=1, source=source, source_reliability="B", fatalities=0,
                    evidence=f"{words} ({source}, {town})", summary=f"{sub} near {town}")


def _ingest(engine, incident: Incident, name: str) -> str:
    engine.ingest_incidents(ReportIn(name, "jsonl", f"report {name}: {incident.evidence}"), [incident], now=NOW)
    return incident.fingerprint()


def _score(engine, segment: str = SEGMENT) -> float:
    return float(engine.assess(AT).segments.loc[segment, "score"])


@pytest.fixture
def ambush(engine) -> str:
    return _ingest(engine, _at(engine, "Brak"), "desk-one")


def test_retract_drops_the_event_and_restore_brings_it_back_with_an_audit_trail(engine, ambush):
    fix = Corrections(engine)
    with_it = engine.route("Tripoli", "Sebha", AT)
    assert [i["id"] for i in with_it["incidents"]] == [ambush]
    fix.retract(ambush, "amira", "the report was a hoax", NOW)
    without = engine.route("Tripoli", "Sebha", AT)
    assert without["incidents"] == [] and without["score"] < with_it["score"]
    assert fix.list() == [] and [r["id"] for r in fix.list(status="retracted")] == [ambush]
    fix.restore(ambush, "omar", "confirmed by a second desk", LATER)
    assert engine.route("Tripoli", "Sebha", AT)["score"] == with_it["score"]

    trail = fix.history(ambush)
    assert [(h["action"], h["actor"]) for h in trail] == [("created", "engine"), ("retract", "amira"),
                                                          ("restore", "omar")]
    assert trail[1]["why"] == "the report was a hoax" and trail[1]["at"] == NOW.isoformat()
    assert trail[1]["detail"]["before"]["status"] == "active" and trail[1]["detail"]["after"]["status"] == "retracted"
    assert trail[2]["at"] == LATER.isoformat()
    with pytest.raises(CorrectionError, match="it is active"):
        fix.restore(ambush, "omar", "again", LATER)


def test_unknown_event_is_named_with_ids_that_start_like_it(engine, ambush):
    fix = Corrections(engine)
    with pytest.raises(UnknownEventError, match="unknown event 'nope'"):
        fix.retract("nope", "amira", "why", NOW)
    with pytest.raises(UnknownEventError) as err:
        fix.show(ambush[:6] + "zz")
    assert err.value.suggestions == [ambush] and ambush in str(err.value)
    with pytest.raises(CorrectionError, match="say why"):
        fix.retract(ambush, "amira", "  ", NOW)


def test_retype_changes_the_rule_that_explains_the_segment(engine, ambush):
    fix = Corrections(engine)
    [before] = engine.explain(SEGMENT, AT)["incidents"]
    assert before["rule"] == "tag:ambush"
    fix.retype(ambush, "Violence against civilians", "Abduction/forced disappearance", ["kidnapping"], "amira",
               "the desk misread an abduction as an ambush", NOW)
    [after] = engine.explain(SEGMENT, AT)["incidents"]
    assert after["rule"] != before["rule"] and after["tags"] == ["kidnapping"]
    assert after["sub_event_type"] == "Abduction/forced disappearance"
    shown = fix.show(ambush)
    assert shown["pinned"]["tags"] == ["kidnapping"] and shown["audit"][-1]["action"] == "retype"
    with pytest.raises(CorrectionError, match="unknown event_type"):
        fix.retype(ambush, "Picnic", None, [], "amira", "why", NOW)
    with pytest.raises(CorrectionError, match="unknown tag"):
        fix.retype(ambush, "Violence against civilians", "Attack", ["not-a-tag"], "amira", "why", NOW)


def test_move_to_another_town_moves_the_weight(engine, ambush):
    fix = Corrections(engine)
    far = engine.network.path("Tripoli", "Zawiya").segments[0].id
    assert _score(engine) > 0 and _score(engine, far) == 0
    fix.move(ambush, "Zawiya", 1, who="amira", why="the town was misread", now=NOW)
    assert _score(engine) == 0 and _score(engine, far) > 0
    assert engine.store.event_count() == 1  # the analyst's incident is no event of its own
    shown = fix.show(ambush)
    zawiya = engine.gazetteer.resolve("Zawiya")
    assert (shown["lat"], shown["lon"]) == (zawiya.lat, zawiya.lon)
    assert shown["reports_count"] == 1  # an analyst's report is no corroboration
    assert any(r["format"] == "analyst" and r["source"] == "analyst:amira" for r in shown["reports"])
    assert shown["audit"][-1]["action"] == "move" and shown["audit"][-1]["detail"]["to"] == "Zawiya"
    assert [r["id"] for r in fix.list(place="Zawiya")] == [ambush] and fix.list(place="Brak") == []
    # moving back by coordinates
    brak = engine.gazetteer.resolve("Brak")
    fix.move(ambush, (brak.lat, brak.lon), 1, who="omar", why="first move was wrong", now=LATER)
    assert _score(engine) > 0 and _score(engine, far) == 0


def test_merge_counts_two_events_once_and_split_undoes_it(engine, ambush):
    fix = Corrections(engine)
    kidnap = _ingest(engine, _at(engine, "Brak", kind=("Violence against civilians", "Abduction/forced disappearance",
                                                      ["kidnapping"]), source="desk-two"), "desk-two")
    assert engine.store.event_count() == 2 and engine.store.incident_count() == 2
    before = engine.route("Tripoli", "Sebha", AT)["score"]

    fix.merge(ambush, [kidnap], "amira", "one attack told twice", NOW)
    assert engine.store.event_count() == 1 and engine.store.incident_count() == 2
    assert engine.store.event_count("merged") == 1
    shown = fix.show(ambush)
    assert shown["reports_count"] == 2 and sorted(shown["sources"]) == ["desk-one", "desk-two"]
    assert fix.show(kidnap)["merged_into"] == ambush
    assert engine.route("Tripoli", "Sebha", AT)["score"] != before
    with pytest.raises(CorrectionError, match="it is merged"):
        fix.retract(kidnap, "amira", "why", NOW)

    with pytest.raises(CorrectionError, match="every incident"):
        fix.split(ambush, [ambush, kidnap], "amira", "why", NOW)
    with pytest.raises(CorrectionError, match="not in event"):
        fix.split(ambush, ["0000"], "amira", "why", NOW)
    result = fix.split(ambush, [kidnap], "amira", "they were two events after all", LATER)
    assert result["new_event"]["id"] == kidnap and result["new_event"]["status"] == "active"
    assert engine.store.event_count() == 2 and engine.store.event_count("merged") == 0
    assert engine.route("Tripoli", "Sebha", AT)["score"] == before
    assert [h["action"] for h in fix.history(kidnap)] == ["created", "merge", "split"]


def test_split_of_reports_that_joined_by_themselves_makes_a_new_event(engine, ambush):
    fix = Corrections(engine)
    again = _at(engine, "Brak", source="desk-three", words="another telling of the same ambush")
    engine.ingest_incidents(ReportIn("desk-three", "jsonl", "report three"), [again], now=NOW)
    assert engine.store.event_count() == 1 and engine.store.incident_count() == 2
    second = again.fingerprint()
    result = fix.split(ambush, [second], "amira", "a separate ambush", NOW)
    assert result["new_event"]["id"] not in (ambush, second)
    assert engine.store.event_count() == 2
    assert [r["id"] for r in fix.show(result["new_event"]["id"])["reports"]] == [second]


def test_list_filters_by_segment_road_source_and_dates(engine, ambush):
    fix = Corrections(engine)
    other = _ingest(engine, _at(engine, "Zawiya", source="desk-two"), "desk-two")
    assert {r["id"] for r in fix.list()} == {ambush, other}
    assert [r["id"] for r in fix.list(segment=SEGMENT)] == [ambush]
    road = engine.network.segment(SEGMENT).road_id
    assert ambush in [r["id"] for r in fix.list(road=road)] and other not in [r["id"] for r in fix.list(road=road)]
    assert [r["id"] for r in fix.list(source="desk-two")] == [other]
    assert fix.list(since=DAY + dt.timedelta(days=1)) == [] and len(fix.list(until=DAY)) == 2
    with pytest.raises(CorrectionError, match="unknown road"):
        fix.list(road="no-such-road")


def _cli(capsys, db, *args):
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_round_trip(capsys, fresh_db, rules, gazetteer, network):
    Store.open(fresh_db)
    engine = RiskEngine(Store.open(fresh_db), rules, gazetteer, network)
    ambush = _ingest(engine, _at(engine, "Brak"), "desk-one")
    kidnap = _ingest(engine, _at(engine, "Brak", kind=("Violence against civilians", "Abduction/forced disappearance",
                                                      ["kidnapping"]), source="desk-two"), "desk-two")

    code, out, err = _cli(capsys, fresh_db, "incidents", "list", "--json")
    assert code == 0, err
    assert {e["id"] for e in json.loads(out)["events"]} == {ambush, kidnap}
    code, out, _ = _cli(capsys, fresh_db, "incidents", "list", "--source", "desk-two")
    assert code == 0 and kidnap in out

    code, out, err = _cli(capsys, fresh_db, "incidents", "retract", ambush, "--why", "hoax", "--by", "amira")
    assert code == 0, err
    code, out, _ = _cli(capsys, fresh_db, "incidents", "show", ambush, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "retracted"
    assert doc["audit"][-1]["actor"] == "amira" and doc["audit"][-1]["why"] == "hoax"
    assert doc["reports"][0]["source"] == "desk-one"
    code, out, _ = _cli(capsys, fresh_db, "incidents", "show", ambush)
    assert code == 0 and "retract by amira: hoax" in out

    assert _cli(capsys, fresh_db, "incidents", "restore", ambush, "--why", "real after all")[0] == 0
    code, out, err = _cli(capsys, fresh_db, "incidents", "retype", ambush, "--type", "Violence against civilians",
                          "--sub", "Attack", "--tags", "banditry", "--why", "robbers, not militia", "--json")
    assert code == 0, err
    assert json.loads(out)["result"]["tags"] == ["banditry"]
    code, out, err = _cli(capsys, fresh_db, "incidents", "move", ambush, "--to", "Sebha", "--precision", "2",
                          "--why", "it was at Sebha")
    assert code == 0, err
    code, out, err = _cli(capsys, fresh_db, "incidents", "merge", ambush, kidnap, "--why", "same event")
    assert code == 0, err
    code, out, _ = _cli(capsys, fresh_db, "incidents", "list", "--status", "merged", "--json")
    assert [e["id"] for e in json.loads(out)["events"]] == [kidnap]
    code, out, err = _cli(capsys, fresh_db, "incidents", "split", ambush, kidnap, "--why", "two events")
    assert code == 0, err
    assert kidnap in out

    # errors: exit 2 with one line naming what is wrong
    code, _, err = _cli(capsys, fresh_db, "incidents", "retract", "bogus", "--why", "x")
    assert code == 2 and "unknown event 'bogus'" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(capsys, fresh_db, "incidents", "move", ambush, "--lat", "27.0", "--why", "x")
    assert code == 2 and "--lon" in err
    code, _, err = _cli(capsys, fresh_db, "incidents", "retype", ambush, "--type", "Picnic", "--why", "x")
    assert code == 2 and "Picnic" in err
    with pytest.raises(SystemExit):  # --why is required for a change
        main(["--db", fresh_db, "incidents", "retract", ambush])
