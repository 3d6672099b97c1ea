"""Road alerts as OASIS CAP 1.2 messages in an Atom feed, for partners' alerting systems.

The engine keeps no record of alerts per segment (the outbox is per subscriber), so the messages
are derived from stored facts, the same way on every export: the level of every segment at each
midnight UTC (events are dated by the day, so midnight is the day's record) and at each moment an
analyst retracted an event. At each of those times a segment is scored with what was believed
then: the active events, and the events retracted later (they counted until their retraction).
Walking that history, segment by segment:

- the level rises to Medium (3) or above: ``Alert``;
- it changes while at 3 or above, or an event behind it is retracted: ``Update``;
- it falls below 3: ``Update`` with responseType ``AllClear``, which ends the episode;
- it falls below 3 at a retraction, because of it (with the retracted event it would still be at
  3 or above): ``Cancel``: the alert rested on a report an analyst withdrew.

Each later message references every earlier one of its episode (``sender,identifier,sent``). An
identifier is the sender, the segment and the time (``riskengine.jufra-sirte-waddan.20261115T000000Z``),
so exporting again gives the same identifiers. The history starts up to ``horizon_days`` (the
longest an event counts) before the feed's window, so an episode that began before it keeps its
first message. Events are counted at their dates, not when they were learnt: the feed says what
the record says now about each day, retractions excepted.

Mapping (CAP 1.2 section 3.2): category ``Security``; severity from the level (5 Extreme, 4 Severe,
3 Moderate, 2 and 1 Minor); urgency ``Immediate`` at 4 and 5 (avoid now), ``Expected`` at 3,
``Past`` once all clear or cancelled; responseType ``Avoid`` at 4 and 5, ``Monitor`` at 3,
``AllClear``, and ``None`` for a cancel. Certainty from corroboration, the distinct sources behind
the events that weigh on the segment: 3 or more ``Observed``, 2 ``Likely``, 1 ``Possible``, none
(an all clear with nothing left, a cancel) ``Unlikely``. The area is the segment's line buffered
by :data:`BUFFER_KM` in the metric projection, as a CAP polygon (``lat,lon`` pairs, closed). Each
alert has an English ``info`` and, when the bot's catalogue is installed, an Arabic one (level
names and places' Arabic names from :mod:`bot.i18n`; the reports' own words kept as they are).

Reading the history costs one assessment per day of it (milliseconds each on a small store).
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import pandas as pd
from shapely.geometry import LineString
from shapely.geometry.polygon import orient
from sqlalchemy import func, select

from ..geo import to_lonlat, to_metric
from ..schema import event_audit, events
from ..scoring import segment_table, weights_at
from ..store import among
from ..weights import read_events, standing_rows

if TYPE_CHECKING:
    from ..engine import RiskEngine
    from ..models import Segment

__all__ = ["CAP_NS", "CAP_SCHEMA", "CapMessage", "arabic_translator", "cap_alert", "cap_feed", "cap_messages",
           "cap_polygon", "cap_time", "certainty"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
#: The OASIS schema the messages follow (the tests validate against it).
CAP_SCHEMA = Path(__file__).with_name("data") / "CAP-v1.2.xsd"
SENDER = "riskengine"
#: The level from which a segment is alerted on.
ALERT_LEVEL = 3
#: How far back a feed reaches when no ``since`` is given.
FEED_DAYS = 30
#: How far around the road the alert's area reaches, and how finely its outline is kept (metres).
BUFFER_KM = 5.0
OUTLINE_TOLERANCE_M = 300.0
#: How many events a message lists.
TOP_EVENTS = 3

SEVERITY = {5: "Extreme", 4: "Severe", 3: "Moderate", 2: "Minor", 1: "Minor"}
URGENCY = {5: "Immediate", 4: "Immediate", 3: "Expected"}
RESPONSE = {5: "Avoid", 4: "Avoid", 3: "Monitor"}
INSTRUCTION = {
    "Avoid": ("Avoid travel on this stretch unless it is essential; if you must go, travel in daylight "
              "and check the latest reports first.", "تجنّب السفر على هذا المقطع إلا للضرورة، وإن اضطررت "
              "فسافر نهارًا بعد مراجعة آخر البلاغات."),
    "Monitor": ("Check the latest reports before travelling on this stretch.",
                "راجع آخر البلاغات قبل السفر على هذا المقطع."),
    "AllClear": ("No particular precaution is needed for this stretch now.",
                 "لا حاجة الآن لاحتياط خاص على هذا المقطع."),
    "None": ("Disregard the earlier alert.", "تجاهل التنبيه السابق."),
}


def certainty(sources: int) -> str:
    """CAP certainty from how many independent sources tell of the events behind a level.

    >>> [certainty(n) for n in (0, 1, 2, 3)]
    ['Unlikely', 'Possible', 'Likely', 'Observed']
    """
    return "Observed" if sources >= 3 else "Likely" if sources == 2 else "Possible" if sources == 1 else "Unlikely"


def cap_time(at: dt.datetime) -> str:
    """A time as CAP writes it: UTC, whole seconds, explicit offset.

    >>> cap_time(dt.datetime(2026, 11, 20, 8, 0, 30, 123, tzinfo=dt.UTC))
    '2026-11-20T08:00:30+00:00'
    """
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_polygon(line: LineString, buffer_km: float = BUFFER_KM) -> str:
    """A lon/lat line buffered by ``buffer_km`` (in metres, in the metric projection) as a CAP
    polygon: ``lat,lon`` pairs, counter-clockwise, the first repeated last.

    >>> ring = cap_polygon(LineString([(16.6, 31.2), (16.1, 29.1)])).split()
    >>> ring[0] == ring[-1], len(ring) >= 4, ring[0].split(",")[0].startswith(("29", "30", "31"))
    (True, True, True)
    """
    area = to_metric(line).buffer(buffer_km * 1000, quad_segs=4).simplify(OUTLINE_TOLERANCE_M)
    ring = orient(to_lonlat(area), 1.0).exterior
    return " ".join(f"{lat:.4f},{lon:.4f}" for lon, lat in ring.coords)


@dataclass(frozen=True)
class CapMessage:
    """One CAP message about one segment: what :func:`cap_alert` renders."""

    identifier: str
    sender: str
    sent: dt.datetime
    msg_type: str  # Alert | Update | Cancel
    response: str  # Avoid | Monitor | AllClear | None
    segment: Segment
    level: int
    level_name: str
    score: float
    sources: tuple[str, ...]
    events: tuple[dict[str, Any], ...]  # those that weigh most (a cancel: those retracted)
    event_ids: tuple[str, ...] = ()  # every event behind it (a cancel: those retracted)
    references: tuple[tuple[str, str, dt.datetime], ...] = ()
    retracted: tuple[tuple[str, str], ...] = ()  # (event id, why) of the events retracted behind it
    polygon: str = field(default="", repr=False)

    @property
    def note(self) -> str | None:
        """What CAP's ``note`` says: the retractions behind this message."""
        return "; ".join(f"event {e} retracted by an analyst: {why or 'no reason given'}"
                         for e, why in self.retracted) or None

    @property
    def certainty(self) -> str:
        return "Unlikely" if self.msg_type == "Cancel" else certainty(len(self.sources))

    @property
    def reference(self) -> tuple[str, str, dt.datetime]:
        return self.sender, self.identifier, self.sent


# ---- the history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Retraction:
    event_id: str
    at: dt.datetime
    why: str
    rows: pd.DataFrame  # its standing weights, as when it was active


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return at.astimezone(dt.UTC)


def _retractions(engine: RiskEngine) -> list[_Retraction]:
    """The events retracted now, each with its latest retraction's time and reason, and the
    standing weights it had while it counted."""
    with engine.store.engine.connect() as conn:
        trail = conn.execute(select(event_audit.c.event_id, event_audit.c.action, event_audit.c.at, event_audit.c.why)
                             .where(event_audit.c.action.in_(("retract", "restore"))).order_by(event_audit.c.id)).all()
        latest = {event_id: (action, at, why) for event_id, action, at, why in trail}
        ids = sorted(e for e, (action, _, _) in latest.items() if action == "retract")
        if not ids:
            return []
        frame, matches, told = read_events(conn, among(events.c.id, ids, conn.dialect.name), status="retracted")
    ids = frame["id"].tolist()
    rows = standing_rows(engine.rules, frame, matches, told) if len(frame) else pd.DataFrame()
    out = []
    for event_id in ids:
        _, at, why = latest[event_id]
        mine = rows[rows["incident_id"] == event_id] if len(rows) else rows
        at = _utc(at if at.tzinfo else at.replace(tzinfo=dt.UTC)).replace(microsecond=0)  # CAP's whole seconds
        out.append(_Retraction(event_id, at, why or "", mine))
    return out


def _contributions(engine: RiskEngine, at: dt.datetime, segment_ids: Sequence[str],
                   believed: Sequence[_Retraction]) -> pd.DataFrame:
    """What weighs on ``segment_ids`` at ``at``: the active events (the engine's standing weights)
    and the ``believed`` retracted ones."""
    until = at.date()
    rows = engine.standing_weights(until, until - dt.timedelta(days=engine.rules.horizon_days), list(segment_ids),
                                   weighing=True)
    extra = [r.rows[r.rows["segment_id"].isin(segment_ids)] for r in believed]
    parts = [p for p in [rows, *extra] if len(p)]
    if len(parts) > 1:
        rows = pd.concat(parts, ignore_index=True)
    elif parts:
        rows = parts[0]
    return weights_at(engine.rules, rows, at)


def _levels(engine: RiskEngine, at: dt.datetime, believed: Sequence[_Retraction]) -> pd.DataFrame:
    """Every segment's score and level at ``at`` (the engine's), those touched by ``believed``
    retracted events scored again with them."""
    table = engine.assess(at).segments
    touched = sorted({s for r in believed for s in r.rows.get("segment_id", ())} & set(table.index))
    if not touched:
        return table
    again = segment_table(engine.rules, touched, _contributions(engine, at, touched, believed))
    return pd.concat([table.drop(index=touched), again])


def _times(engine: RiskEngine, start: dt.datetime, now: dt.datetime, retractions: Sequence[_Retraction]
           ) -> list[dt.datetime]:
    """The times the history is read at: each midnight UTC from the first that can matter, and each retraction."""
    with engine.store.engine.connect() as conn:
        first = conn.execute(select(func.min(events.c.date))).scalar()
    if first is None:
        return []
    first = first if isinstance(first, dt.date) else dt.date.fromisoformat(str(first))
    day = max(start.date() - dt.timedelta(days=engine.rules.horizon_days), first)
    times = set()
    while day <= now.date():
        times.add(dt.datetime.combine(day, dt.time(), dt.UTC))
        day += dt.timedelta(days=1)
    begin = min(times, default=now)
    times |= {r.at for r in retractions if begin < r.at <= now}
    return sorted(times)


def cap_messages(engine: RiskEngine, now: dt.datetime, *, since: dt.datetime | None = None,
                 sender: str = SENDER) -> list[CapMessage]:
    """The CAP messages sent from ``since`` (default: :data:`FEED_DAYS` before) to ``now``, oldest
    first (see the module's docstring for how they are decided)."""
    now = _utc(now)
    since = _utc(since) if since is not None else now - dt.timedelta(days=FEED_DAYS)
    retractions = _retractions(engine)
    episodes: dict[str, list[CapMessage]] = {}  # segment -> the messages of its open episode
    behind: dict[str, set[str]] = {}  # segment -> the events behind its last message
    out: list[CapMessage] = []
    segments = {s.id: s for s in engine.network.segments}
    for at in _times(engine, since, now, retractions):
        believed = [r for r in retractions if r.at > at]
        table = _levels(engine, at, believed)
        now_retracted = [r for r in retractions if r.at == at]
        before = _levels(engine, at, believed + now_retracted) if now_retracted else table
        gone = {r.event_id for r in now_retracted}
        for seg_id in sorted(set(table.index[table["level"] >= ALERT_LEVEL]) | set(episodes)):
            level = int(table.at[seg_id, "level"])
            episode = episodes.get(seg_id)
            if episode is None:
                kind = "Alert"
            elif level < ALERT_LEVEL:
                undone = behind[seg_id] & gone and int(before.at[seg_id, "level"]) >= ALERT_LEVEL
                kind = "Cancel" if undone else "AllClear"
            elif level != episode[-1].level or behind[seg_id] & gone:
                kind = "Update"
            else:
                continue
            message = _message(engine, segments[seg_id], at, kind, table.loc[seg_id], believed, episode or [],
                               [r for r in now_retracted if r.event_id in behind.get(seg_id, set())], sender)
            out.append(message)
            if kind in ("Cancel", "AllClear"):
                episodes.pop(seg_id)
                behind.pop(seg_id)
            else:
                episodes.setdefault(seg_id, []).append(message)
                behind[seg_id] = set(message.event_ids)
    return [m for m in out if since <= m.sent <= now]


def _message(engine: RiskEngine, segment: Segment, at: dt.datetime, kind: str, row: pd.Series,
             believed: Sequence[_Retraction], episode: Sequence[CapMessage], retracted: Sequence[_Retraction],
             sender: str) -> CapMessage:
    contrib = _contributions(engine, at, [segment.id], believed)
    contrib = contrib[contrib["weight"] > 0]
    order = contrib.groupby("incident_id")["weight"].max().sort_values(ascending=False, kind="stable")
    details = engine.event_details(order.index.tolist()) if len(order) else {}
    sources = sorted({s for d in details.values() for s in (d["sources"] or [])})
    if kind == "Cancel":
        shown = engine.event_details([r.event_id for r in retracted])
        listed = [shown[r.event_id] for r in retracted]
    else:
        listed = [details[i] for i in order.index[:TOP_EVENTS]]
    level = int(row["level"])
    return CapMessage(
        identifier=f"{sender}.{segment.id}.{at:%Y%m%dT%H%M%SZ}", sender=sender, sent=at,
        msg_type="Update" if kind == "AllClear" else kind,
        response={"AllClear": "AllClear", "Cancel": "None"}.get(kind, RESPONSE.get(level, "Monitor")),
        segment=segment, level=level, level_name=engine.rules.level_name(level), score=round(float(row["score"]), 1),
        sources=tuple(sources), events=tuple(_event(d) for d in listed),
        event_ids=tuple(e["id"] for e in listed) if kind == "Cancel" else tuple(order.index),
        references=tuple(m.reference for m in episode), retracted=tuple((r.event_id, r.why) for r in retracted),
        polygon=cap_polygon(segment.geometry))


def _event(detail: dict[str, Any]) -> dict[str, Any]:
    return {"id": detail["id"], "date": detail["date"].isoformat(), "event_type": detail["event_type"],
            "summary": str(detail["summary"] or detail["evidence"][:160]), "sources": list(detail["sources"] or []),
            "reports": int(detail["reports"])}


# ---- rendering --------------------------------------------------------------------------------


def _add(parent: ET.Element, name: str, text: object | None = None) -> ET.Element:
    child = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        child.text = str(text)
    return child


def _headline(m: CapMessage) -> str:
    name = m.segment.name
    if m.response == "AllClear":
        return f"{name}: all clear, back to {m.level_name} (level {m.level}/5)"
    if m.msg_type == "Cancel":
        return f"{name}: alert cancelled, the event behind it was retracted"
    verb = "now" if m.msg_type == "Update" else "risk"
    return f"{name}: {verb} {m.level_name} (level {m.level}/5)"


def _description(m: CapMessage) -> str:
    seg = m.segment
    lines = [f"Risk score {m.score:g}/100, level {m.level} {m.level_name}, on {seg.name} ({seg.road_name}, "
             f"{seg.length_km:.0f} km), assessed {cap_time(m.sent)}."]
    if m.note:
        lines.append(m.note[0].upper() + m.note[1:] + ".")
    if m.events:
        lines.append("Retracted:" if m.msg_type == "Cancel" else "Events that weigh most:")
        lines += [f"- {e['date']} {e['summary']} (sources: {', '.join(e['sources']) or 'none'}; "
                  f"{e['reports']} report{'s' if e['reports'] != 1 else ''})" for e in m.events]
    return "\n".join(lines)


def _arabic_texts(m: CapMessage, tr) -> dict[str, str]:
    """The Arabic info's texts: level and place names from the bot's catalogue (``tr``, a
    :class:`bot.i18n.Translator`), the reports' own words kept and isolated."""
    seg, level = tr.segment(m.segment.name), f"{tr.level(m.level)} ({tr.iso(f'{m.level}/5')})"
    if m.response == "AllClear":
        headline = f"{seg}: زال التنبيه، المستوى الآن {level}"
    elif m.msg_type == "Cancel":
        headline = f"{seg}: أُلغي التنبيه لسحب الحدث الذي بُني عليه"
    else:
        headline = f"{seg}: مستوى الخطر {level}"
    lines = [f"درجة الخطر {tr.iso(f'{m.score:g}/100')}، المستوى {level}، تقييم {tr.iso(cap_time(m.sent))}."]
    lines += [f"سحب محلل الحدث {tr.iso(e)}: {tr.iso(why or '-')}" for e, why in m.retracted]
    if m.events:
        lines.append("الأحداث المسحوبة:" if m.msg_type == "Cancel" else "أبرز الأحداث:")
        lines += [f"- {tr.iso(e['date'] + ' ' + e['summary'])}" for e in m.events]
    return {"event": f"خطر على الطريق: {seg}", "headline": headline, "description": "\n".join(lines),
            "areaDesc": seg}


def _info(alert: ET.Element, m: CapMessage, language: str, texts: dict[str, str]) -> None:
    info = _add(alert, "info")
    _add(info, "language", language)
    _add(info, "category", "Security")
    _add(info, "event", texts["event"])
    _add(info, "responseType", m.response)
    closed = m.response in ("AllClear", "None")
    _add(info, "urgency", "Past" if closed else URGENCY.get(m.level, "Expected"))
    _add(info, "severity", SEVERITY.get(m.level, "Unknown"))
    _add(info, "certainty", m.certainty)
    _add(info, "senderName", "riskengine")
    _add(info, "headline", texts["headline"])
    _add(info, "description", texts["description"])
    _add(info, "instruction", INSTRUCTION[m.response][language == "ar"])
    for name, value in (("score", f"{m.score:g}"), ("level", m.level), ("level_name", m.level_name),
                        ("segment_id", m.segment.id), ("sources", len(m.sources))):
        parameter = _add(info, "parameter")
        _add(parameter, "valueName", name)
        _add(parameter, "value", value)
    area = _add(info, "area")
    _add(area, "areaDesc", texts["areaDesc"])
    _add(area, "polygon", m.polygon or cap_polygon(m.segment.geometry))


def cap_alert(message: CapMessage, *, arabic=None) -> str:
    """One CAP 1.2 ``<alert>`` document (no XML declaration): an English ``info``, and an Arabic one
    when ``arabic`` (a :class:`bot.i18n.Translator` for Arabic) is given."""
    m = message
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    for name, value in (("identifier", m.identifier), ("sender", m.sender), ("sent", cap_time(m.sent)),
                        ("status", "Actual"), ("msgType", m.msg_type), ("source", "riskengine"), ("scope", "Public")):
        _add(alert, name, value)
    if m.note:
        _add(alert, "note", m.note)
    if m.references:
        _add(alert, "references", " ".join(f"{s},{i},{cap_time(t)}" for s, i, t in m.references))
    if m.event_ids:
        _add(alert, "incidents", " ".join(m.event_ids))
    _info(alert, m, "en", {"event": f"Road risk: {m.segment.name}", "headline": _headline(m),
                           "description": _description(m), "areaDesc": m.segment.name})
    if arabic is not None:
        _info(alert, m, "ar", _arabic_texts(m, arabic))
    ET.indent(alert)
    return ET.tostring(alert, encoding="unicode", default_namespace=CAP_NS)


def arabic_translator(engine: RiskEngine):
    """The bot's Arabic texts (level names, places' Arabic names), or None when the bot is not installed."""
    try:
        from bot.i18n import arabic_names, translator  # noqa: PLC0415 - the Arabic catalogue lives with the bot
    except ImportError:
        return None
    return translator("ar", arabic_names(engine.gazetteer))


def _entry_id(sender: str, identifier: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cap:{sender}:{identifier}')}"


def cap_feed(engine: RiskEngine, now: dt.datetime, *, since: dt.datetime | None = None, sender: str = SENDER,
             arabic: bool = True) -> str:
    """An Atom feed of the CAP messages sent from ``since`` to ``now`` (:func:`cap_messages`), newest
    first, each entry carrying one ``<alert>`` (in English, and in Arabic when ``arabic`` and the
    bot's catalogue is installed)."""
    messages = sorted(cap_messages(engine, now, since=since, sender=sender),
                      key=lambda m: (m.sent, m.identifier), reverse=True)
    tr = arabic_translator(engine) if arabic else None
    updated = cap_time(messages[0].sent if messages else _utc(now))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', f'<feed xmlns="{ATOM_NS}">',
             f"  <id>{_entry_id(sender, 'feed')}</id>",
             "  <title>riskengine road risk alerts (CAP 1.2)</title>",
             f"  <updated>{updated}</updated>",
             f"  <author><name>{escape(sender)}</name></author>",
             '  <generator>riskengine</generator>']
    for m in messages:
        body = cap_alert(m, arabic=tr)
        parts += ["  <entry>", f"    <id>{_entry_id(m.sender, m.identifier)}</id>",
                  f"    <title>{escape(_headline(m))}</title>",
                  f"    <updated>{cap_time(m.sent)}</updated>", f"    <published>{cap_time(m.sent)}</published>",
                  '    <category term="Security"/>',
                  f"    <summary>{escape(m.msg_type if m.response != 'AllClear' else 'AllClear')}: "
                  f"{escape(m.segment.name)}</summary>",
                  '    <content type="application/cap+xml">', body, "    </content>", "  </entry>"]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"
