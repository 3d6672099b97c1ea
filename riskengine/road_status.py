"""Road status, apart from risk: open, restricted, checkpoint or closed, per segment.

From reports (events tagged as closures, restrictions, checkpoints or reopenings, lying on the
segment; ``rules/road_status.yaml``) and from analysts (the ``road_status`` table), each with its
source and an expiry; the newest word wins. A retracted event no longer sets any status.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from .errors import RiskEngineError
from .schema import event_statuses, events, incident_segments, road_status
from .store import _fetch, among

if TYPE_CHECKING:
    import pandas as pd

    from .engine import RiskEngine
    from .rule_files import StatusFromTag
    from .rules import RuleBook

__all__ = ["STATUSES", "StatusError", "StatusTold", "segment_statuses", "set_status", "statuses_told",
           "stored_statuses"]

STATUSES = ("open", "restricted", "checkpoint", "closed")


class StatusError(RiskEngineError, ValueError):
    """A road status that cannot be set (unknown status, bad expiry)."""


def _open(segment_id: str) -> dict[str, Any]:
    return {"segment": segment_id, "status": "open", "since": None, "until": None, "by": None, "source": None,
            "event": None, "detail": "no closure reported"}


def segment_statuses(engine: RiskEngine, at: dt.datetime) -> dict[str, dict[str, Any]]:
    """Every segment's road status at ``at`` (open when nothing says otherwise)."""
    at = at.astimezone(dt.UTC)
    best: dict[str, tuple[tuple, dict[str, Any]]] = {}

    def offer(segment_id: str, key: tuple, entry: dict[str, Any]) -> None:
        if segment_id not in best or key > best[segment_id][0]:
            best[segment_id] = (key, entry)

    if engine.rules.road_status.from_tags:
        # what the reports say depends on the day, not the time: read once a day while the store
        # does not change (a service asks at the time each question comes)
        told = engine.kept_read(("road statuses", at.date()), lambda: _told_on_roads(engine, at.date()))
        # the newest event on each segment (the first told, in event then segment order, of equals),
        # then what it says; an event not known to have been learnt before counts as learnt now
        newest: dict[str, tuple[tuple, StatusTold]] = {}
        for row in told:
            key = (row.date, row.learnt if row.learnt is not None else at)
            if row.segment_id not in newest or key > newest[row.segment_id][0]:
                newest[row.segment_id] = (key, row)
        details = engine.event_details(sorted({row.event_id for _key, row in newest.values()})) if newest else {}
        for segment_id, (key, row) in newest.items():
            ev = details[row.event_id]
            offer(segment_id, key, {
                "segment": segment_id, "status": row.status, "since": row.date.isoformat(),
                "until": row.expires.isoformat(), "by": None, "source": ", ".join(ev["sources"] or []),
                "event": row.event_id, "detail": ev["summary"]})
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


class StatusTold(NamedTuple):
    """A road status an event sets on a segment it lies on (a row of ``event_statuses``)."""

    event_id: str
    segment_id: str
    status: str
    date: dt.date
    expires: dt.date  # the first day it no longer holds
    learnt: dt.datetime | None  # when the engine learnt of the event (None: not known)


def statuses_told(rules: RuleBook, reported: Iterable[tuple], matches: Iterable[tuple]) -> list[StatusTold]:
    """The road statuses ``reported`` events set, whatever the day: for each event (id, tags, date, place
    precision, radius or None, when learnt) whose tags set one (the harder of two, for a report that
    tells a closure and a restriction), one row per segment its place lies on (``matches``: event
    id, segment id, distance in km), within ``on_road_km`` beyond its precision radius; in event then
    segment order. Computed when events are weighed and kept (``event_statuses``), or from the
    events themselves when those kept are not these rules'."""
    told = rules.road_status
    setting: dict[str, tuple[StatusFromTag, dt.date, float, dt.datetime | None]] = {}
    for event_id, tags, date, precision, radius, learnt in reported:
        found = [told.from_tags[t] for t in (tags or []) if t in told.from_tags]
        if not found:
            continue
        if radius is None or radius != radius:  # None, or NaN from a frame
            radius = rules.precision_radius_km(int(precision))
        if learnt is not None and learnt != learnt:  # NaT from a frame
            learnt = None
        setting[event_id] = (max(found, key=lambda r: STATUSES.index(r.status)), date, radius, learnt)
    if not setting:
        return []
    rows = []
    for event_id, segment_id, km in sorted(m for m in matches if m[0] in setting):
        rule, date, radius, learnt = setting[event_id]
        if not km - radius > told.on_road_km:
            rows.append(StatusTold(event_id, segment_id, rule.status, date,
                                   date + dt.timedelta(days=rule.lasts_days), learnt))
    return rows


def stored_statuses(conn: Connection, rules: RuleBook, frame: pd.DataFrame, matches: pd.DataFrame) -> list[dict]:
    """Inside a writer's transaction: the rows of ``event_statuses`` for weighed events (``frame``,
    indexed by id, with their tags, date and place; ``matches``: their segment matches), as
    :class:`riskengine.weights.Weigher` reads them."""
    if not rules.road_status.from_tags or frame.empty:
        return []
    tags = set(rules.road_status.from_tags)
    ids = [i for i, t in zip(frame["id"].tolist(), frame["tags"].tolist(), strict=True) if tags.intersection(t or ())]
    if not ids:
        return []
    learnt = dict(conn.execute(select(events.c.id, events.c.ingested_at)
                               .where(among(events.c.id, ids, conn.dialect.name))).all())
    setting = frame.loc[ids]
    told = statuses_told(rules, zip(ids, setting["tags"].tolist(), setting["date"].tolist(),
                                    setting["geo_precision"].tolist(), setting["radius_km"].tolist(),
                                    [learnt.get(i) for i in ids], strict=True),
                         zip(matches["incident_id"].tolist(), matches["segment_id"].tolist(),
                             matches["distance_km"].tolist(), strict=True))
    return [row._asdict() for row in told]


def _told_on_roads(engine: RiskEngine, day: dt.date) -> list[StatusTold]:
    """The road statuses reports set that are still in force on ``day``, on each segment they lie on,
    in event then segment order: the rows kept when events were weighed, when they are what these
    rules make of the events; else found from the recent events themselves."""
    if engine.stored_statuses_current():
        s = event_statuses
        query = (select(s.c.event_id, s.c.segment_id, s.c.status, s.c.date, s.c.expires, s.c.learnt)
                 .where((s.c.expires > day) & (s.c.date <= day)).order_by(s.c.event_id, s.c.segment_id))
        with engine.store.engine.connect() as conn:
            return [StatusTold(*row) for row in conn.execute(query).all()]
    rules = engine.rules.road_status
    longest = max(rule.lasts_days for rule in rules.from_tags.values())
    first = day - dt.timedelta(days=math.ceil(longest) + 1)
    # each tag only as far back as what it says can last (a closure a week, a reopening a month)
    after = {tag: day - dt.timedelta(days=math.ceil(rule.lasts_days) + 1) for tag, rule in rules.from_tags.items()}
    found = engine.store.events_frame(day, columns=("tags", "date", "geo_precision", "radius_km", "ingested_at",
                                                    "location_incident"), since=first, tagged=after)
    if found.empty:
        return []
    # where each lies on the roads: the matches of the report its place comes from, read by that
    # report's key (these events are active and dated in the window already)
    placed = dict(zip(found["location_incident"].tolist(), found["id"].tolist(), strict=True))
    query = select(incident_segments.c.incident_id, incident_segments.c.segment_id, incident_segments.c.distance_km)
    with engine.store.engine.connect() as conn:
        rows = _fetch(conn, query.where(among(incident_segments.c.incident_id, placed, conn.dialect.name)))
    told = statuses_told(engine.rules, zip(found["id"].tolist(), found["tags"].tolist(), found["date"].tolist(),
                                           found["geo_precision"].tolist(), found["radius_km"].tolist(),
                                           found["ingested_at"].tolist(), strict=True),
                         ((placed[place], segment, km) for place, segment, km in rows))
    return [row for row in told if row.expires > day]


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
