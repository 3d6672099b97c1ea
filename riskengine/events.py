"""Events: what several reports of one happening become, and the analysts' corrections to them.

Every incident read from a report is kept (``incidents``, one row per report that told it); the
incidents that tell one event share an ``event_id``, and the ``events`` row shows the event as
its reports give it together:

- its kind, date and words from the *lead* report: the one from the most reliable source (then
  the most confident, then the first learnt);
- its place from the most *precise* report (a named town before a stretch of road, a stretch
  before "near a town", an area last);
- the actors and targets any report names, the highest death toll, the reports and sources.

An analyst's changes are *pins* that win over the reports (a type, a date), a moved event takes
its place from an analyst's incident, and nothing is ever deleted: a retracted event keeps its
reports (status ``retracted``), a merged one points to the event it joined (status ``merged``)
and a split gives reports back to an event of their own. Each change is written to
``event_audit`` with who, when and why. How much an event is believed is not stored: it follows
from its reports and the rules when it is scored (:func:`riskengine.scoring.event_confidence`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from .schema import event_audit, events, incidents, reports

__all__ = ["ANALYST_FORMAT", "ENGINE", "assign_events", "audit", "derive", "found_events_for_orphans", "members",
           "record_events", "rederive"]

#: The report format of what an analyst wrote (a moved event's new place): never corroboration.
ANALYST_FORMAT = "analyst"
#: Who made a change the engine made by itself (a report joining an event).
ENGINE = "engine"

#: Admiralty grades, most reliable first (F "cannot be judged" sits with C, the default).
GRADE_RANK = {"A": 0, "B": 1, "C": 2, "F": 2.5, "D": 3, "E": 4}

#: How precise a location is, most precise first: a town, a stretch of road, near a town, an area, a region.
def location_rank(row: Mapping[str, Any]) -> tuple[float, float]:
    kind, precision = row["location_kind"], int(row["geo_precision"] or 1)
    rank = {"point": {1: 0, 2: 2, 3: 4}.get(precision, 4), "stretch": 1, "area": 3}.get(kind, 4)
    radius = row.get("radius_km")
    return rank, float(radius) if radius is not None and radius == radius else 0.0


def lead_rank(row: Mapping[str, Any]) -> tuple:
    """The lead report first: most reliable source, then most confident, then first learnt."""
    confidence = row.get("confidence")
    confidence = float(confidence) if confidence is not None and confidence == confidence else 0.5
    learnt = row.get("ingested_at") or dt.datetime.min.replace(tzinfo=dt.UTC)
    return GRADE_RANK.get(row.get("source_reliability") or "C", 2), -confidence, learnt, row["id"]


MEMBER_COLUMNS = [incidents.c[c] for c in (
    "id", "report_id", "event_type", "sub_event_type", "tags", "date", "lat", "lon", "geo_precision", "radius_km",
    "location_kind", "geometry_wkt", "segments", "places", "actors", "targets", "fatalities", "confidence",
    "source_reliability", "evidence", "summary", "ingested_at", "event_id", "source", "time_precision",
    "date_stated")]


def members(conn: Connection, event_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The incidents (reports) of each event, with each one's source and report format."""
    ids = list(dict.fromkeys(event_ids))
    out: dict[str, list[dict]] = {i: [] for i in ids}
    source = func.coalesce(incidents.c.source, reports.c.source).label("source")
    columns = [c for c in MEMBER_COLUMNS if c.name != "source"]
    for first in range(0, len(ids), 500):
        query = (select(*columns, source, reports.c.format.label("format"))
                 .join(reports, reports.c.id == incidents.c.report_id)
                 .where(incidents.c.event_id.in_(ids[first:first + 500])).order_by(incidents.c.id))
        for row in conn.execute(query).mappings():
            out[row["event_id"]].append(dict(row))
    return out


def derive(event_id: str, rows: Sequence[Mapping[str, Any]], pinned: Mapping[str, Any],
           now: dt.datetime) -> dict[str, Any]:
    """The event's row as its reports (``rows``, its incidents) and an analyst's pins give it."""
    told = [r for r in rows if r["format"] != ANALYST_FORMAT] or list(rows)
    lead = min(told, key=lead_rank)
    by_id = {r["id"]: r for r in rows}
    place = by_id.get(pinned.get("location_incident")) or min(told, key=lambda r: (location_rank(r), lead_rank(r)))
    learnt = [r["ingested_at"] for r in rows if r["ingested_at"] is not None]
    row = {
        "lead_incident": lead["id"], "location_incident": place["id"],
        "event_type": lead["event_type"], "sub_event_type": lead["sub_event_type"], "tags": list(lead["tags"] or []),
        "date": lead["date"], "summary": lead["summary"], "evidence": lead["evidence"],
        **{k: place[k] for k in ("lat", "lon", "geo_precision", "radius_km", "location_kind", "geometry_wkt",
                                 "segments", "places")},
        "actors": _union(r["actors"] for r in told), "targets": _union(r["targets"] for r in told),
        "fatalities": max(int(r["fatalities"] or 0) for r in told),
        "reports": len({r["report_id"] for r in told if r["format"] != ANALYST_FORMAT}),
        "sources": sorted({r["source"] for r in told if r["format"] != ANALYST_FORMAT and r["source"]}),
        "ingested_at": min(learnt) if learnt else now, "updated_at": now,
        "weighed": False,  # its standing weights are computed again before the transaction ends
    }
    for key in ("event_type", "sub_event_type", "tags", "date", "fatalities"):
        if key in pinned:
            row[key] = dt.date.fromisoformat(pinned[key]) if key == "date" else pinned[key]
    return row


def _union(lists: Iterable[Sequence[str] | None]) -> list[str]:
    return list(dict.fromkeys(x for values in lists for x in (values or [])))


def rederive(conn: Connection, event_id: str, now: dt.datetime) -> None:
    """Write an event's row again from its reports (after one joined or left, or an analyst's change)."""
    pinned = conn.execute(select(events.c.pinned).where(events.c.id == event_id)).scalar_one()
    rows = members(conn, [event_id])[event_id]
    if not rows:  # no report tells it any more (edited away, split off): it stays for the audit trail
        conn.execute(update(events).where(events.c.id == event_id).values(status="withdrawn", updated_at=now,
                                                                         weighed=False))
        return
    conn.execute(update(events).where(events.c.id == event_id).values(**derive(event_id, rows, pinned or {}, now)))


def found_event(conn: Connection, event_id: str, now: dt.datetime, *, status: str = "active") -> None:
    """Create the event ``event_id`` for the incidents already pointing to it."""
    rows = members(conn, [event_id])[event_id]
    conn.execute(insert(events).values(id=event_id, status=status, pinned={}, **derive(event_id, rows, {}, now)))


def audit(conn: Connection, event_id: str, action: str, *, actor: str, now: dt.datetime, why: str | None = None,
          detail: Mapping[str, Any] | None = None) -> None:
    conn.execute(insert(event_audit).values(event_id=event_id, action=action, actor=actor, at=now, why=why,
                                            detail=dict(detail or {})))


def assign_events(conn: Connection, rows: Sequence[dict], report_id: int, source: str, fmt: str,
                  same_event=None) -> list[str | None]:
    """Before a report's new incidents are stored: give each (``rows``, the incident rows about to be
    inserted, whose ``event_id`` is set here) its event: a stored one it retells (``same_event``, a
    :class:`riskengine.identity.SameEvent`, decides) or a new one of its own (its own id). Returns,
    for each row, the stored event it joins (None: a new event). Two incidents of one report never
    join one event."""
    joined: list[str | None] = []
    taken: set[str] = set()
    for row in rows:
        event_id = None
        if same_event is not None and fmt != ANALYST_FORMAT:
            event_id = same_event.find(conn, row, report_id, row.get("source") or source, fmt, exclude=taken)
        if event_id is not None:
            taken.add(event_id)
        row["event_id"] = event_id or row["id"]
        joined.append(event_id)
    return joined


def record_events(conn: Connection, rows: Sequence[dict], joined: Sequence[str | None], report_id: int,
                  source: str, fmt: str, now: dt.datetime) -> None:
    """After a report's new incidents are stored: create the new events (in one statement), derive
    again the stored events they joined, and write it all in the audit trail."""
    founded, notes = [], []
    for row, event_id in zip(rows, joined, strict=True):
        if event_id is None:
            member = {**row, "source": row.get("source") or source, "format": fmt}
            founded.append({"id": row["id"], "status": "active", "pinned": {}, **derive(row["id"], [member], {}, now)})
            notes.append({"event_id": row["id"], "action": "created", "detail": {"report": report_id}})
        else:
            rederive(conn, event_id, now)
            notes.append({"event_id": event_id, "action": "joined",
                          "detail": {"incident": row["id"], "report": report_id}})
    if founded:
        conn.execute(insert(events), founded)
    if notes:
        conn.execute(insert(event_audit), [{**n, "actor": ENGINE, "at": now, "why": None} for n in notes])


def found_events_for_orphans(conn: Connection, now: dt.datetime | None = None) -> int:
    """Each incident without an event becomes an event of its own (a database from before events)."""
    now = now or dt.datetime.now(dt.UTC)
    orphans = conn.execute(select(incidents.c.id).where(incidents.c.event_id.is_(None))).scalars().all()
    for first in range(0, len(orphans), 500):
        chunk = orphans[first:first + 500]
        conn.execute(update(incidents).where(and_(incidents.c.id.in_(chunk), incidents.c.event_id.is_(None)))
                     .values(event_id=incidents.c.id))
        rows = members(conn, chunk)
        conn.execute(insert(events), [{"id": i, "status": "active", "pinned": {}, **derive(i, rows[i], {}, now)}
                                      for i in chunk])
    return len(orphans)


#: ``meta`` key set once the events a migration made (one per stored incident) have been grouped.
GROUPED_KEY = "events_grouped"


def group_migrated(conn: Connection, same_event, now: dt.datetime) -> int:
    """Group the events a migration made (one per incident stored before events existed, with no
    audit entry yet) as if their reports had been ingested now, in the order they were learnt:
    a report that retells an earlier one's event joins it. Returns how many joined another event."""
    orphans = select(events.c.id).where(~events.c.id.in_(select(event_audit.c.event_id)))
    rows = conn.execute(select(*MEMBER_COLUMNS, reports.c.source.label("report_source"), reports.c.format)
                        .join(reports, reports.c.id == incidents.c.report_id)
                        .where(incidents.c.event_id.in_(orphans))
                        .order_by(incidents.c.ingested_at, incidents.c.id)).mappings().all()
    # set aside while grouping: each report may only join an event grouped before it (or stay its own)
    for first in range(0, len(rows), 500):
        chunk = sorted({r["event_id"] for r in rows[first:first + 500]})
        conn.execute(update(events).where(events.c.id.in_(chunk) & (events.c.status == "active"))
                     .values(status="grouping", weighed=False))
    joined = 0
    for row in rows:
        row = dict(row)
        own = row["event_id"]
        target = same_event.find(conn, row, row["report_id"], row["source"] or row["report_source"], row["format"])
        if target is None:
            conn.execute(update(events).where(events.c.id == own).values(status="active"))
            audit(conn, own, "created", actor=ENGINE, now=now, detail={"report": row["report_id"], "migrated": True})
            continue
        conn.execute(update(incidents).where(incidents.c.id == row["id"]).values(event_id=target))
        conn.execute(update(events).where(events.c.id == own).values(status="merged", merged_into=target,
                                                                              weighed=False))
        rederive(conn, target, now)
        audit(conn, own, "merge", actor=ENGINE, now=now, detail={"into": target, "incidents": [row["id"]],
                                                                  "migrated": True})
        audit(conn, target, "joined", actor=ENGINE, now=now, detail={"incident": row["id"],
                                                                      "report": row["report_id"], "migrated": True})
        joined += 1
    return joined


def split_id(event_id: str, incident_ids: Sequence[str]) -> str:
    """A new event's id for reports split off ``event_id`` (stable for the same split)."""
    blob = "split:" + event_id + ":" + ",".join(sorted(incident_ids))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
