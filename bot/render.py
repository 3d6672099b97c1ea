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


def _level(row: Mapping, marks: Mapping[int, str] | None, name: str = "") -> str:
    """``🔴 Sirte - Waddan: High (64.6)`` (without a name: ``🔴 High (64.6)``)."""
    named = f"{esc(name)}: " if name else ""
    return f"{mark(row['level'], marks)} {named}{esc(row['level_name'])} ({row['score']:g})"


def incident_line(row: Mapping, extra: str = "") -> str:
    """One incident on one line: date, type, then its summary (or evidence)."""
    kind = row.get("sub_event_type") or row.get("event_type") or "incident"
    text = row.get("summary") or row.get("evidence") or ""
    extra = f" · {extra}" if extra else ""
    return f"• {esc(row['date'])} · <b>{esc(clip(kind, 60))}</b>{extra} · {esc(clip(text, 170))}"


def route_blocks(doc: Mapping, marks: Mapping[int, str] | None = None, top: int = 3) -> list[str]:
    """A route's risk (``RiskEngine.route``'s document) as blocks."""
    names = {s["id"]: s["name"] for s in doc["segments"]}
    head = (f"{mark(doc['level'], marks)} <b>{esc(doc['level_name'])}</b> · <b>{esc(doc['from'])} → "
            f"{esc(doc['to'])}</b>\nScore {doc['score']:g}/100 · {doc['distance_km']:g} km · via "
            f"{esc(', '.join(doc['via']))}")
    segments = "<b>Segments</b>\n" + "\n".join(
        f"{_level(s, marks, s['name'])} · {s['length_km']:g} km" for s in doc["segments"])
    ranked = sorted(doc["incidents"], key=lambda r: -float(r.get("weight", 0)))[:top]
    if ranked:
        weigh = "<b>What weighs most</b>\n" + "\n".join(incident_line(r) for r in ranked)
    else:
        weigh = "<i>No incident weighs on this route now.</i>"
    blocks = [head, segments, weigh]
    alt = doc.get("alternative")
    if alt:
        avoided = names.get(alt["avoids"], alt["avoids"])
        blocks.append(f"<b>Safer alternative</b>, avoiding {esc(avoided)}:\n{_level(alt, marks)} · "
                      f"{alt['distance_km']:g} km via {esc(', '.join(alt['via']))}")
    blocks.append(f"<i>Assessed {when(doc['at'])}</i>")
    return blocks


def segments_near_blocks(lat: float, lon: float, rows: Sequence[Mapping], radius_km: float, at: dt.datetime,
                         marks: Mapping[int, str] | None = None) -> list[str]:
    """The segments near a shared location, nearest first (rows carry ``distance_km``)."""
    head = f"<b>Roads within {radius_km:g} km of {lat:.4f}, {lon:.4f}</b>"
    if not rows:
        return [head + "\nNo road segment I follow comes that close.", f"<i>Assessed {when(at)}</i>"]
    lines = [f"{_level(r, marks, r['name'])} · {r['distance_km']:.0f} km away" for r in rows]
    return [head + "\n" + "\n".join(lines), f"<i>Assessed {when(at)}</i>"]


def incidents_blocks(place: str, days: int, radius_km: float, rows: Sequence[Mapping], at: dt.datetime) -> list[str]:
    """Recent incidents near a place, newest first (rows carry ``where``: distance or road)."""
    head = f"<b>Incidents within {radius_km:g} km of {esc(place)}, last {days} day{'s' if days != 1 else ''}</b>"
    if not rows:
        body = "None recorded."
    else:
        body = "\n".join(incident_line(r, esc(r["where"])) for r in rows)
    return [head + "\n" + body, f"<i>As of {when(at)}</i>"]


def report_blocks(found: Sequence, added: int, known: int, new_report: bool) -> list[str]:
    """What a filed report yielded: one line per extracted incident (``riskengine.models.Incident``)."""
    if not new_report:
        return ["This report was filed before: nothing new was stored."]
    if not found:
        return ["Report stored, but I found no incident in it (no Libyan place, or no event I recognise)."]
    head = f"<b>Report stored</b>: {added} new incident{'s' if added != 1 else ''}"
    head += f", {known} already known" if known else ""
    lines = []
    for n, inc in enumerate(found, 1):
        kind = esc(inc.event_type) + (f" ({esc(inc.sub_event_type)})" if inc.sub_event_type else "")
        places = ", ".join(p.name for p in inc.places) or inc.location_kind
        conf = "n/a" if inc.confidence is None else f"{inc.confidence:.2f}"
        tags = f" · {esc(', '.join(inc.tags))}" if inc.tags else ""
        lines.append(f"{n}. <b>{kind}</b>{tags} · {esc(clip(places, 80))} · {esc(inc.date)} · confidence {conf}\n"
                     f"   {esc(clip(inc.summary or inc.evidence, 160))}")
    return [head, "\n".join(lines)]


def describe(sub) -> str:
    """What a subscription follows, for people (``Sirte → Sebha``)."""
    return "{} → {}".format(*sub.route) if sub.kind == "route" else sub.describe()


def subscriptions_block(subs: Sequence, marks: Mapping[int, str] | None = None,
                        level_names: Mapping[int, str] | None = None) -> str:
    """A chat's subscriptions, numbered as /unsubscribe N expects."""
    if not subs:
        return "You have no subscriptions. Make one with /subscribe FROM TO [LEVEL]."
    lines = ["<b>Your subscriptions</b>"]
    for n, sub in enumerate(subs, 1):
        name = (level_names or {}).get(sub.min_level, "")
        quiet = f" · quiet {sub.quiet_start}-{sub.quiet_end}" if sub.quiet_start else ""
        paused = " · <i>paused</i>" if sub.paused else ""
        lines.append(f"{n}. {esc(describe(sub))}: from level {sub.min_level} {mark(sub.min_level, marks)} "
                     f"{esc(name)}{quiet}{paused}")
    return "\n".join(lines)


def did_you_mean(text: str, options: Sequence[str], ambiguous: bool) -> str:
    """The question asked about a place the gazetteer does not know (or knows several of)."""
    shown = esc(clip(text, 60))
    if ambiguous:
        return f"“{shown}” may mean several places. Which one?"
    if options:
        return f"I don't know the place “{shown}”. Did you mean:"
    return f"I don't know the place “{shown}”, nor any close to it. Try another spelling or a nearby town."


HELP = """<b>Road risk in Libya</b>, from incident reports: scores 0-100 and levels {marks} (1 to 5) on the \
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

<b>Analysts</b>
/report TEXT · file a report; I store the incidents I find in it"""


def help_text(marks: Mapping[int, str] | None = None) -> str:
    """The /start and /help answer."""
    return HELP.format(marks="".join(mark(n, marks) for n in range(1, 6)))
