"""What an answer rests on: the events and sources about each segment, the newest report, when
the sources were last polled; and whether that is enough to call a quiet road quiet.

A road with no reports looks exactly like a safe road unless the answer says so: below the
coverage threshold (``coverage`` in ``rules/scoring.yaml``) a level-1 answer reads "No recent
reports", never a bare "Insignificant".
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import case, func, select

from .schema import source_state

if TYPE_CHECKING:
    from .engine import RiskEngine

__all__ = ["NO_RECENT_REPORTS", "route_coverage", "segment_coverage"]

NO_RECENT_REPORTS = "No recent reports"


def _polled(engine: RiskEngine) -> tuple[bool, dt.datetime | None]:
    """Whether sources are polled here (the service ran), and when one last was, successfully (a
    poll that failed brought nothing in)."""
    ok = func.max(case((source_state.c.last_error.is_(None), source_state.c.last_polled_at)))
    with engine.store.engine.connect() as conn:
        count, polled = conn.execute(select(func.count(), ok).select_from(source_state)).one()
    return bool(count), polled


def segment_coverage(engine: RiskEngine, at: dt.datetime, weighing: Any = None
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """For every segment: events and sources about it in the recent window, the newest event's
    date, when the sources were last polled, and whether that is enough (``covered``); and the
    ids of those events (so a route counts an event on two of its segments once). ``weighing``
    (the assessment's contributions) adds the recent events that weigh on a segment from farther."""
    rules = engine.rules.scoring.coverage
    at = at.astimezone(dt.UTC)
    first = at.date() - dt.timedelta(days=rules.recent_days)
    events = engine.store.events_frame(at.date(), columns=("date", "geo_precision", "radius_km", "sources"),
                                       since=first)
    polling, polled = _polled(engine)
    stale = polling and (polled is None or polled < at - dt.timedelta(hours=rules.sources_stale_hours))
    about: dict[str, dict[str, Any]] = {}
    if len(events):
        matches = engine.store.event_matches_frame(at.date(), since=first)
        found = matches.join(events[["date", "geo_precision", "radius_km", "sources"]], on="incident_id",
                             how="inner")
        default = found["geo_precision"].astype(int).map(engine.rules.precision_radius_km)
        radius = pd.to_numeric(found["radius_km"], errors="coerce").fillna(default)
        keep = (found["distance_km"].to_numpy(dtype=float) - radius.to_numpy(dtype=float)) <= rules.near_km
        if weighing is not None and len(weighing):  # an event that weighs on a segment from farther
            weighs = pd.MultiIndex.from_arrays([weighing["incident_id"].astype(str), weighing["segment_id"]])
            pairs = pd.MultiIndex.from_arrays([found["incident_id"].astype(str), found["segment_id"]])
            keep |= pairs.isin(weighs)
        found = found[keep]
        by_segment = found.groupby("segment_id")
        newest = by_segment["date"].max()
        members = by_segment["incident_id"].agg(set)
        told = found[["segment_id", "sources"]].explode("sources").dropna().groupby("segment_id")["sources"].agg(set)
        for segment_id, event_ids in members.items():
            about[segment_id] = {"events": event_ids, "sources": told.get(segment_id, set()),
                                 "newest": newest[segment_id]}
    out, ids = {}, {}
    for seg in engine.network.segments:
        seen = about.get(seg.id, {"events": set(), "sources": set(), "newest": None})
        out[seg.id] = {
            "events": len(seen["events"]), "sources": sorted(seen["sources"]),
            "newest_event": seen["newest"].isoformat() if seen["newest"] else None,
            "window_days": rules.recent_days,
            "sources_polled_at": polled.isoformat() if polled else None,
            "covered": bool(seen["events"]) and not stale,
            "why_not": None if seen["events"] and not stale else (
                (f"sources not polled since {polled:%Y-%m-%d %H:%M} UTC" if polled else "every source's poll failed")
                if stale
                else f"no report within {rules.near_km:g} km in the last {rules.recent_days} days"),
        }
        ids[seg.id] = seen["events"]
    return out, ids


def route_coverage(per_segment: dict[str, dict[str, Any]], ids: dict[str, set[str]],
                   segment_ids: list[str]) -> dict[str, Any]:
    """A route's coverage: its segments' together, and which of them have no recent report."""
    parts = [per_segment[s] for s in segment_ids]
    newest = max((p["newest_event"] for p in parts if p["newest_event"]), default=None)
    return {
        "events": len(set().union(*(ids[s] for s in segment_ids))) if segment_ids else 0,
        "sources": sorted({s for p in parts for s in p["sources"]}),
        "newest_event": newest, "window_days": parts[0]["window_days"] if parts else None,
        "sources_polled_at": parts[0]["sources_polled_at"] if parts else None,
        "covered": all(p["covered"] for p in parts),
        "uncovered_segments": [s for s, p in zip(segment_ids, parts, strict=True) if not p["covered"]],
    }
