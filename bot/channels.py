"""Telegram posts as a source: posts of channels the bot administers, and posts analysts forward to it.

A channel post (``channel_post``) becomes a report of the source ``telegram:@username`` (or
``telegram:<chat id>`` for a channel without a username) with the channel's Admiralty grade from
the run configuration's ``telegram:`` section::

    telegram:
      channels:
        "@libya_roads_watch": {reliability: C}
        -1001234567890: {reliability: B}
      default_channel_reliability: D   # unlisted channels (when accepted) and forwards of unlisted ones
      accept_unlisted_channels: false  # else posts of channels not listed are ignored (logged once)

Its key inside the source is ``tg:<chat id>:<message id>``, so the same post read twice (or seen in
the channel and forwarded by an analyst) is one report; its date is the post's date (UTC). The text
is the post's text or its media's caption; posts without either are ignored. An edit
(``edited_channel_post``) replaces the stored report's text and incidents.

A message an analyst (``telegram.analysts``: user ids, checked against the sender,
``update.effective_user.id``, never the chat) forwards to the bot in a private chat is stored the
same way: from the original channel when it was forwarded from one (its grade, else the default
grade), else from ``telegram:<analyst user id>`` with the default grade. A forward from anyone else
is refused with a short reply and nothing is stored.

New incidents are decided on at once: the bot calls ``bot_data["after_ingest"]`` when set (the
service sets it to the evaluate-and-dispatch step of the alert jobs), else the next scheduled
evaluation finds them in the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram import Chat, Message, MessageOriginChannel, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, MessageHandler, filters

from riskengine.config import telegram_channels
from riskengine.store import ReportIn

if TYPE_CHECKING:
    from riskengine.engine import RiskEngine

log = logging.getLogger("bot.channels")

#: The longest post stored (Telegram's own limit is 4,096 characters for a text, 1,024 for a caption).
MAX_POST_CHARS = 20_000

#: The handler group: before the rate-limit guard (-1) and the commands (0), which never see these updates.
GROUP = -2
#: ``bot_data`` keys: the hook run after new incidents are stored, and the channels already logged as ignored.
AFTER_INGEST = "after_ingest"
IGNORED = "channels_ignored"


@dataclass(frozen=True)
class ChannelSources:
    """Which channels are sources and how reliable each is (from the ``telegram:`` section).

    Examples
    --------
    >>> sources = ChannelSources.load({"channels": {"@Roads_Watch": {"reliability": "C"}}})
    >>> sources.reliability(-100123, "roads_watch"), sources.reliability(-100456, "other")
    ('C', None)
    """

    channels: Mapping[str, str] = field(default_factory=dict)  # "@name" (lower case) or "<chat id>" -> grade
    default_reliability: str = "D"
    accept_unlisted: bool = False

    @classmethod
    def load(cls, section: Mapping | None) -> ChannelSources:
        """From a ``telegram:`` section; ValueError names the field that is wrong."""
        parsed = telegram_channels(dict(section or {}))
        return cls({key: value.reliability for key, value in parsed.channels.items()},
                   parsed.default_channel_reliability, parsed.accept_unlisted_channels)

    def listed(self, chat_id: int, username: str | None) -> str | None:
        """The grade the configuration gives a channel, or None when it is not listed."""
        if username and f"@{username.lower()}" in self.channels:
            return self.channels[f"@{username.lower()}"]
        return self.channels.get(str(chat_id))

    def reliability(self, chat_id: int, username: str | None) -> str | None:
        """The grade of a channel's posts, or None when its posts are not taken."""
        grade = self.listed(chat_id, username)
        if grade is None and self.accept_unlisted:
            return self.default_reliability
        return grade


@dataclass(frozen=True)
class Post:
    """A Telegram post as a report: where from, how reliable, when, its key inside the source."""

    text: str
    source: str
    reliability: str
    published: dt.date
    key: str
    link: str | None = None
    title: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class Stored:
    """What storing a post did."""

    new_report: bool = False
    replaced: bool = False
    incidents_found: int = 0
    incidents_added: int = 0
    incidents_removed: int = 0


def channel_source(chat: Chat) -> str:
    """The source name of a channel: ``telegram:@username``, else ``telegram:<chat id>``."""
    return f"telegram:@{chat.username}" if chat.username else f"telegram:{chat.id}"


def post_key(chat_id: int, message_id: int) -> str:
    return f"tg:{chat_id}:{message_id}"


def _link(chat: Chat, message_id: int) -> str | None:
    return f"https://t.me/{chat.username}/{message_id}" if chat.username else None


def post_text(message: Message) -> str:
    """The post's text, or its media's caption ("" when it has neither, or when it is longer than
    :data:`MAX_POST_CHARS`: Telegram's own limit is 4,096, so only a rogue Bot API server sends more)."""
    text = (message.text or message.caption or "").strip()
    if len(text) > MAX_POST_CHARS:
        log.warning("post %s of chat %s has %d characters, over the limit of %d: ignored", message.message_id,
                    message.chat_id, len(text), MAX_POST_CHARS)
        return ""
    return text


def _utc_date(when: dt.datetime) -> dt.date:
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()


def post_from_channel(message: Message, reliability: str, *, edited: bool = False) -> Post | None:
    """A channel post (or its edit) as a report; None when it has no text."""
    text = post_text(message)
    if not text:
        return None
    chat = message.chat
    return Post(text=text, source=channel_source(chat), reliability=reliability, published=_utc_date(message.date),
                key=post_key(chat.id, message.message_id), link=_link(chat, message.message_id),
                title=chat.title or None, edited=edited)


def post_from_forward(message: Message, sources: ChannelSources, analyst_id: int) -> Post | None:
    """A message an analyst forwarded, as a report of the channel it came from (else of the analyst:
    ``analyst_id`` is the analyst's user id, the same number as the private chat's id)."""
    text = post_text(message)
    origin = message.forward_origin
    if not text or origin is None:
        return None
    if isinstance(origin, MessageOriginChannel):
        chat = origin.chat
        grade = sources.listed(chat.id, chat.username) or sources.default_reliability
        return Post(text=text, source=channel_source(chat), reliability=grade, published=_utc_date(origin.date),
                    key=post_key(chat.id, origin.message_id), link=_link(chat, origin.message_id),
                    title=chat.title or None)
    return Post(text=text, source=f"telegram:{analyst_id}", reliability=sources.default_reliability,
                published=_utc_date(origin.date), key=post_key(message.chat.id, message.message_id))


def store_post(engine: RiskEngine, post: Post, now: dt.datetime) -> Stored:
    """Extract a post's incidents and store them with it; an edit replaces the report it edits.

    Synchronous (the handlers call it in a worker thread). A post stored before is not read again.
    """
    if not post.edited and engine.store.has_report(post.source, post.key):
        return Stored()
    report = ReportIn(source=post.source, format="text", text=post.text, source_ref=post.link or post.key,
                      published=post.published, title=post.title, source_key=post.key)
    found = engine.extract_text(post.text, post.published, source_reliability=post.reliability)
    if post.edited:
        for inc in found:
            engine.rules.check_incident_kind(inc.event_type, inc.sub_event_type, inc.tags)
        matches = engine.index.match(found, engine.rules.max_reach_km, engine.rules.area_margin_km)
        outcome = engine.store.replace_report(report, found, matches, now=now)
        if outcome is not None:
            return Stored(replaced=outcome.changed, incidents_found=len(found),
                          incidents_added=outcome.incidents_added, incidents_removed=outcome.incidents_removed)
    result = engine.ingest_incidents(report, found, now=now)
    return Stored(new_report=result.new_report, incidents_found=len(found), incidents_added=result.incidents_added)


async def _store(context: ContextTypes.DEFAULT_TYPE, post: Post) -> Stored:
    services = context.bot_data["riskengine"]
    stored = await asyncio.to_thread(store_post, services.engine, post, services.clock())
    log.info("telegram post %s of %s: %s", post.key, post.source,
             "replaced" if stored.replaced else "new" if stored.new_report else "already stored")
    after: Callable[[], None] | None = context.bot_data.get(AFTER_INGEST)
    if after is not None and (stored.incidents_added or stored.incidents_removed):
        await asyncio.to_thread(after)
    return stored


async def channel_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store a post (or an edit) of a channel the bot administers, when the channel is a source."""
    message = update.channel_post or update.edited_channel_post
    if message is None:
        raise ApplicationHandlerStop
    sources: ChannelSources = context.bot_data["riskengine"].settings.channels
    chat = message.chat
    grade = sources.reliability(chat.id, chat.username)
    if grade is None:
        ignored: set[int] = context.bot_data.setdefault(IGNORED, set())
        if chat.id not in ignored:
            ignored.add(chat.id)
            log.info("posts of channel %s (%s) are ignored: it is not in telegram.channels (set "
                     "telegram.accept_unlisted_channels: true to take every channel's posts)",
                     channel_source(chat), chat.title or "no title")
        raise ApplicationHandlerStop
    post = post_from_channel(message, grade, edited=update.edited_channel_post is not None)
    if post is None:
        raise ApplicationHandlerStop
    try:
        await _store(context, post)
    except Exception:  # never answer in the channel: log and go on
        log.exception("telegram post %s of %s could not be stored", post.key, post.source)
    raise ApplicationHandlerStop  # nothing else answers in a channel


async def forwarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store a post an analyst forwards to the bot; refuse anyone else's (the commands never see it)."""
    services = context.bot_data["riskengine"]
    chat_id = update.effective_chat.id
    limit = context.bot_data.get("rate_limit")
    if limit is not None and update.effective_user and await asyncio.to_thread(
            limit.check, update.effective_user.id) != "ok":
        raise ApplicationHandlerStop  # over the per-user rate: dropped
    try:
        await _forwarded(update, context, services, chat_id)
    except Exception:
        log.exception("a post forwarded by chat %s could not be stored", chat_id)
        tr = await _tr_of(update, context)
        await context.bot.send_message(
            chat_id, tr._("Sorry, that post could not be stored; the error has been logged."))
    raise ApplicationHandlerStop  # done with this update: the commands' handlers do not see it


async def _forwarded(update: Update, context: ContextTypes.DEFAULT_TYPE, services, chat_id: int) -> None:
    async def reply(text: str) -> None:
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)

    tr = await _tr_of(update, context)
    user = update.effective_user
    if user is None or user.id not in services.settings.analysts:  # the person who forwards, not the chat
        await reply(tr._("Sorry, only the analysts' chats may forward posts to be stored as reports."))
        return
    post = post_from_forward(update.effective_message, services.settings.channels, user.id)
    if post is None:
        await reply(tr._("That message has no text or caption: nothing stored."))
        return
    stored = await _store(context, post)
    where = tr.iso(_esc(tr._("{source} (reliability {grade})").format(source=post.source, grade=post.reliability)))
    if not stored.new_report:
        await reply(tr._("Already stored: that post of {where} is a report I have.").format(where=where))
        return
    await reply(tr._("Stored as a report of {where}: {found} incident(s) found, {new} new.").format(
        where=where, found=stored.incidents_found, new=stored.incidents_added))


async def _tr_of(update: Update, context: ContextTypes.DEFAULT_TYPE):
    """The chat's translator (imported here: the handlers module imports this one's neighbours)."""
    from .handlers import tr_of

    return await tr_of(update, context)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def register(app: Application) -> None:
    """Add the handlers of channel posts (and their edits) and of forwarded messages to a bot application."""
    app.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, channel_post), group=GROUP)
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.FORWARDED,
                                   forwarded), group=GROUP)
