"""The run configuration: sources to poll, notifiers, the routes on the board, seed subscriptions.

A YAML file (``riskengine run --config FILE``; default ``$RISKENGINE_CONFIG``, else the project's
``seeds/riskengine.yaml``). Paths in it are relative to the file. Validated when loaded: a mistake
names the file and the field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import yamlfile
from .errors import RiskEngineError
from .sources import SourceConfig, parse_duration
from .textfile import read_text

DEFAULT_BOARD = [("Tripoli", "Sebha"), ("Misrata", "Sebha"), ("Sirte", "Sebha"), ("Tripoli", "Misrata"),
                 ("Misrata", "Sirte"), ("Sirte", "Ajdabiya"), ("Ajdabiya", "Benghazi"), ("Benghazi", "Tobruk"),
                 ("Sebha", "Ghat"), ("Ajdabiya", "Kufra")]


class ConfigError(RiskEngineError, ValueError):
    """A run configuration file that is missing or invalid: names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookConfig(_Strict):
    url: str
    timeout: str = "10s"


class NotifiersConfig(_Strict):
    console: bool = True
    webhook: WebhookConfig | None = None


class SubscriptionSeed(_Strict):
    """A subscription the configuration asks for (made on start; making it again changes nothing)."""

    chat: str
    channel: str = "console"
    route: tuple[str, str] | None = None
    segment: str | None = None
    place: str | None = None
    radius_km: float | None = None
    min_level: int = Field(default=3, ge=1, le=5)
    quiet: str | None = None  # "22:00-06:00"
    timezone: str = "Africa/Tripoli"

    @model_validator(mode="after")
    def _one_target(self) -> SubscriptionSeed:
        if sum(x is not None for x in (self.route, self.segment, self.place)) != 1:
            raise ValueError("give exactly one of route, segment or place")
        return self


class BroadcastChannel(_Strict):
    """A Telegram channel told of one region (``broadcast: {REGION: {...}}``): one message per change
    for all its readers. Made on start as a ``region`` subscription of the channel; an entry removed
    from the file has its subscription removed (see :meth:`riskengine.pipeline.Pipeline.seed_broadcasts`)."""

    chat: str  # "@username" or the channel's numeric id (-100...)
    min_level: int = Field(default=3, ge=1, le=5)
    language: Literal["en", "ar"] | None = None  # None: as the chat's stored language (English if none)

    @field_validator("chat", mode="before")
    @classmethod
    def _channel_chat(cls, value: Any) -> str:
        return channel_chat(value)


def channel_chat(value: Any) -> str:
    """A Telegram channel as a chat id: ``"@name"`` (lower case) or a numeric id; ValueError otherwise.

    Examples
    --------
    >>> channel_chat("@Libya_West_Roads"), channel_chat(-1001234567890)
    ('@libya_west_roads', '-1001234567890')
    """
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return str(int(text))
    if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", text):
        return text.lower()
    raise ValueError(f"{text!r} is neither a channel @username nor a numeric chat id")


class Intervals(_Strict):
    evaluate: str = "5m"
    dispatch: str = "15s"
    #: how often the store is checked for a change made by any process (a report stored, an
    #: analyst's correction or road status): a change is evaluated and sent at once
    watch: str = "1s"

    @model_validator(mode="after")
    def _durations(self) -> Intervals:
        parse_duration(self.evaluate)
        parse_duration(self.dispatch)
        parse_duration(self.watch)
        return self


Grade = Literal["A", "B", "C", "D", "E", "F"]


class TelegramChannel(_Strict):
    reliability: Grade  # the Admiralty grade of the channel


class TelegramChannels(BaseModel):
    """The ``telegram:`` settings about channels as sources (the bot reads the rest of the section).

    ``channels`` keys are ``"@username"`` or the channel's numeric id (``-100...``).
    """

    model_config = ConfigDict(extra="ignore")
    channels: dict[str | int, TelegramChannel] = Field(default_factory=dict)
    default_channel_reliability: Grade = "D"
    accept_unlisted_channels: bool = False

    @field_validator("channels")
    @classmethod
    def _channel_keys(cls, value: dict) -> dict:
        return {channel_chat(key): channel for key, channel in value.items()}


def telegram_channels(section: dict | None) -> TelegramChannels:
    """The channel settings of a ``telegram:`` section; ValueError names the field that is wrong."""
    try:
        return TelegramChannels.model_validate(section or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in ("telegram", *err["loc"]))
        raise ValueError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None


class RunConfig(_Strict):
    sources: list[SourceConfig] = Field(default_factory=list)
    notifiers: NotifiersConfig = Field(default_factory=NotifiersConfig)
    board: list[tuple[str, str]] = Field(default_factory=lambda: list(DEFAULT_BOARD))
    subscriptions: list[SubscriptionSeed] = Field(default_factory=list)
    #: region id (rules/regions.yaml) -> the Telegram channel told of it; checked against the regions
    #: when the pipeline seeds them (the rules directory is the engine's)
    broadcast: dict[str, BroadcastChannel] = Field(default_factory=dict)
    intervals: Intervals = Field(default_factory=Intervals)
    telegram: dict[str, Any] | None = None  # read by the bot

    @field_validator("telegram")
    @classmethod
    def _telegram_channels(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        telegram_channels(value)
        return value

    @model_validator(mode="after")
    def _unique_source_names(self) -> RunConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {dupes}")
        return self


def default_config_path(seeds_dir: Path) -> Path:
    env = os.environ.get("RISKENGINE_CONFIG")
    return Path(env) if env else seeds_dir / "riskengine.yaml"


def load_config(path: Path | str) -> tuple[RunConfig, Path]:
    """The configuration in a YAML file, and the folder its relative paths start from."""
    path = Path(path)
    text = read_text(path, ConfigError, kind="configuration file")
    try:
        raw = yamlfile.load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return RunConfig.model_validate(raw), path.resolve().parent
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if msg.startswith(f"{where}."):  # the message names the field itself (telegram.channels...)
            raise ConfigError(f"{path}: {msg}") from None
        raise ConfigError(f"{path}: {where}: {msg}") from None
