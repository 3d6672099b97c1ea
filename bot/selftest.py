"""``/selftest``: a test alert through the whole alert pipeline, and how long it took.

A user who trusts that silence means safety must know that alerts reach them. ``/selftest`` stores
an alert for the chat in the outbox, as the engine stores real ones (kind ``selftest``, a key of its
own, due at once, past quiet hours), lets the dispatcher send it through the chat's notifier (the
Telegram notifier real alerts take), then answers with the delay from "queued" (stored in the outbox)
to "delivered" (recorded sent in the outbox by the dispatcher), in milliseconds.

When the bot runs with its scheduler (:func:`bot.service.build`) the handler asks for a dispatch at
once (:attr:`bot.app.BotServices.deliver_now`); otherwise, or when another dispatcher holds the alert,
it waits for whichever dispatcher sends it, up to :attr:`bot.app.BotServices.selftest_timeout`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from telegram import Update
from telegram.ext import ContextTypes

from riskengine.alerts import AlertIn
from riskengine.outbox import Outbox
from riskengine.schema import outbox as outbox_table

from . import render
from .handlers import deps, send, tr_of

KIND = "selftest"


@dataclass(frozen=True)
class SelftestResult:
    """What became of a test alert: ``sent``, ``dead`` (given up) or ``late`` (not sent within the time
    allowed); the delay queued -> delivered in ms when sent; the outbox's last error otherwise."""

    key: str
    status: str
    delay_ms: float | None = None
    error: str | None = None


def run_selftest(outbox: Outbox, chat_id: str, text: str, now: dt.datetime, *,
                 deliver_now: Callable[[], object] | None = None, timeout: float = 30.0,
                 poll: float = 0.05, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> SelftestResult:
    """Store a test alert for ``chat_id`` (channel ``telegram``), have it dispatched, and wait for its outcome.

    Synchronous (the store and the dispatcher are): call it from a worker thread. ``now`` is the time
    the alert is stored at (the bot's clock); the delay is measured on ``clock`` (monotonic seconds)
    from the moment the outbox holds the alert to the moment the outbox records it sent.
    """
    key = f"{KIND}:{chat_id}:{secrets.token_hex(8)}"
    alert = AlertIn(key=key, subscription_id=None, chat_id=str(chat_id), channel="telegram", kind=KIND, text=text,
                    payload={"requested_at": now.isoformat()})
    outbox.enqueue([alert], now)
    queued = clock()
    if deliver_now is not None:
        deliver_now()
    query = select(outbox_table.c.status, outbox_table.c.last_error).where(outbox_table.c.key == key)
    while True:
        with outbox.engine.connect() as conn:
            status, error = conn.execute(query).one()
        if status == "sent":
            return SelftestResult(key, "sent", (clock() - queued) * 1000.0)
        if status == "dead":
            return SelftestResult(key, "dead", error=error)
        if clock() - queued > timeout:
            return SelftestResult(key, "late", error=error)
        sleep(poll)


async def selftest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a test alert through the outbox and the notifier, then say how long it took."""
    d = deps(context)
    tr = await tr_of(update, context)
    text = tr._("🔔 Test alert\nThis is a test, sent the way real alerts are: through the alert queue and the "
                "same sender. Nothing has happened; there is nothing to do.")
    result = await asyncio.to_thread(run_selftest, Outbox(d.engine.store, d.policy), str(update.effective_chat.id),
                                     text, d.clock(), deliver_now=d.deliver_now, timeout=d.selftest_timeout)
    if result.status == "sent":
        await send(update, context, tr._(
            "Test alert delivered in {ms} ms (queued → delivered), by the path real alerts take. When I am "
            "silent, none of your routes has reached your level.").format(ms=tr.iso(f"{result.delay_ms:.0f}")))
    elif result.status == "dead":
        await send(update, context, tr._(
            "The test alert could not be delivered ({why}): alerts cannot reach this chat now.").format(
            why=tr.iso(render.esc(render.clip(result.error or "?", 120)))))
    else:
        await send(update, context, tr._(
            "The test alert is queued but was not delivered within {s} s: alerts are held up right now. It "
            "will come when the sender is back.").format(s=tr.iso(f"{d.selftest_timeout:g}")))
