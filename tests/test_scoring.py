"""Scoring: weights, decay over time, distance, saturation and the invariants users rely on."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from riskengine.incident import Incident
from riskengine.models import Segment
from riskengine.scoring import assess, contributions, incident_frame, score_route

from .conftest import NOW

SEGMENTS_NEAR = ["s1", "s2", "s3"]


def _incident(days_ago: float = 0, **fields) -> Incident:
    data = {"event_type": "Violence against civilians", "sub_event_type": "Attack", "lat": 29.5, "lon": 16.0,
            "date": (NOW - dt.timedelta(days=days_ago)).date(), **fields}
    return Incident.model_validate(data)


def _score(rules, incidents, distances, now=NOW, segment="s1"):
    frame = incident_frame(incidents, [f"i{k}" for k in range(len(incidents))])
    matches = pd.DataFrame({"incident_id": [f"i{k}" for k in range(len(incidents))],
                            "segment_id": [segment] * len(incidents), "distance_km": distances})
    weight = contributions(rules, frame, matches, now)["weight"].sum()
    return float(rules.score_from_weight(weight))


def test_decay_lowers_a_score_over_time(rules):
    inc = [_incident(0, tags=["ambush"])]
    today = _score(rules, inc, [0.0])
    month = _score(rules, inc, [0.0], now=NOW + dt.timedelta(days=30))
    year = _score(rules, inc, [0.0], now=NOW + dt.timedelta(days=365))
    assert today > month > year
    assert year < 1.0


def test_incident_after_the_scoring_time_does_not_count_yet(rules):
    inc = [_incident(-3)]  # dated three days after NOW
    assert _score(rules, inc, [0.0]) == 0.0


def test_farther_incidents_weigh_less_and_beyond_reach_nothing(rules):
    inc = [_incident(1, tags=["ambush"], geo_precision=1)]
    assert _score(rules, inc, [0.0]) > _score(rules, inc, [8.0]) > _score(rules, inc, [14.0]) > 0
    assert _score(rules, inc, [40.0]) == 0.0


def test_vaguer_location_and_weaker_source_lower_confidence(rules):
    exact = _score(rules, [_incident(1, geo_precision=1, source_reliability="A")], [0.0])
    vague = _score(rules, [_incident(1, geo_precision=3, source_reliability="A")], [0.0])
    rumour = _score(rules, [_incident(1, geo_precision=1, source_reliability="E")], [0.0])
    assert exact > vague and exact > rumour


def test_more_incidents_raise_the_score_but_never_past_100(rules):
    one = _score(rules, [_incident(0, tags=["ambush"])], [0.0])
    many = _score(rules, [_incident(0, tags=["ambush"], fatalities=k) for k in range(30)], [0.0] * 30)
    assert one < many <= 100.0


def test_route_counts_a_junction_incident_once(rules):
    inc = [_incident(0)]
    frame = incident_frame(inc, ["i0"])
    matches = pd.DataFrame({"incident_id": ["i0", "i0"], "segment_id": ["s1", "s2"], "distance_km": [0.0, 0.0]})
    segs = [Segment(s, s, "r", "R", "A", "B", LineString([(0, 0), (1, 1)]), 1.0) for s in SEGMENTS_NEAR]
    result = assess(rules, segs, frame, matches, NOW)
    route = score_route(rules, result, ["s1", "s2"])
    assert route.score == result.segments.loc["s1", "score"]
    assert len(route.incidents) == 1
    assert route.worst_segment in {"s1", "s2"}
    quiet = score_route(rules, result, ["s3"])
    assert quiet.score == 0.0 and quiet.worst_segment is None and quiet.level == 1


incident_kinds = st.sampled_from([
    ("Violence against civilians", "Attack", ["ambush"]),
    ("Battles", "Armed clash", []),
    ("Explosions/Remote violence", "Air/drone strike", []),
    ("Strategic developments", "Change to group/activity", ["armed_presence"]),
    ("Protests", "Peaceful protest", []),
    ("Riots", "Mob violence", []),
])
incidents_st = st.builds(
    lambda kind, days, precision, grade, deaths: _incident(days, event_type=kind[0], sub_event_type=kind[1],
                                                           tags=kind[2], geo_precision=precision,
                                                           source_reliability=grade, fatalities=deaths),
    incident_kinds, st.floats(0, 400), st.integers(1, 3), st.sampled_from("ABCDEF"), st.integers(0, 500),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(incidents_st, max_size=8), incidents_st, st.lists(st.floats(0, 120), min_size=9, max_size=9))
def test_a_new_incident_never_lowers_a_score_and_scores_stay_in_range(rules, existing, new, distances):
    before = _score(rules, existing, distances[: len(existing)])
    after = _score(rules, [*existing, new], distances[: len(existing)] + [distances[-1]])
    assert 0.0 <= before <= 100.0 and 0.0 <= after <= 100.0
    assert after >= before


def _relief_and_threat(rules, relief_days_ago: float):
    threat = _incident(2, tags=["ambush"])
    reopened = _incident(relief_days_ago, event_type="Strategic developments", sub_event_type="Agreement",
                         tags=["reopening"])
    frame = incident_frame([threat, reopened], ["threat", "reopened"])
    matches = pd.DataFrame({"incident_id": ["threat", "reopened"], "segment_id": ["s1", "s1"],
                            "distance_km": [0.0, 0.0]})
    segs = [Segment("s1", "s1", "r", "R", "A", "B", LineString([(0, 0), (1, 1)]), 1.0)]
    return assess(rules, segs, frame, matches, NOW).segments.loc["s1", "score"]


def test_a_confirmed_reopening_lowers_the_score_for_a_few_days(rules):
    threat_only = _score(rules, [_incident(2, tags=["ambush"])], [0.0])
    fresh_reopening = _relief_and_threat(rules, 0)
    old_reopening = _relief_and_threat(rules, 20)
    assert fresh_reopening < threat_only
    assert fresh_reopening < old_reopening <= threat_only
    assert threat_only - old_reopening < 1.0
