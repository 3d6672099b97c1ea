"""The run configuration: sources to poll, notifiers, the routes on the board, seed subscriptions.

A YAML file (``riskengine run --config FILE``; default ``$RISKENGINE_CONFIG``, else the project's
``seeds/riskengine.yaml``). Paths in it are relative to the file. Validated when loaded: a mistake
names the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import RiskEngineError
from .sources import SourceConfig, parse_duration

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


class Intervals(_Strict):
    evaluate: str = "5m"
    dispatch: str = "15s"

    @model_validator(mode="after")
    def _durations(self) -> Intervals:
        parse_duration(self.evaluate)
        parse_duration(self.dispatch)
        return self


class RunConfig(_Strict):
    sources: list[SourceConfig] = Field(default_factory=list)
    notifiers: NotifiersConfig = Field(default_factory=NotifiersConfig)
    board: list[tuple[str, str]] = Field(default_factory=lambda: list(DEFAULT_BOARD))
    subscriptions: list[SubscriptionSeed] = Field(default_factory=list)
    intervals: Intervals = Field(default_factory=Intervals)
    telegram: dict[str, Any] | None = None  # read by the bot

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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return RunConfig.model_validate(raw), path.resolve().parent
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
