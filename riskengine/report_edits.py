"""Replacing a stored report whose source edited it (a Telegram channel post edited after it was read).

The report is found by its source and its key inside the source (``reports.source``,
``reports.source_key``). In one transaction its text is replaced and its incidents with the ones
read from the new text: incidents the edit kept (same fingerprint) stay as they were, with the time
they were first learnt (so no alert is owed twice); those it dropped go, with their segment
matches, and the events they told are derived again from their other reports (an event no
report tells any more is ``withdrawn``); new ones are added, learnt now, and join the events they
retell. The report keeps its source, key, link, title,
publication date and first ingestion time, but takes a new row id, so :meth:`Store.revision`
moves on and the engine's caches are refreshed (incidents only ever come with a new report id).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from .events import ENGINE, audit, rederive
from .incident import Incident
from .schema import incident_segments, incidents, reports
from .store import ReportIn, Store, _no_nul, content_hash, insert_new_incidents

__all__ = ["ReplaceOutcome", "replace_report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplaceOutcome:
    """What an edit changed: ``changed`` is False when the text is the same (or is another report's)."""

    report_id: int
    changed: bool
    incidents_added: int = 0
    incidents_kept: int = 0
    incidents_removed: int = 0


def replace_report(store: Store, report: ReportIn, found: Sequence[Incident],
                   matches: Sequence[Iterable[tuple[str, float]]], *, now: dt.datetime) -> ReplaceOutcome | None:
    """Replace the text and incidents of the report stored under ``(report.source, report.source_key)``.

    Parameters
    ----------
    store : Store
    report : ReportIn
        The new version; its ``source`` and ``source_key`` find the old one.
    found : sequence of Incident
        The incidents read from the new text.
    matches : sequence
        ``matches[i]`` lists ``(segment_id, distance_km)`` for ``found[i]``.
    now : datetime
        When the edit arrived (the time new incidents are learnt).

    Returns
    -------
    ReplaceOutcome or None
        None when no report is stored under that key (store it as new instead).
    """
    if report.source_key is None:
        raise ValueError("a report is replaced by its source key: source_key is required")
    digest = content_hash(report.text)
    with store.changing_events() as conn:
        old = conn.execute(select(reports).where((reports.c.source == report.source)
                                                 & (reports.c.source_key == report.source_key))).mappings().first()
        if old is None:
            return None
        if old["content_hash"] == digest:
            return ReplaceOutcome(old["id"], False)
        other = conn.execute(select(reports.c.id).where(reports.c.content_hash == digest)).scalar()
        if other is not None:
            log.warning("report %s/%s edited into the text of report %s: left as it was", report.source,
                        report.source_key, other)
            return ReplaceOutcome(old["id"], False)
        old_ids = set(conn.execute(select(incidents.c.id).where(incidents.c.report_id == old["id"])).scalars())
        new_ids = [inc.fingerprint() for inc in found]
        # free the unique content hash and key, then write the new version under a new id
        conn.execute(update(reports).where(reports.c.id == old["id"]).values(
            content_hash=f"replaced:{old['id']}", source_key=None))
        new_id = conn.execute(insert(reports).values(
            source=old["source"], source_ref=_no_nul(report.source_ref) or old["source_ref"],
            source_key=old["source_key"], format=old["format"], content_hash=digest, published=old["published"],
            ingested_at=old["ingested_at"], title=_no_nul(report.title) or old["title"],
            text=_no_nul(report.text))).inserted_primary_key[0]
        kept = old_ids & set(new_ids)
        gone = sorted(old_ids - kept)
        if kept:
            conn.execute(update(incidents).where(incidents.c.id.in_(sorted(kept))).values(report_id=new_id))
        touched = []
        if gone:
            touched = sorted(set(conn.execute(select(incidents.c.event_id).where(incidents.c.id.in_(gone))).scalars()))
            conn.execute(delete(incident_segments).where(incident_segments.c.incident_id.in_(gone)))
            conn.execute(delete(incidents).where(incidents.c.id.in_(gone)))
        conn.execute(delete(reports).where(reports.c.id == old["id"]))
        for event_id in touched:  # the events those incidents told: told by fewer reports now, or by none
            rederive(conn, event_id, now)
            audit(conn, event_id, "edited", actor=ENGINE, now=now, detail={"report": new_id, "left": gone})
        added = insert_new_incidents(conn, new_id, new_ids, found, matches, now, store.same_event)
    return ReplaceOutcome(new_id, True, added, len(kept), len(gone))
