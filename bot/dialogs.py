"""Questions the bot asks and the answers it waits for, kept in the store (table ``dialogs``).

``/risk`` or ``/subscribe`` sent without places asks "Which route?" and remembers that the chat owes
an answer; the chat's next plain text message is that answer. The question lives in the store, not
in a worker's memory, so the answer may reach any of several webhook workers (:mod:`bot.webhook`),
or the single polling process after a restart. A question expires after :data:`DIALOG_TTL`; any
command in between drops it (:func:`install` adds the handler that does so), and asking again
replaces it. Taking an answer deletes the row in the same transaction that reads it, so two workers
never both answer one message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from riskengine.schema import dialogs as dialogs_table
from riskengine.store import Store

from .i18n import N_, Translator

__all__ = ["DIALOG_TTL", "Dialog", "Dialogs", "ask_route", "install", "take"]

#: How long the bot waits for the answer to its question.
DIALOG_TTL = dt.timedelta(minutes=10)
#: What the chat's next message answers: the commands that ask for a route.
ROUTE_QUESTIONS = frozenset({"risk", "subscribe"})
ROUTE_PROMPT = N_("Which route? Send two places, e.g. Misrata Sebha")
#: The handler group of :func:`install`: before the rate-limit guard (group -1) and every command.
CANCEL_GROUP = -2


@dataclass(frozen=True)
class Dialog:
    """A question a chat owes an answer to: what it answers (``awaiting``), with the question's data."""

    chat_id: str
    awaiting: str
    data: dict[str, Any]
    expires_at: dt.datetime


class Dialogs:
    """The chats' open questions in the store, shared by every process of the bot."""

    def __init__(self, store: Store):
        self.store = store

    def ask(self, chat_id: int | str, awaiting: str, now: dt.datetime, data: dict[str, Any] | None = None,
            ttl: dt.timedelta = DIALOG_TTL) -> Dialog:
        """Remember that ``chat_id`` owes an answer to ``awaiting`` until ``now + ttl`` (replacing any
        earlier question of that chat)."""
        row = {"chat_id": str(chat_id), "awaiting": awaiting, "data": dict(data or {}), "expires_at": now + ttl}
        key = dialogs_table.c.chat_id == row["chat_id"]
        for _ in range(3):  # two workers asking at once: one inserts, the other updates
            try:
                with self.store.engine.begin() as conn:
                    if conn.execute(update(dialogs_table).where(key).values(**row)).rowcount == 0:
                        conn.execute(insert(dialogs_table).values(**row))
                break
            except IntegrityError:
                continue
        return Dialog(**row)

    def take(self, chat_id: int | str, now: dt.datetime) -> Dialog | None:
        """The chat's open question, removed from the store (None when there is none or it expired).

        Only one caller gets a given question: the row is deleted in the transaction that reads it,
        and a caller whose delete found nothing (another took it first) gets None."""
        key = dialogs_table.c.chat_id == str(chat_id)
        with self.store.engine.begin() as conn:
            row = conn.execute(select(dialogs_table).where(key)).mappings().first()
            if row is None:
                return None
            if conn.execute(delete(dialogs_table).where(key, dialogs_table.c.expires_at == row["expires_at"],
                                                        dialogs_table.c.awaiting == row["awaiting"])).rowcount != 1:
                return None
        expires = row["expires_at"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires <= now:
            return None
        return Dialog(row["chat_id"], row["awaiting"], dict(row["data"] or {}), expires)

    def forget(self, chat_id: int | str) -> bool:
        """Drop the chat's open question, if any (True when there was one)."""
        with self.store.engine.begin() as conn:
            return conn.execute(delete(dialogs_table).where(dialogs_table.c.chat_id == str(chat_id))).rowcount > 0

    def prune(self, now: dt.datetime) -> int:
        """Delete the questions that expired unanswered; how many."""
        with self.store.engine.begin() as conn:
            return conn.execute(delete(dialogs_table).where(dialogs_table.c.expires_at <= now)).rowcount


def _dialogs(context: ContextTypes.DEFAULT_TYPE) -> tuple[Dialogs, dt.datetime]:
    services = context.bot_data["riskengine"]
    return Dialogs(services.engine.store), services.clock()


async def ask_route(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, tr: Translator,
                    data: dict[str, Any] | None = None) -> None:
    """Ask the chat which route ``command`` is about, and remember that its next message answers."""
    dialogs, now = _dialogs(context)
    await asyncio.to_thread(dialogs.ask, update.effective_chat.id, command, now, data)
    await context.bot.send_message(update.effective_chat.id, tr._(ROUTE_PROMPT), parse_mode=ParseMode.HTML)


async def take(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Dialog | None:
    """The question this text message answers, taken from the store (None: it answers nothing)."""
    message = update.effective_message
    if update.effective_chat is None or message is None or not message.text:
        return None
    dialogs, now = _dialogs(context)
    return await asyncio.to_thread(dialogs.take, update.effective_chat.id, now)


async def forget_on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drop the chat's open question: a command changes the subject (/risk and /subscribe ask anew)."""
    if update.effective_chat is not None:
        dialogs, _ = _dialogs(context)
        await asyncio.to_thread(dialogs.forget, update.effective_chat.id)


def install(app: Application) -> None:
    """Have every command drop the chat's open question before it is handled."""
    app.add_handler(MessageHandler(filters.COMMAND, forget_on_command), group=CANCEL_GROUP)
