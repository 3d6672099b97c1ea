"""The bot's handlers: each reads its arguments, asks the engine (in a worker thread) and answers in HTML.

What they need is in ``context.bot_data["riskengine"]`` (:class:`bot.app.BotServices`); its
methods and the engine are synchronous, so every call goes through ``asyncio.to_thread``, and the
time comes from its clock. A place name the gazetteer does not know (or knows several of) is
answered with "did you mean" buttons whose callback data (``risk|FROM|TO``, ``inc|PLACE|DAYS``,
``sub|FROM|TO|LEVEL``, ``unsub|ID``) re-enters the same code. Arguments are untrusted: lengths
are capped and everything echoed is escaped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from riskengine.errors import RiskEngineError
from riskengine.subscriptions import SubscriptionError, parse_quiet_hours

from . import render

if TYPE_CHECKING:
    from .app import BotServices, Side

log = logging.getLogger("bot.handlers")

NEAR_KM = 50.0
MAX_ARGS_CHARS = 200
MAX_PLACE_WORDS = 8
CALLBACK_LIMIT = 64
USAGE = {
    "risk": "Usage: /risk FROM TO, e.g. /risk Sirte Sebha or /risk Bani Walid - Sebha",
    "incidents": "Usage: /incidents PLACE [DAYS], e.g. /incidents Sokna 14",
    "subscribe": "Usage: /subscribe FROM TO [LEVEL 1-5], e.g. /subscribe Misrata Sebha 3",
    "unsubscribe": "Usage: /unsubscribe N (the number in /subscriptions) or /unsubscribe all",
    "quiet": "Usage: /quiet HH:MM-HH:MM (Libya time), e.g. /quiet 22:00-06:00, or /quiet off",
}


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    return context.bot_data["riskengine"]


async def send(update: Update, context: ContextTypes.DEFAULT_TYPE, blocks: Sequence[str] | str,
               buttons: Sequence[Sequence[InlineKeyboardButton]] | None = None) -> None:
    """Send blocks of HTML to the chat, packed into messages; the buttons go under the last one."""
    messages = render.pack([blocks] if isinstance(blocks, str) else blocks) or ["…"]
    markup = InlineKeyboardMarkup(buttons) if buttons else None
    for n, text in enumerate(messages):
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML,
                                       disable_web_page_preview=True,
                                       reply_markup=markup if n == len(messages) - 1 else None)


def button(label: str, data: str) -> InlineKeyboardButton | None:
    """An inline button, or None when its data would pass Telegram's 64-byte limit."""
    if len(data.encode()) > CALLBACK_LIMIT:
        return None
    return InlineKeyboardButton(render.clip(label, 40), callback_data=data)


def rows_of(buttons: Sequence[InlineKeyboardButton | None], width: int = 2) -> list[list[InlineKeyboardButton]]:
    kept = [b for b in buttons if b is not None]
    return [kept[i:i + width] for i in range(0, len(kept), width)]


def _args_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or [])


def _too_long(text: str) -> bool:
    return len(text) > MAX_ARGS_CHARS


async def usage(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, problem: str = "") -> None:
    """Answer with a command's usage line, after what was wrong."""
    await send(update, context, render.esc(f"{problem} {USAGE[command]}".strip()))


def suggestion_buttons(pair: Sequence[Side], make: Callable[[str, str], str]) -> tuple[str, list]:
    """The question about the first unresolved place of a pair, and buttons that answer it."""
    which = 0 if pair[0].name is None else 1
    side, other = pair[which], pair[1 - which]
    buttons = []
    for option in side.options:
        a, b = (option, other.name or other.text) if which == 0 else (other.name or other.text, option)
        buttons.append(button(option, make(a, b)))
    question = render.did_you_mean(side.text, side.options, side.ambiguous)
    if side.options and not any(buttons):
        question += " " + render.esc(", ".join(side.options))
    return question, rows_of(buttons)


# ---- /start, /help, /risk, /routes -------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot does, with examples."""
    await send(update, context, render.help_text(deps(context).policy.level_marks))


async def resolve_or_ask(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], explicit: bool,
                         command: str, button: Callable[[str, str], str]) -> tuple[str, str] | None:
    """The two places the words name; or None after asking which was meant (or showing the usage)."""
    pair = await asyncio.to_thread(deps(context).resolve_pair, words, explicit=explicit)
    if pair is None:
        await usage(update, context, command)
        return None
    if not (pair[0].name and pair[1].name):
        question, buttons = suggestion_buttons(pair, button)
        await send(update, context, question, buttons)
        return None
    return pair[0].name, pair[1].name


async def answer_route(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str],
                       explicit: bool = False) -> None:
    """Answer with the risk of the route the words name, or ask which place was meant."""
    d = deps(context)
    names = await resolve_or_ask(update, context, words, explicit, "risk", lambda a, b: f"risk|{a}|{b}")
    if names is None:
        return
    a, b = names
    if a == b:
        await send(update, context, f"{render.esc(a)} to {render.esc(a)}: give two different places.")
        return
    try:
        doc = await asyncio.to_thread(d.engine.route, a, b, d.clock())
    except RiskEngineError as exc:
        await send(update, context, f"No route from {render.esc(a)} to {render.esc(b)}: {render.esc(exc)}")
        return
    if not doc["segments"]:
        await send(update, context, f"{render.esc(a)} and {render.esc(b)} meet the road network at the same "
                                    "place: pick towns further apart.")
        return
    await send(update, context, render.route_blocks(doc, d.policy.level_marks))


async def risk(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with the risk of the road route between two places."""
    if _too_long(_args_text(context)):
        return await usage(update, context, "risk", "That is too long for two place names.")
    await answer_route(update, context, context.args or [])


async def routes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the board's main routes as buttons."""
    board = deps(context).board_routes
    buttons = rows_of([button(f"{a} → {b}", f"risk|{a}|{b}") for a, b in board])
    if not buttons:
        await send(update, context, "No main routes are configured. Ask with /risk FROM TO.")
        return
    await send(update, context, "<b>Main routes</b>: tap one for its risk today.", buttons)


async def answer_incidents(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], days: int
                           ) -> None:
    """Answer with the recent incidents near the place the words name."""
    d = deps(context)
    side = await asyncio.to_thread(d.resolve_side, " ".join(words))
    if side.name is None:
        buttons = rows_of([button(o, f"inc|{o}|{days}") for o in side.options])
        await send(update, context, render.did_you_mean(side.text, side.options, side.ambiguous), buttons)
        return
    now = d.clock()
    rows = await asyncio.to_thread(d.incidents_near, side.name, days, now)
    await send(update, context, render.incidents_blocks(side.name, days, NEAR_KM, rows, now))


async def incidents(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with the recent incidents near a place."""
    words = list(context.args or [])
    days = 7
    if words and words[-1].isdigit():
        days = int(words.pop())
        if not 1 <= days <= 365:
            return await usage(update, context, "incidents", "DAYS is 1 to 365.")
    if not words or len(words) > MAX_PLACE_WORDS or _too_long(" ".join(words)):
        return await usage(update, context, "incidents")
    await answer_incidents(update, context, words, days)


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a shared location with the road segments near it and their levels."""
    d = deps(context)
    where = update.effective_message.location
    now = d.clock()
    rows = await asyncio.to_thread(d.segments_near, where.latitude, where.longitude, now)
    await send(update, context, render.segments_near_blocks(where.latitude, where.longitude, rows, NEAR_KM, now,
                                                            d.policy.level_marks))


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """File an analyst's report: extract its incidents, store them and say what was found."""
    d = deps(context)
    if update.effective_chat.id not in d.settings.analysts:
        await send(update, context, "Sorry, only the analysts' chats may file reports. You can still ask "
                                    "/risk, /incidents and /routes.")
        return
    parts = (update.effective_message.text or "").split(maxsplit=1)
    text = parts[1].strip() if len(parts) > 1 else ""
    if not text:
        await send(update, context, "Usage: /report TEXT, the report as you would write it (places, what "
                                    "happened, when).")
        return
    now = d.clock()

    def file_report():
        found = d.engine.extract_text(text, now.date(), source_reliability="B")
        result = d.engine.ingest_text(text, source=f"telegram:{update.effective_user.id}", published=now.date(),
                                      now=now, source_reliability="B")
        return found, result

    found, result = await asyncio.to_thread(file_report)
    await send(update, context, render.report_blocks(found, result.incidents_added, result.incidents_known,
                                                     result.new_report))


# ---- subscriptions -------------------------------------------------------------------------------------


async def answer_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], level: int,
                           explicit: bool = False) -> None:
    """Subscribe the chat to the route the words name (after checking a road joins them)."""
    d = deps(context)
    names = await resolve_or_ask(update, context, words, explicit, "subscribe",
                                 lambda a, b: f"sub|{a}|{b}|{level}")
    if names is None:
        return
    a, b = names
    chat_id, now = str(update.effective_chat.id), d.clock()

    def subscribe():
        doc = d.engine.route(a, b, now)
        if not doc["segments"]:
            raise RiskEngineError("both ends meet the road network at the same place")
        mine = d.subscriptions.all(chat_id=chat_id, include_paused=True)
        quiet = next(((s.quiet_start, s.quiet_end) for s in mine if s.quiet_start and s.quiet_end), None)
        sub = d.subscriptions.add(chat_id=chat_id, channel="telegram", kind="route", target=f"{a}|{b}",
                                  min_level=level, now=now, quiet=quiet)
        return doc, sub

    try:
        doc, sub = await asyncio.to_thread(subscribe)
    except RiskEngineError as exc:
        await send(update, context, f"Cannot follow {render.esc(a)} → {render.esc(b)}: {render.esc(exc)}")
        return
    marks = d.policy.level_marks
    await send(update, context, (
        f"Subscribed: <b>{render.esc(render.describe(sub))}</b>. I will tell you when it reaches level {level} "
        f"{render.mark(level, marks)} {render.esc(d.engine.rules.level_name(level))} or more, and of grave new "
        f"incidents on it.\nNow: {render.mark(doc['level'], marks)} {render.esc(doc['level_name'])} "
        f"({doc['score']:g}). See all with /subscriptions."))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe the chat to alerts about a route."""
    words, level = list(context.args or []), 3
    if words and words[-1].isdigit():
        level = int(words.pop())
        if not 1 <= level <= 5:
            return await usage(update, context, "subscribe", "LEVEL is 1 to 5.")
    if _too_long(" ".join(words)):
        return await usage(update, context, "subscribe", "That is too long for two place names.")
    await answer_subscribe(update, context, words, level)


async def list_subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: str = "") -> None:
    """List the chat's subscriptions, each with a remove button."""
    d = deps(context)
    subs = await asyncio.to_thread(d.subscriptions.all, chat_id=str(update.effective_chat.id), include_paused=True)
    names = {n: d.engine.rules.level_name(n) for n in range(1, 6)}
    text = render.subscriptions_block(subs, d.policy.level_marks, names)
    buttons = rows_of([button(f"✖ Remove {n}: {render.describe(s)}", f"unsub|{s.id}")
                       for n, s in enumerate(subs, 1)], 1)
    await send(update, context, [prompt, text] if subs and prompt else text, buttons)


async def subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the chat's subscriptions with remove buttons."""
    await list_subscriptions(update, context)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remove a subscription by its number, or all of them; without one, list them with remove buttons."""
    d = deps(context)
    args = context.args or []
    if not args:
        await list_subscriptions(update, context, "Which one? Tap to remove:")
        return
    chat_id = str(update.effective_chat.id)
    subs = await asyncio.to_thread(d.subscriptions.all, chat_id=chat_id, include_paused=True)
    if len(args) == 1 and args[0].lower() == "all":
        chosen = subs
    elif len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= len(subs):
        chosen = [subs[int(args[0]) - 1]]
    else:
        return await usage(update, context, "unsubscribe", f"You have {len(subs)} subscription(s).")
    for sub in chosen:
        await asyncio.to_thread(d.subscriptions.remove, sub.id, chat_id=chat_id)
    gone = ", ".join(render.describe(s) for s in chosen) or "nothing (you had no subscriptions)"
    await send(update, context, f"Removed: {render.esc(gone)}.")


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set or clear the quiet hours of all the chat's subscriptions."""
    d = deps(context)
    arg = _args_text(context).strip()
    chat_id = str(update.effective_chat.id)
    if not arg or _too_long(arg):
        return await usage(update, context, "quiet")
    if arg.lower() in {"off", "none", "clear"}:
        hours = None
    else:
        try:
            hours = parse_quiet_hours(arg)
        except SubscriptionError as exc:
            return await usage(update, context, "quiet", render.clip(exc, 120) + ".")
    changed = await asyncio.to_thread(d.subscriptions.set_quiet_hours, chat_id, hours)
    if not changed:
        await send(update, context, "You have no subscriptions yet; quiet hours apply to them. Try /subscribe.")
    elif hours is None:
        await send(update, context, f"Quiet hours off for your {changed} subscription(s): alerts come at once.")
    else:
        hold = d.policy.quiet_hours.hold_below_level
        await send(update, context, (
            f"Quiet hours {hours[0]}-{hours[1]} (Libya time) for your {changed} subscription(s): alerts below "
            f"level {hold} {render.esc(d.engine.rules.level_name(hold))} wait until they end."))


# ---- buttons ------------------------------------------------------------------------------------------


async def remove_by_button(update: Update, context: ContextTypes.DEFAULT_TYPE, sub_id: int) -> None:
    """Remove the subscription a button names (only the chat's own) and drop the button."""
    d = deps(context)
    chat_id = str(update.effective_chat.id)
    sub = await asyncio.to_thread(d.subscriptions.get, sub_id)
    removed = sub is not None and sub.chat_id == chat_id and await asyncio.to_thread(
        d.subscriptions.remove, sub_id, chat_id=chat_id)
    if not removed:
        await send(update, context, "That subscription is already gone. See /subscriptions.")
        return
    message = update.callback_query.message
    markup = getattr(message, "reply_markup", None)
    if markup is not None:
        keep = [[b for b in row if b.callback_data != f"unsub|{sub_id}"] for row in markup.inline_keyboard]
        try:
            await message.edit_reply_markup(InlineKeyboardMarkup([row for row in keep if row]))
        except TelegramError:
            pass  # an old message may not be editable any more; the removal stands
    await send(update, context, f"Removed: {render.esc(render.describe(sub))}.")


async def button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer an inline button: a route, a place's incidents, a subscription, or a removal."""
    query = update.callback_query
    await query.answer()
    parts = (query.data or "").split("|")
    action, args = parts[0], parts[1:]
    if action == "risk" and len(args) == 2:
        await answer_route(update, context, args, explicit=True)
    elif action == "inc" and len(args) == 2 and args[1].isdigit() and 1 <= int(args[1]) <= 365:
        await answer_incidents(update, context, args[0].split(), int(args[1]))
    elif action == "sub" and len(args) == 3 and args[2] in {"1", "2", "3", "4", "5"}:
        await answer_subscribe(update, context, args[:2], int(args[2]), explicit=True)
    elif action == "unsub" and len(args) == 1 and args[0].isdigit():
        await remove_by_button(update, context, int(args[0]))
    else:
        await send(update, context, "That button is no longer valid. Send /help to start again.")


# ---- everything else ------------------------------------------------------------------------------


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point an unknown command to /help."""
    word = ((update.effective_message.text or "").split() or ["/"])[0]
    if "@" in word and word.split("@", 1)[1].lower() != (context.bot.username or "").lower():
        return  # a command for another bot in a group
    await send(update, context, f"I don't know {render.esc(render.clip(word, 40))}. Send /help to see what I can do.")


async def anything_else(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer plain text and anything else with a pointer to the commands."""
    await send(update, context, "I answer commands, e.g. /risk Sirte Sebha, and shared locations. Send /help for "
                                "the rest.")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an error, and tell the user their request failed (without the details)."""
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(update.effective_chat.id, (
            "Sorry, something went wrong on my side while answering that; it has been logged. Please try again "
            "in a minute, or send /help."), parse_mode=ParseMode.HTML)
    except TelegramError:
        log.warning("could not tell chat %s about the error", update.effective_chat.id)
