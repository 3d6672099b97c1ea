"""The stored events a new report may retell are read only within reach of its place (a box on
latitude and longitude, in SQL), and those told with a vague date by their ids: that must never
leave out an event the plain reading (every active event of the kinds and dates, or told vaguely
near them, in one query) would join, on either backend, whatever the places and dates."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from riskengine.engine import RiskEngine
from riskengine.identity import SameEvent
from riskengine.incident import Incident
from riskengine.schema import events, incidents
from riskengine.store import ReportIn, Store

NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)
DAY = NOW.date()
KINDS = [("Battles", "Armed clash"), ("Violence against civilians", "Attack"), ("Protests", "Peaceful protest")]


class EveryEventLooked(SameEvent):
    """The plain reading: one query, every active event of the kinds dated within the window or
    told with a vague date within the widest one, wherever it is."""

    def _candidates(self, conn, incident):
        day = incident["date"]
        near = max(self.date_window(incident["time_precision"], incident["date_stated"]), self.unstated)
        vague = select(incidents.c.event_id).where((incidents.c.time_precision >= 2)
                                                    & incidents.c.date.between(day - self.window, day + self.window))
        kinds = sorted(self._compatible_types(incident["event_type"]))
        query = select(events).where(
            (events.c.status == "active") & events.c.event_type.in_(kinds)
            & (events.c.date.between(day - near, day + near) | events.c.id.in_(vague)))
        return list(conn.execute(query).mappings())


def _place(rng: random.Random, network, lat: float, lon: float) -> dict:
    """A point (of a random precision, sometimes with a wide radius of its own), a stretch of road
    or an area, around (lat, lon)."""
    shape = rng.random()
    if shape < 0.15:
        segment = rng.choice(network.segments)
        mid = segment.geometry.interpolate(0.5, normalized=True)
        return {"location_kind": "stretch", "segments": [segment.id], "lat": mid.y, "lon": mid.x, "geo_precision": 2}
    if shape < 0.25:
        half = rng.uniform(0.05, 0.6)
        polygon = (f"POLYGON(({lon - half} {lat - half}, {lon + half} {lat - half}, {lon + half} {lat + half}, "
                   f"{lon - half} {lat + half}, {lon - half} {lat - half}))")
        return {"location_kind": "area", "geometry_wkt": polygon, "lat": lat, "lon": lon, "geo_precision": 3}
    radius = rng.choice([None, None, None, 0.5, 30.0, 80.0])
    return {"location_kind": "point", "lat": lat, "lon": lon, "geo_precision": rng.choice([1, 2, 3]),
            "radius_km": radius}


def _near(rng: random.Random, lat: float, lon: float) -> tuple[float, float]:
    """A point up to about 1.2 degrees away (some within every reach, some beyond the widest)."""
    return lat + rng.uniform(-1.2, 1.2), lon + rng.uniform(-1.2, 1.2)


def test_the_box_never_leaves_out_an_event_the_full_tests_join(db_url, rules, gazetteer, network):
    rng = random.Random(20261204)
    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    centres = [(rng.uniform(24.0, 33.0), rng.uniform(10.0, 25.0)) for _ in range(12)]
    stored = []
    for i in range(160):  # one report: its incidents are never one event, so each is an event of its own
        event_type, sub_event_type = rng.choice(KINDS)
        lat, lon = _near(rng, *rng.choice(centres))
        vague = rng.random() < 0.2  # told as "last week" or "last month": near in time for longer
        stored.append(Incident(event_type=event_type, sub_event_type=sub_event_type,
                               date=DAY - dt.timedelta(days=rng.randint(0, 12 if vague else 1)),
                               time_precision=rng.choice([2, 3]) if vague else 1, source="wire",
                               evidence=f"Stored incident number {i}.", **_place(rng, network, lat, lon)))
    engine.ingest_incidents(ReportIn(source="wire", format="text", text="the stored incidents"), stored, now=NOW)

    boxed, everything = SameEvent(rules, network), EveryEventLooked(rules, network)
    joined = apart = 0
    with engine.store.engine.connect() as conn:
        for i in range(300):
            event_type, _ = rng.choice(KINDS)
            lat, lon = _near(rng, *rng.choice(centres))
            row = {"event_type": event_type, "date": DAY - dt.timedelta(days=rng.choice([0, 0, 0, 1, 3, 8])),
                   "time_precision": rng.choice([1, 1, 1, 2, 3]), "date_stated": rng.random() < 0.8, "tags": [],
                   "actors": [], "targets": [], "segments": [], "geometry_wkt": None, "radius_km": None,
                   **_place(rng, network, lat, lon)}
            found = boxed.find(conn, row, report_id=-1, source=f"channel {i}", fmt="text")
            assert found == everything.find(conn, row, report_id=-1, source=f"channel {i}", fmt="text"), row
            joined += found is not None
            apart += found is None
    assert joined >= 30 and apart >= 30, (joined, apart)  # both outcomes are exercised


def test_an_empty_area_is_no_place_to_be_near(rules, network):
    """A report whose area is empty is near nothing: it joins no event (its distance to any place is
    not a number, which once read as no gap at all)."""
    same = SameEvent(rules, network)
    event = {"location_kind": "point", "lat": 31.2, "lon": 16.6, "geo_precision": 1, "radius_km": None}
    empty = {"location_kind": "area", "geometry_wkt": "POLYGON EMPTY", "lat": None, "lon": None, "geo_precision": 3,
             "radius_km": None}
    assert same.gap_km(empty, event) is None and same.gap_km(event, empty) is None
    assert same._within_reach(empty) is None  # no box to draw: the candidates are not narrowed
