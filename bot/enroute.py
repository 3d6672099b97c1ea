"""En route: follow a chat that shares its live location, and tell it of risky segments ahead.

Telegram sends a live location as a message whose ``location.live_period`` says for how long, then
as ``edited_message`` updates carrying the new positions; the last edit (when the user stops, or the
period ends) has no ``live_period``. The journey follows the route the chat asked for last
(``/risk FROM TO``, remembered in the store) when the traveller is on it, else the nearest road,
onwards the way two successive positions show (:mod:`riskengine.enroute`).

On each position the segments ahead within the horizon whose level reaches the chat's threshold
(its lowest subscription minimum, else :data:`riskengine.enroute.DEFAULT_MIN_LEVEL`) and that were
not alerted yet in this journey are claimed in the store, then told here, directly: the message
answers the user's own live location, at once and in the chat's language. A claim is one
transaction, so with several workers each segment is told once per journey; a send that fails
gives its claim back and the next position tries again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from riskengine.enroute import (
    ASKED_ROUTE_FRESH,
    OFF_ROUTE_KM,
    Course,
    Journey,
    Journeys,
    road_course,
)
from riskengine.errors import RiskEngineError
from riskengine.geo import geodesic_km

from . import render
from .i18n import Translator, pick_language

log = logging.getLogger("bot.enroute")

#: Telegram's live_period for "until I stop sharing".
FOREVER = 0x7FFFFFFF
#: Positions closer than this to the last one tell no direction (km).
MIN_MOVE_KM = 0.2


def journeys(context: ContextTypes.DEFAULT_TYPE) -> Journeys:
    """The store's journeys (one helper per bot; it holds no state of its own)."""
    found = context.bot_data.get("journeys")
    if found is None:
        found = context.bot_data["journeys"] = Journeys(context.bot_data["riskengine"].engine.store)
    return found


def seconds(live_period: int | dt.timedelta | None) -> int | None:
    """A location's ``live_period`` in seconds (PTB 22 gives an int; later versions a timedelta)."""
    if isinstance(live_period, dt.timedelta):
        return int(live_period.total_seconds())
    return live_period


def live_until(now: dt.datetime, live_period: int) -> dt.datetime:
    """When a live location shared at ``now`` for ``live_period`` seconds ends."""
    return dt.datetime.max.replace(tzinfo=dt.UTC) if live_period >= FOREVER else now + dt.timedelta(
        seconds=live_period)


def _min_level(d, chat_id: str) -> int:
    mine = d.subscriptions.all(chat_id=chat_id, include_paused=True)
    return min((s.min_level for s in mine), default=d.enroute_min_level)


def _asked_course(d, journey: Journey | None, lat: float, lon: float, now: dt.datetime
                  ) -> tuple[tuple[str, str], Course] | None:
    """The route the chat asked for lately, as a course, when the traveller is on it; else None."""
    if journey is None or not journey.asked_from or journey.asked_at is None:
        return None
    if now - journey.asked_at > ASKED_ROUTE_FRESH:
        return None
    try:
        path = d.engine.network.path(journey.asked_from, journey.asked_to)
    except RiskEngineError:
        return None
    if not path.segments:
        return None
    course = Course.of_path(d.engine.network, path)
    if course.locate(lat, lon).km_off > OFF_ROUTE_KM:
        return None
    return (journey.asked_from, journey.asked_to), course


async def _tr(context: ContextTypes.DEFAULT_TYPE, chat_id: int | str, telegram_lang: str | None) -> Translator:
    from .handlers import translator_for  # noqa: PLC0415 - the handlers import this module

    stored = await asyncio.to_thread(context.bot_data["riskengine"].engine.store.chat_language, chat_id)
    return translator_for(context, pick_language(stored, telegram_lang))


async def _say(context: ContextTypes.DEFAULT_TYPE, chat_id: int | str, text: str) -> None:
    await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Begin following a live location: say along what, then tell what is ahead already."""
    d = context.bot_data["riskengine"]
    message = update.effective_message
    where, chat_id = message.location, str(update.effective_chat.id)
    now = d.clock()
    tr = await _tr(context, chat_id, getattr(update.effective_user, "language_code", None))

    def begin():
        mine = journeys(context)
        asked = _asked_course(d, mine.get(chat_id), where.latitude, where.longitude, now)
        level = _min_level(d, chat_id)
        mine.start(chat_id, message.message_id, lat=where.latitude, lon=where.longitude,
                   live_until=live_until(now, seconds(where.live_period)), route=asked[0] if asked else None,
                   course=asked[1] if asked else None, min_level=level, now=now)
        if asked:
            return asked, None, level
        seg_id, km_off = d.engine.index.nearest(where.latitude, where.longitude)
        return None, d.engine.network.segment(seg_id).road_name if km_off <= OFF_ROUTE_KM else None, level

    asked, road, level = await asyncio.to_thread(begin)
    marks, km = d.policy.level_marks, tr.iso(f"{d.enroute_horizon_km:g}")
    threshold = {"level": tr.iso(level), "mark": render.mark(level, marks),
                 "name": render.esc(tr.level(level, d.engine.rules.level_name(level))), "km": km}
    if asked:
        (a, b), _ = asked
        text = tr._("Following you along <b>{a} {arrow} {b}</b> while you share your live location: I will tell you "
                    "of each segment within {km} km ahead at level {level} {mark} {name} or more.").format(
            a=render.esc(tr.place(a)), arrow=tr.arrow, b=render.esc(tr.place(b)), **threshold)
    elif road is None:
        text = tr._("No road I follow is within {off} km of you: I will follow you once you are near one, and tell "
                    "you of each segment within {km} km ahead at level {level} {mark} {name} or more.").format(
            off=tr.iso(f"{OFF_ROUTE_KM:g}"), **threshold)
    else:
        text = tr._("Following you on the nearest road, <b>{road}</b>, while you share your live location: your "
                    "next position tells me your direction, then I will tell you of each segment within {km} km "
                    "ahead at level {level} {mark} {name} or more.").format(road=tr.iso(render.esc(road)), **threshold)
    await _say(context, chat_id, text)
    await _tell_ahead(context, chat_id, message.message_id, tr)


async def moved(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Follow a new position of a live location; stop when the live location has ended."""
    d = context.bot_data["riskengine"]
    message: Message = update.edited_message
    where, chat_id = message.location, str(update.effective_chat.id)
    now = d.clock()
    mine = journeys(context)
    journey = await asyncio.to_thread(mine.get, chat_id)
    if journey is None or journey.message_id != message.message_id:
        return  # not a journey followed here (an old one, or ended): nothing to say
    tr = await _tr(context, chat_id, getattr(update.effective_user, "language_code", None))
    if not seconds(where.live_period) or (journey.live_until is not None and now >= journey.live_until):
        await end(context, chat_id, message.message_id, tr)
        return

    def step() -> None:
        course = None
        if journey.course is None or _off(d, journey, where):
            if _km(journey.last_lat, journey.last_lon, where.latitude, where.longitude) < MIN_MOVE_KM:
                mine.move(chat_id, message.message_id, lat=journey.last_lat, lon=journey.last_lon, now=now)
                return  # too close to the last position to tell the way: keep the older one
            if d.engine.index.nearest(where.latitude, where.longitude)[1] > OFF_ROUTE_KM:
                mine.move(chat_id, message.message_id, lat=where.latitude, lon=where.longitude, now=now)
                return  # far from any road: no course until the traveller is near one
            course = road_course(d.engine.network, d.engine.index, (journey.last_lat, journey.last_lon),
                                 (where.latitude, where.longitude))
        mine.move(chat_id, message.message_id, lat=where.latitude, lon=where.longitude, now=now, course=course)

    await asyncio.to_thread(step)
    await _tell_ahead(context, chat_id, message.message_id, tr)


def _off(d, journey: Journey, where) -> bool:
    """Whether a position has left the route followed (then the nearest road is followed)."""
    course = Course.from_json(d.engine.network, journey.course)
    return course.locate(where.latitude, where.longitude).km_off > OFF_ROUTE_KM


def _km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float:
    return 0.0 if lat1 is None or lon1 is None else geodesic_km((lat1, lon1), (lat2, lon2))


async def _tell_ahead(context: ContextTypes.DEFAULT_TYPE, chat_id: str, message_id: int, tr: Translator) -> None:
    """Tell the risky segments ahead not told yet in this journey, nearest first."""
    d = context.bot_data["riskengine"]
    now = d.clock()

    def claim() -> list[tuple[dict, float]]:
        mine = journeys(context)
        journey = mine.get(chat_id)
        if journey is None or journey.message_id != message_id or journey.course is None:
            return []
        course = Course.from_json(d.engine.network, journey.course)
        where = course.locate(journey.last_lat, journey.last_lon)
        if where.km_off > OFF_ROUTE_KM:
            return []  # away from the course (and no road near to follow instead): nothing is ahead
        ahead = course.ahead(where.km_along, d.enroute_horizon_km)
        if not ahead:
            return []
        rows = {r["id"]: r for r in d.engine.segments(now)["segments"]}
        level = journey.min_level or d.enroute_min_level
        risky = [(rows[a.segment_id], a.km_to_go) for a in ahead if rows[a.segment_id]["level"] >= level]
        new = set(mine.claim(chat_id, message_id, [row["id"] for row, _ in risky]))
        return [(row, km) for row, km in risky if row["id"] in new]

    marks = d.policy.level_marks
    for row, km in await asyncio.to_thread(claim):
        fields = {"mark": render.mark(row["level"], marks), "segment": render.esc(tr.segment(row["name"])),
                  "road": tr.iso(render.esc(row["road"])), "level": tr.iso(row["level"]),
                  "name": render.esc(tr.level(row["level"], row["level_name"])),
                  "score": tr.iso(f"{row['score']:.1f}"), "km": tr.iso(f"{km:.0f}")}
        if km > 0:
            text = tr._("{mark} <b>{km} km ahead</b>: {segment} ({road}), level {level} {name}, score {score}.")
        else:
            text = tr._("{mark} <b>You are on</b> {segment} ({road}): level {level} {name}, score {score}.")
        try:
            await _say(context, chat_id, text.format(**fields))
        except TelegramError:
            log.warning("could not tell chat %s of segment %s ahead: it is tried again", chat_id, row["id"])
            await asyncio.to_thread(journeys(context).release, chat_id, message_id, [row["id"]])


async def end(context: ContextTypes.DEFAULT_TYPE, chat_id: str, message_id: int | None,
              tr: Translator | None = None) -> None:
    """Stop following a chat (when this worker is the one that ends it) and say so."""
    stopped = await asyncio.to_thread(journeys(context).stop, chat_id, message_id)
    if not stopped:
        return  # ended already (by another update or worker): said once
    tr = tr or await _tr(context, chat_id, None)
    await _say(context, chat_id, tr._("Your live location has ended: I stopped following you."))


async def end_expired(context: ContextTypes.DEFAULT_TYPE) -> None:
    """End the journeys whose live period has run out without a last update (a repeating job)."""
    now = context.bot_data["riskengine"].clock()
    for chat_id, message_id in await asyncio.to_thread(journeys(context).expired, now):
        await end(context, chat_id, message_id)
