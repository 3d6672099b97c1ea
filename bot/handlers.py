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
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from riskengine.errors import RiskEngineError
from riskengine.subscriptions import SubscriptionError, SubscriptionLimitError, parse_quiet_hours

from . import choices, dialogs, enroute, pictures, render
from .channels import MAX_POST_CHARS
from .i18n import N_, Translator, arabic_names, normalize_language, pick_language, translator

if TYPE_CHECKING:
    from .app import BotServices, Side

log = logging.getLogger("bot.handlers")

NEAR_KM = 50.0
MAX_ARGS_CHARS = 200
MAX_PLACE_WORDS = 8
CALLBACK_LIMIT = 64
USAGE = {
    "risk": N_("Usage: /risk FROM TO, e.g. /risk Sirte Sebha or /risk Bani Walid - Sebha"),
    "incidents": N_("Usage: /incidents PLACE [DAYS], e.g. /incidents Sokna 14"),
    "subscribe": N_("Usage: /subscribe FROM TO [LEVEL 1-5], e.g. /subscribe Misrata Sebha 3"),
    "unsubscribe": N_("Usage: /unsubscribe N (the number in /subscriptions) or /unsubscribe all"),
    "quiet": N_("Usage: /quiet HH:MM-HH:MM (Libya time), e.g. /quiet 22:00-06:00, or /quiet off"),
    "language": N_("Usage: /language ar (العربية) or /language en (English)"),
}


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    return context.bot_data["riskengine"]


def translator_for(context: ContextTypes.DEFAULT_TYPE, lang: str) -> Translator:
    """The texts of a language, with the gazetteer's Arabic place names (looked up once per bot)."""
    names = context.bot_data.get("arabic_names")
    if names is None:
        names = context.bot_data["arabic_names"] = arabic_names(deps(context).engine.gazetteer)
    return translator(lang, names)


async def tr_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Translator:
    """The chat's language: its ``/language`` choice (stored), else the user's Telegram language."""
    chat, user = update.effective_chat, update.effective_user
    stored = await asyncio.to_thread(deps(context).engine.store.chat_language, chat.id) if chat else None
    return translator_for(context, pick_language(stored, getattr(user, "language_code", None)))


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


async def usage(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, problem: str = "",
                tr: Translator | None = None) -> None:
    """Answer with a command's usage line, after what was wrong (``problem``: a msgid, or text already
    in the chat's language)."""
    tr = tr or await tr_of(update, context)
    await send(update, context, render.esc(f"{tr._(problem) if problem else ''} {tr._(USAGE[command])}".strip()))


def suggestion_buttons(pair: Sequence[Side], make: Callable[[str, str], str],
                       tr: Translator | None = None) -> tuple[str, list]:
    """The question about the first unresolved place of a pair, and buttons that answer it."""
    tr = tr or translator("en")
    which = 0 if pair[0].name is None else 1
    side, other = pair[which], pair[1 - which]
    buttons = []
    for option in side.options:
        a, b = (option, other.name or other.text) if which == 0 else (other.name or other.text, option)
        buttons.append(button(tr.place(option), make(a, b)))
    question = render.did_you_mean(side.text, side.options, side.ambiguous, tr)
    if side.options and not any(buttons):
        question += " " + render.esc(tr.comma.join(tr.place(o) for o in side.options))
    return question, rows_of(buttons)


# ---- /start, /help, /risk, /routes -------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot does, with examples."""
    await send(update, context, render.help_text(deps(context).policy.level_marks, await tr_of(update, context)))


async def resolve_or_ask(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], explicit: bool,
                         command: str, button: Callable[[str, str], str], tr: Translator
                         ) -> tuple[str, str] | None:
    """The two places the words name; or None after asking which was meant (or showing the usage)."""
    pair = await asyncio.to_thread(deps(context).resolve_pair, words, explicit=explicit)
    if pair is None:
        await usage(update, context, command, tr=tr)
        return None
    if not (pair[0].name and pair[1].name):
        question, buttons = suggestion_buttons(pair, button, tr)
        await send(update, context, question, buttons)
        return None
    return pair[0].name, pair[1].name


async def answer_route(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str],
                       explicit: bool = False) -> None:
    """Answer with the risk of the route the words name, or ask which place was meant."""
    d = deps(context)
    tr = await tr_of(update, context)
    names = await resolve_or_ask(update, context, words, explicit, "risk", lambda a, b: f"risk|{a}|{b}", tr)
    if names is None:
        return
    a, b = names
    ea, eb = render.esc(tr.place(a)), render.esc(tr.place(b))
    if a == b:
        await send(update, context, tr._("{a} to {b}: give two different places.").format(a=ea, b=ea))
        return
    now = d.clock()
    try:
        doc = await asyncio.to_thread(d.engine.route, a, b, now)
    except RiskEngineError as exc:
        await send(update, context, tr._("No route from {a} to {b}: {why}").format(
            a=ea, b=eb, why=tr.iso(render.esc(exc))))
        return
    if not doc["segments"]:
        await send(update, context, tr._("{a} and {b} meet the road network at the same place: pick towns further "
                                         "apart.").format(a=ea, b=eb))
        return
    await asyncio.to_thread(enroute.journeys(context).remember_route, update.effective_chat.id, a, b, now)
    await send(update, context, render.route_blocks(doc, d.policy.level_marks, tr=tr))
    await send_route_picture(update, context, a, b, now, tr)


async def send_route_picture(update: Update, context: ContextTypes.DEFAULT_TYPE, a: str, b: str,
                             at: dt.datetime, tr: Translator) -> None:
    """Send the route's picture after its answer (drawn in a worker thread); a failure is only logged."""
    d = deps(context)
    if d.pictures is None:
        return
    try:
        picture = await asyncio.to_thread(d.pictures, a, b, at)
        await context.bot.send_photo(update.effective_chat.id, picture.png,
                                     caption=pictures.caption(picture, tr, d.policy.level_marks))
    except Exception:  # the answer is out already: the picture is a bonus, never the user's problem
        log.exception("the picture of %s -> %s could not be sent to chat %s", a, b, update.effective_chat.id)


async def risk(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with the risk of the road route between two places (asked for when none are given)."""
    if _too_long(_args_text(context)):
        return await usage(update, context, "risk", N_("That is too long for two place names."))
    if not context.args:
        return await dialogs.ask_route(update, context, "risk", await tr_of(update, context))
    await answer_route(update, context, context.args)


async def routes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the board's main routes as buttons."""
    board = deps(context).board_routes
    tr = await tr_of(update, context)
    buttons = rows_of([button(f"{tr.place(a)} {tr.arrow} {tr.place(b)}", f"risk|{a}|{b}") for a, b in board])
    if not buttons:
        await send(update, context, tr._("No main routes are configured. Ask with /risk FROM TO."))
        return
    await send(update, context, tr._("<b>Main routes</b>: tap one for its risk today."), buttons)


async def answer_incidents(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], days: int
                           ) -> None:
    """Answer with the recent incidents near the place the words name."""
    d = deps(context)
    tr = await tr_of(update, context)
    side = await asyncio.to_thread(d.resolve_side, " ".join(words))
    if side.name is None:
        buttons = rows_of([button(tr.place(o), f"inc|{o}|{days}") for o in side.options])
        await send(update, context, render.did_you_mean(side.text, side.options, side.ambiguous, tr), buttons)
        return
    now = d.clock()
    rows = await asyncio.to_thread(d.incidents_near, side.name, days, now)
    await send(update, context, render.incidents_blocks(side.name, days, NEAR_KM, rows, now, tr))


async def incidents(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with the recent incidents near a place."""
    words = list(context.args or [])
    days = 7
    if words and words[-1].isdigit():
        days = int(words.pop())
        if not 1 <= days <= 365:
            return await usage(update, context, "incidents", N_("DAYS is 1 to 365."))
    if not words or len(words) > MAX_PLACE_WORDS or _too_long(" ".join(words)):
        return await usage(update, context, "incidents")
    await answer_incidents(update, context, words, days)


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a shared location with the road segments near it; follow a live one (:mod:`bot.enroute`)."""
    d = deps(context)
    where = update.effective_message.location
    if enroute.seconds(where.live_period):
        await enroute.start(update, context)
        return
    now = d.clock()
    rows = await asyncio.to_thread(d.segments_near, where.latitude, where.longitude, now)
    await send(update, context, render.segments_near_blocks(where.latitude, where.longitude, rows, NEAR_KM, now,
                                                            d.policy.level_marks, await tr_of(update, context)))


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """File an analyst's report: extract its incidents, store them and say what was found."""
    d = deps(context)
    tr = await tr_of(update, context)
    if not _is_analyst(update, d):  # the person, not the chat: any member of a group could write there
        await send(update, context, tr._("Sorry, only the analysts' chats may file reports. You can still ask "
                                         "/risk, /incidents and /routes."))
        return
    parts = (update.effective_message.text or "").split(maxsplit=1)
    text = parts[1].strip() if len(parts) > 1 else ""
    if len(text) > MAX_POST_CHARS:
        await send(update, context, tr._("That report is longer than {n} characters: send it in parts.").format(
            n=tr.iso(str(MAX_POST_CHARS))))
        return
    if not text:
        await send(update, context, tr._("Usage: /report TEXT, the report as you would write it (places, what "
                                         "happened, when)."))
        return
    now = d.clock()

    def file_report():
        found = d.engine.extract_text(text, now.date(), source_reliability="B")
        result = d.engine.ingest_text(text, source=f"telegram:{update.effective_user.id}", published=now.date(),
                                      now=now, source_reliability="B")
        return found, result

    found, result = await asyncio.to_thread(file_report)
    await send(update, context, render.report_blocks(found, result.incidents_added, result.incidents_known,
                                                     result.new_report, tr))


def _is_analyst(update: Update, d: BotServices) -> bool:
    """Analysts are people: the user must be listed (in a private chat the chat id is the user's)."""
    return update.effective_user is not None and update.effective_user.id in d.settings.analysts


async def _analysts_only(update: Update, context: ContextTypes.DEFAULT_TYPE, tr: Translator) -> BotServices | None:
    """The bot's services for an analyst; None (and a polite refusal) for anyone else."""
    d = deps(context)
    if _is_analyst(update, d):
        return d
    await send(update, context, tr._("Sorry, only analysts may see and correct stored events."))
    return None


async def incident(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show a stored event to an analyst: its reports, its sources and its history."""
    from riskengine.corrections import Corrections  # noqa: PLC0415 - only analysts' commands need it

    tr = await tr_of(update, context)
    d = await _analysts_only(update, context, tr)
    if d is None:
        return
    words = (update.effective_message.text or "").split()[1:2]
    if not words:
        await send(update, context, tr._("Usage: /incident ID (the id the CLI's riskengine incidents list shows)"))
        return
    try:
        doc = await asyncio.to_thread(Corrections(d.engine).show, words[0][:40])
    except RiskEngineError as exc:
        await send(update, context, tr._("Cannot do that: {why}").format(why=tr.iso(render.esc(exc))))
        return
    await send(update, context, render.event_blocks(doc, tr))


async def retract(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An analyst retracts an event: it no longer counts, and its alerts get a correction."""
    from riskengine.corrections import Corrections  # noqa: PLC0415 - only analysts' commands need it

    tr = await tr_of(update, context)
    d = await _analysts_only(update, context, tr)
    if d is None:
        return
    parts = (update.effective_message.text or "")[:MAX_ARGS_CHARS * 2].split(maxsplit=2)
    if len(parts) < 3:
        await send(update, context, tr._("Usage: /retract ID REASON, e.g. /retract 3f2a9c0d1e7b4a55 the report was "
                                         "a rumour"))
        return
    user = update.effective_user
    who = f"telegram:{user.id}" + (f" (@{user.username})" if user.username else "")
    now = d.clock()
    try:
        await asyncio.to_thread(Corrections(d.engine).retract, parts[1][:40], who, parts[2], now)
    except RiskEngineError as exc:
        await send(update, context, tr._("Cannot do that: {why}").format(why=tr.iso(render.esc(exc))))
        return
    await send(update, context, tr._("Event {id} retracted: it no longer counts in any score. Its reports are "
                                     "kept; /incident {id} shows its history.").format(id=tr.iso(render.esc(parts[1]))))


# ---- subscriptions -------------------------------------------------------------------------------------


async def answer_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE, words: Sequence[str], level: int,
                           explicit: bool = False) -> None:
    """Subscribe the chat to the route the words name (after checking a road joins them)."""
    d = deps(context)
    tr = await tr_of(update, context)
    names = await resolve_or_ask(update, context, words, explicit, "subscribe",
                                 lambda a, b: f"sub|{a}|{b}|{level}", tr)
    if names is None:
        return
    a, b = names
    chat_id, now = str(update.effective_chat.id), d.clock()

    def subscribe():
        if tr.lang != "en" and d.engine.store.chat_language(chat_id) is None:
            d.engine.store.set_chat_language(chat_id, tr.lang, now)  # alerts come in the language asked in
        doc = d.engine.route(a, b, now)
        if not doc["segments"]:
            raise RiskEngineError("both ends meet the road network at the same place")
        mine = d.subscriptions.all(chat_id=chat_id, include_paused=True)
        quiet = next(((s.quiet_start, s.quiet_end) for s in mine if s.quiet_start and s.quiet_end), None)
        sub = d.subscriptions.add(chat_id=chat_id, channel="telegram", kind="route", target=f"{a}|{b}",
                                  min_level=level, now=now, quiet=quiet,
                                  max_per_chat=d.settings.max_subscriptions_per_chat)
        return doc, sub

    try:
        doc, sub = await asyncio.to_thread(subscribe)
    except SubscriptionLimitError as exc:
        await send(update, context, tr._(
            "You already have {n} subscriptions, the most a chat may have. Remove one with /unsubscribe before "
            "adding another.").format(n=tr.iso(exc.limit)))
        return
    except RiskEngineError as exc:
        await send(update, context, tr._("Cannot follow {a} {arrow} {b}: {why}").format(
            a=render.esc(tr.place(a)), arrow=tr.arrow, b=render.esc(tr.place(b)), why=tr.iso(render.esc(exc))))
        return
    marks = d.policy.level_marks
    await send(update, context, tr._(
        "Subscribed: <b>{target}</b>. I will tell you when it reaches level {level} {mark} {name} or more, and of "
        "grave new incidents on it.\nNow: {now_mark} {now_name} ({score}). See all with /subscriptions.").format(
        target=render.esc(render.describe(sub, tr)), level=tr.iso(level), mark=render.mark(level, marks),
        name=render.esc(tr.level(level, d.engine.rules.level_name(level))), now_mark=render.mark(doc["level"], marks),
        now_name=render.esc(tr.level(doc["level"], doc["level_name"])), score=tr.iso(f"{doc['score']:g}")))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe the chat to alerts about a route."""
    words, level = list(context.args or []), 3
    if words and words[-1].isdigit():
        level = int(words.pop())
        if not 1 <= level <= 5:
            return await usage(update, context, "subscribe", N_("LEVEL is 1 to 5."))
    if _too_long(" ".join(words)):
        return await usage(update, context, "subscribe", N_("That is too long for two place names."))
    if not words:
        return await dialogs.ask_route(update, context, "subscribe", await tr_of(update, context), {"level": level})
    await answer_subscribe(update, context, words, level)


async def list_subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: str = "") -> None:
    """List the chat's subscriptions, each with a settings and a remove button (only the latter when
    asked which one to remove)."""
    d = deps(context)
    tr = await tr_of(update, context)
    subs = await asyncio.to_thread(d.subscriptions.all, chat_id=str(update.effective_chat.id), include_paused=True)
    names = {n: d.engine.rules.level_name(n) for n in range(1, 6)}
    text = render.subscriptions_block(subs, d.policy.level_marks, names, tr)
    buttons = []
    for n, s in enumerate(subs, 1):
        settings = None if prompt else choices.settings_button(s.id, tr._("Settings {n}").format(n=tr.iso(n)))
        remove = button(tr._("✖ Remove {n}: {target}").format(n=n, target=render.describe(s, tr)), f"unsub|{s.id}")
        buttons += rows_of([settings, remove])
    prompt = tr._(prompt) if prompt else prompt
    await send(update, context, [prompt, text] if subs and prompt else text, buttons)


async def subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the chat's subscriptions with remove buttons."""
    await list_subscriptions(update, context)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remove a subscription by its number, or all of them; without one, list them with remove buttons."""
    d = deps(context)
    args = context.args or []
    if not args:
        await list_subscriptions(update, context, N_("Which one? Tap to remove:"))
        return
    tr = await tr_of(update, context)
    chat_id = str(update.effective_chat.id)
    subs = await asyncio.to_thread(d.subscriptions.all, chat_id=chat_id, include_paused=True)
    if len(args) == 1 and args[0].lower() == "all":
        chosen = subs
    elif len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= len(subs):
        chosen = [subs[int(args[0]) - 1]]
    else:
        return await usage(update, context, "unsubscribe", tr._("You have {n} subscription(s).").format(
            n=tr.iso(len(subs))), tr)
    for sub in chosen:
        await asyncio.to_thread(d.subscriptions.remove, sub.id, chat_id=chat_id)
    gone = tr.comma.join(render.describe(s, tr) for s in chosen) or tr._("nothing (you had no subscriptions)")
    await send(update, context, tr._("Removed: {what}.").format(what=render.esc(gone)))


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set or clear the quiet hours of all the chat's subscriptions."""
    d = deps(context)
    tr = await tr_of(update, context)
    arg = _args_text(context).strip()
    chat_id = str(update.effective_chat.id)
    if not arg or _too_long(arg):
        return await usage(update, context, "quiet", tr=tr)
    if arg.lower() in {"off", "none", "clear"}:
        hours = None
    else:
        try:
            hours = parse_quiet_hours(arg)
        except SubscriptionError as exc:
            return await usage(update, context, "quiet", tr.iso(render.clip(exc, 120) + "."), tr)
    changed = await asyncio.to_thread(d.subscriptions.set_quiet_hours, chat_id, hours)
    if not changed:
        await send(update, context, tr._("You have no subscriptions yet; quiet hours apply to them. Try /subscribe."))
    elif hours is None:
        await send(update, context, tr._("Quiet hours off for your {n} subscription(s): alerts come at once.").format(
            n=tr.iso(changed)))
    else:
        hold = d.policy.quiet_hours.hold_below_level
        await send(update, context, tr._(
            "Quiet hours {hours} (Libya time) for your {n} subscription(s): alerts below level {level} {name} wait "
            "until they end.").format(hours=tr.iso(f"{hours[0]}-{hours[1]}"), n=tr.iso(changed), level=tr.iso(hold),
                                      name=render.esc(tr.level(hold, d.engine.rules.level_name(hold)))))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Choose the bot's language for this chat (``/language ar`` or ``/language en``), kept in the store."""
    d = deps(context)
    arg = _args_text(context).strip()
    chosen = normalize_language(arg) if arg and not _too_long(arg) else None
    if chosen is None:
        return await usage(update, context, "language")
    await asyncio.to_thread(d.engine.store.set_chat_language, update.effective_chat.id, chosen, d.clock())
    tr = translator_for(context, chosen)
    await send(update, context, tr._("From now on I answer you in English. /language ar for Arabic."))


# ---- buttons ------------------------------------------------------------------------------------------


async def remove_by_button(update: Update, context: ContextTypes.DEFAULT_TYPE, sub_id: int) -> None:
    """Remove the subscription a button names (only the chat's own) and drop the button."""
    d = deps(context)
    tr = await tr_of(update, context)
    chat_id = str(update.effective_chat.id)
    sub = await asyncio.to_thread(d.subscriptions.get, sub_id)
    removed = sub is not None and sub.chat_id == chat_id and await asyncio.to_thread(
        d.subscriptions.remove, sub_id, chat_id=chat_id)
    if not removed:
        await send(update, context, tr._("That subscription is already gone. See /subscriptions."))
        return
    message = update.callback_query.message
    markup = getattr(message, "reply_markup", None)
    if markup is not None:
        gone = {f"unsub|{sub_id}", f"set|{sub_id}"}  # its remove and settings buttons
        keep = [[b for b in row if b.callback_data not in gone] for row in markup.inline_keyboard]
        try:
            await message.edit_reply_markup(InlineKeyboardMarkup([row for row in keep if row]))
        except TelegramError:
            pass  # an old message may not be editable any more; the removal stands
    await send(update, context, tr._("Removed: {what}.").format(what=render.esc(render.describe(sub, tr))))


async def button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer an inline button: a route, a place's incidents, a subscription, or a removal."""
    query = update.callback_query
    if choices.handles(query.data):
        return await choices.pressed(update, context)  # a subscription's settings (answered there, with a word)
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
        await send(update, context, (await tr_of(update, context))._(
            "That button is no longer valid. Send /help to start again."))


# ---- everything else ------------------------------------------------------------------------------


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point an unknown command to /help."""
    word = ((update.effective_message.text or "").split() or ["/"])[0]
    if "@" in word and word.split("@", 1)[1].lower() != (context.bot.username or "").lower():
        return  # a command for another bot in a group
    tr = await tr_of(update, context)
    await send(update, context, tr._("I don't know {command}. Send /help to see what I can do.").format(
        command=tr.iso(render.esc(render.clip(word, 40)))))


async def anything_else(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question the bot asked (which route?), else point plain text to the commands."""
    dialog = await dialogs.take(update, context)
    if dialog is not None and dialog.awaiting in dialogs.ROUTE_QUESTIONS:
        words = update.effective_message.text.split()
        if _too_long(" ".join(words)):
            return await usage(update, context, dialog.awaiting, N_("That is too long for two place names."))
        if dialog.awaiting == "subscribe":
            return await answer_subscribe(update, context, words, int(dialog.data.get("level", 3)))
        return await answer_route(update, context, words)
    await send(update, context, (await tr_of(update, context))._(
        "I answer commands, e.g. /risk Sirte Sebha, and shared locations. Send /help for the rest."))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an error, and tell the user their request failed (without the details)."""
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    tr = translator(pick_language(None, getattr(user, "language_code", None)))
    try:  # (the stored language is not looked up here: the store may be what failed)
        await context.bot.send_message(update.effective_chat.id, tr._(
            "Sorry, something went wrong on my side while answering that; it has been logged. Please try again "
            "in a minute, or send /help."), parse_mode=ParseMode.HTML)
    except TelegramError:
        log.warning("could not tell chat %s about the error", update.effective_chat.id)
