"""Analysts' corrections to events: list and show them, retract and restore, retype, move, merge, split.

Each change runs in one transaction and writes an ``event_audit`` entry (who, when, why, and the
event's state before and after), which moves :meth:`riskengine.store.Store.revision` on: the
engine's caches, and so the scores, follow at the next question. Nothing is deleted: a retracted
event keeps its reports, a merged one points to the event it joined, a split gives reports back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from . import events as ev
from .errors import RiskEngineError
from .geo import geodesic_km
from .incident import Incident, PlaceRef
from .schema import event_audit, events, incident_segments, incidents, reports
from .store import content_hash, insert_new_incidents

__all__ = ["NEAR_KM", "STATUSES", "CorrectionError", "Corrections", "UnknownEventError"]

#: How near an event must be to a place, or its place to a segment, to be listed for it.
NEAR_KM = 25.0
#: The statuses ``list`` filters on ("all": any).
STATUSES = ("active", "retracted", "merged", "withdrawn", "all")


class CorrectionError(RiskEngineError, ValueError):
    """A correction that cannot be made: a wrong status, an unknown type, incidents not in the event ..."""


class UnknownEventError(CorrectionError, LookupError):
    """An event id the store does not have; carries the stored ids that start like it."""

    def __init__(self, event_id: str, suggestions: Sequence[str] = ()):
        self.event_id = event_id
        self.suggestions = list(suggestions)
        hint = f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown event {event_id!r}{hint}")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _state(row: dict) -> dict[str, Any]:
    """What the audit keeps of an event before and after a change."""
    keys = ("status", "merged_into", "event_type", "sub_event_type", "tags", "date", "lat", "lon", "geo_precision",
            "location_kind", "lead_incident", "location_incident", "reports", "sources", "pinned")
    return {k: _iso(row.get(k)) for k in keys}


class Corrections:
    """The analysts' corrections to the events of an engine's store."""

    def __init__(self, engine):
        self.engine = engine

    @property
    def _db(self):
        return self.engine.store.engine

    # ---- reading ------------------------------------------------------------------------------

    def _event(self, conn: Connection, event_id: str) -> dict:
        row = conn.execute(select(events).where(events.c.id == event_id)).mappings().first()
        if row is None:
            prefix = event_id.strip()
            like = []
            for cut in (len(prefix), 6, 4, 2):
                if cut <= len(prefix) and prefix[:cut]:
                    like = conn.execute(select(events.c.id).where(events.c.id.startswith(prefix[:cut], autoescape=True))
                                        .order_by(events.c.id).limit(5)).scalars().all()
                    if like:
                        break
            raise UnknownEventError(event_id, like)
        return dict(row)

    def list(self, place: str | None = None, segment: str | None = None, road: str | None = None,
             since: dt.date | None = None, until: dt.date | None = None, source: str | None = None,
             status: str = "active", limit: int | None = 50) -> list[dict]:
        """Events (newest first) that match every filter given."""
        if status not in STATUSES:
            raise CorrectionError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        query = select(events).order_by(events.c.date.desc(), events.c.id)
        if status != "all":
            query = query.where(events.c.status == status)
        if since is not None:
            query = query.where(events.c.date >= since)
        if until is not None:
            query = query.where(events.c.date <= until)
        segment_ids: list[str] = []
        if segment is not None:
            segment_ids.append(self.engine.network.segment(segment).id)  # raises UnknownSegmentError
        if road is not None:
            on_road = [s.id for s in self.engine.network.segments if s.road_id == road]
            if not on_road:
                roads = sorted({s.road_id for s in self.engine.network.segments})
                near = [r for r in roads if road.lower() in r.lower() or r.lower() in road.lower()][:5]
                hint = f"; did you mean: {', '.join(near)}?" if near else f"; known roads: {', '.join(roads)}"
                raise CorrectionError(f"unknown road {road!r}{hint}")
            segment_ids += on_road
        if segment_ids:
            near_roads = (select(incident_segments.c.incident_id)
                          .where(incident_segments.c.segment_id.in_(segment_ids))
                          .where(incident_segments.c.distance_km <= NEAR_KM))
            query = query.where(events.c.location_incident.in_(near_roads))
        if source is not None:
            told = (select(incidents.c.event_id).join(reports, reports.c.id == incidents.c.report_id)
                    .where(func.coalesce(incidents.c.source, reports.c.source) == source))
            query = query.where(events.c.id.in_(told))
        centre = None
        if place is not None:
            found = self.engine.gazetteer.resolve(place)  # raises UnknownPlaceError
            centre = (found.lat, found.lon)
        if limit is not None and centre is None:
            query = query.limit(limit)
        out = []
        with self._db.connect() as conn:
            for row in conn.execute(query).mappings():
                if centre is not None:
                    if row["lat"] is None or row["lon"] is None:
                        continue
                    if geodesic_km(centre, (row["lat"], row["lon"])) > NEAR_KM:
                        continue
                out.append({"id": row["id"], "date": row["date"].isoformat(), "event_type": row["event_type"],
                            "sub_event_type": row["sub_event_type"], "tags": list(row["tags"] or []),
                            "summary": row["summary"], "status": row["status"], "reports": int(row["reports"]),
                            "sources": list(row["sources"] or []), "lat": row["lat"], "lon": row["lon"]})
                if limit is not None and len(out) >= limit:
                    break
        return out

    def show(self, event_id: str) -> dict[str, Any]:
        """An event's row, its reports (one incident each) and its audit trail."""
        with self._db.connect() as conn:
            row = self._event(conn, event_id)
            source = func.coalesce(incidents.c.source, reports.c.source).label("source")
            query = (select(incidents.c.id, incidents.c.report_id, source, reports.c.format, reports.c.title,
                            reports.c.source_ref, reports.c.published, incidents.c.date, incidents.c.event_type,
                            incidents.c.sub_event_type, incidents.c.tags, incidents.c.lat, incidents.c.lon,
                            incidents.c.geo_precision, incidents.c.evidence, incidents.c.confidence,
                            incidents.c.source_reliability)
                     .join(reports, reports.c.id == incidents.c.report_id)
                     .where(incidents.c.event_id == event_id).order_by(incidents.c.id))
            told = [{k: _iso(v) for k, v in r.items()} for r in conn.execute(query).mappings()]
            trail = self._history(conn, event_id)
        doc = {k: _iso(v) for k, v in row.items()}
        doc["reports_count"] = doc.pop("reports")
        doc["reports"] = told
        doc["audit"] = trail
        return doc

    def history(self, event_id: str) -> list[dict]:
        """The event's audit trail, oldest first."""
        with self._db.connect() as conn:
            self._event(conn, event_id)
            return self._history(conn, event_id)

    @staticmethod
    def _history(conn: Connection, event_id: str) -> list[dict]:
        query = (select(event_audit.c.id, event_audit.c.action, event_audit.c.actor, event_audit.c.at,
                        event_audit.c.why, event_audit.c.detail)
                 .where(event_audit.c.event_id == event_id).order_by(event_audit.c.id))
        return [{**dict(r), "at": r["at"].isoformat()} for r in conn.execute(query).mappings()]

    # ---- changes ------------------------------------------------------------------------------

    @staticmethod
    def _need(row: dict, *statuses: str, doing: str) -> None:
        if row["status"] not in statuses:
            raise CorrectionError(f"cannot {doing} event {row['id']!r}: it is {row['status']}"
                                  + (f" (into {row['merged_into']!r})" if row["merged_into"] else "")
                                  + f"; only a {' or '.join(statuses)} event can be")

    @staticmethod
    def _why(why: str | None) -> str:
        if not why or not why.strip():
            raise CorrectionError("say why (a correction without a reason is not kept)")
        return why.strip()

    def _set_status(self, event_id: str, old: str, new: str, action: str, who: str, why: str,
                    now: dt.datetime) -> dict:
        why = self._why(why)
        with self.engine.store.changing_events() as conn:
            row = self._event(conn, event_id)
            self._need(row, old, doing=action)
            conn.execute(update(events).where(events.c.id == event_id)
                         .values(status=new, updated_at=now, weighed=False))
            after = self._event(conn, event_id)
            ev.audit(conn, event_id, action, actor=who, now=now, why=why,
                     detail={"before": _state(row), "after": _state(after)})
        return _state(after)

    def retract(self, event_id: str, who: str, why: str, now: dt.datetime) -> dict:
        """An active event no longer counts (its reports are kept)."""
        return self._set_status(event_id, "active", "retracted", "retract", who, why, now)

    def restore(self, event_id: str, who: str, why: str, now: dt.datetime) -> dict:
        """A retracted event counts again."""
        return self._set_status(event_id, "retracted", "active", "restore", who, why, now)

    def retype(self, event_id: str, event_type: str, sub_event_type: str | None, tags: Sequence[str] | None,
               who: str, why: str, now: dt.datetime) -> dict:
        """Pin the event's kind (type, sub-type, tags): it wins over what its reports say."""
        why = self._why(why)
        tags = [t.strip() for t in (tags or []) if t and t.strip()]
        try:
            self.engine.rules.check_incident_kind(event_type, sub_event_type, tags)
        except ValueError as exc:
            raise CorrectionError(f"cannot retype event {event_id!r}: {str(exc).strip(chr(39) + chr(34))}") from None
        with self.engine.store.changing_events() as conn:
            row = self._event(conn, event_id)
            self._need(row, "active", "retracted", doing="retype")
            pinned = dict(row["pinned"] or {})
            pinned.update(event_type=event_type, sub_event_type=sub_event_type, tags=tags)
            conn.execute(update(events).where(events.c.id == event_id).values(pinned=pinned))
            ev.rederive(conn, event_id, now)
            after = self._event(conn, event_id)
            ev.audit(conn, event_id, "retype", actor=who, now=now, why=why,
                     detail={"before": _state(row), "after": _state(after)})
        return _state(after)

    def move(self, event_id: str, place_or_latlon: str | tuple[float, float], geo_precision: int = 1, *,
             who: str, why: str, now: dt.datetime) -> dict:
        """Give the event a new place: an analyst's report and incident there, which the event's
        location comes from (and so the segments it weighs on)."""
        why = self._why(why)
        if geo_precision not in (1, 2, 3):
            raise CorrectionError(f"geo precision {geo_precision!r} must be 1, 2 or 3")
        if isinstance(place_or_latlon, str):
            place = self.engine.gazetteer.resolve(place_or_latlon)  # raises UnknownPlaceError
            lat, lon, where = place.lat, place.lon, place.name
            places = [PlaceRef(name=place.name, lat=place.lat, lon=place.lon, role="location")]
        else:
            lat, lon = (float(v) for v in place_or_latlon)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise CorrectionError(f"no such place: latitude {lat}, longitude {lon}")
            where, places = f"{lat:.5f}, {lon:.5f}", []
        with self.engine.store.changing_events() as conn:
            row = self._event(conn, event_id)
            self._need(row, "active", "retracted", doing="move")
            text = (f"{who} moved event {event_id} to {where} (precision {geo_precision}) "
                    f"at {now.isoformat()}: {why}")
            incident = Incident(
                event_type=row["event_type"], sub_event_type=row["sub_event_type"], tags=list(row["tags"] or []),
                date=row["date"], lat=lat, lon=lon, geo_precision=geo_precision, location_kind="point",
                places=places, actors=list(row["actors"] or []), targets=list(row["targets"] or []),
                fatalities=int(row["fatalities"] or 0), source=f"analyst:{who}", evidence=text,
                summary=f"{row['summary']} (moved to {where})")
            digest = content_hash(f"{text} [{event_id} {now.isoformat()}]")
            report_id = conn.execute(insert(reports).values(
                source=f"analyst:{who}", source_ref=f"event:{event_id}", format=ev.ANALYST_FORMAT,
                content_hash=digest, published=now.date(), ingested_at=now, title=f"move of event {event_id}",
                text=text)).inserted_primary_key[0]
            incident_id = hashlib.sha256(f"move:{event_id}:{digest}".encode()).hexdigest()[:16]
            matches = self.engine.index.match([incident], self.engine.rules.max_reach_km,
                                              self.engine.rules.area_margin_km)
            insert_new_incidents(conn, report_id, [incident_id], [incident], matches, now)
            # filing it made it an event of its own: it belongs to the moved event instead
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(event_id=event_id))
            conn.execute(delete(events).where(events.c.id == incident_id))
            conn.execute(delete(event_audit).where(event_audit.c.event_id == incident_id))
            pinned = dict(row["pinned"] or {})
            pinned["location_incident"] = incident_id
            conn.execute(update(events).where(events.c.id == event_id).values(pinned=pinned))
            ev.rederive(conn, event_id, now)
            after = self._event(conn, event_id)
            ev.audit(conn, event_id, "move", actor=who, now=now, why=why,
                     detail={"to": where, "incident": incident_id, "report": report_id,
                             "segments": [s for s, _ in sorted(matches[0], key=lambda m: m[1])][:10],
                             "before": _state(row), "after": _state(after)})
        return _state(after)

    def merge(self, target_id: str, other_ids: Sequence[str], who: str, why: str, now: dt.datetime) -> dict:
        """The others are the same event as the target: their reports join it, they point to it."""
        why = self._why(why)
        others = list(dict.fromkeys(other_ids))
        if not others:
            raise CorrectionError("name at least one event to merge into the target")
        if target_id in others:
            raise CorrectionError(f"cannot merge event {target_id!r} into itself")
        with self.engine.store.changing_events() as conn:
            target = self._event(conn, target_id)
            self._need(target, "active", "retracted", doing="merge into")
            rows = [self._event(conn, other) for other in others]
            for row in rows:
                self._need(row, "active", "retracted", doing="merge")
            moved: dict[str, list[str]] = {}
            for row in rows:
                other = row["id"]
                ids = conn.execute(select(incidents.c.id).where(incidents.c.event_id == other)
                                   .order_by(incidents.c.id)).scalars().all()
                moved[other] = list(ids)
                conn.execute(update(incidents).where(incidents.c.event_id == other).values(event_id=target_id))
                conn.execute(update(events).where(events.c.id == other)
                             .values(status="merged", merged_into=target_id, updated_at=now,
                                     weighed=False))
                after = self._event(conn, other)
                ev.audit(conn, other, "merge", actor=who, now=now, why=why,
                         detail={"into": target_id, "incidents": moved[other], "before": _state(row),
                                 "after": _state(after)})
            ev.rederive(conn, target_id, now)
            after = self._event(conn, target_id)
            ev.audit(conn, target_id, "merge", actor=who, now=now, why=why,
                     detail={"absorbed": others, "incidents": moved, "before": _state(target),
                             "after": _state(after)})
        return _state(after)

    def split(self, event_id: str, incident_ids: Sequence[str], who: str, why: str, now: dt.datetime) -> dict:
        """These reports tell another event: they leave this one for an event of their own (the one
        they were merged from, when they were)."""
        why = self._why(why)
        ids = list(dict.fromkeys(i.strip() for i in incident_ids if i and i.strip()))
        if not ids:
            raise CorrectionError("name the incidents (reports) to split off")
        with self.engine.store.changing_events() as conn:
            row = self._event(conn, event_id)
            self._need(row, "active", "retracted", doing="split")
            mine = conn.execute(select(incidents.c.id).where(incidents.c.event_id == event_id)
                                .order_by(incidents.c.id)).scalars().all()
            strangers = [i for i in ids if i not in mine]
            if strangers:
                raise CorrectionError(f"incident(s) {', '.join(strangers)} are not in event {event_id!r}; "
                                      f"its incidents: {', '.join(mine)}")
            if set(ids) >= set(mine):
                raise CorrectionError(f"cannot split every incident off event {event_id!r} (retract it, or "
                                      "retype or move it instead)")
            new_id = None
            for candidate in (ids[0], ev.split_id(event_id, ids)):
                old = conn.execute(select(events).where(events.c.id == candidate)).mappings().first()
                if old is not None and old["status"] == "merged" and old["merged_into"] == event_id:
                    new_id, revived = candidate, dict(old)
                    break
            if new_id is not None:
                conn.execute(update(incidents).where(incidents.c.id.in_(ids)).values(event_id=new_id))
                conn.execute(update(events).where(events.c.id == new_id)
                             .values(status="active", merged_into=None))
                ev.rederive(conn, new_id, now)
                before_new = _state(revived)
            else:
                new_id = ev.split_id(event_id, ids)
                if conn.execute(select(events.c.id).where(events.c.id == new_id)).first() is not None:
                    raise CorrectionError(f"event {new_id!r} (this split's) exists already and was not merged "
                                          f"into {event_id!r}: merge it back first")
                conn.execute(update(incidents).where(incidents.c.id.in_(ids)).values(event_id=new_id))
                ev.found_event(conn, new_id, now)
                before_new = None
            pinned = dict(row["pinned"] or {})
            if pinned.get("location_incident") in ids:
                pinned.pop("location_incident")
                conn.execute(update(events).where(events.c.id == event_id).values(pinned=pinned))
            ev.rederive(conn, event_id, now)
            after, new = self._event(conn, event_id), self._event(conn, new_id)
            ev.audit(conn, event_id, "split", actor=who, now=now, why=why,
                     detail={"incidents": ids, "into": new_id, "before": _state(row), "after": _state(after)})
            ev.audit(conn, new_id, "split", actor=who, now=now, why=why,
                     detail={"incidents": ids, "from": event_id, "before": before_new, "after": _state(new)})
        return {"event": _state(after), "new_event": {"id": new_id, **_state(new)}}
