"""The bot's settings: its token, the Bot API server, who may file reports, how fast users may go.

Read from the run configuration's ``telegram:`` section and from the environment; the environment
wins, so the token can stay out of files::

    telegram:
      analysts: [123456789]          # Telegram *user* ids allowed to /report and to forward posts
      commands_per_minute: 20        # per user; more are answered once with "slow down", then ignored
      max_subscriptions_per_chat: 20 # /subscribe refuses more (with a message saying so)
      # api_base_url: http://127.0.0.1:8081   # a local Bot API server or an emulator

Webhook mode (several stateless workers, :mod:`bot.webhook`) takes a secret token that Telegram
sends with every update (``TELEGRAM_WEBHOOK_SECRET`` or ``webhook_secret:``; 1-256 characters of
``A-Z a-z 0-9 _ -``) and, to register the webhook, its public URL (``TELEGRAM_WEBHOOK_URL`` or
``webhook_url:``). A configured secret is what puts the bot in webhook mode: ``riskengine run`` then
sends alerts without long polling (``getUpdates`` would take the webhook's place).

``TELEGRAM_BOT_TOKEN`` gives the token (``token:`` in the section works too, but keep secrets out
of version control), ``TELEGRAM_API_BASE_URL`` the Bot API server and ``TELEGRAM_ANALYSTS`` more
analysts (comma-separated user ids). The token never appears in ``repr`` or ``str``, and it is
scrubbed from every log record from the moment settings holding it are made
(:func:`riskengine.notify.guard_secret`).

Analysts are people, not chats: a user id is checked against ``update.effective_user.id``, so being
a member of some group chat gives no right to file reports (in a private chat the chat id and the
user id are the same number).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from riskengine.errors import RiskEngineError
from riskengine.notify import guard_secret

from .channels import ChannelSources

TOKEN_VAR = "TELEGRAM_BOT_TOKEN"
API_URL_VAR = "TELEGRAM_API_BASE_URL"
ANALYSTS_VAR = "TELEGRAM_ANALYSTS"
WEBHOOK_SECRET_VAR = "TELEGRAM_WEBHOOK_SECRET"
WEBHOOK_URL_VAR = "TELEGRAM_WEBHOOK_URL"

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as a secret_token
_KEYS = ("token", "api_base_url", "analysts", "commands_per_minute", "max_subscriptions_per_chat", "channels",
         "default_channel_reliability", "accept_unlisted_channels", "webhook_secret", "webhook_url")
DEFAULT_MAX_SUBSCRIPTIONS = 20


class SettingsError(RiskEngineError, ValueError):
    """Bot settings that cannot be used: names the setting and what is wrong with it."""


def _chat_ids(values: Iterable[Any], where: str) -> set[int]:
    ids = set()
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        if not re.fullmatch(r"-?\d+", text):
            raise SettingsError(f"{where}: {text!r} is not a Telegram user id (an integer)")
        ids.add(int(text))
    return ids


@dataclass(frozen=True, repr=False)
class BotSettings:
    """What the bot needs to run.

    Parameters
    ----------
    token : str
        The bot's token from @BotFather (never shown by ``repr``).
    api_base_url : str or None
        A Bot API server other than Telegram's (``http://host:port``, no ``/bot`` suffix).
    analysts : frozenset of int
        Telegram user ids (``update.effective_user.id``, not chat ids) allowed to file reports with
        /report and to forward posts to be stored; membership of a group chat grants nothing.
    commands_per_minute : int
        How many commands one user may send per minute.
    max_subscriptions_per_chat : int
        How many subscriptions one chat may hold; /subscribe refuses more.
    webhook_secret : str or None
        The secret Telegram sends with each webhook update (never shown); set: webhook mode.
    webhook_url : str or None
        The public https URL Telegram posts updates to (registered by ``riskengine serve --webhook``).
    """

    token: str
    api_base_url: str | None = None
    analysts: frozenset[int] = field(default_factory=frozenset)
    commands_per_minute: int = 20
    max_subscriptions_per_chat: int = DEFAULT_MAX_SUBSCRIPTIONS
    channels: ChannelSources = field(default_factory=ChannelSources)  # channels whose posts are reports
    webhook_secret: str | None = None
    webhook_url: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.token, str) and self.token.strip():
            guard_secret(self.token.strip())  # from now on no log line carries it
        if not isinstance(self.token, str) or not _TOKEN.match(self.token):
            raise SettingsError(f"telegram token: not a bot token (digits, a colon, then letters); set {TOKEN_VAR}")
        if self.api_base_url is not None:
            url = self.api_base_url.strip().rstrip("/")
            if not re.match(r"^https?://[^\s/]+", url):
                raise SettingsError(f"telegram api_base_url: {self.api_base_url!r} is not an http(s) URL")
            object.__setattr__(self, "api_base_url", url)
        object.__setattr__(self, "analysts", frozenset(_chat_ids(self.analysts, "telegram analysts")))
        per_minute = self.commands_per_minute
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 1:
            raise SettingsError(f"telegram commands_per_minute: {per_minute!r} is not a whole number >= 1")
        cap = self.max_subscriptions_per_chat
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise SettingsError(f"telegram max_subscriptions_per_chat: {cap!r} is not a whole number >= 1")
        if self.webhook_secret is not None:
            if isinstance(self.webhook_secret, str) and self.webhook_secret:
                guard_secret(self.webhook_secret)
            if not isinstance(self.webhook_secret, str) or not _WEBHOOK_SECRET.match(self.webhook_secret):
                raise SettingsError(f"telegram webhook_secret: not 1-256 characters of A-Z, a-z, 0-9, _ and - "
                                    f"(Telegram's rule); set {WEBHOOK_SECRET_VAR}")
        if self.webhook_url is not None and not re.match(r"^https?://[^\s/]+/\S*$", str(self.webhook_url)):
            raise SettingsError(f"telegram webhook_url: {self.webhook_url!r} is not an http(s) URL with a path")

    @property
    def webhook(self) -> bool:
        """Whether the bot takes its updates by webhook (a secret is configured) rather than by polling."""
        return self.webhook_secret is not None

    @classmethod
    def load(cls, section: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> BotSettings:
        """Settings from a run configuration's ``telegram:`` section and the environment.

        Parameters
        ----------
        section : mapping, optional
            The ``telegram:`` section (keys: token, api_base_url, analysts, commands_per_minute,
            max_subscriptions_per_chat, channels, default_channel_reliability, accept_unlisted_channels,
            webhook_secret, webhook_url).
        environ : mapping, optional
            The environment (default ``os.environ``); its variables win over the section.

        Raises
        ------
        SettingsError
            For an unknown key, a missing or malformed token, a bad URL, chat id or rate.
        """
        section = dict(section or {})
        environ = os.environ if environ is None else environ
        unknown = sorted(set(section) - set(_KEYS))
        if unknown:
            raise SettingsError(f"telegram: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
        token = environ.get(TOKEN_VAR) or section.get("token")
        if isinstance(token, str) and token.strip():
            guard_secret(token.strip())
        if not token:
            raise SettingsError(f"telegram token: not set; set the environment variable {TOKEN_VAR}")
        analysts = section.get("analysts") or []
        if isinstance(analysts, str | int):
            analysts = [analysts]
        ids = _chat_ids(analysts, "telegram analysts")
        ids |= _chat_ids(environ.get(ANALYSTS_VAR, "").split(","), ANALYSTS_VAR)
        try:
            channels = ChannelSources.load(section)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return cls(token=str(token).strip(), api_base_url=environ.get(API_URL_VAR) or section.get("api_base_url"),
                   analysts=frozenset(ids), commands_per_minute=section.get("commands_per_minute", 20),
                   max_subscriptions_per_chat=section.get("max_subscriptions_per_chat", DEFAULT_MAX_SUBSCRIPTIONS),
                   channels=channels,
                   webhook_secret=environ.get(WEBHOOK_SECRET_VAR) or section.get("webhook_secret") or None,
                   webhook_url=environ.get(WEBHOOK_URL_VAR) or section.get("webhook_url") or None)

    def __repr__(self) -> str:
        return (f"BotSettings(token=<hidden>, api_base_url={self.api_base_url!r}, "
                f"analysts={sorted(self.analysts)!r}, commands_per_minute={self.commands_per_minute}, "
                f"max_subscriptions_per_chat={self.max_subscriptions_per_chat}, "
                f"webhook={'<secret hidden>' if self.webhook else None}, webhook_url={self.webhook_url!r})")

    __str__ = __repr__
