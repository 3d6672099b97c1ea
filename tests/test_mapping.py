"""Mapping incidents onto segments: points within the cut-off, areas only where they lie."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely
import yaml
from shapely.geometry import MultiPoint, Polygon

from riskengine.errors import RuleFileError
from riskengine.geo import to_lonlat, to_metric
from riskengine.incident import Incident
from riskengine.mapping import SegmentIndex
from riskengine.rules import RuleBook
from riskengine.store import ReportIn

from .conftest import NOW

#: Segments of the Fezzan and of al-Jufra, and coastal ones no inland area may reach.
FEZZAN = {"fezzan-shwayrif-brak", "fezzan-brak-sebha", "jufra-sokna-sebha", "wadi-hayat-sebha-ubari",
          "wadi-hayat-ubari-ghat", "murzuq-sebha-murzuq"}
JUFRA = {"jufra-sirte-waddan", "jufra-waddan-hun", "jufra-hun-sokna", "jufra-sokna-sebha",
         "grein-abu-grein-waddan"}
COAST = {"coastal-zawiya-tripoli", "coastal-tripoli-khoms", "coastal-khoms-zliten", "coastal-zliten-misrata",
         "coastal-misrata-abu-grein", "coastal-abu-grein-sirte"}


@pytest.fixture(scope="module")
def index(network) -> SegmentIndex:
    return SegmentIndex(network.segments)


def _clash(**where) -> Incident:
    return Incident(event_type="Battles", sub_event_type="Armed clash", date=NOW.date(), source="test",
                    source_reliability="B", evidence="test incident", **where)


def _area(polygon: Polygon, precision: int = 2) -> Incident:
    c = polygon.centroid
    return _clash(lat=c.y, lon=c.x, geo_precision=precision, location_kind="area", geometry_wkt=polygon.wkt)


def _span(gazetteer, names: list[str], buffer_km: float = 20.0) -> Polygon:
    """A wide desert area as the extractor draws "between A, B and C": the towns' hull, buffered."""
    places = [gazetteer.resolve(n) for n in names]
    hull = to_metric(MultiPoint([(p.lon, p.lat) for p in places])).convex_hull
    return to_lonlat(hull.buffer(buffer_km * 1000.0))


def _touched(index, rules, incident) -> dict[str, float]:
    return dict(index.match([incident], rules.max_reach_km, rules.area_margin_km)[0])


# ---- areas ----------------------------------------------------------------------------------------


def test_the_rules_set_a_small_margin_for_areas(rules):
    assert 0 < rules.area_margin_km <= 15 < rules.max_reach_km


def test_an_area_over_the_fezzan_touches_the_fezzan_roads_only(index, rules, gazetteer):
    touched = _touched(index, rules, _area(gazetteer.area_geometry("Fezzan")))
    assert set(touched) == FEZZAN
    assert all(km == 0 for km in touched.values())  # every one of them crosses the region


def test_an_area_over_al_jufra_touches_the_jufra_roads_only(index, rules, gazetteer):
    touched = _touched(index, rules, _area(gazetteer.area_geometry("al-Jufra")))
    assert set(touched) == JUFRA
    assert touched.keys().isdisjoint(COAST | {"fezzan-brak-sebha", "wadi-hayat-sebha-ubari"})


def test_a_wide_desert_area_does_not_reach_the_coast(index, rules, gazetteer, network):
    # between Gharyan, Bani Walid, Hun and Sebha: its edge passes 40-90 km from the coastal highway,
    # which the farthest reach of any rule (plus a precision radius) would once have caught
    area = _span(gazetteer, ["Gharyan", "Bani Walid", "Hun", "Sebha"])
    metric = to_metric(area)
    coast_km = {s: metric.distance(to_metric(network.segment(s).geometry)) / 1000.0 for s in COAST}
    assert min(coast_km.values()) < rules.max_reach_km  # within the old cut-off, so the test means something
    touched = _touched(index, rules, _area(area, precision=3))
    assert touched.keys().isdisjoint(COAST)
    assert {"fezzan-gharyan-mizda", "jufra-waddan-hun", "jufra-sokna-sebha", "fezzan-brak-sebha"} <= touched.keys()
    assert all(km <= rules.area_margin_km for km in touched.values())


def test_jabal_nafusa_touches_its_mountain_roads_not_tripoli_khoms(index, rules, gazetteer):
    touched = _touched(index, rules, _area(gazetteer.area_geometry("Jabal Nafusa")))
    assert {"nafusa-tripoli-yafran", "nafusa-yafran-zintan", "asabaa-gharyan-zintan",
            "nafusa-west-zintan-nalut"} <= touched.keys()
    assert "coastal-tripoli-khoms" not in touched and "coastal-zawiya-tripoli" not in touched


def test_segments_just_outside_an_area_are_touched_within_the_margin(index, network):
    seg = network.segment("jufra-waddan-hun")
    line = to_metric(seg.geometry)
    (x0, y0), (x1, y1) = (line.interpolate(f, normalized=True).coords[0] for f in (0.45, 0.55))
    nx, ny = np.array([y0 - y1, x1 - x0]) / np.hypot(x1 - x0, y1 - y0)  # across the road
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    # a disc of 5 km radius whose edge lies about 6 km to one side of the middle of Waddan - Hun
    disc = to_lonlat(shapely.points(xm + 11_000 * nx, ym + 11_000 * ny).buffer(5_000))
    metric_km = to_metric(disc).distance(line) / 1000.0
    assert 5 < metric_km < 7
    near = dict(index.match([_area(disc)], 90.0, area_margin_km=10)[0])
    assert near["jufra-waddan-hun"] == pytest.approx(metric_km)
    assert "jufra-waddan-hun" not in dict(index.match([_area(disc)], 90.0, area_margin_km=5)[0])
    assert all(km <= 10 for km in near.values())


def test_areas_are_mapped_in_one_query_in_incident_then_segment_order(index, rules, gazetteer):
    fezzan, jufra = _area(gazetteer.area_geometry("Fezzan")), _area(gazetteer.area_geometry("al-Jufra"))
    point = _clash(lat=29.10, lon=15.94, geo_precision=1)  # at Hun
    got = index.match([jufra, point, fezzan], rules.max_reach_km, rules.area_margin_km)
    order = {seg_id: k for k, seg_id in enumerate(index.ids)}
    assert {s for s, _ in got[0]} == JUFRA and {s for s, _ in got[2]} == FEZZAN
    for hits in (got[0], got[2]):
        assert [order[s] for s, _ in hits] == sorted(order[s] for s, _ in hits)
    assert got[1] == index.match([point], rules.max_reach_km)[0]


# ---- points are unchanged -------------------------------------------------------------------------


def test_a_point_incident_matches_every_segment_within_the_cut_off(index, rules, network):
    point = _clash(lat=29.10, lon=15.94, geo_precision=1)  # at Hun
    touched = _touched(index, rules, point)
    here = to_metric(shapely.points(15.94, 29.10))
    expected = {s.id: here.distance(to_metric(s.geometry)) / 1000.0 for s in network.segments}
    expected = {k: v for k, v in expected.items() if v <= rules.max_reach_km}
    assert touched.keys() == expected.keys()
    assert all(touched[k] == pytest.approx(expected[k], abs=1e-6) for k in expected)
    assert touched["jufra-waddan-hun"] < 5 and touched["jufra-hun-sokna"] < 5
    assert 20 < touched["jufra-sirte-waddan"] < rules.max_reach_km  # points still reach beyond the margin


def test_a_point_with_a_wide_radius_reaches_farther(index, rules):
    near_sirte = _clash(lat=30.4, lon=16.6, geo_precision=1)
    wide = near_sirte.model_copy(update={"radius_km": 150.0})
    narrow_ids, wide_ids = _touched(index, rules, near_sirte), _touched(index, rules, wide)
    assert set(narrow_ids) < set(wide_ids)
    assert max(wide_ids.values()) > rules.max_reach_km


# ---- the rule that sets the margin ----------------------------------------------------------------


def _edit_scoring(rules_dir, change) -> None:
    path = rules_dir / "scoring.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_area_margin_comes_from_scoring_yaml(rules_copy):
    _edit_scoring(rules_copy, lambda d: d["areas"].update(margin_km=0))
    assert RuleBook.load(rules_copy).area_margin_km == 0
    _edit_scoring(rules_copy, lambda d: d.pop("areas"))
    assert RuleBook.load(rules_copy).area_margin_km == 10  # the default when the file does not say


def test_a_negative_area_margin_is_rejected(rules_copy):
    _edit_scoring(rules_copy, lambda d: d["areas"].update(margin_km=-5))
    with pytest.raises(RuleFileError) as err:
        RuleBook.load(rules_copy)
    assert "scoring.yaml" in str(err.value) and err.value.field == "margin_km"


# ---- through the engine ---------------------------------------------------------------------------


def test_an_area_incident_scores_its_own_roads_and_not_the_coast(engine, gazetteer):
    area = _span(gazetteer, ["Gharyan", "Bani Walid", "Hun", "Sebha"])
    engine.ingest_incidents(ReportIn(source="test", format="jsonl", text="clashes across the desert"),
                            [_area(area, precision=3)], now=NOW)
    at = NOW + dt.timedelta(hours=1)
    scores = {s["id"]: s["score"] for s in engine.segments(at)["segments"]}
    assert scores["jufra-waddan-hun"] > 0 and scores["fezzan-gharyan-mizda"] > 0
    assert [scores[s] for s in sorted(COAST)] == [0.0] * len(COAST)
    assert engine.route("Tripoli", "Misrata", at)["score"] == 0.0
    assert engine.route("Sirte", "Sebha", at)["score"] > 0


def test_an_incident_at_derj_raises_the_nalut_ghadames_route(engine, gazetteer):
    derj = gazetteer.resolve("Derj")
    at = NOW + dt.timedelta(hours=1)
    assert engine.route("Nalut", "Ghadames", at)["score"] == 0.0
    ambush = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                      date=NOW.date(), lat=derj.lat, lon=derj.lon, geo_precision=1, source="test",
                      source_reliability="B", evidence="test incident at Derj")
    engine.ingest_incidents(ReportIn(source="test", format="jsonl", text="an ambush at Derj"), [ambush], now=NOW)
    route = engine.route("Nalut", "Ghadames", at)
    assert route["score"] > 0 and route["worst_segment"] == "ghadames-nalut-ghadames"
    assert np.isclose(route["distance_km"], engine.network.segment("ghadames-nalut-ghadames").length_km, atol=0.1)
