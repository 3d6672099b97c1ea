"""The rule book: the rule files in ``rules/`` (the event taxonomy, the scoring weights, when two
reports tell one event, how reports set road statuses), read for fast look-up while scoring.

Rules are data compiled once at load time. A file that breaks its schema (:mod:`riskengine.rule_files`)
fails with :class:`~riskengine.errors.RuleFileError` naming the file, the rule id and the field, so
an analyst editing YAML learns what to fix without reading Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from . import compiled, yamlfile
from .errors import RuleFileError

if TYPE_CHECKING:
    from .rule_files import IdentityRules, RoadStatusRules, ScoringRules, Taxonomy

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
_BUILD_CODE = tuple(Path(__file__).with_name(name) for name in ("rules.py", "rule_files.py", "models.py",
                                                                 "yamlfile.py"))


class Section(SimpleNamespace):
    """A validated part of a rule file (a taxonomy, a tag's rule, the scoring levels ...), read-only,
    as plain attributes named as in its schema (:mod:`riskengine.rule_files`): what a rule book
    holds, so that a book loaded from the compiled cache never imports pydantic."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"rules are read-only: {name} (use replaced)")

    def replaced(self, **changes: object) -> Section:
        """A copy with ``changes`` (another corroboration cap, say, to compare scores without it)."""
        return type(self)(**{**vars(self), **changes})


@dataclass(frozen=True)
class ResolvedRule:
    """The rule that governs one incident: the most severe of its sub-type and its tags."""

    id: str
    severity: float
    half_life_days: float
    reach_km: float
    road_threat: bool
    relief: float = 0.0


class RuleBook:
    """All rules, validated and compiled for fast look-up while scoring.

    Its parts are :class:`Section` copies of the validated files (typed here as their schemas, whose
    fields they have); ``fingerprint`` and ``statuses_fingerprint`` are made from the validated files
    when the book is built (:func:`riskengine.rule_files.fingerprints`) and kept with it.
    """

    def __init__(self, taxonomy: Taxonomy, scoring: ScoringRules, directory: Path | None, identity: IdentityRules,
                 road_status: RoadStatusRules, *, fingerprint: str, statuses_fingerprint: str):
        #: a hash of everything in the rules that standing weights depend on: equal rules, equal hash,
        #: whatever the files' layout or comments (what :func:`riskengine.weights.rules_fingerprint` gives)
        self.fingerprint = fingerprint
        #: a hash of what the road statuses kept with the weights depend on (``road_status.yaml``, the
        #: precision radii): other statuses rules make them again, without weighing every event again
        self.statuses_fingerprint = statuses_fingerprint
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
        key_parts = [cls.__module__, cls.__qualname__, compiled.package_version("pydantic"), yamlfile.version(),
                     *_BUILD_CODE,
                     *(rules_dir / name for name in RULE_FILES)]
        book = compiled.cached("rules", key_parts, lambda: cls._build(rules_dir))
        book.directory = rules_dir  # the same files elsewhere share the cached book: this one is here
        return book

    @classmethod
    def _build(cls, rules_dir: Path) -> RuleBook:
        """Read and check the rule files (what :meth:`load` does on a miss of the compiled cache)."""
        from .rule_files import (  # noqa: PLC0415 - pydantic, only when the cache has no book
            IdentityRules,
            RoadStatusRules,
            ScoringRules,
            Taxonomy,
            fingerprints,
            parse_rule_file,
            plain,
        )

        files = (parse_rule_file(rules_dir / "taxonomy.yaml", Taxonomy),
                 parse_rule_file(rules_dir / "scoring.yaml", ScoringRules),
                 parse_rule_file(rules_dir / "identity.yaml", IdentityRules),
                 parse_rule_file(rules_dir / "road_status.yaml", RoadStatusRules))
        weights, statuses = fingerprints(*files)
        taxonomy, scoring, identity, road_status = map(plain, files)
        book = cls(taxonomy, scoring, rules_dir, identity, road_status, fingerprint=weights,
                   statuses_fingerprint=statuses)
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
            reliefs = [(f"tag:{t.id}", t) for t in (self._tags.get(i) for i in tags) if t and t.relief > 0]
            if sub and sub.relief > 0:
                reliefs.append((f"{etype.id}/{sub.id}", sub))
            if reliefs:
                rule_id, top = max(reliefs, key=lambda r: r[1].relief)
                best = ResolvedRule(rule_id, 0.0, top.half_life_days or etype.half_life_days,
                                    top.reach_km if top.reach_km is not None else etype.reach_km, False, top.relief)
        self._resolved[key] = best
        return best

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

