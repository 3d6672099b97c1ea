"""The bot as a python-telegram-bot 22 ``Application``: its services, its rate limit and its wiring.

:func:`build_application` gives an application ready for ``run_polling()`` (or, in tests,
``initialize()``, ``post_init()``, ``start()`` and ``updater.start_polling()``). The handlers find
what they need in ``application.bot_data["riskengine"]``, a :class:`BotServices`: the engine, the
subscriptions, the alert policy, the clock, and the engine questions the bot asks (place names,
incidents near a place, segments near a point), all synchronous: handlers call them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz
from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from riskengine.alerts import AlertPolicy
from riskengine.engine import RiskEngine
from riskengine.enroute import DEFAULT_HORIZON_KM, DEFAULT_MIN_LEVEL
from riskengine.gazetteer import KIND_RANK, normalize_name
from riskengine.geo import lonlat_point, to_metric
from riskengine.subscriptions import Subscriptions

from . import dialogs, enroute, handlers, selftest
from .handlers import MAX_PLACE_WORDS, NEAR_KM
from .i18n import N_
from .pictures import RoutePicture
from .ratelimit import RateLimit
from .settings import BotSettings

log = logging.getLogger("bot")

SEPARATORS = frozenset({"-", "–", "—", "->", "→", "←", "to", "إلى", "الى"})
COMMANDS = [("risk", N_("Risk of a road route: /risk Sirte Sebha")), ("routes", N_("The main routes")),
            ("incidents", N_("Recent incidents near a place: /incidents Sokna")),
            ("subscribe", N_("Alerts about a route: /subscribe Misrata Sebha 3")),
            ("subscriptions", N_("Your subscriptions")), ("unsubscribe", N_("Stop a subscription")),
            ("quiet", N_("Quiet hours: /quiet 22:00-06:00")), ("report", N_("File a report (analysts)")),
            ("language", N_("Language: /language ar · /language en")),
            ("selftest", N_("Send me a test alert and measure its delay")), ("help", N_("What this bot does"))]


@dataclass(frozen=True)
class Side:
    """One place as the user wrote it: its canonical name, or the names it may mean."""

    text: str
    name: str | None
    options: tuple[str, ...] = ()
    ambiguous: bool = False

    def score(self) -> float:
        """How good a reading this is (a known place beats any guess)."""
        if self.name:
            return 200.0
        return fuzz.WRatio(normalize_name(self.text), normalize_name(self.options[0])) if self.options else 0.0


@dataclass
class BotServices:
    """What the handlers share, and the engine questions they ask (synchronous)."""

    engine: RiskEngine
    settings: BotSettings
    subscriptions: Subscriptions
    policy: AlertPolicy
    board_routes: list[tuple[str, str]]
    clock: Callable[[], dt.datetime]
    #: Draws a route's picture for /risk (synchronous, thread-safe); None: answers without pictures.
    pictures: Callable[[str, str, dt.datetime], RoutePicture] | None = None
    #: Sends what the outbox holds due now (the scheduler's dispatch job); None: /selftest waits for the
    #: dispatcher's next turn.
    deliver_now: Callable[[], object] | None = None
    #: How long /selftest waits for its test alert to be delivered (seconds).
    selftest_timeout: float = 30.0
    #: En route: how much road ahead of a traveller sharing a live location is watched (km), and
    #: the level a segment must reach to be told (a chat's lowest subscription minimum wins).
    enroute_horizon_km: float = DEFAULT_HORIZON_KM
    enroute_min_level: int = DEFAULT_MIN_LEVEL

    def resolve_side(self, text: str) -> Side:
        """One place name: known, ambiguous (several places, none clearly first) or unknown."""
        text = " ".join(text.replace("|", " ").split())
        distinct = list({p.name: p for p in self.engine.gazetteer.lookup(text)}.values())
        if not distinct:
            return Side(text, None, tuple(self.engine.gazetteer.suggest(text)))
        first = distinct[0]
        own_name = normalize_name(first.name) == normalize_name(text)
        if len(distinct) > 1 and not own_name and KIND_RANK.get(first.kind) == KIND_RANK.get(distinct[1].kind):
            return Side(text, None, tuple(p.name for p in distinct[:5]), ambiguous=True)
        return Side(text, first.name)

    def resolve_pair(self, words: Sequence[str], explicit: bool = False) -> tuple[Side, Side] | None:
        """Two places: split at a separator ("-", "to"), else where both resolve (else the likeliest split).

        With ``explicit`` the words are the two places (a button's). None when the words cannot be two
        places (fewer than two words, or too many).
        """
        if explicit:
            return (self.resolve_side(words[0]), self.resolve_side(words[1])) if len(words) == 2 else None
        words = [w for w in words if w.strip()]
        if not 2 <= len(words) <= 2 * MAX_PLACE_WORDS + 1:
            return None
        cut = next((i for i, w in enumerate(words) if w.lower() in SEPARATORS and 0 < i < len(words) - 1), None)
        if cut is not None:
            return self.resolve_side(" ".join(words[:cut])), self.resolve_side(" ".join(words[cut + 1:]))
        best, best_score = None, -1.0
        for i in range(1, len(words)):
            if i > MAX_PLACE_WORDS or len(words) - i > MAX_PLACE_WORDS:
                continue
            pair = self.resolve_side(" ".join(words[:i])), self.resolve_side(" ".join(words[i:]))
            if pair[0].name and pair[1].name:
                return pair
            score = pair[0].score() + pair[1].score()
            if score > best_score:
                best, best_score = pair, score
        return best

    def incidents_near(self, place: str, days: int, now: dt.datetime, radius_km: float = NEAR_KM,
                       limit: int = 10) -> list[dict]:
        """Incidents of the last ``days`` days within ``radius_km`` of a place, newest first."""
        where = self.engine.gazetteer.resolve(place)
        today = now.astimezone(dt.UTC).date()
        frame = self.engine.store.events_frame(until=today)
        if frame.empty:
            return []
        frame = frame[pd.to_datetime(frame["date"]).dt.date >= today - dt.timedelta(days=days)]
        _, ids, kms = self.engine.index.nearest_points(np.array([where.lat]), np.array([where.lon]), radius_km)
        near_segments: dict[str, float] = {}
        for seg_id, km in zip(ids.tolist(), kms.tolist(), strict=True):
            near_segments[seg_id] = min(km, near_segments.get(seg_id, km))
        origin = to_metric(lonlat_point(where.lat, where.lon))
        rows = []
        for _, inc in frame.iterrows():
            if pd.notna(inc["lat"]) and pd.notna(inc["lon"]):
                km = shapely.distance(origin, to_metric(lonlat_point(inc["lat"], inc["lon"]))) / 1000.0
                label = f"{km:.0f} km away"
            elif inc["geometry_wkt"]:
                km = shapely.distance(origin, to_metric(shapely.from_wkt(inc["geometry_wkt"]))) / 1000.0
                label = "in the area" if km == 0 else f"area {km:.0f} km away"
            else:
                km = min((near_segments[s] for s in inc["segments"] or [] if s in near_segments), default=np.inf)
                label = f"on the road, {km:.0f} km away"
            if km <= radius_km:
                rows.append({"date": inc["date"].isoformat(), "event_type": inc["event_type"],
                             "sub_event_type": inc["sub_event_type"], "summary": inc["summary"],
                             "evidence": inc["evidence"], "where": label, "km": km})
        rows.sort(key=lambda r: (r["date"], -r["km"]), reverse=True)
        return rows[:limit]

    def segments_near(self, lat: float, lon: float, now: dt.datetime, radius_km: float = NEAR_KM,
                      limit: int = 15) -> list[dict]:
        """The segments within ``radius_km`` of a point with their levels now, nearest first."""
        _, ids, kms = self.engine.index.nearest_points(np.array([lat]), np.array([lon]), radius_km)
        nearest: dict[str, float] = {}
        for seg_id, km in zip(ids.tolist(), kms.tolist(), strict=True):
            nearest[seg_id] = min(km, nearest.get(seg_id, km))
        if not nearest:
            return []
        rows = [dict(row, distance_km=nearest[row["id"]]) for row in self.engine.segments(now)["segments"]
                if row["id"] in nearest]
        return sorted(rows, key=lambda r: r["distance_km"])[:limit]


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Hold each user to the rate limit: one "slow down" line when over it, then silence."""
    user = update.effective_user
    if user is None or update.edited_message is not None:
        return  # a live location's new positions are Telegram's doing, not commands
    verdict = await asyncio.to_thread(context.bot_data["rate_limit"].check, user.id)  # a store transaction
    if verdict == "ok":
        return
    if verdict == "warn" and update.effective_chat is not None:
        per_minute = context.bot_data["riskengine"].settings.commands_per_minute
        tr = await handlers.tr_of(update, context)
        await context.bot.send_message(update.effective_chat.id, tr._(
            "Slow down, please: at most {n} commands a minute.").format(n=tr.iso(per_minute)),
                                       parse_mode=ParseMode.HTML)
    elif update.callback_query:
        await update.callback_query.answer()
    raise ApplicationHandlerStop


async def post_init(application: Application) -> None:
    """Publish the command list (the menu users see)."""
    await application.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
    arabic = handlers.translator("ar")  # the menu of users whose Telegram speaks Arabic
    await application.bot.set_my_commands([BotCommand(name, arabic._(text)) for name, text in COMMANDS],
                                          language_code="ar")


def build_application(engine: RiskEngine, settings: BotSettings, *, subscriptions: Subscriptions,
                      policy: AlertPolicy, board_routes: Sequence[tuple[str, str]],
                      clock: Callable[[], dt.datetime],
                      pictures: Callable[[str, str, dt.datetime], RoutePicture] | None = None) -> Application:
    """The bot, wired to an engine.

    Parameters
    ----------
    engine : RiskEngine
        The engine the bot asks (synchronous; called in worker threads).
    settings : BotSettings
        Token, Bot API server, analysts and the per-user rate.
    subscriptions : Subscriptions
        Where /subscribe and friends keep the chats' subscriptions (channel ``telegram``).
    policy : AlertPolicy
        For the level marks and the quiet-hours hold level.
    board_routes : sequence of (str, str)
        The main routes /routes offers.
    clock : callable
        Returns the current time, an aware UTC datetime.
    pictures : callable, optional
        Draws a route's picture (``pictures(start, end, at)``, e.g. :class:`bot.pictures.RoutePictures`),
        sent after each /risk answer; without it /risk answers in text only.

    Returns
    -------
    telegram.ext.Application
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request, token in the URL
    builder = Application.builder().token(settings.token).rate_limiter(AIORateLimiter()).post_init(post_init)
    if settings.api_base_url:
        builder = builder.base_url(f"{settings.api_base_url}/bot").base_file_url(
            f"{settings.api_base_url}/file/bot")
    app = builder.concurrent_updates(8).build()
    app.bot_data["riskengine"] = BotServices(engine, settings, subscriptions, policy,
                                             [tuple(r) for r in board_routes], clock, pictures)
    app.bot_data["rate_limit"] = RateLimit(engine.store, settings.commands_per_minute)  # shared by workers
    app.add_handler(TypeHandler(Update, guard), group=-1)
    dialogs.install(app)  # a command drops the chat's open question
    commands = {"start": handlers.start, "help": handlers.start, "risk": handlers.risk, "routes": handlers.routes,
                "incidents": handlers.incidents, "subscribe": handlers.subscribe,
                "subscriptions": handlers.subscriptions, "unsubscribe": handlers.unsubscribe,
                "quiet": handlers.quiet, "report": handlers.report, "language": handlers.language,
                "incident": handlers.incident, "retract": handlers.retract, "selftest": selftest.selftest}
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(handlers.button_pressed))
    # a live location: its first message starts a journey (handlers.location), its edits move it
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.LOCATION, enroute.moved))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.LOCATION, handlers.location))
    app.add_handler(MessageHandler(filters.COMMAND, handlers.unknown_command))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL, handlers.anything_else))
    app.add_error_handler(handlers.on_error)
    if app.job_queue is not None:  # live locations that ran out without a last update
        app.job_queue.run_repeating(enroute.end_expired, interval=60, first=60, name="enroute-expired")
    return app
