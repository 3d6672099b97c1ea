"""Telegram HTML for the bot's answers, and splitting long answers into messages.

Every answer is a list of blocks, each well-formed HTML on its own; :func:`pack` joins blocks into
as few messages as fit Telegram's limit, and :func:`split_message` cuts a block that is too long
on its own at line boundaries, closing the tags open at the cut and opening them again after it.
Whatever came from a report or a user goes through :func:`esc`.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence

from .i18n import ENGLISH, N_, Translator

#: Telegram's limit on a message's text (UTF-16 code units).
MESSAGE_LIMIT = 4096
#: The level marks of ``rules/alerts.yaml``, used when no policy gives them.
DEFAULT_MARKS = {1: "🟢", 2: "🟡", 3: "🟠", 4: "🔴", 5: "🟣"}

_ATOM = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]+;|[\s\S]")
_TAG = re.compile(r"^<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>$")


def esc(value: object) -> str:
    """Escape text for Telegram HTML.

    Examples
    --------
    >>> esc("<b>x</b> & y")
    '&lt;b&gt;x&lt;/b&gt; &amp; y'
    """
    return html.escape(str(value), quote=False)


def clip(text: object, limit: int) -> str:
    """Shorten text to ``limit`` characters with an ellipsis (before escaping)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def mark(level: int, marks: Mapping[int, str] | None = None) -> str:
    """The mark of a level 1-5 (from ``AlertPolicy.level_marks``)."""
    return (marks or DEFAULT_MARKS).get(int(level), "")


def when(at: dt.datetime | str) -> str:
    """A time for people: ``20 Nov 2026 08:00 UTC``."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    return at.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")


# ---- splitting ------------------------------------------------------------------------------------


def _tag(atom: str) -> tuple[bool, str] | None:
    """(is_closing, name) for an opening or closing tag; None for anything else."""
    if not atom.startswith("<"):
        return None
    m = _TAG.match(atom)
    if not m or m.group(3):
        return None
    return bool(m.group(1)), m.group(2).lower()


def _after(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    tag = _tag(atom)
    if tag is None:
        return stack
    closing, name = tag
    if not closing:
        return [*stack, (name, atom)]
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == name:
            return stack[:i]
    return stack


def _closers(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML into messages of at most ``limit``, each well-formed.

    Cuts at the last line break that fits (else the last space, else anywhere between tags and
    entities); tags open at a cut are closed before it and opened again after it.

    Examples
    --------
    >>> split_message("<b>one\\ntwo</b>\\nthree", limit=14)
    ['<b>one</b>', '<b>two</b>', 'three']
    """
    if tg_len(text) <= limit:
        return [text] if text.strip() else []
    atoms = _ATOM.findall(text)
    sizes = [tg_len(a) for a in atoms]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []
    i = 0
    while i < len(atoms):
        while i < len(atoms) and atoms[i] == "\n":
            i += 1
        opener = "".join(atom for _, atom in stack)
        size, state, j = tg_len(opener), stack, i
        at_line = at_space = None
        while j < len(atoms):
            nxt = _after(state, atoms[j])
            if size + sizes[j] + tg_len(_closers(nxt)) > limit:
                break
            size, state, j = size + sizes[j], nxt, j + 1
            if atoms[j - 1] == "\n":
                at_line = (j, state)
            elif atoms[j - 1] == " ":
                at_space = (j, state)
        if j >= len(atoms):
            end, state = j, state
        elif at_line or at_space:
            end, state = at_line or at_space
        elif j > i:
            end = j
        else:  # not even one atom fits beside the open tags: give up on keeping them
            end, state = i + 1, _after(stack, atoms[i])
            opener = ""
        body = "".join(atoms[i:end]).rstrip("\n")
        piece = opener + body + _closers(state)
        if re.sub(r"<[^<>]*>", "", piece).strip():
            chunks.append(piece)
        stack, i = state, end
    return chunks


def pack(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join blocks (blank line between) into as few messages of at most ``limit`` as they fit."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not block or not block.strip():
            continue
        if tg_len(block) > limit:
            if current:
                messages.append(current)
                current = ""
            messages.extend(split_message(block, limit))
            continue
        joined = f"{current}\n\n{block}" if current else block
        if tg_len(joined) <= limit:
            current = joined
        else:
            messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


# ---- answers --------------------------------------------------------------------------------------
#
# Every text goes through ``tr`` (:class:`bot.i18n.Translator`, English unless told): ``tr._`` translates
# a msgid, ``tr.iso`` isolates a number, date or Latin run inside Arabic, ``tr.place`` shows a place
# in Arabic script when the gazetteer has its Arabic name. English answers are the msgids themselves.


def _level(row: Mapping, marks: Mapping[int, str] | None, name: str = "", tr: Translator = ENGLISH) -> str:
    """``🔴 Sirte - Waddan: High (64.6)`` (without a name: ``🔴 High (64.6)``)."""
    named = f"{esc(tr.segment(name))}: " if name else ""
    return f"{mark(row['level'], marks)} {named}{esc(tr.level(row['level'], row['level_name']))} " \
           f"({tr.iso(format(row['score'], 'g'))})"


def _km(km: float, tr: Translator, spec: str = "g") -> str:
    return tr._("{km} km").format(km=tr.iso(format(km, spec)))


def _via(names: Sequence[str], tr: Translator) -> str:
    return esc(tr.comma.join(tr.place(n) for n in names))


_WHERE = [(re.compile(r"^(\d+) km away$"), N_("{km} km away")), (re.compile(r"^in the area$"), N_("in the area")),
          (re.compile(r"^area (\d+) km away$"), N_("area {km} km away")),
          (re.compile(r"^on the road, (\d+) km away$"), N_("on the road, {km} km away"))]


def where_text(label: str, tr: Translator = ENGLISH) -> str:
    """Where an incident was, as :meth:`bot.app.BotServices.incidents_near` says it, in the chat's language."""
    if not tr.rtl:
        return label
    for pattern, msgid in _WHERE:
        m = pattern.match(label)
        if m:
            return tr._(msgid).format(km=tr.iso(m.group(1)) if m.groups() else "")
    return tr.iso(label)


#: ACLED's event types and sub-types, for the catalogues: an incident's kind is shown in the chat's language.
EVENT_KINDS = (
    N_("Battles"), N_("Explosions/Remote violence"), N_("Violence against civilians"), N_("Protests"), N_("Riots"),
    N_("Strategic developments"), N_("Government regains territory"), N_("Non-state actor overtakes territory"),
    N_("Armed clash"), N_("Excessive force against protesters"), N_("Protest with intervention"),
    N_("Peaceful protest"), N_("Violent demonstration"), N_("Mob violence"), N_("Chemical weapon"),
    N_("Air/drone strike"), N_("Suicide bomb"), N_("Shelling/artillery/missile attack"),
    N_("Remote explosive/landmine/IED"), N_("Grenade"), N_("Sexual violence"), N_("Attack"),
    N_("Abduction/forced disappearance"), N_("Agreement"), N_("Arrests"), N_("Change to group/activity"),
    N_("Disrupted weapons use"), N_("Headquarters or base established"), N_("Looting/property destruction"),
    N_("Non-violent transfer of territory"), N_("Other"),
)


def incident_line(row: Mapping, extra: str = "", tr: Translator = ENGLISH) -> str:
    """One incident on one line: date, type (in the chat's language), then its summary (or evidence)."""
    kind = row.get("sub_event_type") or row.get("event_type")
    kind = tr._(kind) if kind else tr._("incident")
    text = row.get("summary") or row.get("evidence") or ""
    extra = f" · {extra}" if extra else ""
    return (f"• {tr.iso(esc(row['date']))} · <b>{tr.iso(esc(clip(kind, 60)))}</b>{extra} · "
            f"{tr.iso(esc(clip(text, 170)))}")


#: A road status as the bot says it (``riskengine.road_status``); "open" is not said on every line.
ROAD_STATUS = {"restricted": N_("restricted"), "checkpoint": N_("checkpoint"), "closed": N_("closed")}


def _status(row: Mapping, tr: Translator) -> str:
    status = (row.get("status") or {}).get("status", "open")
    return f" · ⛔ <b>{esc(tr._(ROAD_STATUS[status]))}</b>" if status in ROAD_STATUS else ""


def _sources(row: Mapping, tr: Translator) -> str:
    """An event's sources: ``2 reports: wire, outlet`` (one source: its name)."""
    names = row.get("sources") or []
    if not names:
        return ""
    shown = esc(clip(tr.comma.join(names), 80))
    if int(row.get("reports") or 1) > 1:
        return tr._("{n} reports: {sources}").format(n=tr.iso(str(row["reports"])), sources=tr.iso(shown))
    return tr.iso(shown)


def coverage_text(cov: Mapping, names: Mapping[str, str], tr: Translator) -> str:
    """What an answer rests on, in one or two lines."""
    _ = tr._
    rests = _("<i>Rests on {events} events from {sources} sources in the last {days} days (newest: {newest}).</i>")
    text = rests.format(
        events=tr.iso(str(cov["events"])), sources=tr.iso(str(len(cov["sources"]))),
        days=tr.iso(str(cov["window_days"])), newest=tr.iso(cov["newest_event"] or _("none")))
    missing = cov.get("uncovered_segments") or []
    if missing:
        text += "\n" + _("<b>No recent reports</b> on {segments}: no report is not the same as safe.").format(
            segments=esc(tr.comma.join(tr.segment(names.get(s, s)) for s in missing)))
    return text


def route_blocks(doc: Mapping, marks: Mapping[int, str] | None = None, top: int = 3,
                 tr: Translator = ENGLISH) -> list[str]:
    """A route's risk (``RiskEngine.route``'s document) as blocks."""
    _ = tr._
    names = {s["id"]: s["name"] for s in doc["segments"]}
    for closed in doc.get("avoided_closed") or []:
        names.setdefault(closed["segment"], closed["segment"])
    head = (f"{mark(doc['level'], marks)} <b>{esc(tr.level(doc['level'], doc['level_name']))}</b> · "
            f"<b>{esc(tr.place(doc['from']))} {tr.arrow} {esc(tr.place(doc['to']))}</b>\n"
            + _("Score {score} · {distance} · via {via}").format(
                score=tr.iso(f"{doc['score']:g}/100"), distance=_km(doc["distance_km"], tr), via=_via(doc["via"], tr)))
    segments = _("<b>Segments</b>") + "\n" + "\n".join(
        f"{_level(s, marks, s['name'], tr)} · {_km(s['length_km'], tr)}{_status(s, tr)}" for s in doc["segments"])
    ranked = sorted(doc["incidents"], key=lambda r: -float(r.get("weight", 0)))[:top]
    if ranked:
        weigh = _("<b>What weighs most</b>") + "\n" + "\n".join(incident_line(r, _sources(r, tr), tr=tr)
                                                                  for r in ranked)
    else:
        weigh = _("<i>No incident weighs on this route now.</i>")
    blocks = [head]
    roads = [_("⛔ Goes round {segment}: closed since {since} ({source}).").format(
        segment=esc(tr.segment(c["segment"])), since=tr.iso(c["since"] or ""), source=tr.iso(esc(c["source"] or "")))
        for c in doc.get("avoided_closed") or []]
    roads += [_("⛔ {segment} is closed since {since} ({source}); there is no open way round.").format(
        segment=esc(tr.segment(names.get(c["segment"], c["segment"]))), since=tr.iso(c["since"] or ""),
        source=tr.iso(esc(c["source"] or ""))) for c in doc.get("closed_segments") or []]
    if roads:
        blocks.append("\n".join(roads))
    blocks += [segments, weigh]
    if doc.get("coverage"):
        blocks.append(coverage_text(doc["coverage"], names, tr))
    alt = doc.get("alternative")
    if alt:
        avoided = names.get(alt["avoids"], alt["avoids"])
        blocks.append(_("<b>Safer alternative</b>, avoiding {segment}:").format(segment=esc(tr.segment(avoided)))
                      + f"\n{_level(alt, marks, tr=tr)} · "
                      + _("{distance} via {via}").format(distance=_km(alt["distance_km"], tr),
                                                         via=_via(alt["via"], tr)))
    blocks.append(_("<i>Assessed {when}</i>").format(when=tr.when(doc["at"])))
    return blocks


def event_blocks(doc: Mapping, tr: Translator = ENGLISH) -> list[str]:
    """One stored event for an analyst (``Corrections.show``): what, where, its reports, its audit trail."""
    _ = tr._
    kind = doc.get("sub_event_type") or doc.get("event_type")
    head = (f"<b>{tr.iso(esc(doc['id']))}</b> · {tr.iso(esc(doc['date']))} · <b>{esc(tr._(kind))}</b> · "
            + esc(tr._(STATUS_NAMES.get(doc["status"], doc["status"])))
            + f"\n{tr.iso(esc(clip(doc.get('summary') or '', 200)))}")
    told = [f"• {tr.iso(esc(r['source'] or '?'))} · {tr.iso(esc(str(r.get('published') or r['date'])))} · "
            f"{tr.iso(esc(clip(r.get('evidence') or '', 160)))}" for r in doc["reports"][:8]]
    reports = _("<b>Reports</b> ({n})").format(n=tr.iso(str(len(doc["reports"])))) + "\n" + "\n".join(told)
    trail = [f"• {tr.iso(esc(a['at'][:16]))} · {tr.iso(esc(a['actor']))} · {tr.iso(esc(a['action']))}"
             + (f" · {tr.iso(esc(clip(a['why'], 120)))}" if a.get("why") else "") for a in doc["audit"][-6:]]
    return [head, reports, _("<b>History</b>") + "\n" + "\n".join(trail)]


#: An event's status as the bot says it.
STATUS_NAMES = {"active": N_("active"), "retracted": N_("retracted"), "merged": N_("merged"),
                "withdrawn": N_("withdrawn")}


def segments_near_blocks(lat: float, lon: float, rows: Sequence[Mapping], radius_km: float, at: dt.datetime,
                         marks: Mapping[int, str] | None = None, tr: Translator = ENGLISH) -> list[str]:
    """The segments near a shared location, nearest first (rows carry ``distance_km``)."""
    _ = tr._
    head = _("<b>Roads within {radius} km of {point}</b>").format(radius=tr.iso(f"{radius_km:g}"),
                                                                 point=tr.iso(f"{lat:.4f}, {lon:.4f}"))
    assessed = _("<i>Assessed {when}</i>").format(when=tr.when(at))
    if not rows:
        return [head + "\n" + _("No road segment I follow comes that close."), assessed]
    lines = [f"{_level(r, marks, r['name'], tr)} · " + _("{km} km away").format(km=tr.iso(f"{r['distance_km']:.0f}"))
             for r in rows]
    return [head + "\n" + "\n".join(lines), assessed]


def incidents_blocks(place: str, days: int, radius_km: float, rows: Sequence[Mapping], at: dt.datetime,
                     tr: Translator = ENGLISH) -> list[str]:
    """Recent incidents near a place, newest first (rows carry ``where``: distance or road)."""
    head = tr.ngettext("<b>Incidents within {radius} km of {place}, last {days} day</b>",
                       "<b>Incidents within {radius} km of {place}, last {days} days</b>", days).format(
        radius=tr.iso(f"{radius_km:g}"), place=esc(tr.place(place)), days=tr.iso(days))
    if not rows:
        body = tr._("None recorded.")
    else:
        body = "\n".join(incident_line(r, esc(where_text(r["where"], tr)), tr) for r in rows)
    return [head + "\n" + body, tr._("<i>As of {when}</i>").format(when=tr.when(at))]


def report_blocks(found: Sequence, added: int, known: int, new_report: bool, tr: Translator = ENGLISH) -> list[str]:
    """What a filed report yielded: one line per extracted incident (``riskengine.incident.Incident``)."""
    _ = tr._
    if not new_report:
        return [_("This report was filed before: nothing new was stored.")]
    if not found:
        return [_("Report stored, but I found no incident in it (no Libyan place, or no event I recognise).")]
    head = tr.ngettext("<b>Report stored</b>: {n} new incident", "<b>Report stored</b>: {n} new incidents",
                       added).format(n=tr.iso(added))
    head += _(", {n} already known").format(n=tr.iso(known)) if known else ""
    lines = []
    for n, inc in enumerate(found, 1):
        kind = esc(inc.event_type) + (f" ({esc(inc.sub_event_type)})" if inc.sub_event_type else "")
        places = ", ".join(p.name for p in inc.places) or inc.location_kind
        conf = "n/a" if inc.confidence is None else f"{inc.confidence:.2f}"
        tags = f" · {esc(', '.join(inc.tags))}" if inc.tags else ""
        lines.append(f"{n}. <b>{tr.iso(kind)}</b>{tr.iso(tags)} · {tr.iso(esc(clip(places, 80)))} · "
                     f"{tr.iso(esc(inc.date))} · " + _("confidence {value}").format(value=tr.iso(conf))
                     + f"\n   {tr.iso(esc(clip(inc.summary or inc.evidence, 160)))}")
    return [head, "\n".join(lines)]


def describe(sub, tr: Translator = ENGLISH) -> str:
    """What a subscription follows, for people (``Sirte → Sebha``)."""
    if sub.kind != "route":
        return tr.iso(sub.describe())
    a, b = sub.route
    return f"{tr.place(a)} {tr.arrow} {tr.place(b)}"


def subscriptions_block(subs: Sequence, marks: Mapping[int, str] | None = None,
                        level_names: Mapping[int, str] | None = None, tr: Translator = ENGLISH) -> str:
    """A chat's subscriptions, numbered as /unsubscribe N expects."""
    _ = tr._
    if not subs:
        return _("You have no subscriptions. Make one with /subscribe FROM TO [LEVEL].")
    lines = [_("<b>Your subscriptions</b>")]
    for n, sub in enumerate(subs, 1):
        name = tr.level(sub.min_level, (level_names or {}).get(sub.min_level, "")) if (
            level_names or tr.rtl) else ""
        quiet = _(" · quiet {hours}").format(hours=tr.iso(f"{sub.quiet_start}-{sub.quiet_end}")) \
            if sub.quiet_start else ""
        paused = _(" · <i>paused</i>") if sub.paused else ""
        lines.append(_("{n}. {target}: from level {level} {mark} {name}").format(
            n=tr.iso(n), target=esc(describe(sub, tr)), level=tr.iso(sub.min_level), mark=mark(sub.min_level, marks),
            name=esc(name)) + quiet + paused)
    return "\n".join(lines)


def did_you_mean(text: str, options: Sequence[str], ambiguous: bool, tr: Translator = ENGLISH) -> str:
    """The question asked about a place the gazetteer does not know (or knows several of)."""
    shown = tr.iso(esc(clip(text, 60)))
    if ambiguous:
        return tr._("“{place}” may mean several places. Which one?").format(place=shown)
    if options:
        return tr._("I don't know the place “{place}”. Did you mean:").format(place=shown)
    return tr._("I don't know the place “{place}”, nor any close to it. Try another spelling or a nearby "
                "town.").format(place=shown)


HELP = N_("""<b>Road risk in Libya</b>, from incident reports: scores 0-100 and levels {marks} (1 to 5) on the \
road segments between towns, and why.

<b>Ask</b>
/risk Sirte Sebha · the risk of a road route today (also <code>/risk Bani Walid - Sebha</code>)
/routes · the main routes as buttons
/incidents Sokna 14 · incidents within 50 km of a place (last 7 days unless you say)
Share a location · the roads near it and their levels

<b>Be told</b>
/subscribe Misrata Sebha 3 · an alert when the route reaches level 3 (default) or more
/subscriptions · yours, with remove buttons · /unsubscribe N
/quiet 22:00-06:00 · hold alerts below Extreme at night (Libya time) · /quiet off
/selftest · a test alert sent the way real alerts go, and how long it took

<b>Analysts</b>
/report TEXT · file a report; I store the incidents I find in it
/incident ID · a stored event, its reports and history · /retract ID REASON · it no longer counts

<b>Language</b>
/language ar · العربية · /language en · English""")


def help_text(marks: Mapping[int, str] | None = None, tr: Translator = ENGLISH) -> str:
    """The /start and /help answer."""
    return tr._(HELP).format(marks=tr.iso("".join(mark(n, marks) for n in range(1, 6))))
