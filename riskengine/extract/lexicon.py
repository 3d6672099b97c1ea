"""The extraction lexicons in ``rules/extraction/``: loaded, validated and compiled to regexes.

Analysts write phrases, not regular expressions: a phrase matches as whole words, case-insensitively,
a trailing ``*`` matches any word ending and a lone ``*`` any one word. ``regex:`` is there for what
phrases cannot say. Each phrase is found by its rarest word (its anchor) with an Aho-Corasick automaton,
and its regex is tried only there; :class:`WordFinder` puts the anchors of every category a report is
read with into one automaton, so a report is scanned once however many categories and phrases there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..arabic import normalize_arabic
from ..errors import RuleFileError
from ..models import ACLED_EVENT_TYPES
from ..rule_files import parse_rule_file
from ..rules import ACLED_SUB_EVENT_TYPES, RuleBook
from . import regexscan
from .regexscan import Starts, grouped_alternation, literal_needs, may_match

EXTRACTION_DIR = "extraction"


#: Proclitics an Arabic word may carry (conjunctions, prepositions, the article), longest first.
ARABIC_PROCLITIC = "(?:وبال|وال|بال|فال|كال|لل|ال|وب|ول|فب|فل|وك|و|ف|ب|ل|ك)?"


def _is_arabic_word(word: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in word)


def phrase_body(phrase: str) -> str:
    """A phrase as a regex without its word boundaries (callers add them once around many phrases).
    An Arabic word may carry a proclitic ("و", "ب", "ال", "وال"...)."""
    parts = []
    for word in phrase.strip().split():
        if _is_arabic_word(word):
            stem = word[:-1] if word.endswith("*") else word
            parts.append(ARABIC_PROCLITIC + re.escape(stem) + (r"\w*" if word.endswith("*") else ""))
        elif word == "*":
            parts.append(r"\w+(?:-\w+)*")  # one word, hyphenated or not ("machine-gun")
        elif word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"[\w'’-]*")
        else:
            parts.append(re.escape(word))
    return r"[\s-]+".join(parts).replace(r"\-", r"[\s-]?")


def bounded(alternatives: str) -> str:
    """Whole words only: one boundary check around an alternation, not one per phrase (much faster)."""
    return rf"(?<![\w])(?:{alternatives})(?![\w])"


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
    return bounded(phrase_body(phrase))


def _check_acled_kind(event_type: str, sub_event_type: str) -> None:
    """An event type and sub-type must be ACLED's own."""
    if event_type not in ACLED_EVENT_TYPES:
        raise ValueError(f"event_type must be one of ACLED's six: {', '.join(ACLED_EVENT_TYPES)}")
    if sub_event_type not in ACLED_SUB_EVENT_TYPES[event_type]:
        raise ValueError(f"sub_event_type {sub_event_type!r} is not a sub-type of {event_type}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhraseEntry(_Strict):
    phrases: list[str] = Field(default_factory=list)
    regex: str | None = None
    #: literal words one of which is in every match of ``regex``, at most 70 characters from either
    #: end of the match: the regex is tried only around them
    keywords: list[str] = Field(default_factory=list)
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

    def body(self) -> str:
        """The entry's phrases (and regex) as one alternation, without word boundaries."""
        alternatives = [phrase_body(p) for p in sorted(self.phrases, key=len, reverse=True)]
        if self.regex:
            alternatives.append(self.regex)
        body = grouped_alternation(alternatives)
        return f"(?-i:{body})" if self.case_sensitive else body

    def pattern(self) -> str:
        return bounded(self.body())


class Trigger(PhraseEntry):
    id: str
    event_type: str
    sub_event_type: str
    tags: list[str] = Field(default_factory=list)
    priority: int = Field(ge=0, le=1000)
    strength: float = Field(gt=0, le=1)
    cancels: list[str] = Field(default_factory=list)
    acled_event: bool = True

    @model_validator(mode="after")
    def _acled(self):
        _check_acled_kind(self.event_type, self.sub_event_type)
        return self


class Cue(PhraseEntry):
    id: str
    effect: Literal["drop"] | dict[Literal["confidence"], float]
    #: trigger ids that keep a sentence this cue would drop ("mortar shells hit the stadium")
    unless: list[str] = Field(default_factory=list)
    #: trigger ids whose sentences nearby (two either side) this cue explains away when they name
    #: no perpetrator: "Four farm workers died ... The pick-up rolled over."
    explains: list[str] = Field(default_factory=list)


class HistoryClause(PhraseEntry):
    pass


class PastWar(PhraseEntry):
    """A war by its name ("the February revolution", "Operation Dignity") and the year it ended: a
    sentence set in it is history (once it ended two years or more before the report); its name is
    never a date ("the 17 February revolution")."""

    id: str
    ended: int = Field(ge=1900, le=2100)


class Retype(PhraseEntry):
    """ACLED codes some events by who was hit, not by the word used: an ambush of soldiers is a
    battle. When the incident's trigger is one of ``when`` and the phrases match its sentences, the
    incident takes this event type and sub-type."""

    id: str
    when: list[str]
    event_type: str
    sub_event_type: str

    @model_validator(mode="after")
    def _acled(self):
        _check_acled_kind(self.event_type, self.sub_event_type)
        return self


class Events(_Strict):
    triggers: list[Trigger]
    cues: list[Cue] = Field(default_factory=list)
    history: list[HistoryClause] = Field(default_factory=list)
    past_events: list[HistoryClause] = Field(default_factory=list)
    past_wars: list[PastWar] = Field(default_factory=list)
    #: words that tell a thing was left or laid in a past war ("a mine laid during the revolution"):
    #: the war is then a name inside the sentence, not its time
    left_by_war_words: list[str] = Field(default_factory=list)
    retype: list[Retype] = Field(default_factory=list)
    #: event nouns that, after "the", tell again an event already told ("the blast at X")
    back_references: list[str] = Field(default_factory=list)


class NamedEntry(PhraseEntry):
    name: str


class Entities(_Strict):
    actors: list[NamedEntry]
    targets: list[NamedEntry]


class Proximity(PhraseEntry):
    id: str
    geo_precision: int = Field(ge=1, le=3)
    radius_km: float = Field(ge=0)
    rank: int = Field(default=60, ge=0, le=100)


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
    roles: dict[str, list[str]] = Field(default_factory=dict)
    demonyms: dict[str, list[str]] = Field(default_factory=dict)
    unit_words: list[str] = Field(default_factory=list)
    seat_words: list[str] = Field(default_factory=list)


class Hit(NamedTuple):
    """Where a lexicon phrase matched: the same questions a ``re.Match`` answers (a tuple: made
    for every match of every category, it is made fast)."""

    begin: int
    finish: int
    text: str

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.finish

    def group(self) -> str:
        return self.text


class Category:
    """A lexicon category compiled for speed.

    Each phrase is anchored on its longest literal word. An Aho-Corasick automaton (pyahocorasick)
    of the anchors finds the few places in a text where a phrase may be; only around those is the
    phrase's regex tried, and only at the positions where a match could cover the anchor. A
    ``regex:`` entry is tried only in a short window around one of its ``keywords`` (everywhere, if
    it has none). :class:`WordFinder` finds the anchors of several categories in one pass.
    """

    #: how far (characters) before and after its keyword a regex entry's match may reach
    KEYWORD_REACH = (70, 70)
    #: how far (characters) past its anchor a phrase's match may reach
    ANCHOR_REACH = 120

    def __init__(self, entries: Sequence[PhraseEntry]):
        self.entries = tuple(entries)
        groups: dict[str, list[tuple[int, str, int]]] = {}  # anchor -> (entry, body, chars before anchor)
        slow: list[tuple[int, str]] = []
        partial_anchors: set[str] = set()  # anchors that may be the start of a longer word ("ambush*")
        self._keywords = ahocorasick.Automaton()
        keyword_entries: dict[str, list[tuple[re.Pattern, int]]] = {}
        for i, entry in enumerate(self.entries):
            if entry.regex:
                if entry.keywords:
                    pattern = re.compile(bounded(entry.regex), re.IGNORECASE)
                    for word in entry.keywords:
                        keyword_entries.setdefault(word.lower(), []).append((pattern, i))
                else:
                    slow.append((i, bounded(entry.regex)))
            for phrase in sorted(entry.phrases, key=len, reverse=True):
                body = phrase_body(phrase)
                if entry.case_sensitive:
                    body = f"(?-i:{body})"
                anchor, before, whole = _anchor(phrase)
                if anchor:
                    groups.setdefault(anchor, []).append((i, body, before))
                    partial_anchors.update([] if whole else [anchor])
                else:
                    slow.append((i, bounded(body)))
        self._automaton = ahocorasick.Automaton()
        #: anchor -> (its phrases' regex, how far back a match may start, where it may start, the texts a
        #: match needs besides the anchor: a window without them is not tried; one text as a plain str)
        self._verify: dict[str, tuple[re.Pattern, int, Starts | None, Any]] = {}
        #: what the automata hold for each word: (anchor, whole word?, glued?) and (keyword, regex entries)
        self.anchor_payloads: dict[str, tuple[str, bool, bool]] = {}
        self.keyword_payloads: dict[str, tuple[str, list[int]]] = {}
        for anchor, items in groups.items():
            alternation = "|".join(f"(?P<e{i}_{n}>{body})" for n, (i, body, _) in enumerate(items))
            reach_back = max(before for _, _, before in items) + (4 if _is_arabic_word(anchor) else 0)
            pattern = re.compile(bounded(alternation), re.IGNORECASE)
            self._verify[anchor] = (pattern, reach_back, Starts.of(pattern), _one_text(literal_needs(pattern, anchor)))
            payload = (anchor, anchor not in partial_anchors, _is_arabic_word(anchor))
            self.anchor_payloads[anchor] = payload
            self._automaton.add_word(anchor, payload)
        if groups:
            self._automaton.make_automaton()
        # each regex entry found by a keyword, by number: (its regex, its entry, where its match may
        # start (see regexscan), the one text it needs, if it needs one: a window without it is not
        # searched; needs told only by a regex search or several finds are not worth testing in a
        # window that short: they cost about what the search they would spare does). Numbers,
        # not the regexes, key the windows searched: a regex is hashed anew, from its whole text and
        # code, each time it is looked up in a dict
        starts = {pattern: Starts.of(pattern) for items in keyword_entries.values() for pattern, _ in items}
        needs = {pattern: text if isinstance(text := _one_text(literal_needs(pattern)), str) else None
                 for pattern in starts}
        found_by_keyword = dict.fromkeys(item for items in keyword_entries.values() for item in items)
        numbers = {item: n for n, item in enumerate(found_by_keyword)}
        self._regex_entries = [(pattern, i, starts[pattern], needs[pattern]) for pattern, i in numbers]
        for word, items in keyword_entries.items():
            numbered = [numbers[item] for item in items]
            self.keyword_payloads[word] = (word, numbered)
            self._keywords.add_word(word, (word, numbered))
        if keyword_entries:
            self._keywords.make_automaton()
        self._has_keywords = bool(keyword_entries)
        alternation = "|".join(f"(?P<e{i}_{n}>{body})" for n, (i, body) in enumerate(slow))
        self._slow = re.compile(alternation, re.IGNORECASE) if alternation else None
        self._fallback = compile_category_regex(self.entries)
        self._entry_of_group: dict[str, Any] = {}

    def _entry(self, m: re.Match) -> Any:
        entry = self._entry_of_group.get(m.lastgroup)
        if entry is None:
            entry = self._entry_of_group[m.lastgroup] = self.entries[int(m.lastgroup[1:].split("_")[0])]
        return entry

    def word_hits(self, low: str) -> WordHits:
        """Where this category's anchors and keywords occur in a lower-cased text (its own automata)."""
        anchors = list(self._automaton.iter(low)) if self._verify else []
        keywords = list(self._keywords.iter(low)) if self._has_keywords else []
        return WordHits(anchors, keywords)

    def finditer(self, text: str, hits: WordHits | None = None, low: str | None = None
                 ) -> Iterator[tuple[Any, Hit]]:
        """Every match in text order, without overlaps (the earliest, then the longest, wins).
        ``hits``: where the anchors and keywords occur in ``low``, ``text.lower()``, if already found
        (:class:`WordFinder`); else this category's automata find them."""
        low = text.lower() if low is None else low
        if len(low) != len(text):  # a few characters change length when lowered: take the plain road
            for m in self._fallback.finditer(text):
                yield self._entry(m), Hit(m.start(), m.end(), m.group())
            return
        if hits is None:
            hits = self.word_hits(low)
        found: dict[int, tuple[int, Any]] = {}
        size = len(low)
        # "ſ" and "ı" match "s" and "i" when case is ignored but are themselves in lower case: with one
        # of them in the text, a window lacking a needed text may still match
        plain = "\u017f" not in low and "\u0131" not in low
        low_starts = low if plain else None  # where starts are looked for (see regexscan.Starts)
        verify, reach, get = self._verify, self.ANCHOR_REACH, found.get
        for end, (anchor, whole_word, glued) in hits.anchors:
            start = end - len(anchor) + 1
            if not glued and start > 0:
                before = low[start - 1]
                if before.isalnum() or before == "_":
                    continue
            if whole_word and end + 1 < size:
                after = low[end + 1]
                if after.isalnum() or after == "_":
                    continue
            pattern, reach_back, starts, needs = verify[anchor]
            lo, hi = start - reach_back, end + reach
            lo, hi = lo if lo > 0 else 0, hi if hi < size else size
            if needs is not None and plain and not (
                    low.find(needs, lo, hi) >= 0 if needs.__class__ is str else may_match(needs, low, lo, hi)):
                continue  # no phrase of this anchor can match here: the regex is not tried
            m = _match_over(pattern, starts, text, lo, start, hi, low_starts)
            if m is not None and m.end() > get(m.start(), _NOT_FOUND)[0]:
                found[m.start()] = (m.end(), self._entry(m))
        if hits.keywords:
            back, ahead = self.KEYWORD_REACH
            windows: dict[int, list[list[int]]] = {}  # regex entry number -> spans to search
            for end, (word, numbers) in hits.keywords:
                lo, hi = max(0, end - len(word) + 1 - back), min(len(text), end + 1 + ahead)
                for number in numbers:
                    spans = windows.setdefault(number, [])
                    if spans and lo <= spans[-1][1]:
                        spans[-1][1] = max(spans[-1][1], hi)  # overlapping windows are searched once
                    else:
                        spans.append([lo, hi])
            for number, spans in windows.items():
                pattern, i, starts, needs = self._regex_entries[number]
                needs = needs if plain else None
                for lo, hi in spans:
                    if needs is not None and low.find(needs, lo, hi) < 0:
                        continue
                    for m in regexscan.finditer(pattern, starts, text, lo, hi, low_starts):
                        if m.end() == hi < len(text):  # cut by the window: let it run to its own end
                            m = pattern.match(text, m.start()) or m
                        if m.end() > found.get(m.start(), (-1, None))[0]:
                            found[m.start()] = (m.end(), self.entries[i])
        if self._slow is not None:
            for m in self._slow.finditer(text):
                if m.end() > found.get(m.start(), (-1, None))[0]:
                    found[m.start()] = (m.end(), self._entry(m))
        last_end = -1
        for start in sorted(found):
            end, entry = found[start]
            if start >= last_end:
                last_end = end
                yield entry, Hit(start, end, text[start:end])

    def search(self, text: str) -> Any | None:
        """The entry of the first match, or None."""
        return next((entry for entry, _ in self.finditer(text)), None)


#: What ``found.get`` gives for a start where nothing was found yet.
_NOT_FOUND = (-1, None)


def _one_text(needs: Any) -> Any:
    """Needs that are a single text, as that text (tested with one ``str.find``, without a call to
    :func:`~.regexscan.may_match`); other needs as they are."""
    if needs is not None and len(needs) == 1 and len(needs[0]) == 1 and needs[0][0].__class__ is str:
        return needs[0][0]
    return needs


def _match_over(pattern: re.Pattern, starts: Starts | None, text: str, lo: int, at: int, hi: int,
                low: str | None = None) -> re.Match | None:
    """The first match ``pattern.finditer(text, lo, hi)`` gives that ends after ``at``, if it starts at
    or before ``at`` (else None); the pattern is never tried past ``at``. It is tried only where
    ``starts`` (its :class:`~.regexscan.Starts`) says a match may start; without one, at every
    position not right after a word character (a bounded pattern cannot start there). ``low``: the
    text lower-cased, if fit to stand for it (see :class:`~.regexscan.Starts`)."""
    p = lo
    if starts is not None:
        (search, where), match = starts.searcher(text, low), pattern.match
        while (found := search(where, p, hi)) is not None and found.start() <= at:
            m = match(text, found.start(), hi)
            if m is None:
                p = found.start() + 1
            elif m.end() > at:
                return m
            else:
                p = m.end()  # never empty: a pattern that may match nothing has no start finder
        return None
    while p <= at:
        if p and (text[p - 1].isalnum() or text[p - 1] == "_"):
            p += 1
            continue
        m = pattern.match(text, p, hi)
        if m is None:
            p += 1
        elif m.end() == p:  # an empty match: let finditer apply its own rules
            return _finditer_over(pattern, text, lo, at, hi)
        elif m.end() > at:
            return m
        else:
            p = m.end()
    return None


def _finditer_over(pattern: re.Pattern, text: str, lo: int, at: int, hi: int) -> re.Match | None:
    """:func:`_match_over` the plain way."""
    for m in pattern.finditer(text, lo, hi):
        if m.start() <= at < m.end():
            return m
        if m.start() > at:
            return None
    return None


@dataclass(frozen=True)
class WordHits:
    """Where one category's anchor words and regex keywords occur in a lower-cased text, in the
    order its automata report them: (end offset, payload)."""

    anchors: list
    keywords: list

    def within(self, low: str) -> WordHits:
        """The hits that are still there in ``low``, a lower-cased copy of the text with parts
        blanked out (same length)."""
        return WordHits([h for h in self.anchors if low.startswith(h[1][0], h[0] - len(h[1][0]) + 1)],
                        [h for h in self.keywords if low.startswith(h[1][0], h[0] - len(h[1][0]) + 1)])


class WordFinder:
    """The anchors and keywords of several categories in one Aho-Corasick automaton: a report is
    read once, and each category gets the hits its own automata would have found."""

    def __init__(self, categories: Sequence[Category]):
        self.categories = tuple(categories)
        # word -> (slot, payload): slot 2k holds category k's anchor hits, 2k + 1 its keyword hits
        table: dict[str, list[tuple[int, Any]]] = {}
        for k, category in enumerate(self.categories):
            for word, payload in category.anchor_payloads.items():
                table.setdefault(word, []).append((2 * k, payload))
            for word, payload in category.keyword_payloads.items():
                table.setdefault(word, []).append((2 * k + 1, payload))
        self._automaton = ahocorasick.Automaton()
        for word, items in table.items():
            self._automaton.add_word(word, tuple(items))
        if table:
            self._automaton.make_automaton()
        self._empty = not table
        # lower-casing a sigma depends on its neighbours: blanking a text could make such a word appear
        self._blanking_safe = not any(ch in word for word in table for ch in "σς")

    def read(self, low: str) -> list[WordHits]:
        """Per category (in the order given), where its words occur in ``low`` (a lower-cased text).
        At one end offset the automaton reports the longest word first, as each category's own does."""
        slots: list[list] = [[] for _ in range(2 * len(self.categories))]
        if not self._empty:
            add = [slot.append for slot in slots]
            for end, items in self._automaton.iter(low):
                for slot, payload in items:
                    add[slot]((end, payload))
        return [WordHits(slots[2 * k], slots[2 * k + 1]) for k in range(len(self.categories))]

    def read_blanked(self, hits: WordHits, low: str) -> WordHits | None:
        """``hits`` of the text, kept where they still are in ``low``, the lower-cased text with parts
        blanked out; None when that cannot be told without reading ``low`` again."""
        return hits.within(low) if self._blanking_safe else None


#: Words too common in reports to anchor a phrase on when the phrase has a rarer word.
COMMON_WORDS = frozenset("""a an the of to in on at by for with from and or their its his her them it is are was were
be been being has have had may might could would will said says say heavy armed security control road roads
highway route driver drivers car cars men man people forces force field coast area town city two one""".split())


def _anchor(phrase: str) -> tuple[str, int, bool]:
    """The word to find a phrase by: its longest literal word that is not a common one (a
    wildcard's stem counts); how many characters may come before it in a match; and whether the
    anchor is a whole word. ("", 0, False) when no word can anchor the phrase."""
    words = phrase.split()
    best, best_index, best_whole = "", -1, False
    for rare_only in (True, False):
        for index, word in enumerate(words):
            stem = word.rstrip("*").lower()
            if not stem or not stem[0].isalnum() or "*" in stem or (rare_only and stem in COMMON_WORDS):
                continue
            if len(stem) > len(best):
                best, best_index, best_whole = stem, index, not word.endswith("*")
        if best:
            break
    if len(best) < 2:
        return "", 0, False
    before = sum(len(w) + 3 for w in words[:best_index]) + (20 if "*" in words[:best_index] else 0)
    return best, before, best_whole


def compile_category_regex(entries: Sequence[PhraseEntry]) -> re.Pattern:
    """All entries as one regex with a named group per entry (the plain, slower way)."""
    groups = "|".join(f"(?P<e{i}_0>{e.body()})" for i, e in enumerate(entries))
    return re.compile(bounded(groups) if groups else r"(?!x)x", re.IGNORECASE)


def compile_category(entries: Sequence[PhraseEntry]) -> Category:
    return Category(entries)


def words_regex(words: Sequence[str]) -> str:
    """Whole-word phrases (longest first) as one bounded alternation, without a capturing group."""
    return bounded(grouped_alternation([phrase_body(w) for w in sorted(words, key=len, reverse=True)]))


class ArabicGeography(_Strict):
    proximity: dict[str, list[str]] = Field(default_factory=dict)
    region_suffixes: list[str] = Field(default_factory=list)
    directions: dict[str, float] = Field(default_factory=dict)
    road_words: list[str] = Field(default_factory=list)
    coast_words: list[str] = Field(default_factory=list)
    travel_words: list[str] = Field(default_factory=list)
    foreign: list[list[str]] = Field(default_factory=list)
    libya: list[str] = Field(default_factory=list)
    not_places: list[str] = Field(default_factory=list)
    names_also_abroad: list[str] = Field(default_factory=list)


class ArabicLexicon(_Strict):
    """``rules/extraction/arabic.yaml``: Arabic phrases that join the English entries of the same id."""

    triggers: dict[str, list[str]] = Field(default_factory=dict)
    cues: dict[str, list[str]] = Field(default_factory=dict)
    history: list[HistoryClause] = Field(default_factory=list)
    past_wars: dict[str, list[str]] = Field(default_factory=dict)
    retype: dict[str, list[str]] = Field(default_factory=dict)
    actors: dict[str, list[str]] = Field(default_factory=dict)
    targets: dict[str, list[str]] = Field(default_factory=dict)
    geography: ArabicGeography = Field(default_factory=ArabicGeography)


def _joined(entries: list, extra: dict[str, list[str]], key: str, path: str, section: str) -> list:
    """Entries with the Arabic phrases of the same id (or name) added; an unknown id is an error."""
    known = {getattr(e, key) for e in entries}
    unknown = [k for k in extra if k not in known]
    if unknown:
        raise RuleFileError(path, unknown[0], section, f"no {section[:-1]} with this {key} in the English lexicons")
    return [e.model_copy(update={"phrases": e.phrases + [normalize_arabic(p) for p in extra.get(getattr(e, key), [])]})
            for e in entries]


def _with_arabic(ar: ArabicLexicon, path: str, events: Events, entities: Entities, geography: Geography
                 ) -> tuple[Events, Entities, Geography]:
    events = events.model_copy(update={
        "triggers": _joined(events.triggers, ar.triggers, "id", path, "triggers"),
        "cues": _joined(events.cues, ar.cues, "id", path, "cues"),
        "history": events.history + ar.history,
        "past_wars": _joined(events.past_wars, ar.past_wars, "id", path, "past_wars"),
        "retype": _joined(events.retype, ar.retype, "id", path, "retype"),
    })
    entities = entities.model_copy(update={
        "actors": _joined(entities.actors, ar.actors, "name", path, "actors"),
        "targets": _joined(entities.targets, ar.targets, "name", path, "targets"),
    })
    g = ar.geography
    norm = lambda words: [normalize_arabic(w) for w in words]  # noqa: E731
    geography = geography.model_copy(update={
        "proximity": _joined(geography.proximity, g.proximity, "id", path, "proximity"),
        "region_suffixes": geography.region_suffixes.model_copy(
            update={"phrases": geography.region_suffixes.phrases + norm(g.region_suffixes)}),
        "directions": {**geography.directions, **{normalize_arabic(k): v for k, v in g.directions.items()}},
        "road_words": geography.road_words + norm(g.road_words),
        "coast_words": geography.coast_words + norm(g.coast_words),
        "travel_words": geography.travel_words + norm(g.travel_words),
        "foreign": geography.foreign + [norm(group) for group in g.foreign],
        "libya": geography.libya + norm(g.libya),
        "not_places": geography.not_places + norm(g.not_places),
        "names_also_abroad": geography.names_also_abroad + norm(g.names_also_abroad),
    })
    return events, entities, geography


class Lexicon:
    """Every extraction lexicon, validated against the taxonomy and compiled."""

    def __init__(self, events: Events, entities: Entities, geography: Geography):
        self.events, self.entities, self.geography = events, entities, geography
        ordered = sorted(events.triggers, key=lambda t: -t.priority)
        self.triggers = compile_category(ordered)
        self.trigger_by_id = {t.id: t for t in events.triggers}
        self.cues = compile_category(events.cues)
        self.history = Category(events.history + events.past_events)
        self.past_events = Category(events.past_events)
        self.past_wars = Category(events.past_wars)
        self.retypes = [(rule, Category([rule])) for rule in events.retype]
        self.actors = compile_category(entities.actors)
        self.targets = compile_category(entities.targets)
        self.proximity = geography.proximity

    @classmethod
    def load(cls, rules_dir: Path | str, rules: RuleBook | None = None) -> Lexicon:
        """Load ``rules_dir/extraction/{events,entities,geography}.yaml``; tags must exist in the taxonomy."""
        folder = Path(rules_dir) / EXTRACTION_DIR
        events = parse_rule_file(folder / "events.yaml", Events)
        entities = parse_rule_file(folder / "entities.yaml", Entities)
        geography = parse_rule_file(folder / "geography.yaml", Geography)
        if rules is not None:
            known = set(rules.tag_ids)
            trigger_ids = {t.id for t in events.triggers}
            for rule in events.retype:
                unknown = [c for c in rule.when if c not in trigger_ids]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), rule.id, "when",
                                        f"unknown trigger id(s) {unknown}")
            for cue in events.cues:
                unknown = [c for c in cue.unless + cue.explains if c not in trigger_ids]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), cue.id, "unless",
                                        f"unknown trigger id(s) {unknown}")
            for trig in events.triggers:
                unknown = [c for c in trig.cancels if c not in trigger_ids]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), trig.id, "cancels",
                                        f"unknown trigger id(s) {unknown}")
                unknown = [t for t in trig.tags if t not in known]
                if unknown:
                    raise RuleFileError(str(folder / "events.yaml"), trig.id, "tags",
                                        f"unknown tag(s) {unknown}; rules/taxonomy.yaml has: {', '.join(known)}")
        arabic = folder / "arabic.yaml"
        if arabic.exists():
            events, entities, geography = _with_arabic(parse_rule_file(arabic, ArabicLexicon), str(arabic),
                                                       events, entities, geography)
        ids = [t.id for t in events.triggers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise RuleFileError(str(folder / "events.yaml"), dupes[0], "id", "trigger id used twice")
        return cls(events, entities, geography)
