"""The extraction lexicons in ``rules/extraction/``: loaded, validated and compiled to regexes.

Analysts write phrases, not regular expressions: a phrase matches as whole words, case-insensitively,
a trailing ``*`` matches any word ending and a lone ``*`` any one word. ``regex:`` is there for what
phrases cannot say. Each category compiles to one alternation with a named group per entry, so a
sentence is scanned once per category however long the lexicon grows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import RuleFileError
from ..models import ACLED_EVENT_TYPES
from ..rules import ACLED_SUB_EVENT_TYPES, RuleBook, _validation_error

EXTRACTION_DIR = "extraction"


def phrase_pattern(phrase: str) -> str:
    """A regex for an analyst's phrase: whole words, ``*`` as a word ending or as any one word.

    Examples
    --------
    >>> bool(re.search(phrase_pattern("ambush*"), "gunmen ambushed a lorry"))
    True
    >>> bool(re.search(phrase_pattern("seized * drivers"), "they seized two drivers"))
    True
    >>> bool(re.search(phrase_pattern("IED*"), "a MEDIC"))
    False
    """
    parts = []
    for word in phrase.strip().split():
        if word == "*":
            parts.append(r"\w+")
        elif word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"[\w'’-]*")
        else:
            parts.append(re.escape(word))
    body = r"[\s-]+".join(parts).replace(r"\-", r"[\s-]?")
    return rf"(?<![\w]){body}(?![\w])"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhraseEntry(_Strict):
    phrases: list[str] = Field(default_factory=list)
    regex: str | None = None
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _something_to_match(self):
        if not self.phrases and not self.regex:
            raise ValueError("needs phrases or a regex")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return self

    def pattern(self) -> str:
        alternatives = [phrase_pattern(p) for p in sorted(self.phrases, key=len, reverse=True)]
        if self.regex:
            alternatives.append(self.regex)
        body = "|".join(alternatives)
        return f"(?-i:{body})" if self.case_sensitive else body


class Trigger(PhraseEntry):
    id: str
    event_type: str
    sub_event_type: str
    tags: list[str] = Field(default_factory=list)
    priority: int = Field(ge=0, le=1000)
    strength: float = Field(gt=0, le=1)
    cancels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _acled(self):
        if self.event_type not in ACLED_EVENT_TYPES:
            raise ValueError(f"event_type must be one of ACLED's six: {', '.join(ACLED_EVENT_TYPES)}")
        if self.sub_event_type not in ACLED_SUB_EVENT_TYPES[self.event_type]:
            raise ValueError(f"sub_event_type {self.sub_event_type!r} is not a sub-type of {self.event_type}")
        return self


class Cue(PhraseEntry):
    id: str
    effect: Literal["drop"] | dict[Literal["confidence"], float]


class HistoryClause(PhraseEntry):
    pass


class Events(_Strict):
    triggers: list[Trigger]
    cues: list[Cue] = Field(default_factory=list)
    history: list[HistoryClause] = Field(default_factory=list)
    past_events: list[HistoryClause] = Field(default_factory=list)


class NamedEntry(PhraseEntry):
    name: str


class Entities(_Strict):
    actors: list[NamedEntry]
    targets: list[NamedEntry]


class Proximity(PhraseEntry):
    id: str
    geo_precision: int = Field(ge=1, le=3)
    radius_km: float = Field(ge=0)


class RegionSuffixes(PhraseEntry):
    geo_precision: int = Field(ge=1, le=3)


class Geography(_Strict):
    proximity: list[Proximity]
    region_suffixes: RegionSuffixes
    directions: dict[str, float]
    offset_without_distance_km: float = Field(gt=0)
    offset_without_distance_precision: int = Field(ge=1, le=3)
    desert_offset_km: float = Field(gt=0)
    desert_offset_precision: int = Field(ge=1, le=3)
    road_words: list[str]
    coast_road: str
    coast_words: list[str]
    travel_words: list[str]
    span_words: list[str]
    foreign: list[list[str]]
    names_also_abroad: list[str] = Field(default_factory=list)
    libya: list[str]
    not_places: list[str]


@dataclass(frozen=True)
class Category:
    """One compiled alternation: which entry a match belongs to is ``entries[int(m.lastgroup[1:])]``."""

    regex: re.Pattern
    entries: tuple[Any, ...]

    def finditer(self, text: str) -> Iterator[tuple[Any, re.Match]]:
        for m in self.regex.finditer(text):
            yield self.entries[int(m.lastgroup[1:])], m

    def search(self, text: str) -> Any | None:
        m = self.regex.search(text)
        return self.entries[int(m.lastgroup[1:])] if m else None


def compile_category(entries: Sequence[PhraseEntry]) -> Category:
    groups = "|".join(f"(?P<e{i}>{e.pattern()})" for i, e in enumerate(entries))
    return Category(re.compile(groups or r"(?!x)x", re.IGNORECASE), tuple(entries))


def _alternation(entries: Sequence[PhraseEntry]) -> re.Pattern:
    """One case-insensitive regex matching any of the entries (never matching when there are none)."""
    return re.compile("|".join(f"(?:{e.pattern()})" for e in entries) or r"(?!x)x", re.IGNORECASE)


def words_regex(words: Sequence[str]) -> str:
    """An alternation of whole-word phrases (longest first), without a group."""
    return "|".join(phrase_pattern(w) for w in sorted(words, key=len, reverse=True))


def _parse(path: Path, model: type[BaseModel]) -> Any:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleFileError(str(path), None, None, "file not found") from None
    except yaml.YAMLError as exc:
        raise RuleFileError(str(path), None, None, f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RuleFileError(str(path), None, None, "expected a mapping at the top of the file")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(path, raw, exc) from None


class Lexicon:
    """Every extraction lexicon, validated against the taxonomy and compiled."""

    def __init__(self, events: Events, entities: Entities, geography: Geography):
        self.events, self.entities, self.geography = events, entities, geography
        ordered = sorted(events.triggers, key=lambda t: -t.priority)
        self.triggers = compile_category(ordered)
        self.trigger_by_id = {t.id: t for t in events.triggers}
        self.cues = compile_category(events.cues)
        self.history = _alternation(events.history + events.past_events)
        self.past_events = _alternation(events.past_events)
        self.actors = compile_category(entities.actors)
        self.targets = compile_category(entities.targets)
        self.proximity = geography.proximity

    @classmethod
    def load(cls, rules_dir: Path | str, rules: RuleBook | None = None) -> Lexicon:
        """Load ``rules_dir/extraction/{events,entities,geography}.yaml``; tags must exist in the taxonomy."""
        folder = Path(rules_dir) / EXTRACTION_DIR
        events = _parse(folder / "events.yaml", Events)
        entities = _parse(folder / "entities.yaml", Entities)
        geography = _parse(folder / "geography.yaml", Geography)
        if rules is not None:
            known = set(rules.tag_ids)
            trigger_ids = {t.id for t in events.triggers}
            for trig in events.triggers:
                unknown = [c for c in trig.cancels if c not in trigger_ids]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), trig.id, "cancels",
                                        f"unknown trigger id(s) {unknown}")
                unknown = [t for t in trig.tags if t not in known]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), trig.id, "tags",
                                        f"unknown tag(s) {unknown}; rules/taxonomy.yaml has: {', '.join(known)}")
        ids = [t.id for t in events.triggers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise RuleFileError(str(folder / "events.yaml"), dupes[0], "id", "trigger id used twice")
        return cls(events, entities, geography)
