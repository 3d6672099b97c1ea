"""En route: what lies ahead of a traveller on their course, and the journeys followed, in the store.

A *course* is a chain of segments in travel order, each with the way it is driven (a segment's
geometry keeps its own direction). A position is matched to the course (the nearest point of it,
with its distance off the road), and the segments *ahead* are those that end beyond that point and
begin within a horizon of road (km along the road, not as the crow flies). A segment already
behind the traveller is never ahead, whatever its level.

A course is a route asked for (``network.path(a, b)``), or the road the traveller is on: its
nearest segment and onwards along the same road, the way two successive positions show.

:class:`Journeys` keeps each chat's journey in the ``travellers`` table (schema v8): the route it
asked for last, the live location followed, its last position, until when it is live and the
segments already alerted. Several workers can share it: every change is one transaction, and the
segments to alert are claimed in it (:meth:`Journeys.claim`), so each is alerted once per journey.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import shapely
from shapely.geometry import LineString
from sqlalchemy import delete, insert, select, update

from .geo import lonlat_point, to_metric
from .mapping import SegmentIndex
from .roads import RoadNetwork, RoutePath
from .schema import travellers
from .store import Store

#: How much road ahead is watched (km along the road).
DEFAULT_HORIZON_KM = 150.0
#: The level a segment ahead must reach to be told (a subscriber's own minimum wins).
DEFAULT_MIN_LEVEL = 3
#: A route asked for longer ago than this is not the one travelled now: the nearest road is followed.
ASKED_ROUTE_FRESH = dt.timedelta(hours=12)
#: A position farther than this from the asked route means the traveller is elsewhere (nearest road).
OFF_ROUTE_KM = 30.0


@dataclass(frozen=True)
class Ahead:
    """A segment ahead of the traveller and the road to go before it begins (0: on it now)."""

    segment_id: str
    km_to_go: float


@dataclass(frozen=True)
class Position:
    """Where a traveller is on a course: km along it from its start, and km off the road."""

    km_along: float
    km_off: float


@dataclass(frozen=True)
class Course:
    """Segments in travel order, each with ``forward`` True when driven from its start to its end."""

    network: RoadNetwork
    legs: tuple[tuple[str, bool], ...]

    @classmethod
    def of_path(cls, network: RoadNetwork, path: RoutePath) -> Course:
        """The course of a route (its segments as :meth:`RoadNetwork.path` gives them)."""
        return cls(network, tuple((seg.id, seg.start == path.via[i]) for i, seg in enumerate(path.segments)))

    @cached_property
    def _starts(self) -> list[float]:
        starts, km = [], 0.0
        for seg_id, _ in self.legs:
            starts.append(km)
            km += self.network.segment(seg_id).length_km
        return starts

    @cached_property
    def _lines(self) -> list[LineString]:
        """Each leg in metres, turned to face the way of travel."""
        lines = []
        for seg_id, forward in self.legs:
            line = to_metric(self.network.segment(seg_id).geometry)
            lines.append(line if forward else line.reverse())
        return lines

    @property
    def length_km(self) -> float:
        return (self._starts[-1] + self.network.segment(self.legs[-1][0]).length_km) if self.legs else 0.0

    def locate(self, lat: float, lon: float) -> Position:
        """Where a point is on the course: its nearest leg, and how far along it (by its share of the
        leg's length), with the distance off the road."""
        if not self.legs:
            raise ValueError("an empty course has no positions")
        point = to_metric(lonlat_point(lat, lon))
        off = shapely.distance(point, self._lines)
        i = int(off.argmin())
        line = self._lines[i]
        share = line.project(point) / line.length if line.length else 0.0
        seg = self.network.segment(self.legs[i][0])
        return Position(self._starts[i] + share * seg.length_km, float(off[i]) / 1000.0)

    def ahead(self, km_along: float, horizon_km: float = DEFAULT_HORIZON_KM) -> list[Ahead]:
        """The segments that end beyond ``km_along`` and begin before ``km_along + horizon_km``, in order.

        Parameters
        ----------
        km_along
            Where the traveller is (:meth:`locate`).
        horizon_km
            How much road ahead counts.
        """
        out = []
        for (seg_id, _), start in zip(self.legs, self._starts, strict=True):
            end = start + self.network.segment(seg_id).length_km
            if end <= km_along:
                continue  # behind
            if start > km_along + horizon_km:
                break
            out.append(Ahead(seg_id, round(max(0.0, start - km_along), 1)))
        return out

    def as_json(self) -> list[list]:
        return [[seg_id, forward] for seg_id, forward in self.legs]

    @classmethod
    def from_json(cls, network: RoadNetwork, legs: Sequence[Sequence]) -> Course:
        return cls(network, tuple((str(seg_id), bool(forward)) for seg_id, forward in legs))


def road_course(network: RoadNetwork, index: SegmentIndex, before: tuple[float, float],
                now: tuple[float, float]) -> Course:
    """The road a traveller is on, onwards the way they go: the segment nearest ``now`` and the next
    ones of the same road, the direction taken from ``before`` to ``now`` (two (lat, lon) positions).

    A traveller standing still (or going across the segment) is taken to drive it forwards.
    """
    seg_id, _ = index.nearest(*now)
    seg = network.segment(seg_id)
    probe = Course(network, ((seg_id, True),))
    forward = probe.locate(*now).km_along >= probe.locate(*before).km_along
    ids = list(network.road(seg.road_id).segment_ids)
    k = ids.index(seg_id)
    onwards = ids[k:] if forward else ids[k::-1]
    return Course(network, tuple((s, forward) for s in onwards))


@dataclass(frozen=True)
class Journey:
    """A chat's row of ``travellers``: the route it asked for last, and the journey followed (if any)."""

    chat_id: str
    asked_from: str | None
    asked_to: str | None
    asked_at: dt.datetime | None
    message_id: int | None
    started_at: dt.datetime | None
    route_from: str | None
    route_to: str | None
    course: list | None
    min_level: int | None
    last_lat: float | None
    last_lon: float | None
    last_at: dt.datetime | None
    live_until: dt.datetime | None
    alerted: list

    @property
    def following(self) -> bool:
        return self.message_id is not None


class Journeys:
    """The journeys of the chats, in the store (one row per chat in ``travellers``)."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, chat_id: str | int) -> Journey | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(travellers).where(travellers.c.chat_id == str(chat_id))).mappings().first()
        return None if row is None else Journey(**{**row, "alerted": list(row["alerted"] or [])})

    def _upsert(self, conn, chat_id: str, values: dict) -> None:
        done = conn.execute(update(travellers).where(travellers.c.chat_id == chat_id).values(**values))
        if not done.rowcount:
            conn.execute(insert(travellers).values(chat_id=chat_id, **values))

    def remember_route(self, chat_id: str | int, start: str, end: str, now: dt.datetime) -> None:
        """Keep the route a chat asked for last (what a live location shared next will follow)."""
        with self.store.writer.begin() as conn:
            self._upsert(conn, str(chat_id), {"asked_from": start, "asked_to": end, "asked_at": now})

    def start(self, chat_id: str | int, message_id: int, *, lat: float, lon: float, live_until: dt.datetime,
              route: tuple[str, str] | None, course: Course | None, min_level: int, now: dt.datetime) -> None:
        """Begin following a live location (a new journey: nothing alerted yet)."""
        with self.store.writer.begin() as conn:
            self._upsert(conn, str(chat_id), {
                "message_id": message_id, "started_at": now, "route_from": route[0] if route else None,
                "route_to": route[1] if route else None, "course": course.as_json() if course else None,
                "min_level": min_level, "last_lat": lat, "last_lon": lon, "last_at": now,
                "live_until": live_until, "alerted": []})

    def move(self, chat_id: str | int, message_id: int, *, lat: float, lon: float, now: dt.datetime,
             course: Course | None = None, live_until: dt.datetime | None = None) -> bool:
        """Record a new position of the journey of ``message_id`` (and its course once known); False
        when that journey is not followed (ended, or another one began)."""
        values = {"last_lat": lat, "last_lon": lon, "last_at": now}
        if course is not None:
            values["course"] = course.as_json()
        if live_until is not None:
            values["live_until"] = live_until
        with self.store.writer.begin() as conn:
            done = conn.execute(update(travellers).where(travellers.c.chat_id == str(chat_id),
                                                         travellers.c.message_id == message_id).values(**values))
        return bool(done.rowcount)

    def claim(self, chat_id: str | int, message_id: int, segment_ids: Sequence[str]) -> list[str]:
        """Mark segments alerted in the journey of ``message_id``; returns those not alerted before
        (in the given order). One transaction: of two workers claiming a segment, one gets it."""
        with self.store.writer.begin() as conn:
            row = conn.execute(select(travellers.c.alerted).where(
                travellers.c.chat_id == str(chat_id), travellers.c.message_id == message_id
            ).with_for_update()).first()
            if row is None:
                return []
            known = list(row.alerted or [])
            new = [s for s in dict.fromkeys(segment_ids) if s not in known]
            if new:
                conn.execute(update(travellers).where(travellers.c.chat_id == str(chat_id)).values(
                    alerted=known + new))
        return new

    def release(self, chat_id: str | int, message_id: int, segment_ids: Sequence[str]) -> None:
        """Undo a claim whose alert could not be sent (the next position tries again)."""
        with self.store.writer.begin() as conn:
            row = conn.execute(select(travellers.c.alerted).where(
                travellers.c.chat_id == str(chat_id), travellers.c.message_id == message_id
            ).with_for_update()).first()
            if row is not None:
                conn.execute(update(travellers).where(travellers.c.chat_id == str(chat_id)).values(
                    alerted=[s for s in (row.alerted or []) if s not in set(segment_ids)]))

    def stop(self, chat_id: str | int, message_id: int | None = None) -> bool:
        """End the journey followed (only that of ``message_id`` when given); True when one ended here."""
        query = update(travellers).where(travellers.c.chat_id == str(chat_id), travellers.c.message_id.is_not(None))
        if message_id is not None:
            query = query.where(travellers.c.message_id == message_id)
        with self.store.writer.begin() as conn:
            done = conn.execute(query.values(message_id=None, live_until=None))
        return bool(done.rowcount)

    def expired(self, now: dt.datetime) -> list[tuple[str, int]]:
        """The journeys whose live location has run out by ``now``: (chat id, message id) pairs."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(travellers.c.chat_id, travellers.c.message_id).where(
                travellers.c.message_id.is_not(None), travellers.c.live_until <= now)).all()
        return [(r.chat_id, r.message_id) for r in rows]

    def forget(self, chat_id: str | int) -> None:
        with self.store.writer.begin() as conn:
            conn.execute(delete(travellers).where(travellers.c.chat_id == str(chat_id)))
