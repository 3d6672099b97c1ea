"""The outbox's Telegram channel: send an alert as a Telegram message through a python-telegram-bot ``Bot``.

The outbox calls :meth:`TelegramNotifier.send` synchronously from a worker thread, while the bot's
coroutines (and its HTTP client) belong to the event loop of the bot application, in another
thread. ``send`` therefore hands ``bot.send_message`` to that loop with
:func:`asyncio.run_coroutine_threadsafe` and waits for the answer at most ``timeout`` seconds.

In production pass the bot the :class:`telegram.ext.Application` already uses (``application.bot``)
and the loop it runs on (``asyncio.get_running_loop()`` in ``post_init``): one HTTP connection pool
and one rate limiter for the bot's replies and the alerts. :func:`build_bot` makes such a bot;
give it to the application with ``ApplicationBuilder().bot(build_bot(token))``.

What Telegram answers becomes what the outbox understands:

* flood control (``RetryAfter``): :class:`DeliveryError` with ``retry_after``, honoured by the outbox;
* the chat cannot be reached (``Forbidden``: the user blocked the bot, the bot was removed from the
  group; ``BadRequest: chat not found``): :class:`PermanentDeliveryError`, and the pipeline pauses
  the chat's subscriptions;
* anything else (timeouts, network errors, a 5xx, any other ``TelegramError``, no answer within
  ``timeout``): :class:`DeliveryError`, retried with back-off. A timeout is ambiguous: the message
  may have arrived, so the retry may deliver it twice.

No message of ours carries the bot token: Bot API URLs contain it, so it is scrubbed from every error
text, and from what httpx and python-telegram-bot log (request URLs, a proxy's error page echoing one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine

import telegram
from telegram import ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import BaseRequest

from riskengine.notify import DeliveryError, OutboxAlert, PermanentDeliveryError, guard_secret, scrub

log = logging.getLogger("riskengine.bot.notifier")

#: Telegram's limit on a message's text, counted (conservatively) in UTF-16 code units.
MAX_MESSAGE_LENGTH = 4096
_ELLIPSIS = "…"


# ---- rendering -----------------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _escape_within(text: str, budget: int) -> tuple[str, bool]:
    """The HTML-escaped ``text``, cut (between characters, never inside an entity) to ``budget`` UTF-16
    units; and whether it was cut."""
    escaped = html.escape(text, quote=False)
    if _utf16_len(escaped) <= budget:
        return escaped, False
    out, used = [], 0
    for char in text:
        piece = html.escape(char, quote=False)
        size = _utf16_len(piece)
        if used + size > budget:
            break
        out.append(piece)
        used += size
    return "".join(out), True


def render_html(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """An alert's plain text as Telegram HTML: escaped, the first line bold, cut to ``limit`` with "…".

    Examples
    --------
    >>> render_html("Sirte - Waddan: level 4 <High>\\nAmbush & kidnapping near Abugrein")
    '<b>Sirte - Waddan: level 4 &lt;High&gt;</b>\\nAmbush &amp; kidnapping near Abugrein'
    >>> render_html("x" * 5000).endswith("x…</b>") and len(render_html("x" * 5000)) == 4096
    True
    """
    head, _, body = text.strip().partition("\n")
    head, body = head.strip(), body.rstrip()
    if not head:
        head = "(empty alert)"
    budget = limit - len("<b></b>") - len(_ELLIPSIS)
    bold, cut = _escape_within(head, budget)
    if cut:
        return f"<b>{bold}{_ELLIPSIS}</b>"
    if not body:
        return f"<b>{bold}</b>"
    rest, cut = _escape_within(body, budget - _utf16_len(bold) - 1)
    return f"<b>{bold}</b>\n{rest}{_ELLIPSIS if cut else ''}"


#: Alerts sent without a sound: good news (an all-clear), a situation no worse than told (an
#: update, which edits the first message) and a test alert need no alarm.
QUIET_KINDS = frozenset({"allclear", "update", "selftest"})


#: The alerts that bring the situation's first message up to date when they follow it.
EDITING_KINDS = frozenset({"level", "update", "allclear"})


class _NotEditable(Exception):
    """Telegram refused to edit a message (deleted, too old, or already saying this)."""


def is_quiet(alert: OutboxAlert) -> bool:
    """Sent without sound: a kind that is never urgent, or an alert its decider marked quiet
    (``payload["quiet"]``: a silent subscription, an update that is no worse)."""
    return alert.kind in QUIET_KINDS or bool((alert.payload or {}).get("quiet"))


def default_render(alert: OutboxAlert) -> str:
    return render_html(alert.text)


# ---- the token never leaves ---------------------------------------------------------------------


def _guard_token(token: str) -> None:
    """Remember ``token`` as a secret: :func:`riskengine.notify.guard_secret` scrubs it (in any case, URL-encoded,
    or its secret part alone) from every log record and uncaught traceback from now on."""
    guard_secret(token)


# ---- the bot -------------------------------------------------------------------------------------


def build_bot(token: str, api_base_url: str | None = None, *, rate_limited: bool = True,
              request: BaseRequest | None = None) -> ExtBot:
    """An :class:`~telegram.ext.ExtBot` for ``token``, with python-telegram-bot's ``AIORateLimiter``
    (Telegram's overall and per-group limits) unless ``rate_limited`` is false.

    ``api_base_url`` (e.g. ``http://127.0.0.1:8081`` for a local Bot API server) replaces
    ``https://api.telegram.org``; ``request`` sets the HTTP client (timeouts, proxy).

    In production this should be the application's bot, so that replies and alerts share one
    connection pool and one rate limiter: ``ApplicationBuilder().bot(build_bot(token)).build()``, then
    ``TelegramNotifier(application.bot, loop)``. Needs ``python-telegram-bot[rate-limiter]``.
    """
    if not token:
        raise ValueError("a Telegram bot token is required")
    _guard_token(token)
    kwargs: dict = {"request": request}
    if api_base_url:
        api = api_base_url.rstrip("/")
        kwargs.update(base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
    if rate_limited:
        kwargs["rate_limiter"] = AIORateLimiter()
    return ExtBot(token, **kwargs)


# ---- the notifier --------------------------------------------------------------------------------


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _retry_after(exc: RetryAfter) -> float:
    # ``RetryAfter.retry_after`` warns (PTB 22.2+: int now, timedelta later); the timedelta it wraps does not.
    inner = getattr(exc, "_retry_after", None)
    return _seconds(inner if isinstance(inner, dt.timedelta) else exc.retry_after)


def _is_unreachable_chat(exc: BadRequest) -> bool:
    return "chat not found" in str(exc).lower()


class TelegramNotifier:
    """Send outbox alerts as Telegram messages (channel ``"telegram"``); see the module's docstring.

    ``per_chat_interval``: at most about one message per chat per that many seconds (Telegram
    allows about one a second in a chat); a send to a chat that got one less than that ago waits in
    the calling thread. ``timeout``: how long ``send`` waits for Telegram's answer. ``render`` turns
    an alert into Telegram HTML (default :func:`default_render`: escaped, first line bold).
    ``clock`` and ``sleep`` are for the pacing (monotonic seconds).

    ``markup`` (optional) gives the buttons under an alert (:func:`bot.choices.alert_markup`: the
    subscription's settings); an edit keeps them.

    ``picture`` (optional) gives an alert's picture, ``(png, caption)``, or None for an alert without
    one (:func:`bot.pictures.alert_pictures`: level alerts about a route get the route's picture). It is
    sent as a photo after the alert's text has been delivered; the alert counts as delivered with its
    text, so a picture that cannot be drawn or sent is logged and dropped, never retried.
    """

    channel = "telegram"

    def __init__(self, bot: telegram.Bot, loop: asyncio.AbstractEventLoop, *, per_chat_interval: float = 1.0,
                 timeout: float = 30.0, render: Callable[[OutboxAlert], str] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 picture: Callable[[OutboxAlert], tuple[bytes, str] | None] | None = None,
                 markup: Callable[[OutboxAlert], telegram.InlineKeyboardMarkup | None] | None = None):
        if per_chat_interval < 0 or timeout <= 0:
            raise ValueError("per_chat_interval must be >= 0 and timeout > 0")
        self.bot, self.loop = bot, loop
        self.per_chat_interval, self.timeout = float(per_chat_interval), float(timeout)
        self.render = render or default_render
        self.clock, self.sleep = clock, sleep
        self.picture, self.markup = picture, markup
        self._token = bot.token
        _guard_token(self._token)
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}  # chat -> earliest clock() of its next message
        self._flood_until: dict[str, float] = {}  # chat -> clock() before which Telegram asked us to wait

    # ---- helpers ----

    @staticmethod
    def _scrub(text: str) -> str:
        return scrub(text)

    @staticmethod
    def _chat(alert: OutboxAlert) -> int | str:
        chat = str(alert.chat_id).strip()
        try:
            return int(chat)
        except ValueError:
            if re.fullmatch(r"@\w{4,}", chat):  # a public channel's username
                return chat
        raise PermanentDeliveryError(f"telegram: {chat!r} is not a Telegram chat id")

    def _wait_for_turn(self, chat: str) -> None:
        """Reserve the chat's next slot, then sleep until it (outside the lock: other chats go on)."""
        with self._lock:
            now = self.clock()
            blocked = self._flood_until.get(chat)
            if blocked is not None:
                if blocked > now:
                    raise DeliveryError(f"telegram: chat {chat}: flood control, {blocked - now:.0f} s left",
                                        retry_after=blocked - now)
                del self._flood_until[chat]
            slot = max(now, self._next_slot.get(chat, now))
            self._next_slot[chat] = slot + self.per_chat_interval
            if len(self._next_slot) > 4096:  # forget chats whose turn is long past
                self._next_slot = {c: t for c, t in self._next_slot.items() if t > now}
        if slot > now:
            self.sleep(slot - now)

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    # ---- the Notifier protocol ----

    def send(self, alert: OutboxAlert) -> int | None:
        """Send the alert; returns Telegram's message id (None for an update that only edited).

        An alert that follows a situation's first message (``alert.follows``) edits that message to
        show the situation as it is now (a rise, an update, an all-clear) and, but for an update,
        answers it; an update whose message cannot be edited any more is sent as a quiet answer."""
        chat = self._chat(alert)
        text = self.render(alert)
        if not text or _utf16_len(text) > MAX_MESSAGE_LENGTH:
            raise DeliveryError(f"telegram: alert {alert.key} renders to {_utf16_len(text or '')} characters "
                                f"(1-{MAX_MESSAGE_LENGTH} allowed)")
        if self._on_loop_thread():
            raise RuntimeError("TelegramNotifier.send() blocks: call it from a worker thread, not the bot's loop")
        if self.loop.is_closed() or not self.loop.is_running():
            raise DeliveryError("telegram: the bot's event loop is not running")
        where = f"telegram: chat {chat}"
        buttons = self._buttons(alert)
        follows = alert.follows
        if follows is not None and alert.kind in EDITING_KINDS:
            edited = self._edit(chat, follows, text, where, buttons)
            if edited and alert.kind == "update":
                return None
            if not edited:
                follows = None  # gone or too old to edit: the answer stands on its own
        self._wait_for_turn(str(chat))
        reply = ReplyParameters(follows, allow_sending_without_reply=True) if follows is not None else None
        message = self._call(lambda: self.bot.send_message(
            chat_id=chat, text=text, parse_mode="HTML", disable_web_page_preview=True,
            disable_notification=is_quiet(alert), reply_parameters=reply, reply_markup=buttons), chat, where)
        if self.picture is not None:
            self._send_picture(chat, alert)
        return getattr(message, "message_id", None)

    def _buttons(self, alert: OutboxAlert) -> telegram.InlineKeyboardMarkup | None:
        """The buttons under the alert, if any; a failure to make them costs the buttons only."""
        if self.markup is None:
            return None
        try:
            return self.markup(alert)
        except Exception as exc:
            log.warning("alert %s goes without its buttons: %s: %s", alert.key, exc.__class__.__name__,
                        self._scrub(str(exc)))
            return None

    def _edit(self, chat: int | str, message_id: int, text: str, where: str,
              buttons: telegram.InlineKeyboardMarkup | None) -> bool:
        """Bring an earlier message up to date (its buttons kept: an edit without them drops them);
        False when Telegram will not edit it (deleted, too old); a failure worth retrying raises
        :class:`DeliveryError` as a send's does."""
        self._wait_for_turn(str(chat))
        try:
            self._call(lambda: self.bot.edit_message_text(
                text, chat_id=chat, message_id=message_id, parse_mode="HTML", disable_web_page_preview=True,
                reply_markup=buttons), chat, where, editing=True)
        except _NotEditable as exc:
            if "not modified" in str(exc).lower():
                return True  # it says this already (a retry after the edit went through)
            log.info("%s: message %s not edited (%s); answering it instead", where, message_id, exc)
            return False
        return True

    def _call(self, make: Callable[[], Coroutine], chat: int | str, where: str, *, editing: bool = False):
        """Run one Bot API call on the bot's loop and wait for it; Telegram's errors become delivery
        errors (permanent for a chat that is gone), never carrying the token."""
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        try:
            return future.result(self.timeout)
        except RetryAfter as exc:
            wait = _retry_after(exc)
            with self._lock:
                self._flood_until[str(chat)] = self.clock() + wait
            raise DeliveryError(f"{where}: flood control, retry after {wait:g} s", retry_after=wait) from None
        except Forbidden as exc:
            raise PermanentDeliveryError(f"{where}: {self._scrub(str(exc))}") from None
        except BadRequest as exc:
            if _is_unreachable_chat(exc):
                raise PermanentDeliveryError(f"{where}: {self._scrub(str(exc))}") from None
            if editing:
                raise _NotEditable(self._scrub(str(exc))) from None
            raise DeliveryError(f"{where}: {self._scrub(str(exc))}") from None
        except TimedOut as exc:
            raise DeliveryError(f"{where}: timed out ({self._scrub(str(exc))})") from None
        except NetworkError as exc:
            raise DeliveryError(f"{where}: network error: {self._scrub(str(exc))}") from None
        except TelegramError as exc:
            raise DeliveryError(f"{where}: {exc.__class__.__name__}: {self._scrub(str(exc))}") from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DeliveryError(f"{where}: no answer within {self.timeout:g} s") from None
        except concurrent.futures.CancelledError:
            raise DeliveryError(f"{where}: cancelled (the bot is shutting down)") from None
        except Exception as exc:  # whatever it is, its text must not leak the token
            log.error("telegram call to %s failed unexpectedly: %s: %s", chat, exc.__class__.__name__,
                      self._scrub(str(exc)))
            raise DeliveryError(f"{where}: {exc.__class__.__name__}: {self._scrub(str(exc))}") from None

    def _send_picture(self, chat: int | str, alert: OutboxAlert) -> None:
        """Send the alert's picture after its text; any failure is logged (scrubbed) and swallowed."""
        future = None
        try:
            made = self.picture(alert)
            if made is None:
                return
            png, caption = made
            self._wait_for_turn(str(chat))
            future = asyncio.run_coroutine_threadsafe(
                self.bot.send_photo(chat_id=chat, photo=png, caption=caption or None), self.loop)
            future.result(self.timeout)
        except RetryAfter as exc:  # the next message to the chat waits as Telegram asks
            wait = _retry_after(exc)
            with self._lock:
                self._flood_until[str(chat)] = self.clock() + wait
            log.warning("alert %s to chat %s went without its picture: flood control, retry after %g s", alert.key,
                        chat, wait)
        except Exception as exc:
            if future is not None and not future.done():
                future.cancel()
            log.warning("alert %s to chat %s went without its picture: %s: %s", alert.key, chat,
                        exc.__class__.__name__, self._scrub(str(exc)))
