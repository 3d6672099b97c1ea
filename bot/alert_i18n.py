"""Alerts in the subscriber's language, for the outbox's Telegram channel.

The engine decides alerts in English (``riskengine.alerts``: the outbox keeps that text, and the
console and webhook channels send it as it is). The Telegram notifier renders each alert in its
chat's language: the language stored for the chat (``/language``, or, for a user whose Telegram
speaks Arabic, recorded when they subscribed). Arabic alerts are rebuilt from the alert's payload
(target, level, score, ...); the incidents' own words (dates, summaries, types) stay as the
reports gave them, isolated inside the right-to-left text. An alert whose payload lacks what is
needed is sent in English.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from riskengine.notify import OutboxAlert
from riskengine.regions import arabic_region_names

from .i18n import _ARABIC_MONTHS, Translator
from .notifier import default_render, render_html

log = logging.getLogger("bot.alerts")

_DEFAULT_MARKS = {1: "🟢", 2: "🟡", 3: "🟠", 4: "🔴", 5: "🟣"}


def target_text(target: str, tr: Translator) -> str:
    """What a subscription follows (``Subscription.describe()``), in the chat's language."""
    if " -> " in target:
        a, b = target.split(" -> ", 1)
        return f"{tr.place(a)} {tr.arrow} {tr.place(b)}"
    m = re.fullmatch(r"within (\S+) km of (.+)", target)
    if m:
        return tr._("within {km} km of {place}").format(km=tr.iso(m.group(1)), place=tr.place(m.group(2)))
    m = re.fullmatch(r"segment (.+)", target)
    if m:
        return tr._("segment {name}").format(name=tr.iso(m.group(1)))
    if tr.rtl and target in arabic_region_names():  # a broadcast channel's region (rules/regions.yaml)
        return arabic_region_names()[target]
    return tr.iso(target)


def _local(at: str, zone: str, tr: Translator) -> str:
    local = dt.datetime.fromisoformat(at).astimezone(ZoneInfo(zone))
    if not tr.rtl:
        return f"{local:%d %b %H:%M} ({zone})"
    where = tr._("Libya time") if zone == "Africa/Tripoli" else tr.iso(zone)
    return f"{local.day} {_ARABIC_MONTHS[local.month - 1]} {tr.iso(f'{local:%H:%M}')} ({where})"


def _listed(lines: list[str], tr: Translator) -> list[str]:
    """The alert's incident lines (``- date summary``), kept in the reports' words."""
    return [f"- {tr.iso(line[2:])}" for line in lines if line.startswith("- ")]


def alert_text(alert: OutboxAlert, tr: Translator, marks: Mapping[int, str] | None = None) -> str:
    """An alert's plain text in ``tr``'s language, from its payload (raises KeyError when it lacks a field)."""
    _ = tr._
    p, lines = alert.payload, alert.text.split("\n")
    if alert.kind == "selftest":
        return alert.text  # written in the chat's language when it was queued (:mod:`bot.selftest`)
    if alert.kind == "correction" and p.get("change") in ("retype", "move"):
        said = _("Correction about {target}: an analyst moved the incident I told you of ({why}): {incident}. "
                 "It is now placed at {now}.") if p["change"] == "move" else _(
            "Correction about {target}: an analyst changed what the incident I told you of was ({why}): "
            "{incident}. It is now {now}.")
        return said.format(target=target_text(p["target"], tr), why=tr.iso(p["why"]),
                           incident=tr.iso(f"{p['date']} {p['summary']}".strip()), now=tr.iso(p["now"]))
    if alert.kind == "correction":
        return _("Correction about {target}: the incident I told you of was retracted by an analyst ({why}): "
                 "{incident}. It no longer counts.").format(
            target=target_text(p["target"], tr), why=tr.iso(p["why"]),
            incident=tr.iso(f"{p['date']} {p['summary']}".strip()))
    mark = (marks or _DEFAULT_MARKS).get(int(p["level"]), "")
    target = target_text(p["target"], tr)
    level, score = tr.iso(p["level"]), tr.iso(f"{float(p['score']):.0f}")
    name = tr.level(int(p["level"]), p.get("level_name"))
    if alert.kind in ("level", "update"):  # an update: the level changed in a situation already told
        previous = int(p["previous_level"])
        out = [_("{mark} {target}: now {level} {name} (score {score}; was {previous} {previous_name})").format(
            mark=mark, target=target, level=level, name=name, score=score, previous=tr.iso(previous),
            previous_name=tr.level(previous))]
        if p.get("worst_segment"):
            out.append(_("Worst stretch: {segment}").format(segment=tr.segment(p["worst_segment"])))
        behind = next((line for line in lines if line.startswith("Behind it: ")), None)
        if behind:
            out.append(_("Behind it: {incident}").format(incident=tr.iso(behind.removeprefix("Behind it: "))))
        zone = next((m.group(1) for line in lines if (m := re.fullmatch(r"(?:Assessed|Updated) .* \((.+)\)", line))),
                    "Africa/Tripoli")
        when = _("Updated {when}") if alert.kind == "update" else _("Assessed {when}")
        out.append(when.format(when=_local(p["at"], zone, tr)))
        new = _listed(lines[lines.index("New:") + 1:], tr) if "New:" in lines else []
        return "\n".join(out + ([_("New:"), *new] if new else []))
    if alert.kind == "allclear":
        zone = next((m.group(1) for line in lines if (m := re.fullmatch(r"Assessed .* \((.+)\)", line))),
                    "Africa/Tripoli")
        return "\n".join([
            _("{mark} {target}: back to {level} {name} (score {score}), below your alert level {min_level}").format(
                mark=mark, target=target, level=level, name=name, score=score, min_level=tr.iso(p["min_level"])),
            _("Assessed {when}").format(when=_local(p["at"], zone, tr))])
    if alert.kind == "incident":
        head = _("{mark} New incident on {target}: {incident}").format(
            mark=mark, target=target, incident=tr.iso(f"{p['date']} {p['summary']}".strip()))
        kind = lines[1] if len(lines) > 2 else str(p.get("event_type", ""))
        killed = re.search(r", (\d+) killed$", kind)
        kind = tr.iso(kind[:killed.start()] if killed else kind)
        if killed:
            kind += _(", {n} killed").format(n=tr.iso(killed.group(1)))
        now = _("{target} is now {level} {name} (score {score}).").format(target=target, level=level, name=name,
                                                                         score=score)
        return "\n".join([head, kind, now])
    if alert.kind == "digest":
        day = re.match(r"Daily digest (\d+ \w+ \d+):", lines[0])
        return "\n".join([
            _("Daily digest {day}: {target}").format(day=tr.iso(day.group(1) if day else p["at"][:10]), target=target),
            f"{mark} {level} {name} " + _("(score {score})").format(score=score),
            _("New incidents in the last 24 h: {n}").format(n=tr.iso(p["recent"])),
            *_listed(lines[3:], tr)])
    raise KeyError(alert.kind)


def localized_render(language_of: Callable[[str], str | None], translator_of: Callable[[str], Translator],
                     marks: Mapping[int, str] | None = None) -> Callable[[OutboxAlert], str]:
    """A ``render`` for :class:`bot.notifier.TelegramNotifier`: each alert in its chat's stored language.

    ``language_of(chat_id)`` is the chat's language (``Store.chat_language``); ``translator_of(lang)``
    its texts. English, or an alert that cannot be rebuilt, renders as :func:`bot.notifier.default_render`.
    """

    def render(alert: OutboxAlert) -> str:
        try:
            lang = language_of(str(alert.chat_id))
        except Exception:  # the store is down: English rather than no alert
            log.warning("no language for chat %s; alert %s in English", alert.chat_id, alert.key)
            lang = None
        tr = translator_of(lang or "en")
        if not tr.rtl and tr.lang == "en":
            return default_render(alert)
        try:
            return render_html(alert_text(alert, tr, marks))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            log.warning("alert %s could not be rendered in %s (%r): sent in English", alert.key, tr.lang, exc)
            return default_render(alert)

    return render
