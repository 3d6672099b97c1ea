"""What an answer rests on: the events and sources about each segment, the newest report, when
the sources were last polled; and whether that is enough to call a quiet road quiet.

A road with no reports looks exactly like a safe road unless the answer says so: below the
coverage threshold (``coverage`` in ``rules/scoring.yaml``) a level-1 answer reads "No recent
reports", never a bare "Insignificant".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from .schema import source_state
from .scoring import as_days

if TYPE_CHECKING:
    from .engine import RiskEngine

__all__ = ["NO_RECENT_REPORTS", "route_coverage", "segment_coverage", "sources_polled"]

NO_RECENT_REPORTS = "No recent reports"


def sources_polled(engine: RiskEngine) -> tuple[bool, dt.datetime | None]:
    """Whether sources are polled here (the service ran), and when one last was, successfully (a
    poll that failed brought nothing in)."""
    ok = func.max(case((source_state.c.last_error.is_(None), source_state.c.last_polled_at)))
    with engine.store.engine.connect() as conn:
        count, polled = conn.execute(select(func.count(), ok).select_from(source_state)).one()
    return bool(count), polled


def segment_coverage(engine: RiskEngine, at: dt.datetime, standing: pd.DataFrame, segment_ids: Sequence[str],
                     polled: tuple[bool, dt.datetime | None] | None = None
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """For each of ``segment_ids``: events and sources about it in the recent window, the newest
    event's date, when the sources were last polled, and whether that is enough (``covered``); and
    the ids of those events (so a route counts an event on two of its segments once).

    ``standing`` holds the standing weights (:func:`riskengine.scoring.standing_weights`) of the
    events dated in the window on those segments: an event is about a segment when it lies within
    ``near_km`` of it (beyond its precision radius), or when it weighs on it from farther at ``at``.
    ``polled`` is :func:`sources_polled`'s answer, when the caller has it."""
    rules = engine.rules.scoring.coverage
    at = at.astimezone(dt.UTC)
    polling, polled_at = polled if polled is not None else sources_polled(engine)
    stale = polling and (polled_at is None or polled_at < at - dt.timedelta(hours=rules.sources_stale_hours))
    about: dict[str, dict[str, Any]] = {}
    if len(standing):
        found = standing[standing["segment_id"].isin(list(segment_ids))]
        days = as_days(found["date"].to_numpy())
        age = (at.timestamp() - days.astype("datetime64[s]").astype(np.int64)) / 86400.0
        decay = engine.rules.time_decay(age, found["half_life_days"].to_numpy(dtype=float))
        weighs = ((found["base_weight"].to_numpy(dtype=float) > 0) | (found["base_relief"].to_numpy(dtype=float) > 0))
        keep = (found["gap_km"].to_numpy(dtype=float) <= rules.near_km) | (weighs & (decay > 0))
        found = found[keep]
        if len(found):
            ids = list(dict.fromkeys(found["incident_id"].tolist()))
            sources = {i: d["sources"] or [] for i, d in engine.event_details(ids).items()}
            dates, event_of = days[keep], found["incident_id"].to_numpy()
            for segment_id, rows in found.groupby("segment_id").indices.items():
                event_ids = set(event_of[rows].tolist())
                about[segment_id] = {"events": event_ids, "sources": {s for i in event_ids for s in sources[i]},
                                     "newest": dates[rows].max().item()}
    out, ids = {}, {}
    for segment_id in segment_ids:
        seen = about.get(segment_id, {"events": set(), "sources": set(), "newest": None})
        out[segment_id] = {
            "events": len(seen["events"]), "sources": sorted(seen["sources"]),
            "newest_event": seen["newest"].isoformat() if seen["newest"] else None,
            "window_days": rules.recent_days,
            "sources_polled_at": polled_at.isoformat() if polled_at else None,
            "covered": bool(seen["events"]) and not stale,
            "why_not": None if seen["events"] and not stale else (
                (f"sources not polled since {polled_at:%Y-%m-%d %H:%M} UTC" if polled_at
                 else "every source's poll failed")
                if stale
                else f"no report within {rules.near_km:g} km in the last {rules.recent_days} days"),
        }
        ids[segment_id] = seen["events"]
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
