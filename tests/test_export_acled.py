"""ACLED-shaped CSV export: ACLED's columns, an HXL row, and a round trip through the normal ingest path.

The events come from a CSV written for these tests; exported, then ingested into a second store
on its own SQLite file, they must come back the same (kinds, dates, places within a kilometre,
fatalities, actors, tags) and give every segment the same score.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json

import pytest

from riskengine.engine import RiskEngine
from riskengine.exports.acled import ACLED_COLUMNS, HXL_TAGS, events_acled_csv
from riskengine.exports.cli import add_export_parser, cmd_export
from riskengine.geo import geodesic_km
from riskengine.store import Store
from riskengine.structured import REQUIRED_COLUMNS

from .conftest import NOW

#: Rows written for these tests: a comma, quotes and Arabic in the notes, three actors on one row,
#: a date in ACLED's "DD Month YYYY", a week-precise date, an event at sea level and one inland.
SAMPLE_CSV = """\
event_date,event_type,sub_event_type,actor1,actor2,assoc_actor_1,latitude,longitude,geo_precision,fatalities,\
notes,source,location,source_reliability,tags,time_precision
2026-11-15,Violence against civilians,Attack,Unidentified gunmen,Civilians (Libya),,30.05,16.40,1,2,\
"Gunmen fired on a minibus at a bend of the road, killing two; the driver said ""they came from the dunes"".",\
desk sample,Sirte,B,ambush,1
14 November 2026,Strategic developments,Other,Unidentified armed group,,,29.14,16.05,2,0,\
Armed men asked each lorry for cash at a roadblock between Waddan and Hun.,desk sample,Waddan,C,illegal_checkpoint,2
2026-11-10,Battles,Armed clash,Brigade 166,Local armed group,Tribal fighters; Smugglers,32.30,15.05,2,3,\
اشتباكات قرب مستودع وقود خارج مصراتة,desk sample,Misrata,B,clashes,1
2026-11-05,Explosions/Remote violence,Remote explosive/landmine/IED,Unidentified armed group,,,30.42,19.60,1,1,\
A roadside charge went off as a patrol passed west of Brega.,desk sample,Brega,C,ied_landmine,1
2026-10-28,Violence against civilians,Abduction/forced disappearance,Unidentified armed group,Civilians (Libya),,\
32.17,13.02,1,0,Two truck drivers were taken at a fuel stop outside Gharyan.,desk sample,Gharyan,C,kidnapping,1
"""


@pytest.fixture
def stocked(engine, tmp_path):
    path = tmp_path / "desk.csv"
    path.write_text(SAMPLE_CSV, encoding="utf-8")
    result = engine.ingest_file(path, fmt="acled", now=NOW)
    assert (result.incidents_added, result.errors) == (5, [])
    return engine


def _fresh_engine(tmp_path, name: str, rules, gazetteer, network) -> RiskEngine:
    return RiskEngine(Store.open(str(tmp_path / name)), rules, gazetteer, network)


def _events(engine: RiskEngine) -> list[dict]:
    frame = engine.store.events_frame()
    precision = engine.store.incidents_frame(columns=("event_id", "time_precision"))
    told = dict(zip(precision["event_id"], precision["time_precision"], strict=True))
    rows = frame.to_dict("records")
    for row in rows:
        row["time_precision"] = told[row["id"]]
    return sorted(rows, key=lambda r: (r["date"], r["event_type"]))


def _scores(engine: RiskEngine) -> dict[str, tuple]:
    return {s["id"]: (s["score"], s["level"], s["level_name"]) for s in engine.segments(NOW)["segments"]}


def _round_trip(stocked, tmp_path, rules, gazetteer, network, *, hxl: bool):
    exported = tmp_path / "export.csv"
    exported.write_text(events_acled_csv(stocked, hxl=hxl), encoding="utf-8")
    again = _fresh_engine(tmp_path, "again.db", rules, gazetteer, network)
    return again, again.ingest_file(exported, fmt="acled", now=NOW)


def _same_events(before: list[dict], after: list[dict]) -> None:
    assert len(after) == len(before) == 5
    for old, new in zip(before, after, strict=True):
        for key in ("date", "event_type", "sub_event_type", "tags", "fatalities", "actors", "geo_precision",
                    "time_precision", "sources", "evidence", "summary"):
            assert new[key] == old[key], (old["summary"], key)
        assert geodesic_km((old["lat"], old["lon"]), (new["lat"], new["lon"])) < 1.0
        assert [p["name"] for p in new["places"]] == [p["name"] for p in old["places"]]


def test_round_trip_gives_back_the_same_events_and_scores(stocked, tmp_path, rules, gazetteer, network):
    again, result = _round_trip(stocked, tmp_path, rules, gazetteer, network, hxl=False)
    assert (result.incidents_added, result.errors) == (5, [])
    _same_events(_events(stocked), _events(again))
    scores = _scores(stocked)
    assert any(score > 0 for score, _, _ in scores.values())  # the comparison below compares something
    assert _scores(again) == scores


def test_round_trip_with_the_hxl_row_brings_no_extra_event(stocked, tmp_path, rules, gazetteer, network):
    again, result = _round_trip(stocked, tmp_path, rules, gazetteer, network, hxl=True)
    assert result.incidents_added == 5
    _same_events(_events(stocked), _events(again))
    assert _scores(again) == _scores(stocked)


def test_the_hxl_row_is_not_reported_as_a_bad_row(stocked, tmp_path, rules, gazetteer, network):
    _, result = _round_trip(stocked, tmp_path, rules, gazetteer, network, hxl=True)
    assert result.errors == []


def test_columns_are_acleds_with_their_hashtags(stocked):
    rows = list(csv.reader(io.StringIO(events_acled_csv(stocked, hxl=True))))
    header, tags, *data = rows
    assert tuple(header) == ACLED_COLUMNS and set(REQUIRED_COLUMNS) <= set(header)
    assert all(tag.startswith("#") for tag in tags) and len(tags) == len(header)
    tag_of = dict(zip(header, tags, strict=True))
    assert (tag_of["latitude"], tag_of["longitude"], tag_of["event_date"], tag_of["fatalities"]) == (
        "#geo+lat", "#geo+lon", "#date+occurred", "#affected+killed")
    assert tag_of == HXL_TAGS
    assert len(data) == 5 and all(len(row) == len(header) for row in data)
    by_date = {row[header.index("event_date")]: dict(zip(header, row, strict=True)) for row in data}
    clash = by_date["2026-11-10"]
    assert (clash["country"], clash["iso"], clash["year"], clash["disorder_type"]) == (
        "Libya", "434", "2026", "Political violence")
    assert (clash["actor1"], clash["actor2"], clash["assoc_actor_1"]) == (
        "Brigade 166", "Local armed group", "Tribal fighters; Smugglers")
    assert clash["admin1"] == stocked.gazetteer.resolve("Misrata").admin1 != ""
    assert by_date["2026-11-14"]["disorder_type"] == "Strategic developments"
    assert by_date["2026-11-14"]["time_precision"] == "2"
    assert {row["event_id_cnty"] for row in by_date.values()} == set(stocked.store.events_frame()["id"])
    assert events_acled_csv(stocked).count("\n") == 6  # no hashtag row unless asked for


def test_since_and_until_choose_the_events_by_date(stocked):
    def dates(**window) -> list[str]:
        return [row["event_date"] for row in csv.DictReader(io.StringIO(events_acled_csv(stocked, **window)))]

    assert dates(since=dt.date(2026, 11, 10)) == ["2026-11-10", "2026-11-14", "2026-11-15"]
    assert dates(until=dt.date(2026, 11, 5)) == ["2026-10-28", "2026-11-05"]


def test_a_stretch_of_road_is_written_at_its_middle_and_still_weighs_there(engine, tmp_path, rules, gazetteer,
                                                                          network):
    stretch = {"event_type": "Violence against civilians", "sub_event_type": "Attack", "tags": ["banditry"],
               "date": "2026-11-16", "segments": ["jufra-waddan-hun"], "location_kind": "stretch",
               "geo_precision": 2, "source": "desk sample", "source_reliability": "B",
               "evidence": "Travellers were robbed of phones and fuel along the Waddan - Hun road.",
               "summary": "Robberies between Waddan and Hun"}
    engine.ingest_content(json.dumps(stretch), kind="jsonl", source="desk sample", now=NOW)
    row = next(csv.DictReader(io.StringIO(events_acled_csv(engine))))
    middle = network.segment("jufra-waddan-hun").geometry.interpolate(0.5, normalized=True)
    assert geodesic_km((float(row["latitude"]), float(row["longitude"])), (middle.y, middle.x)) < 0.1
    assert row["geo_precision"] == "3"
    again = _fresh_engine(tmp_path, "again.db", rules, gazetteer, network)
    path = tmp_path / "stretch.csv"
    path.write_text(events_acled_csv(engine), encoding="utf-8")
    assert again.ingest_file(path, fmt="acled", now=NOW).errors == []
    seg = next(s for s in again.segments(NOW)["segments"] if s["id"] == "jufra-waddan-hun")
    assert seg["score"] > 0 and seg["incidents"] == 1


def _export_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="riskengine")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["export", *argv])


def test_cmd_export_acled_with_hxl_and_at(stocked, tmp_path, capsys):
    assert cmd_export(stocked, _export_args("acled", "--hxl", "--at", "2026-11-12"), None, NOW) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][0] == "#event+id"
    assert sorted(r[1] for r in rows[2:]) == ["2026-10-28", "2026-11-05", "2026-11-10"]  # none dated after --at
    out = tmp_path / "events.csv"
    assert cmd_export(stocked, _export_args("acled", "--out", str(out), "--since", "2026-11-14"), None, NOW) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert [r["event_date"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["2026-11-14", "2026-11-15"]
