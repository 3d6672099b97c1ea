"""The rule files' schemas: what ``taxonomy.yaml``, ``scoring.yaml``, ``identity.yaml`` and
``road_status.yaml`` may hold, checked by pydantic when a rule book is built.

A file that breaks its schema fails with :class:`~riskengine.errors.RuleFileError` naming the file,
the rule id and the field, so an analyst editing YAML learns what to fix without reading Python.
A built book keeps each validated part as a plain read-only :class:`~riskengine.rules.Section`
(:func:`plain`), so that a book loaded from the compiled cache never imports pydantic: a tenth of
a question's whole process.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import yamlfile
from .errors import RuleFileError
from .models import ACLED_EVENT_TYPES
from .rules import ACLED_SUB_EVENT_TYPES, ADMIRALTY_GRADES, Section

if TYPE_CHECKING:
    from pathlib import Path


class _Strict(BaseModel):
    #: validators are made on first use, not on import: a rule book from the compiled cache validates nothing
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ThreatRule(_Strict):
    """How much one kind of incident threatens road users, for how long and how far."""

    id: str
    description: str = ""
    severity: float | None = Field(default=None, ge=0, le=1)
    half_life_days: float | None = Field(default=None, gt=0)
    reach_km: float | None = Field(default=None, ge=0)
    road_threat: bool = True
    relief: float = Field(default=0.0, ge=0, le=1)


class EventTypeRule(ThreatRule):
    """An ACLED event type: defaults for its sub-types, and the sub-types themselves."""

    severity: float = Field(ge=0, le=1)
    half_life_days: float = Field(gt=0)
    reach_km: float = Field(ge=0)
    sub_types: list[ThreatRule]

    @model_validator(mode="after")
    def _acled_sub_types(self) -> EventTypeRule:
        if self.id not in ACLED_SUB_EVENT_TYPES:
            raise ValueError(f"unknown event type; ACLED's six are: {', '.join(ACLED_EVENT_TYPES)}")
        have = [s.id for s in self.sub_types]
        expected = ACLED_SUB_EVENT_TYPES[self.id]
        unknown = [s for s in have if s not in expected]
        missing = [s for s in expected if s not in have]
        if unknown:
            raise ValueError(f"unknown sub-type(s) {unknown}; {self.id} has: {', '.join(expected)}")
        if missing:
            raise ValueError(f"missing sub-type(s) {missing}")
        return self


class TagRule(ThreatRule):
    """A road-threat tag (ambush, illegal checkpoint, ...): every field is required."""

    label: str = ""

    severity: float = Field(ge=0, le=1)
    half_life_days: float = Field(gt=0)
    reach_km: float = Field(ge=0)


class Taxonomy(_Strict):
    event_types: list[EventTypeRule]
    tags: list[TagRule]

    @model_validator(mode="after")
    def _complete_and_unique(self) -> Taxonomy:
        ids = [e.id for e in self.event_types]
        missing = [e for e in ACLED_EVENT_TYPES if e not in ids]
        if missing:
            raise ValueError(f"missing event type(s) {missing}")
        for kind, seen in (("event type", ids), ("tag", [t.id for t in self.tags])):
            dupes = sorted({i for i in seen if seen.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} id(s) {dupes}")
        return self


class Precision(_Strict):
    radius_km: float = Field(ge=0)
    factor: float = Field(ge=0, le=1)


class AreaRules(_Strict):
    """How far outside its edge an area incident (a district, a region) still touches a road."""

    margin_km: float = Field(default=10.0, ge=0)


class Level(_Strict):
    level: int = Field(ge=1, le=5)
    name: str
    min_score: float = Field(ge=0, le=100)


class ExampleExpectation(_Strict):
    level: int | None = Field(default=None, ge=1, le=5)
    min_score: float | None = None
    max_score: float | None = None


class ScoringExample(_Strict):
    id: str
    incident: dict[str, Any]
    age_days: float = Field(ge=0)
    distance_km: float = Field(ge=0)
    expect: ExampleExpectation


class CoverageRules(_Strict):
    """What an answer rests on (``coverage`` in ``scoring.yaml``)."""

    recent_days: int = Field(default=30, ge=1)
    near_km: float = Field(default=25, ge=0)
    sources_stale_hours: float = Field(default=48, gt=0)


class StatusFromTag(_Strict):
    status: Literal["open", "restricted", "checkpoint", "closed"]
    lasts_days: float = Field(gt=0)


class RoadStatusRules(_Strict):
    """How reports set a segment's road status (``rules/road_status.yaml``)."""

    on_road_km: float = Field(ge=0)
    from_tags: dict[str, StatusFromTag]


class ScoringRules(_Strict):
    time: dict[Literal["min_time_decay"], float]
    distance: dict[Literal["fade"], Literal["linear", "gaussian"]]
    location_precision: dict[Literal[1, 2, 3], Precision]
    source_reliability: dict[Literal["A", "B", "C", "D", "E", "F"], float]
    default_source_reliability: Literal["A", "B", "C", "D", "E", "F"]
    fatalities: dict[Literal["per_log_fatality", "max_boost"], float]
    saturation: float = Field(gt=0)
    areas: AreaRules = Field(default_factory=AreaRules)
    coverage: CoverageRules = Field(default_factory=CoverageRules)
    levels: list[Level]
    examples: list[ScoringExample] = Field(default_factory=list)

    @model_validator(mode="after")
    def _levels_in_order(self) -> ScoringRules:
        if [lv.level for lv in self.levels] != [1, 2, 3, 4, 5]:
            raise ValueError("levels must be exactly 1..5 in order")
        mins = [lv.min_score for lv in self.levels]
        if mins[0] != 0 or any(b <= a for a, b in zip(mins, mins[1:], strict=False)):
            raise ValueError("min_score must start at 0 and rise with each level")
        missing = [g for g in ADMIRALTY_GRADES if g not in self.source_reliability]
        if missing or len(self.location_precision) != 3:
            raise ValueError(f"source_reliability needs A-F (missing {missing}) and location_precision 1-3")
        return self


class SameEventRules(_Strict):
    """When two reports tell the same event (``rules/identity.yaml``)."""

    date_window_days: dict[Literal[1, 2, 3], int]
    unstated_date_window_days: int = Field(ge=0, le=30)
    slack_km: float = Field(ge=0, le=200)
    compatible_types: list[list[str]] = Field(default_factory=list)
    compatible_tags: list[list[str]] = Field(default_factory=list)
    compatible_targets: list[list[str]] = Field(default_factory=list)
    unnamed_actors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_types(self) -> SameEventRules:
        unknown = [t for group in self.compatible_types for t in group if t not in ACLED_EVENT_TYPES]
        if unknown:
            raise ValueError(f"compatible_types: unknown event type(s) {unknown}")
        return self


class Corroboration(_Strict):
    max_confidence: float = Field(gt=0, le=1)


class IdentityRules(_Strict):
    same_event: SameEventRules
    corroboration: Corroboration


def _load_yaml(path: Path) -> Any:
    import yaml  # noqa: PLC0415 - a rule book from the compiled cache reads no YAML

    try:
        return yamlfile.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleFileError(str(path), None, None, "file not found") from None
    except yaml.YAMLError as exc:
        raise RuleFileError(str(path), None, None, f"not valid YAML: {exc}") from None


def _validation_error(path: Path, raw: Any, exc: ValidationError) -> RuleFileError:
    """Turn pydantic's first error into one line: the file, the id of the rule it is in, the field."""
    err = exc.errors()[0]
    loc = [p for p in err["loc"]]
    rule_id, node = None, raw
    for part in loc:
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            rule_id = node["id"]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(node, dict) and isinstance(node.get("id"), str):
        rule_id = node["id"]
    fields = [str(p) for p in loc if not isinstance(p, int)]
    field = fields[-1] if fields else None
    return RuleFileError(str(path), rule_id, field, err["msg"])


def parse_rule_file(path: Path, model: type[BaseModel]) -> Any:
    """A YAML rule file validated by a pydantic model; any problem is one RuleFileError."""
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        raise RuleFileError(str(path), None, None, "expected a mapping at the top of the file")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(path, raw, exc) from None


def plain(value: Any) -> Any:
    """A validated value with every model in it as a :class:`~riskengine.rules.Section` of its fields."""
    if isinstance(value, BaseModel):
        return Section(**{name: plain(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    return value


def fingerprints(taxonomy: Taxonomy, scoring: ScoringRules, identity: IdentityRules,
                 road_status: RoadStatusRules) -> tuple[str, str]:
    """Hashes of what the stored weights depend on (kinds, severities, reaches, half-lives, precision
    and reliability factors, decays, corroboration) and of what the stored road statuses depend on
    (``road_status.yaml``, the precision radii): equal rules, equal hashes, whatever the files'
    layout or comments (:attr:`RuleBook.fingerprint <riskengine.rules.RuleBook.fingerprint>`)."""
    parts = (taxonomy.model_dump_json(), scoring.model_dump_json(), identity.corroboration.model_dump_json())
    weights = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    radii = {level: p.radius_km for level, p in scoring.location_precision.items()}
    parts = (road_status.model_dump_json(), json.dumps(radii, sort_keys=True))
    return weights, hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
