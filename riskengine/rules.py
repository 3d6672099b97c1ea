"""Load and validate the rule files in ``rules/``: the event taxonomy and the scoring weights.

Rules are data compiled once at load time. A file that breaks the schema fails with
:class:`~riskengine.errors.RuleFileError` naming the file, the rule id and the field, so an
analyst editing YAML learns what to fix without reading Python.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import VERSION as PYDANTIC_VERSION
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import compiled, yamlfile
from .errors import RuleFileError
from .models import ACLED_EVENT_TYPES

#: ACLED's 25 sub-event types by event type (codebook 2023); the taxonomy must list exactly these.
ACLED_SUB_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "Battles": ("Government regains territory", "Non-state actor overtakes territory", "Armed clash"),
    "Protests": ("Excessive force against protesters", "Protest with intervention", "Peaceful protest"),
    "Riots": ("Violent demonstration", "Mob violence"),
    "Explosions/Remote violence": (
        "Chemical weapon",
        "Air/drone strike",
        "Suicide bomb",
        "Shelling/artillery/missile attack",
        "Remote explosive/landmine/IED",
        "Grenade",
    ),
    "Violence against civilians": ("Sexual violence", "Attack", "Abduction/forced disappearance"),
    "Strategic developments": (
        "Agreement",
        "Arrests",
        "Change to group/activity",
        "Disrupted weapons use",
        "Headquarters or base established",
        "Looting/property destruction",
        "Non-violent transfer of territory",
        "Other",
    ),
}

ADMIRALTY_GRADES = ("A", "B", "C", "D", "E", "F")

#: The rule files of a rules directory.
RULE_FILES = ("taxonomy.yaml", "scoring.yaml", "identity.yaml", "road_status.yaml")
#: The code that builds a rule book: a change to any of it rebuilds the compiled cache.
_BUILD_CODE = tuple(Path(__file__).with_name(name) for name in ("rules.py", "models.py", "yamlfile.py"))


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


@dataclass(frozen=True)
class ResolvedRule:
    """The rule that governs one incident: the most severe of its sub-type and its tags."""

    id: str
    severity: float
    half_life_days: float
    reach_km: float
    road_threat: bool
    relief: float = 0.0


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


class RuleBook:
    """All rules, validated and compiled for fast look-up while scoring."""

    def __init__(self, taxonomy: Taxonomy, scoring: ScoringRules, directory: Path | None, identity: IdentityRules,
                 road_status: RoadStatusRules):
        self.taxonomy = taxonomy
        self.scoring = scoring
        self.directory = directory
        self.identity = identity
        self.road_status = road_status
        self._event_types = {e.id: e for e in taxonomy.event_types}
        self._tags = {t.id: t for t in taxonomy.tags}
        self._resolved: dict[tuple[str, str | None, tuple[str, ...]], ResolvedRule] = {}

    @classmethod
    def load(cls, rules_dir: Path | str) -> RuleBook:
        """Load a rules directory: ``taxonomy.yaml``, ``scoring.yaml``, ``identity.yaml``, ``road_status.yaml``.

        The validated book is kept in the compiled cache (:mod:`riskengine.compiled`) under the
        files' contents and the code that reads them, so an unchanged directory is neither parsed
        nor validated again; a file that breaks the schema is never kept, and fails every load.
        """
        rules_dir = Path(rules_dir)
        key_parts = [cls.__module__, cls.__qualname__, PYDANTIC_VERSION, yamlfile.version(), *_BUILD_CODE,
                     *(rules_dir / name for name in RULE_FILES)]
        book = compiled.cached("rules", key_parts, lambda: cls._build(rules_dir))
        book.directory = rules_dir  # the same files elsewhere share the cached book: this one is here
        return book

    @classmethod
    def _build(cls, rules_dir: Path) -> RuleBook:
        """Read and check the rule files (what :meth:`load` does on a miss of the compiled cache)."""
        taxonomy = parse_rule_file(rules_dir / "taxonomy.yaml", Taxonomy)
        scoring = parse_rule_file(rules_dir / "scoring.yaml", ScoringRules)
        identity = parse_rule_file(rules_dir / "identity.yaml", IdentityRules)
        road_status = parse_rule_file(rules_dir / "road_status.yaml", RoadStatusRules)
        book = cls(taxonomy, scoring, rules_dir, identity, road_status)
        unknown = [t for t in road_status.from_tags if t not in book._tags]
        if unknown:
            raise RuleFileError(str(rules_dir / "road_status.yaml"), None, "from_tags", f"unknown tag(s) {unknown}")
        unknown = [t for g in identity.same_event.compatible_tags for t in g if t not in book._tags]
        if unknown:
            raise RuleFileError(str(rules_dir / "identity.yaml"), None, "compatible_tags", f"unknown tag(s) {unknown}")
        for example in scoring.examples:
            tags = example.incident.get("tags", [])
            unknown = [t for t in tags if t not in book._tags]
            if unknown:
                raise RuleFileError(str(rules_dir / "scoring.yaml"), example.id, "tags", f"unknown tag(s) {unknown}")
        book.fingerprint, book.statuses_fingerprint  # noqa: B018 - made now, while the models are built, and kept
        return book

    @property
    def tag_ids(self) -> list[str]:
        return list(self._tags)

    def tag_label(self, tag_id: str) -> str:
        """How a tag reads for people ("IED/landmine" for ``ied_landmine``)."""
        tag = self._tags.get(tag_id)
        return (tag.label if tag and tag.label else tag_id.replace("_", " ").capitalize())

    def check_incident_kind(self, event_type: str, sub_event_type: str | None, tags: list[str]) -> None:
        """Raise ValueError naming what the taxonomy does not know (used when ingesting)."""
        if event_type not in self._event_types:
            raise ValueError(f"unknown event_type {event_type!r}")
        subs = ACLED_SUB_EVENT_TYPES[event_type]
        if sub_event_type and sub_event_type not in subs:
            raise ValueError(f"unknown sub_event_type {sub_event_type!r} for {event_type}")
        unknown = [t for t in tags if t not in self._tags]
        if unknown:
            raise ValueError(f"unknown tag(s) {unknown}; known: {', '.join(self._tags)}")

    def resolve(self, event_type: str, sub_event_type: str | None, tags: tuple[str, ...] = ()) -> ResolvedRule:
        """The governing rule of an incident kind: its most severe matching rule.

        Examples
        --------
        >>> book = RuleBook.load(Path(__file__).parent.parent / "rules")
        >>> book.resolve("Violence against civilians", "Attack", ("ambush",)).id
        'tag:ambush'
        >>> book.resolve("Protests", "Peaceful protest").road_threat
        False
        >>> book.resolve("Strategic developments", "Agreement", ("reopening",)).relief
        0.5
        """
        key = (event_type, sub_event_type, tuple(tags))
        if key in self._resolved:
            return self._resolved[key]
        etype = self._event_types[event_type]
        sub = next((s for s in etype.sub_types if s.id == sub_event_type), None)
        base = ResolvedRule(
            id=f"{etype.id}/{sub.id}" if sub else etype.id,
            severity=sub.severity if sub and sub.severity is not None else etype.severity,
            half_life_days=sub.half_life_days if sub and sub.half_life_days else etype.half_life_days,
            reach_km=sub.reach_km if sub and sub.reach_km is not None else etype.reach_km,
            road_threat=sub.road_threat if sub else etype.road_threat,
        )
        best = base
        for tag_id in tags:
            tag = self._tags.get(tag_id)
            if tag and tag.severity > best.severity:
                best = ResolvedRule(f"tag:{tag.id}", tag.severity, tag.half_life_days, tag.reach_km, tag.road_threat)
        if not best.road_threat:
            best = ResolvedRule(best.id, 0.0, best.half_life_days, best.reach_km, False)
        if best.severity == 0:
            reliefs = [t for t in (self._tags.get(i) for i in tags) if t and t.relief > 0]
            if sub and sub.relief > 0:
                reliefs.append(sub)
            if reliefs:
                top = max(reliefs, key=lambda r: r.relief)
                rule_id = f"tag:{top.id}" if top in self.taxonomy.tags else f"{etype.id}/{top.id}"
                best = ResolvedRule(rule_id, 0.0, top.half_life_days or etype.half_life_days,
                                    top.reach_km if top.reach_km is not None else etype.reach_km, False, top.relief)
        self._resolved[key] = best
        return best

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything in the rules that standing weights depend on (kinds, severities, reaches,
        half-lives, precision and reliability factors, decays, corroboration): equal rules, equal hash,
        whatever the files' layout or comments (what :func:`riskengine.weights.rules_fingerprint` gives).

        Made when the book is built and kept with it in the compiled cache: a book loaded from there
        has it without pydantic making the models' serialisers (a few hundredths of a second).
        """
        parts = (self.taxonomy.model_dump_json(), self.scoring.model_dump_json(),
                 self.identity.corroboration.model_dump_json())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    @cached_property
    def statuses_fingerprint(self) -> str:
        """A hash of what the road statuses kept with the weights depend on (``road_status.yaml``, the
        precision radii): other statuses rules make them again, without weighing every event again."""
        radii = {level: p.radius_km for level, p in self.scoring.location_precision.items()}
        parts = (self.road_status.model_dump_json(), json.dumps(radii, sort_keys=True))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    @cached_property
    def max_reach_km(self) -> float:
        """The farthest any rule reaches, plus the widest precision radius: the cut-off for points."""
        reaches = [e.reach_km for e in self.taxonomy.event_types]
        reaches += [s.reach_km for e in self.taxonomy.event_types for s in e.sub_types if s.reach_km is not None]
        reaches += [t.reach_km for t in self.taxonomy.tags]
        radius = max(p.radius_km for p in self.scoring.location_precision.values())
        return max(reaches) + radius

    @cached_property
    def horizon_days(self) -> int:
        """How old an incident can be and still count: past its rule's half-life times
        log2(1 / min_time_decay) its time decay is 0. The longest of any rule, in whole days (+1)."""
        lives = [e.half_life_days for e in self.taxonomy.event_types]
        lives += [s.half_life_days for e in self.taxonomy.event_types for s in e.sub_types if s.half_life_days]
        lives += [t.half_life_days for t in self.taxonomy.tags]
        return int(self.weighs_for_days(np.array([max(lives)]))[0])

    def weighs_for_days(self, half_life_days: np.ndarray) -> np.ndarray:
        """How many whole days after its date an incident can still weigh, by its rule's half-life
        (past half-life x log2(1 / min_time_decay) its time decay is 0), with a day to spare."""
        life = np.asarray(half_life_days, dtype=float) * math.log2(1.0 / self.scoring.time["min_time_decay"])
        return np.ceil(life).astype(int) + 1

    @property
    def area_margin_km(self) -> float:
        """How far outside its edge an area incident still touches a segment (``areas.margin_km``)."""
        return self.scoring.areas.margin_km

    def precision_radius_km(self, geo_precision: int) -> float:
        return self.scoring.location_precision[geo_precision].radius_km

    def precision_factor(self, geo_precision: int) -> float:
        return self.scoring.location_precision[geo_precision].factor

    def reliability_factor(self, grade: str | None) -> float:
        """The factor of an Admiralty grade; a missing grade (None, or NaN from a frame) is the default's."""
        known = grade if isinstance(grade, str) and grade in self.scoring.source_reliability else None
        return self.scoring.source_reliability[known or self.scoring.default_source_reliability]

    def fatalities_boost(self, fatalities: np.ndarray) -> np.ndarray:
        cfg = self.scoring.fatalities
        boost = 1.0 + cfg["per_log_fatality"] * np.log1p(np.asarray(fatalities, dtype=float))
        return np.minimum(boost, cfg["max_boost"])

    def distance_decay(self, gap_km: np.ndarray, reach_km: np.ndarray) -> np.ndarray:
        """Weight factor for a gap between incident and road: 1 on the road, 0 at or past the reach."""
        gap = np.maximum(np.asarray(gap_km, dtype=float), 0.0)
        reach = np.asarray(reach_km, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(reach > 0, gap / reach, np.where(gap > 0, np.inf, 0.0))
        if self.scoring.distance["fade"] == "gaussian":
            decay = np.exp(-3.0 * ratio**2)
        else:
            decay = 1.0 - ratio
        return np.where(ratio < 1.0, decay, 0.0)

    def time_decay(self, age_days: np.ndarray, half_life_days: np.ndarray) -> np.ndarray:
        """0.5 ** (age / half-life); 0 for incidents after the scoring time or decayed to nothing."""
        age = np.asarray(age_days, dtype=float)
        decay = np.power(0.5, age / np.asarray(half_life_days, dtype=float))
        keep = (age >= 0) & (decay >= self.scoring.time["min_time_decay"])
        return np.where(keep, decay, 0.0)

    def score_from_weight(self, total_weight: np.ndarray | float) -> np.ndarray:
        """Saturating combination: 0 with no weight, towards 100 as weight piles up."""
        weight = np.maximum(np.asarray(total_weight, dtype=float), 0.0)
        return 100.0 * (1.0 - np.exp(-weight / self.scoring.saturation))

    def level_for(self, score: np.ndarray | float) -> np.ndarray:
        """Levels 1-5 for scores (vectorised)."""
        mins = np.array([lv.min_score for lv in self.scoring.levels])
        return np.searchsorted(mins, np.asarray(score, dtype=float), side="right")

    def level_name(self, level: int) -> str:
        return self.scoring.levels[int(level) - 1].name

