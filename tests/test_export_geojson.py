"""GeoJSON export: RFC 7946 as a partner's map reads it, and the engine's answers in its properties.

The validator below checks what RFC 7946 asks of a document (sections 3.1.1, 3.1.4, 3.1.6, 4)
rather than trusting the writer: [lon, lat] positions inside Libya (a swapped pair falls outside),
lines of two positions or more, rings closed and counter-clockwise outside, no ``crs``. The
``geojson`` package, written by others, checks the same document again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math

import geojson as geojson_lib
import pytest

from riskengine.corrections import Corrections
from riskengine.errors import InputFileError
from riskengine.exports.cli import add_export_parser, cmd_export
from riskengine.exports.geojson import events_geojson, geojson_document, segments_geojson
from riskengine.geo import geodesic_km
from riskengine.road_status import set_status

from .conftest import NOW

#: Libya's extent with a margin: lon 9.3-25.2 E, lat 19.5-33.2 N. A coastal position written
#: lat-first has a "longitude" above 30, outside it.
LON_RANGE, LAT_RANGE = (9.0, 25.5), (19.0, 34.0)

#: Reports written for these tests (JSON lines, the engine's own incident format): a point on
#: the Sirte - Waddan road, a stretch of the Waddan - Hun road, an area round Hun and Sokna given
#: clockwise (the writer must turn it), and an older point near Misrata.
SAMPLE = [
    {"event_type": "Violence against civilians", "sub_event_type": "Attack", "tags": ["ambush"],
     "date": "2026-11-15", "lat": 30.05, "lon": 16.40, "geo_precision": 1, "fatalities": 2,
     "actors": ["Unidentified gunmen"], "source": "desk sample", "source_reliability": "B",
     "evidence": "Gunmen fired on a minibus at a bend of the Sirte - Waddan road, killing two passengers.",
     "summary": "Minibus fired on south of Sirte"},
    {"event_type": "Strategic developments", "sub_event_type": "Other", "tags": ["illegal_checkpoint"],
     "date": "2026-11-13", "segments": ["jufra-waddan-hun"], "location_kind": "stretch", "geo_precision": 2,
     "source": "desk sample", "source_reliability": "C",
     "evidence": "Lorry drivers describe a roadblock of armed men asking for cash between Waddan and Hun.",
     "summary": "Roadblock between Waddan and Hun"},
    {"event_type": "Explosions/Remote violence", "sub_event_type": "Air/drone strike", "tags": ["air_drone_strike"],
     "date": "2026-11-12", "location_kind": "area", "geo_precision": 3,
     "geometry_wkt": "POLYGON ((15.70 29.00, 15.70 29.25, 16.05 29.25, 16.05 29.00, 15.70 29.00))",
     "source": "desk sample", "source_reliability": "C",
     "evidence": "Drones were heard over the Jufra district through the night; a farm store burned.",
     "summary": "Drone strikes over al-Jufra"},
    {"event_type": "Battles", "sub_event_type": "Armed clash", "tags": ["clashes"],
     "date": "2026-10-20", "lat": 32.30, "lon": 15.05, "geo_precision": 2, "fatalities": 0,
     "source": "desk sample", "source_reliability": "B",
     "evidence": "Two brigades exchanged fire for an hour at a fuel depot outside Misrata.",
     "summary": "Clash at a depot outside Misrata"},
]


def _stock(engine) -> None:
    text = "\n".join(json.dumps(row) for row in SAMPLE) + "\n"
    result = engine.ingest_content(text, kind="jsonl", source="desk sample", now=NOW)
    assert (result.incidents_added, result.errors) == (len(SAMPLE), [])


@pytest.fixture
def stocked(engine):
    _stock(engine)
    return engine


# ---- an RFC 7946 validator -----------------------------------------------------------------


def _check_position(position, where: str) -> None:
    assert isinstance(position, list) and len(position) == 2, f"{where}: a position is [lon, lat], got {position}"
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in position), where
    lon, lat = position
    assert LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1], \
        f"{where}: {position} is not [lon, lat] in Libya (swapped?)"
    assert all(round(v, 6) == v for v in position), f"{where}: {position} has more than 6 decimals"


def _signed_area(ring) -> float:
    """Twice the signed area (shoelace): positive when the ring runs counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))


def _check_ring(ring, where: str, *, outer: bool) -> None:
    assert len(ring) >= 4, f"{where}: a linear ring has four positions or more"
    for p in ring:
        _check_position(p, where)
    assert ring[0] == ring[-1], f"{where}: a linear ring is closed"
    area = _signed_area(ring)
    assert (area > 0) if outer else (area < 0), \
        f"{where}: {'exterior' if outer else 'hole'} ring must run {'counter-' if outer else ''}clockwise"


def _check_line(line, where: str) -> None:
    assert isinstance(line, list) and len(line) >= 2, f"{where}: a line has two positions or more"
    for p in line:
        _check_position(p, where)


def _check_geometry(geometry: dict, where: str) -> None:
    kind, coords = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        _check_position(coords, where)
    elif kind == "LineString":
        _check_line(coords, where)
    elif kind == "MultiLineString":
        assert coords, where
        for line in coords:
            _check_line(line, where)
    elif kind in ("Polygon", "MultiPolygon"):
        for polygon in ([coords] if kind == "Polygon" else coords):
            outer, *holes = polygon
            _check_ring(outer, where, outer=True)
            for hole in holes:
                _check_ring(hole, where, outer=False)
    else:
        pytest.fail(f"{where}: unexpected geometry {kind}")


def _no_crs(node, where: str = "document") -> None:
    if isinstance(node, dict):
        assert "crs" not in node, f"{where}: RFC 7946 removed the crs member"
        for key, value in node.items():
            _no_crs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _no_crs(value, f"{where}[{i}]")


def check_rfc7946(doc: dict) -> None:
    """Fail unless ``doc`` is a FeatureCollection that RFC 7946 allows, placed in Libya."""
    assert doc["type"] == "FeatureCollection" and isinstance(doc["features"], list)
    json.dumps(doc, allow_nan=False)  # plain JSON: no NaN or Infinity
    _no_crs(doc)
    for feature in doc["features"]:
        where = f"feature {feature.get('id')}"
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict), where
        assert isinstance(feature.get("id"), (str, int)), f"{where}: an id is a string or a number"
        _check_geometry(feature["geometry"], where)
    parsed = geojson_lib.loads(json.dumps(doc))
    assert parsed.is_valid, parsed.errors()


def test_validator_catches_what_rfc_7946_forbids():
    """The checks below would see a swapped pair, an open or clockwise ring, a one-point line, a crs."""
    good = {"type": "Feature", "id": "x", "properties": {},
            "geometry": {"type": "LineString", "coordinates": [[16.58, 31.2], [16.14, 29.16]]}}
    check_rfc7946({"type": "FeatureCollection", "features": [good]})
    bad_geometries = [
        {"type": "LineString", "coordinates": [[31.2, 16.58], [29.16, 16.14]]},  # lat first
        {"type": "LineString", "coordinates": [[16.58, 31.2]]},
        {"type": "Polygon", "coordinates": [[[15.7, 29.0], [15.7, 29.25], [16.05, 29.25], [15.7, 29.0]]]},  # clockwise
        {"type": "Polygon", "coordinates": [[[15.7, 29.0], [16.05, 29.0], [16.05, 29.25], [15.7, 29.25]]]},  # open
        {"type": "Point", "coordinates": [16.58, 31.2, 12.0]},
    ]
    for geometry in bad_geometries:
        with pytest.raises(AssertionError):
            check_rfc7946({"type": "FeatureCollection", "features": [{**good, "geometry": geometry}]})
    with pytest.raises(AssertionError):
        check_rfc7946({"type": "FeatureCollection", "features": [good],
                       "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}})


# ---- the export -----------------------------------------------------------------------------


def test_whole_export_is_rfc_7946_with_every_kind_of_geometry(stocked):
    doc = geojson_document(stocked, NOW)
    check_rfc7946(doc)
    kinds = {(f["properties"]["kind"], f["geometry"]["type"]) for f in doc["features"]}
    assert {("segment", "LineString"), ("event", "Point"), ("event", "LineString"), ("event", "Polygon")} <= kinds
    segments = [f for f in doc["features"] if f["properties"]["kind"] == "segment"]
    assert [f["id"] for f in segments] == [s.id for s in stocked.network.segments]


def test_a_segment_runs_from_its_first_town_to_its_second_in_lon_lat(stocked):
    feature = next(f for f in segments_geojson(stocked, NOW)["features"] if f["id"] == "jufra-sirte-waddan")
    (lon0, lat0), (lon1, lat1) = feature["geometry"]["coordinates"][0], feature["geometry"]["coordinates"][-1]
    sirte, waddan = stocked.gazetteer.resolve("Sirte"), stocked.gazetteer.resolve("Waddan")
    assert geodesic_km((lat0, lon0), (sirte.lat, sirte.lon)) < 5
    assert geodesic_km((lat1, lon1), (waddan.lat, waddan.lon)) < 5
    seg = stocked.network.segment("jufra-sirte-waddan")
    assert len(feature["geometry"]["coordinates"]) == len(seg.geometry.coords)  # the road's own line, not a chord


def test_segment_properties_are_the_engines_answer_with_its_top_events(stocked):
    feature = next(f for f in segments_geojson(stocked, NOW)["features"] if f["id"] == "jufra-sirte-waddan")
    props = feature["properties"]
    answer = next(s for s in stocked.segments(NOW)["segments"] if s["id"] == "jufra-sirte-waddan")
    for key in ("name", "road", "from", "to", "length_km", "score", "level", "level_name"):
        assert props[key] == answer[key], key
    assert props["score"] > 0 and props["level"] >= 2
    assert props["status"] == "open" and props["covered"] is True and props["as_of"] == NOW.isoformat()
    top = props["top_events"]
    assert 1 <= len(top) <= 5
    assert top[0]["summary"] == "Minibus fired on south of Sirte" and top[0]["date"] == "2026-11-15"
    assert [t["weight"] for t in top] == sorted((t["weight"] for t in top), reverse=True)


def test_a_closed_road_says_so_and_who_closed_it(stocked):
    set_status(stocked, "jufra-waddan-hun", "closed", who="desk analyst", why="bridge down",
               now=NOW - dt.timedelta(hours=2))
    feature = next(f for f in segments_geojson(stocked, NOW)["features"] if f["id"] == "jufra-waddan-hun")
    props = feature["properties"]
    assert (props["status"], props["road_status"]["by"]) == ("closed", "desk analyst")
    assert props["status_since"] == (NOW - dt.timedelta(hours=2)).isoformat()


def test_a_road_nobody_reported_on_is_not_shown_safe(stocked):
    feature = next(f for f in segments_geojson(stocked, NOW)["features"] if f["id"] == "ghadames-nalut-ghadames")
    props = feature["properties"]
    assert props["covered"] is False and props["coverage"]["why_not"]
    assert props["level_name"] == "No recent reports" and props["top_events"] == []


def test_a_clockwise_area_comes_out_counter_clockwise_with_the_same_corners(stocked):
    area = next(f for f in events_geojson(stocked, NOW)["features"] if f["geometry"]["type"] == "Polygon")
    ring = area["geometry"]["coordinates"][0]
    assert _signed_area(ring) > 0
    assert sorted(map(tuple, ring[:-1])) == sorted([(15.7, 29.0), (15.7, 29.25), (16.05, 29.25), (16.05, 29.0)])


def test_event_properties_say_what_where_how_sure_and_where_it_weighs(stocked):
    features = events_geojson(stocked, NOW)["features"]
    assert len(features) == len(SAMPLE)
    ambush = next(f for f in features if f["properties"]["tags"] == ["ambush"])
    assert ambush["geometry"] == {"type": "Point", "coordinates": [16.4, 30.05]}
    props = ambush["properties"]
    assert (props["date"], props["event_type"], props["sub_event_type"]) == (
        "2026-11-15", "Violence against civilians", "Attack")
    assert props["fatalities"] == 2 and props["sources"] == ["desk sample"] and props["status"] == "active"
    assert 0 < props["confidence"] <= 1
    assert props["segments"][0] == "jufra-sirte-waddan"
    stretch = next(f for f in features if f["properties"]["location_kind"] == "stretch")
    road = [[round(x, 6), round(y, 6)] for x, y in stocked.network.segment("jufra-waddan-hun").geometry.coords]
    assert stretch["geometry"] == {"type": "LineString", "coordinates": road}


def test_events_by_date_and_a_retracted_event_only_on_request(stocked):
    recent = events_geojson(stocked, NOW, since=dt.date(2026, 11, 13))["features"]
    dates = sorted(f["properties"]["date"] for f in recent)
    assert dates == ["2026-11-13", "2026-11-15"]
    assert [f["properties"]["date"] for f in events_geojson(stocked, dt.datetime(2026, 10, 31, tzinfo=dt.UTC))
            ["features"]] == ["2026-10-20"]
    misrata = next(f["id"] for f in events_geojson(stocked, NOW)["features"] if f["properties"]["date"] == "2026-10-20")
    Corrections(stocked).retract(misrata, "tester", "a duplicate of another desk's report", NOW)
    assert misrata not in {f["id"] for f in events_geojson(stocked, NOW)["features"]}
    every = {f["id"]: f["properties"]["status"] for f in events_geojson(stocked, NOW, active=False)["features"]}
    assert every[misrata] == "retracted"


def _export_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="riskengine")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["export", *argv])


def test_cmd_export_writes_the_document_to_a_file_or_stdout(stocked, tmp_path, capsys):
    out = tmp_path / "risk.geojson"
    assert cmd_export(stocked, _export_args("geojson", "--out", str(out), "--at", "2026-11-17T12:00"), None,
                      dt.datetime(2030, 1, 1, tzinfo=dt.UTC)) == 0
    assert capsys.readouterr().out.strip() == str(out)
    written = json.loads(out.read_text(encoding="utf-8"))
    check_rfc7946(written)
    assert written == json.loads(json.dumps(geojson_document(stocked, NOW)))
    assert cmd_export(stocked, _export_args("geojson"), None, NOW) == 0
    assert json.loads(capsys.readouterr().out) == written


def test_cmd_export_refuses_an_unknown_kind_and_an_unwritable_file(stocked, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        _export_args("shapefile")
    assert exited.value.code == 2
    with pytest.raises(InputFileError, match="cannot be written"):
        cmd_export(stocked, _export_args("geojson", "--out", str(tmp_path / "no-such-dir" / "x.geojson")), None, NOW)
