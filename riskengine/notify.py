"""Notifiers: how an alert reaches a person. One small interface, several channels.

``console`` prints (the embedded, offline mode); ``webhook`` POSTs JSON to a URL with an
``Idempotency-Key`` header, so a receiver can drop the rare duplicate that a crash between
"sent" and "recorded as sent" can cause; Telegram comes with the bot.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import httpx

from .errors import RiskEngineError


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


class Notifier(Protocol):
    channel: str

    def send(self, alert: OutboxAlert) -> None:
        """Deliver or raise :class:`DeliveryError` / :class:`PermanentDeliveryError`."""


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
                "payload": alert.payload}
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
