"""Notifiers: how an alert reaches a person. One small interface, several channels.

``console`` prints (the embedded, offline mode); ``webhook`` POSTs JSON to a URL with an
``Idempotency-Key`` header, so a receiver can drop the rare duplicate that a crash between
"sent" and "recorded as sent" can cause; Telegram comes with the bot.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO
from urllib.parse import quote

import httpx

from .errors import RiskEngineError

# ---- secrets never leave ---------------------------------------------------------------------------

#: What stands in for a secret in logs, error texts and the outbox.
HIDDEN = "<token>"
#: Anything shaped like a Telegram bot token (``<bot id>:<secret>``, the colon maybe URL-encoded),
#: scrubbed even when it is not a known one.
_TOKEN_SHAPE = re.compile(r"(?<!\d)\d{5,}(?::|%3A)[A-Za-z0-9_-]{30,}", re.IGNORECASE)
#: The loggers that may print a Bot API URL or a server's answer (a filter on a logger sees only the
#: records logged on it, hence the list, besides the root logger's handlers).
LEAKY_LOGGERS = ("httpx", "httpcore", "telegram", "telegram.Bot", "telegram.request.BaseRequest",
                 "telegram.request.HTTPXRequest", "telegram.ext", "telegram.ext.ExtBot", "telegram.ext.Updater",
                 "telegram.ext.Application", "telegram.ext.AIORateLimiter", "apscheduler")


def _forms(secret: str) -> set[str]:
    """A secret as it may be written: as is, URL-encoded (fully, or its colon only); for a bot token
    (``<bot id>:<secret part>``) also its secret part alone."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe=":"), secret.replace(":", "%3A")}
    bot_id, colon, part = secret.partition(":")
    if colon and bot_id.isdigit() and len(part) >= 8:
        forms |= {part, quote(part, safe="")}
    return {f for f in forms if len(f) >= 8}


class SecretScrubber(logging.Filter):
    """The one scrubber: replaces known secrets (case-insensitively, in every form of :func:`_forms`)
    and anything shaped like a bot token with ``<token>``, in texts and in log records (message,
    arguments, traceback and stack text)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern | None = None
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        secret = (secret or "").strip()
        if not secret or secret in self._secrets:
            return
        with self._lock:
            self._secrets.add(secret)
            forms = sorted({f for s in self._secrets for f in _forms(s)}, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE) if forms else None

    def scrub(self, text: Any) -> str:
        """``text`` (made a string) without any secret."""
        text = text if isinstance(text, str) else str(text)
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(HIDDEN, text)
        return _TOKEN_SHAPE.sub(HIDDEN, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: show its parts, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            # formatted (and scrubbed) now: logging's formatters print ``exc_text`` when it is set, and never
            # format ``exc_info`` again (it stays on the record for code that inspects the exception)
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


SCRUBBER = SecretScrubber()
_INSTALL_LOCK = threading.Lock()


def scrub(text: Any) -> str:
    """``text`` without any secret :func:`guard_secret` was told about (nor anything shaped like a bot token)."""
    return SCRUBBER.scrub(text)


def _scrubbing_excepthook(hook):
    def excepthook(*args):
        import traceback  # noqa: PLC0415

        if len(args) == 3:  # sys.excepthook(type, value, tb)
            text = "".join(traceback.format_exception(*args))
        else:  # threading.excepthook(args)
            a = args[0]
            text = f"Exception in thread {getattr(a.thread, 'name', '?')}:\n" + "".join(
                traceback.format_exception(a.exc_type, a.exc_value, a.exc_traceback))
        sys.stderr.write(scrub(text))

    excepthook.scrubbing = True
    return excepthook


def guard_secret(secret: str | None) -> None:
    """Treat ``secret`` as one from now on: scrub it from every log record (the root logger, its handlers
    and the loggers that may print a Bot API URL) and from uncaught exceptions' tracebacks.

    Call it as soon as the secret is known; calling it again (later handlers, more secrets) is safe."""
    if secret:
        SCRUBBER.add(secret)
    with _INSTALL_LOCK:
        root = logging.getLogger()
        for target in [root, *root.handlers, *(logging.getLogger(name) for name in LEAKY_LOGGERS)]:
            if SCRUBBER not in target.filters:
                target.addFilter(SCRUBBER)
        factory = logging.getLogRecordFactory()
        if not getattr(factory, "scrubbing", False):  # every record, whichever handler gets it later
            def make_record(*args, **kwargs):
                record = factory(*args, **kwargs)
                SCRUBBER.filter(record)
                return record

            make_record.scrubbing = True
            logging.setLogRecordFactory(make_record)
        if not getattr(sys.excepthook, "scrubbing", False):
            sys.excepthook = _scrubbing_excepthook(sys.excepthook)
        if not getattr(threading.excepthook, "scrubbing", False):
            threading.excepthook = _scrubbing_excepthook(threading.excepthook)


# ---- delivery ---------------------------------------------------------------------------------------


class DeliveryError(RiskEngineError, RuntimeError):
    """A send that failed but may work later (network, timeout, server error, rate limit)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A send that will never work (the chat blocked us, the address is gone): do not retry."""


@dataclass(frozen=True)
class OutboxAlert:
    """An alert as the outbox hands it to a notifier."""

    id: int
    key: str
    chat_id: str
    channel: str
    kind: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    #: the situation it belongs to (``sub:<id>:ep:<episode>``): a rise, an update or an all-clear of a
    #: situation already told follows the first message sent about it
    thread: str | None = None
    #: the channel's message id of the message this alert follows (edits or answers), found by the
    #: dispatcher when it sends: the situation's first message, or the alert a correction corrects
    follows: int | None = None
    #: the subscription it is for (None: not a subscriber's, e.g. a self-test)
    subscription_id: int | None = None


class Notifier(Protocol):
    channel: str

    def send(self, alert: OutboxAlert) -> int | None:
        """Deliver or raise :class:`DeliveryError` / :class:`PermanentDeliveryError`; returns the
        message id the channel gave it, where it gives one (so later alerts can follow it)."""


class ConsoleNotifier:
    """Print alerts: the default when no messaging service is configured."""

    channel = "console"

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream

    def send(self, alert: OutboxAlert) -> None:
        out = self.stream or sys.stdout
        out.write(f"--- alert for {alert.chat_id} ({alert.kind}) ---\n{alert.text}\n")
        out.flush()


class WebhookNotifier:
    """POST each alert as JSON to a URL; 2xx means delivered."""

    channel = "webhook"

    def __init__(self, url: str, client: httpx.Client, timeout: float = 10.0):
        self.url, self.client, self.timeout = url, client, timeout

    def send(self, alert: OutboxAlert) -> None:
        body = {"key": alert.key, "chat_id": alert.chat_id, "kind": alert.kind, "text": alert.text,
                "payload": alert.payload, "thread": alert.thread}
        try:
            response = self.client.post(self.url, json=body, timeout=self.timeout,
                                        headers={"Idempotency-Key": alert.key})
        except httpx.TimeoutException:
            raise DeliveryError(f"webhook {self.url}: no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.url}: {exc.__class__.__name__}: {exc}") from None
        if response.status_code < 300:
            return
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            retry = response.headers.get("Retry-After")
            raise DeliveryError(f"webhook {self.url}: HTTP {response.status_code}",
                                retry_after=float(retry) if retry and retry.isdigit() else None)
        raise PermanentDeliveryError(f"webhook {self.url}: HTTP {response.status_code}")
