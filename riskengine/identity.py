"""Whether a new report retells a stored event (rules: ``rules/identity.yaml``).

Two reports tell one event when nothing in them says otherwise: the same kind of event (or kinds
reporters confuse), dates within a day, places within each other's uncertainty (a point, a stretch
of road or an area, measured in km in the metric CRS) and no contradicting armed groups or road
threats. Each test is cheap, and only the active events dated within the window and lying within
reach of the new report's place are looked at (an index on the date; the reach tested in SQL on
latitude and longitude), so ingest stays fast however many events are stored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import shapely
from shapely import wkt as shapely_wkt
from sqlalchemy import func, select, text

from .geo import metric_points, to_metric
from .roads import RoadNetwork
from .rules import RuleBook
from .schema import VAGUE_DATE, events, incidents, reports

__all__ = ["STRUCTURED", "SameEvent"]

#: Report formats of structured data, where each row is one event as its dataset coded it.
STRUCTURED = frozenset({"acled", "jsonl"})


class SameEvent:
    """Finds the stored event a new incident retells, if any."""

    def __init__(self, rules: RuleBook, network: RoadNetwork):
        self.rules, self.network = rules, network
        self.slack_km = rules.identity.same_event.slack_km
        same = rules.identity.same_event
        self.windows = {precision: dt.timedelta(days=days) for precision, days in same.date_window_days.items()}
        self.unstated = dt.timedelta(days=same.unstated_date_window_days)
        #: the widest window any report may have: the candidates' date range is read with it
        self.window = max([*self.windows.values(), self.unstated])
        self._type_group = {t: frozenset(group) for group in same.compatible_types for t in group}
        self._tag_groups = [frozenset(g) for g in same.compatible_tags]
        self._target_groups = [frozenset(g) for g in same.compatible_targets]
        self._unnamed = tuple(a.lower() for a in same.unnamed_actors)
        #: the widest uncertainty an event's place can have without a radius of its own
        self._widest_radius_km = max(p.radius_km for p in rules.scoring.location_precision.values())

    def _compatible_types(self, event_type: str) -> frozenset[str]:
        return self._type_group.get(event_type, frozenset({event_type}))

    def _tags_agree(self, a: Sequence[str], b: Sequence[str]) -> bool:
        a, b = set(a or ()), set(b or ())  # a closure and a reopening are two events, as are an ambush and a mine
        if not a or not b or a & b:
            return True
        return any(a <= group and b <= group for group in self._tag_groups)

    def _targets_agree(self, a: Sequence[str] | None, b: Sequence[str] | None) -> bool:
        a, b = set(a or ()), set(b or ())
        if not a or not b or a & b:
            return True
        return any(a | b <= group for group in self._target_groups)

    def _named(self, actors: Sequence[str] | None) -> set[str]:
        return {a.lower() for a in actors or () if not a.lower().startswith(self._unnamed)}

    def _actors_agree(self, a: Sequence[str] | None, b: Sequence[str] | None) -> bool:
        a, b = self._named(a), self._named(b)
        return not a or not b or bool(a & b)

    def date_window(self, time_precision: int | None, date_stated: bool | None) -> dt.timedelta:
        """How far a report's date may be from the event's: a day it states exactly, none; the
        publication date standing in, a day; a week or a month it names, that long. Unknown (a
        report stored before this was kept) counts as the publication date."""
        window = self.windows.get(int(time_precision or 1), self.unstated)
        return window if date_stated else max(window, self.unstated)

    def radius_km(self, row: Mapping[str, Any]) -> float:
        radius = row.get("radius_km")
        if radius is not None and radius == radius:
            return float(radius)
        return self.rules.precision_radius_km(int(row["geo_precision"] or 1))

    @cached_property
    def _segment_lines(self) -> dict[str, Any]:
        return {s.id: to_metric(s.geometry) for s in self.network.segments}

    @cached_property
    def _segment_bounds(self) -> dict[str, tuple[float, float, float, float]]:
        return {s.id: s.geometry.bounds for s in self.network.segments}

    def footprint(self, row: Mapping[str, Any]):
        """Where a row (an incident or an event) is, as a metric geometry: a point, the stretch's
        segments, or the area."""
        if row["location_kind"] == "area" and row.get("geometry_wkt"):
            try:
                return to_metric(shapely_wkt.loads(row["geometry_wkt"]))
            except shapely.errors.ShapelyError:
                pass
        if row["location_kind"] == "stretch" and row.get("segments"):
            lines = [self._segment_lines[s] for s in row["segments"] if s in self._segment_lines]
            if lines:
                return shapely.union_all(lines)
        if row.get("lat") is None:
            return None
        return metric_points([row["lat"]], [row["lon"]])[0]

    def _lonlat_bounds(self, row: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
        """The bounds (west, south, east, north) of :meth:`footprint`, in degrees; None without a place."""
        if row["location_kind"] == "area" and row.get("geometry_wkt"):
            try:
                area = shapely_wkt.loads(row["geometry_wkt"])
            except shapely.errors.ShapelyError:
                pass
            else:
                return None if area.is_empty else area.bounds
        if row["location_kind"] == "stretch" and row.get("segments"):
            known = self._segment_bounds
            boxes = [known[s] for s in row["segments"] if s in known]
            if boxes:
                return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                        max(b[3] for b in boxes))
        if row.get("lat") is None:
            return None
        return row["lon"], row["lat"], row["lon"], row["lat"]

    def _within_reach(self, incident: Mapping[str, Any]):
        """What an event's row must satisfy to lie within reach of the incident's place (their gap at
        most ``slack_km`` beyond both uncertainties), written for SQL on latitude and longitude: a
        box around the incident's place as wide as the reach to an event of the widest precision
        radius, with a margin for the metric CRS's scale (under 1%); events whose place is not a
        point, or whose radius is wider, always pass (their own tests come after). None: no bound
        (the incident has no place)."""
        bounds = self._lonlat_bounds(incident)
        if bounds is None:
            return None
        reach_km = (self.slack_km + self.radius_km(incident) + self._widest_radius_km) * 1.02 + 1.0
        west, south, east, north = bounds
        dlat = reach_km / 110.0  # a degree of latitude is never shorter than 110.5 km
        farthest = min(89.0, max(abs(south - dlat), abs(north + dlat)))
        dlon = reach_km / (111.32 * math.cos(math.radians(farthest)))
        e = events.c
        return (e.location_kind.is_(None) | (e.location_kind != "point") | e.lat.is_(None) | e.lon.is_(None)
                | (e.radius_km > self._widest_radius_km)
                | (e.lat.between(south - dlat, north + dlat) & e.lon.between(west - dlon, east + dlon)))

    def gap_km(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float | None:
        """How far apart two locations are beyond their uncertainty (0 when they overlap)."""
        fa, fb = self.footprint(a), self.footprint(b)
        if fa is None or fb is None or fa.is_empty or fb.is_empty:  # an empty area is no place
            return None
        return max(0.0, shapely.distance(fa, fb) / 1000.0 - self.radius_km(a) - self.radius_km(b))

    def same(self, incident: Mapping[str, Any], event: Mapping[str, Any]) -> float | None:
        """The gap in km when ``incident`` may retell ``event``; None when its kind, tags, actors,
        targets or place contradict it (dates are checked against every report in :meth:`find`)."""
        if event["event_type"] not in self._compatible_types(incident["event_type"]):
            return None
        if not self._tags_agree(incident["tags"], event["tags"]):
            return None
        if not self._actors_agree(incident["actors"], event["actors"]):
            return None
        if not self._targets_agree(incident["targets"], event["targets"]):
            return None
        gap = self.gap_km(incident, event)
        return gap if gap is not None and gap <= self.slack_km else None

    def _candidates(self, conn, incident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The active events of the incident's kinds it may retell: those dated within its window and
        within reach of its place, and those a report told with a vague date (a week, a month) that
        may reach its date. Two queries, each read by its own index (with an OR between them, or the
        vague ones' conditions asked in SQL, the planners walk every event)."""
        kinds = sorted(self._compatible_types(incident["event_type"]))
        day = incident["date"]
        near = max(self.date_window(incident["time_precision"], incident["date_stated"]), self.unstated)
        candidates = (events.c.status == "active") & events.c.event_type.in_(kinds)
        reach = self._within_reach(incident)
        if reach is not None:
            candidates &= reach
        dated = select(events).where(candidates & events.c.date.between(day - near, day + near))
        read = {event["id"]: event for event in conn.execute(dated).mappings()}
        vague = select(incidents.c.event_id).where(text(f"incidents.{VAGUE_DATE}")
                                                    & incidents.c.date.between(day - self.window, day + self.window))
        for event in conn.execute(select(events).where(events.c.id.in_(vague))).mappings():
            if event["status"] == "active" and event["event_type"] in kinds:
                read.setdefault(event["id"], event)
        return list(read.values())

    def find(self, conn, incident: Mapping[str, Any], report_id: int, source: str, fmt: str,
             exclude: set[str] | frozenset[str] = frozenset()) -> str | None:
        """The stored event this incident retells (the nearest, then the closest in date), or None.

        Never an event told by the same report (two incidents of one report are two events), nor,
        for a row of structured data (ACLED-style CSV, JSON lines), an event the same source coded
        as a row already: a dataset codes each event once, so two of its rows are two events.
        """
        day = incident["date"]
        # kind, tags, actors, targets and place first (no query): most candidates stop here
        fitting = {}
        for event in self._candidates(conn, incident):
            if event["id"] not in exclude and (gap := self.same(incident, event)) is not None:
                fitting[event["id"]] = (gap, abs((event["date"] - day).days), event["id"])
        if not fitting:
            return None
        told_by = func.coalesce(incidents.c.source, reports.c.source)
        told = (select(incidents.c.event_id, incidents.c.report_id, told_by, reports.c.format, incidents.c.date,
                       incidents.c.time_precision, incidents.c.date_stated)
                .join(reports, reports.c.id == incidents.c.report_id)
                .where(incidents.c.event_id.in_(list(fitting))))
        mine = self.date_window(incident["time_precision"], incident["date_stated"])
        for event_id, other_report, other_source, other_format, other_date, precision, stated in conn.execute(told):
            if other_report == report_id or (fmt in STRUCTURED and other_format in STRUCTURED
                                             and other_source == source):
                fitting.pop(event_id, None)
            elif abs(other_date - incident["date"]) > max(mine, self.date_window(precision, stated)):
                fitting.pop(event_id, None)  # every report's date, not only the lead's: no chains of days
        best = min(fitting.values(), default=None)
        return best[2] if best else None
