"""Road status, apart from risk: open, restricted, checkpoint or closed, per segment.

From reports (events tagged as closures, restrictions, checkpoints or reopenings, lying on the
segment; ``rules/road_status.yaml``) and from analysts (the ``road_status`` table), each with its
source and an expiry; the newest word wins. A retracted event no longer sets any status.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from .errors import RiskEngineError
from .schema import incident_segments, road_status
from .store import _fetch, among

if TYPE_CHECKING:
    from .engine import RiskEngine

__all__ = ["STATUSES", "StatusError", "segment_statuses", "set_status"]

STATUSES = ("open", "restricted", "checkpoint", "closed")


class StatusError(RiskEngineError, ValueError):
    """A road status that cannot be set (unknown status, bad expiry)."""


def _open(segment_id: str) -> dict[str, Any]:
    return {"segment": segment_id, "status": "open", "since": None, "until": None, "by": None, "source": None,
            "event": None, "detail": "no closure reported"}


def segment_statuses(engine: RiskEngine, at: dt.datetime) -> dict[str, dict[str, Any]]:
    """Every segment's road status at ``at`` (open when nothing says otherwise)."""
    rules = engine.rules.road_status
    at = at.astimezone(dt.UTC)
    best: dict[str, tuple[tuple, dict[str, Any]]] = {}

    def offer(segment_id: str, key: tuple, entry: dict[str, Any]) -> None:
        if segment_id not in best or key > best[segment_id][0]:
            best[segment_id] = (key, entry)

    if rules.from_tags:
        # what the reports say depends on the day, not the time: read once a day while the store
        # does not change (a service asks at the time each question comes)
        tagged, on_road = engine.kept_read(("road statuses", at.date()), lambda: _told_on_roads(engine, at.date()))
        # the newest event on each segment (the first told, in event then segment order, of equals),
        # then what it says; an event not known to have been learnt before counts as learnt now
        newest: dict[str, tuple[tuple, str]] = {}
        for event_id, segment_id in on_road:
            _rule, date, _expires, learnt = tagged[event_id]
            key = (date, learnt if learnt is not None else at)
            if segment_id not in newest or key > newest[segment_id][0]:
                newest[segment_id] = (key, event_id)
        details = engine.event_details(sorted({event_id for _key, event_id in newest.values()})) if newest else {}
        for segment_id, (key, event_id) in newest.items():
            rule, date, expires, _learnt = tagged[event_id]
            ev = details[event_id]
            offer(segment_id, key, {
                "segment": segment_id, "status": rule.status, "since": date.isoformat(),
                "until": expires.isoformat(), "by": None, "source": ", ".join(ev["sources"] or []),
                "event": event_id, "detail": ev["summary"]})
    with engine.store.engine.connect() as conn:
        rows = conn.execute(select(road_status).where(road_status.c.since <= at)
                            .order_by(road_status.c.since, road_status.c.id)).mappings().all()
    for row in rows:
        if row["until"] is not None and row["until"] <= at:
            continue
        offer(row["segment_id"], (row["since"].date(), row["set_at"]), {
            "segment": row["segment_id"], "status": row["status"], "since": row["since"].isoformat(),
            "until": row["until"].isoformat() if row["until"] else None, "by": row["actor"],
            "source": f"analyst {row['actor']}", "event": None, "detail": row["why"] or row["detail"]})
    return {s.id: best[s.id][1] if s.id in best else _open(s.id) for s in engine.network.segments}


def _told_on_roads(engine: RiskEngine, day: dt.date) -> tuple[dict[str, tuple], list[tuple[str, str]]]:
    """The events that set a status still in force on ``day`` (by id: the rule, date, expiry and
    when it was learnt, None when not known), and the segments each lies on (within ``on_road_km``
    beyond its precision), as (event id, segment id) in event then segment order."""
    rules = engine.rules.road_status
    longest = max(rule.lasts_days for rule in rules.from_tags.values())
    first = day - dt.timedelta(days=math.ceil(longest) + 1)
    # each tag only as far back as what it says can last (a closure a week, a reopening a month)
    after = {tag: day - dt.timedelta(days=math.ceil(rule.lasts_days) + 1) for tag, rule in rules.from_tags.items()}
    events = engine.store.events_frame(day, columns=("tags", "date", "geo_precision", "radius_km", "ingested_at",
                                                     "location_incident"), since=first, tagged=after)
    tagged, radii, placed = {}, {}, {}
    for event_id, tags, date, precision, radius, learnt, place in zip(
            events["id"].tolist(), events["tags"].tolist(), events["date"].tolist(),
            events["geo_precision"].tolist(), events["radius_km"].tolist(), events["ingested_at"].tolist(),
            events["location_incident"].tolist(), strict=True):  # the few events that set a status
        found = [rules.from_tags[t] for t in (tags or []) if t in rules.from_tags]
        if not found:
            continue
        # a report that tells a closure and a restriction: the harder status
        rule = max(found, key=lambda r: STATUSES.index(r.status))
        expires = date + dt.timedelta(days=rule.lasts_days)
        if expires > day:
            if radius is None or radius != radius:
                radius = engine.rules.precision_radius_km(int(precision))
            tagged[event_id] = (rule, date, expires, learnt)
            radii[event_id] = radius
            placed[place] = event_id
    if not tagged:
        return tagged, []
    # where each lies on the roads: the matches of the report its place comes from, read by that
    # report's key (these events are active and dated in the window already)
    query = select(incident_segments.c.incident_id, incident_segments.c.segment_id, incident_segments.c.distance_km)
    with engine.store.engine.connect() as conn:
        rows = _fetch(conn, query.where(among(incident_segments.c.incident_id, placed, conn.dialect.name)))
    on_road = [(event_id, segment_id) for event_id, segment_id, km
               in sorted((placed[place], segment, km) for place, segment, km in rows)
               if not km - radii[event_id] > rules.on_road_km]
    return tagged, on_road


def set_status(engine: RiskEngine, segment_id: str, status: str, *, who: str, why: str, now: dt.datetime,
               since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, Any]:
    """An analyst sets a segment's status (from ``since``, default now; until ``until`` or a newer word)."""
    segment = engine.network.segment(segment_id)  # unknown id: UnknownSegmentError with suggestions
    if status not in STATUSES:
        raise StatusError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    since = since or now
    if until is not None and until <= since:
        raise StatusError(f"--until {until.isoformat()} is not after {since.isoformat()}")
    with engine.store.writer.begin() as conn:
        conn.execute(insert(road_status).values(segment_id=segment.id, status=status, detail=None, since=since,
                                                until=until, actor=who, why=why, set_at=now))
    return {"segment": segment.id, "status": status, "since": since.isoformat(),
            "until": until.isoformat() if until else None, "by": who, "why": why}
