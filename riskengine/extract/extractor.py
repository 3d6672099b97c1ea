"""Report text -> located, typed incidents.

Reading order: find the words of every lexicon (history, triggers, cues, actors, targets, roles,
demonyms, foreign places) in one automaton pass, and confirm each phrase with its regex only where its
word is; blank out history and read the triggers: a report with none ends here. Then split the text into
sentences and sentences into clauses; skip sentences without a trigger and what is history, denial,
weather or at sea; in each remaining clause read the event, then where it happened (spatial phrases
around the places), and date it against the publication date. Places are found (another automaton
pass) only in the sentences read and in those a clause looks back to ("the city"): the background
that makes most of a long report is not searched for them. Clauses that say what happened but not
where join the nearest located incident; readings of the same event at the same place are merged.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..arabic import normalize_arabic
from ..gazetteer import Gazetteer, normalize_name
from ..geo import geodesic_km
from ..incident import Incident
from ..models import Place
from ..roads import RoadNetwork
from ..rules import RuleBook
from .dates import PAST_AFTER_YEARS, has_recent_date, incident_date, is_historical
from .document import Dateline, blank_furniture, read_dateline
from .events import EventReading, blank_spans, cue_effect, fatalities, reading_from_hits, strip_history
from .lexicon import Category, Lexicon, NamedEntry, PhraseEntry, Trigger, WordFinder, WordHits, words_regex
from .places import MINOR_KINDS, Mention, PlaceFinder
from .spatial import Location, SpatialReader

ABBREVIATIONS = frozenset("mr mrs ms dr gen maj col lt capt sgt st no prof brig cpl rev u.s u.n vs jr sr".split())
#: Where a sentence ends: ".", "!" or "?" with the blanks after it, before what may open a sentence; a
#: blank line; a line break before a bullet. Every match starts with one of ".!?\n", a character class
#: the regex engine skips to in C (a pattern opening with a lookbehind is tried at every position).
SENTENCE_END = re.compile(r"[.!?\n](?:(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9\u0600-\u06FF])"
                          r"|(?<=\n)(?:\s*\n|(?=\s*[-*•])))")
CLAUSE_BREAK = re.compile(r";\s+|,\s+(?:and|while|but|whereas|as|after which)\s+|\s+—\s+")
#: Penalty per character between a location phrase and the words saying what happened.
DISTANCE_PENALTY = 0.3
INFERRED_FACTOR = 0.85
MAX_EVIDENCE = 600
#: How many places named before and after a name are its context (a window: linear in the report's length).
NAMESAKE_CONTEXT = 6
#: A namesake must be this much nearer the report's other places to win over the gazetteer's first choice.
NAMESAKE_MARGIN_KM = 100.0
#: A landmark this far from the town a report puts it in is a namesake in that town.
HOMONYM_KM = 30.0
_POSSESSIVE = re.compile(r"['’]s\s+(?:(?:main|central|old|new)\s+)?", re.I)
_QUARTER_OF = re.compile(r"\s+(?:neighbou?rhood|district|quarter|area|suburb|square|street|market)\s+(?:in|of|at)\s+"
                         r"(?:the\s+(?:centre|center|heart|middle|outskirts|\w+ern\s+part)\s+of\s+)?(?:the\s+)?"
                         r"(?:(?:city|town|village)\s+of\s+)?", re.I)
_IN_OR_OF = re.compile(r"\s*(?:,|\bin|\bof|\bat)\s+(?:the\s+)?(?:(?:\w+ern\s+)?(?:city|town|village)\s+of\s+)?", re.I)
#: How many sentences either side a cue's ``explains`` reaches ("The lorry had an accident.").
EXPLAIN_REACH = 2
#: How many sentences back "the attack" may refer.
REFERENCE_REACH = 3
#: "the" just before an event word: "the blast", "the attack" (searched in a window ending at the word).
_THE_BEFORE = re.compile(r"\bthe\s+$", re.I)
#: The words that set what a sentence tells in a war: at the start of the war's mention, or just before it.
_WAR_FRAME = r"(?:during|in|throughout|amid|under|خلال|ابان|اثناء|ايام|في)\s+"
_WAR_FRAME_OPENING = re.compile(_WAR_FRAME, re.I)
_WAR_FRAME_BEFORE = re.compile(
    rf"(?<!\w){_WAR_FRAME}(?:the\s+)?(?:(?:final|last|first|early|closing|opening)\s+(?:days|weeks|months|years)\s+of\s+"
    r"(?:the\s+)?)?$", re.I)
#: What ends the reach of a war's time over the events told before it: a comma, a semicolon, a colon.
_CLAUSE_MARK = re.compile(r"[,;:]")
_YEAR_IN = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


@dataclass
class _Candidate:
    reading: EventReading
    location: Location | None
    clause: str  # with its history blanked out
    sentence: str
    sentence_index: int
    confidence_factor: float
    extra_tags: list[str] = field(default_factory=list)
    evidence: dict[tuple[int, int], None] = field(default_factory=dict)  # sentence spans in the report (ordered)
    deaths: int = 0
    refers_back: bool = False  # "the blast", "the attack": an event already told, told again


@dataclass(frozen=True)
class _Scan:
    """What the lexicons find in a whole report, found once and looked up by position."""

    text: str
    cleaned: str  # the text with its history blanked out: deaths are counted here
    cues: list
    actors: list
    targets: list
    _starts: dict = field(default_factory=dict, compare=False, repr=False)  # id(hits) -> their start offsets

    def within(self, hits: list, spans: list[tuple[int, int]]) -> list:
        """The hits (in text order) that start inside one of the spans: a binary search per span over
        start offsets computed once per list (so a long report stays linear)."""
        starts = self._starts.get(id(hits))
        if starts is None:
            starts = self._starts[id(hits)] = [hit.start() for _, hit in hits]
        out = []
        for a, b in sorted(set(spans)):
            out.extend(hits[bisect.bisect_left(starts, a):bisect.bisect_left(starts, b)])
        return sorted(out, key=lambda h: h[1].start()) if len(spans) > 1 else out

    def names(self, hits: list, spans: list[tuple[int, int]]) -> list[str]:
        return list(dict.fromkeys(entry.name for entry, _ in self.within(hits, spans)))

    def evidence(self, spans: list[tuple[int, int]], *, cleaned: bool = False) -> str:
        text = self.cleaned if cleaned else self.text
        return " ".join(text[a:b] for a, b in sorted(set(spans)))


class LexiconMatches(NamedTuple):
    """The lexicons' matches over a whole report (:meth:`Extractor.lexicon_matches`)."""

    triggers: list  # (trigger, hit), in the text with its history blanked out
    past_free: str  # the text with the past events it recalls blanked out
    scan: _Scan  # cues, actors and targets
    wars: list[_War]  # the wars it mentions, by their years or their names


class _War(NamedTuple):
    """A war a report mentions ("during the 2011 uprising", "the February revolution")."""

    start: int
    end: int
    ended: int | None  # the year it ended; None: told only as past ("previous fighting")
    frame: int | None  # where the word that sets a sentence in it starts ("during"); None: no such word
    named: bool  # by its name (past_wars), not by its year


@dataclass(frozen=True)
class _Words:
    """Where the words of each lexicon category occur in a report, found in one automaton pass:
    what ``Category.finditer`` takes besides the text. Empty: each category reads the text itself."""

    low: str | None = None
    hits: dict[str, WordHits] = field(default_factory=dict)

    def of(self, name: str) -> tuple[WordHits | None, str | None]:
        hits = self.hits.get(name)
        return (hits, self.low) if hits is not None else (None, None)


_NO_WORDS = _Words()


class _ReportPlaces:
    """The places a report names, found where its reading needs them: in the sentences that tell
    an incident and those it looks back to for context, not in the background that makes most of
    a long report. Each stretch is read with a margin either side, wide enough for everything that
    decides a name's reading there (an article before it, a unit's name after it, a landmark
    beside its town). A report naming a foreign place, or a name several places share, is read
    whole: how each name reads depends on the others anywhere in it."""

    #: Characters read beyond a stretch either side (then to the edge of a word and of a blank run):
    #: more than the longest text a name's reading looks at beside it ("the X neighbourhood in the
    #: north-western part of the city of Y", a unit's name after a town, a seat before it) and a name.
    MARGIN = 100

    def __init__(self, extractor: Extractor, text: str, words: _Words, sentences: list[tuple[int, str]]):
        self._extractor, self._text, self._words, self._sentences = extractor, text, words, sentences
        self._by_sentence: dict[int, list[Mention]] = {}
        self._all: list[Mention] | None = None
        self._all_starts: list[int] = []
        self._references: list[Mention] | None = None
        if any(True for _ in extractor._foreign.finditer(text, *words.of("foreign"))):
            self.everything()

    def everything(self) -> list[Mention]:
        """Every place the report names (read once, on first need)."""
        if self._all is None:
            self._all = self._extractor.libyan_mentions(self._text, self._words)
            self._all_starts = [m.start for m in self._all]
        return self._all

    def in_sentences(self, first: int, end: int) -> list[Mention]:
        """The mentions that start in sentences ``first`` to ``end - 1``, in text order."""
        if first >= end:
            return []
        self.read(range(first, end))
        if self._all is not None:
            lo = self._sentences[first][0]
            hi = self._sentences[end - 1][0] + len(self._sentences[end - 1][1])
            return self._all[bisect.bisect_left(self._all_starts, lo):bisect.bisect_left(self._all_starts, hi)]
        return [m for k in range(first, end) for m in self._by_sentence[k]]

    def last_named(self, first: int, end: int) -> Place | None:
        """The place of the last mention that is not a demonym or a unit in sentences ``first`` to
        ``end - 1`` (the latest sentence naming one decides), or None: read backwards a sentence at
        a time (most find one in the sentence just before)."""
        for k in range(end - 1, first - 1, -1):
            for m in reversed(self.in_sentences(k, k + 1)):
                if not m.says_who:
                    return m.place
        return None

    def read(self, indices: Iterable[int]) -> None:
        """Find the mentions of the sentences (by index, in order) not read yet: every stretch in
        one pass of the place finder."""
        if self._all is not None:
            return
        missing = [k for k in indices if k not in self._by_sentence]
        if not missing:
            return
        text, sentences = self._text, self._sentences
        spans: list[list[int]] = []
        for k in missing:
            lo = _word_edge(text, sentences[k][0] - self.MARGIN, -1)
            hi = _word_edge(text, sentences[k][0] + len(sentences[k][1]) + self.MARGIN, 1)
            if spans and lo <= spans[-1][1] + 2:  # overlapping or a blank apart: one stretch
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        if self._references is None:
            self._references = self._extractor.references(text, self._words)
        found = self._extractor.mentions_within(text, spans, self._references)
        if found is None:  # a name several places share: the whole text decides
            self.everything()
            return
        starts = [m.start for m in found]
        for k in missing:
            a = sentences[k][0]
            b = a + len(sentences[k][1])
            self._by_sentence[k] = found[bisect.bisect_left(starts, a):bisect.bisect_left(starts, b)]


class _Context:
    """The place a clause's "the city" refers to: the last place named before it. Known at once
    when an earlier clause of the reading named it; else found only when asked (most clauses never
    refer back), in the sentences between the last one read and this one, and failing those, as the
    context before them."""

    __slots__ = ("_places", "_first", "_end", "_before", "_value", "_known")

    def __init__(self, place: Place | None = None, *, places: _ReportPlaces | None = None, first: int = 0,
                 end: int = 0, before: _Context | None = None):
        """``place`` when known; else the last place ``places`` names in sentences ``first`` to
        ``end - 1``, failing that ``before``'s, found when asked."""
        self._value, self._known = place, places is None
        self._places, self._first, self._end, self._before = places, first, end, before

    @classmethod
    def named_between(cls, places: _ReportPlaces, first: int, end: int, before: _Context) -> _Context:
        """The context after sentences ``first`` to ``end - 1``, which told nothing: the last place
        they name, else ``before``."""
        return cls(places=places, first=first, end=end, before=before) if first < end else before

    def __call__(self) -> Place | None:
        node, pending = self, []  # a loop, not recursion: a long report chains thousands of contexts
        while not node._known:
            found = node._places.last_named(node._first, node._end)
            if found is not None:
                node._value, node._known = found, True
                break
            pending.append(node)
            node = node._before
        for waiting in pending:
            waiting._value, waiting._known = node._value, True
        return node._value


def _word_edge(text: str, at: int, step: int) -> int:
    """``at`` moved outwards (``step`` -1: back, 1: on) past the blanks and the word it falls in,
    so that a stretch read from there starts (or ends) between words, before (or after) a blank run."""
    if step < 0:
        at = max(0, at)
        while at > 0 and text[at - 1].isspace():
            at -= 1
        while at > 0 and not text[at - 1].isspace():
            at -= 1
        return at
    size = len(text)
    at = min(size, at)
    while at < size and text[at].isspace():
        at += 1
    while at < size and not text[at].isspace():
        at += 1
    return at


def split_sentences(text: str) -> list[tuple[int, str]]:
    """Sentences with their offsets.

    Examples
    --------
    >>> [s for _, s in split_sentences("Gen. Haftar spoke. Gunmen fired on a car near Sirte! It fled.")]
    ['Gen. Haftar spoke.', 'Gunmen fired on a car near Sirte!', 'It fled.']
    """
    out, start = [], 0
    for m in SENTENCE_END.finditer(text):
        at, after = m.span()  # the sentence ends after the "." at ``at``, or at the line break there
        # after a word of five letters or more, no abbreviation (the longest has four): most ends
        if text[at] == "." and not (at >= 5 and text[at - 5:at].isalpha()) and "\n" not in m.group():
            word_start = max(text.rfind(" ", start, at), text.rfind("\n", start, at)) + 1
            last_word = text[word_start:at].lstrip("\"'“‘(").lower()
            if last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
        _add_sentence(out, text[start:after], start)
        start = after
    _add_sentence(out, text[start:], start)
    return out


def _add_sentence(out: list[tuple[int, str]], chunk: str, start: int) -> None:
    """Add a chunk of text found at ``start`` without its surrounding blanks, if anything is left."""
    rest = chunk.lstrip()
    if rest:
        out.append((start + len(chunk) - len(rest), rest.rstrip()))


class Extractor:
    """Reads reports with the gazetteer, the road network and the lexicons."""

    #: How a report's places are found as its reading goes (a stretch at a time, where needed).
    places_reader = _ReportPlaces

    def __init__(self, gazetteer: Gazetteer, network: RoadNetwork, rules: RuleBook, lexicon: Lexicon):
        self.gazetteer, self.network, self.rules, self.lexicon = gazetteer, network, rules, lexicon
        self.finder = PlaceFinder(gazetteer, lexicon.geography, major=set(network.nodes()))
        self.spatial = SpatialReader(lexicon.geography, network, gazetteer, rules)
        geo = lexicon.geography
        foreign_words = [w for group in geo.foreign for w in group]
        foreign = words_regex(foreign_words)
        adj = r"(?:(?:north|south|east|west|central)(?:ern)?\s+)?"
        self._foreign = Category([PhraseEntry(phrases=foreign_words, case_sensitive=True)])
        self._foreign_after = re.compile(rf"^\s*(?:,\s*|\s+in\s+(?:the\s+)?){adj}(?:{foreign})", re.I)
        self._foreign_before = re.compile(
            rf"(?:(?:{foreign})['’]s\s+(?:\w+\s+){{0,2}}|(?:{foreign})\s+(?:\w+\s+)?(?:city|town|port|capital)\s+of\s+)$",
            re.I)
        arabic_foreign = [w for w in foreign_words if any("\u0600" <= ch <= "\u06ff" for ch in w)]
        # "طرابلس اللبنانية", "طرابلس في لبنان": an Arabic name followed by another country
        self._foreign_after_ar = re.compile(
            rf"^\s*(?:,\s*)?(?:(?:في|ب)\s*)?(?:(?:شمال|جنوب|شرق|غرب)(?:ي)?\s+)?(?:{words_regex(arabic_foreign)})"
            if arabic_foreign else r"(?!x)x")
        self._libya = re.compile(words_regex(geo.libya), re.I)
        self._also_abroad = {normalize_name(n) for n in geo.names_also_abroad}
        references = [NamedEntry(name=f"role:{name}", phrases=phrases) for name, phrases in geo.roles.items()]
        references += [NamedEntry(name=f"demonym:{name}", phrases=phrases, case_sensitive=True)
                       for name, phrases in geo.demonyms.items()]
        for entry in references:
            gazetteer.resolve(entry.name.split(":", 1)[1])  # a rule naming an unknown place fails here
        self._references = Category(references)
        self._namesakes = functools.lru_cache(maxsize=50_000)(lambda surface: tuple(gazetteer.lookup(surface)))
        nouns = lexicon.events.back_references
        self._event_noun = re.compile(words_regex(nouns) if nouns else r"(?!x)x", re.I)
        seats = words_regex(geo.seat_words) if geo.seat_words else r"(?!x)x"
        self._seat_before = re.compile(rf"{seats}\s+(?:(?:based|seated|sitting)\s+)?in\s+(?:the\s+capital\s+)?$", re.I)
        units = words_regex(geo.unit_words) if geo.unit_words else r"(?!x)x"
        self._unit_after = re.compile(
            rf"(?:['’]s)?(?:[\s-]+(?:(?-i:[A-Z])[\w'’-]*|led|based|backed|aligned|allied)){{0,3}}[\s-]+{units}", re.I)
        #: every lexicon category a report is read with: their words are found in one automaton pass
        self._categories = {"history": lexicon.history, "past_events": lexicon.past_events,
                            "past_wars": lexicon.past_wars,
                            "triggers": lexicon.triggers, "cues": lexicon.cues, "actors": lexicon.actors,
                            "targets": lexicon.targets, "references": self._references, "foreign": self._foreign}
        self._word_finder = WordFinder(list(self._categories.values()))
        left = lexicon.events.left_by_war_words
        self._left_by_war = re.compile(rf"{words_regex(left)}\s+$" if left else r"(?!x)x", re.I)

    # ---- places ------------------------------------------------------------------------------

    def libyan_mentions(self, text: str, words: _Words = _NO_WORDS) -> list[Mention]:
        """Places named in the text, without those the text puts in another country; places named
        by their role ("the Libyan capital") and by their people ("Misratan forces") too, and towns
        inside the names of armed units marked as such. ``words``: the lexicons' words already found."""
        named = self._with_references(text, self.finder.find(text), self.references(text, words))
        mentions = self._without_homonym_landmarks(text, self._nearest_namesakes(named))
        foreign = [hit for _, hit in self._foreign.finditer(text, *words.of("foreign"))] if mentions else []
        if not foreign:
            return mentions
        foreign_report = not self._libya.search(text)
        if foreign_report and all(m.kind == "role" for m in mentions):
            return []  # "the capital" of a report about another country is not Tripoli
        # set abroad: it names another country's places, not only its people ("Chadian rebels" fight in Libya)
        abroad = foreign_report and any(not _nationality(h.group()) for h in foreign)
        kept = []
        for m in mentions:
            after = any(m.end <= h.start() <= m.end + 40 for h in foreign)
            before = any(m.start - 60 <= h.start() < m.start for h in foreign)
            if after and (self._foreign_after.search(text[m.end:m.end + 40])
                          or self._foreign_after_ar.search(text[m.end:m.end + 40])):
                continue
            if before and self._foreign_before.search(text[max(0, m.start - 60):m.start]):
                continue
            if foreign_report and normalize_name(m.surface) in self._also_abroad:
                continue
            if abroad and m.place.kind in MINOR_KINDS and m.place.name not in self.network.graph:
                continue  # a report set abroad that never names Libya: a village name there is a namesake
            kept.append(m)
        return kept

    def mentions_within(self, text: str, spans: list[list[int]], references: list[Mention]) -> list[Mention] | None:
        """:meth:`libyan_mentions` of some stretches ``[lo, hi]`` of a text that names no foreign place
        (in order, apart, each from the start of a word to the end of one; offsets in the text), in one
        pass: what lies between them is masked by a word no name contains. None when a name there is
        one several places share: which of them it is depends on places named anywhere in the text,
        so only the whole text can tell. ``references``: :meth:`references` of the text."""
        first = spans[0][0]
        pieces, at = [], first
        for lo, hi in spans:
            if lo > at:  # blanks at both ends (the stretches end at words' ends): they stay blanks
                pieces.append(f"{text[at]}{'x' * (lo - at - 2)}{text[lo - 1]}")
            pieces.append(text[lo:hi])
            at = hi
        found = [Mention(m.start + first, m.end + first, m.surface, m.place) for m in self.finder.find("".join(pieces))]
        if references:
            references = [r for r in references if any(lo <= r.start < hi for lo, hi in spans)]
        mentions = self._without_homonym_landmarks(text, self._with_references(text, found, references))
        if any(m.kind == "name" and len(self._namesakes(m.surface)) > 1 for m in mentions):
            return None
        return mentions

    def references(self, text: str, words: _Words = _NO_WORDS) -> list[Mention]:
        """Places named by their role ("the Libyan capital") or their people ("Misratan forces")."""
        return [Mention(hit.start(), hit.end(), hit.group(), self.gazetteer.resolve(entry.name.split(":", 1)[1]),
                        entry.name.split(":", 1)[0])
                for entry, hit in self._references.finditer(text, *words.of("references"))]

    def _nearest_namesakes(self, mentions: list[Mention]) -> list[Mention]:
        """A name several places share is the one nearest the other places the report names ("الهواري"
        beside Benghazi is Benghazi's district, not the village near Kufra): a gazetteer's first choice
        gives way when another namesake lies far closer to the rest of the report."""
        if len(mentions) < 2:
            return mentions
        out = []
        for i, m in enumerate(mentions):
            namesakes = self._namesakes(m.surface) if m.kind == "name" else ()
            if len(namesakes) < 2:  # the usual case: one place has this name
                out.append(m)
                continue
            near = mentions[max(0, i - NAMESAKE_CONTEXT):i] + mentions[i + 1:i + 1 + NAMESAKE_CONTEXT]
            others = [o.place for o in near if o.place.name != m.place.name]
            if others:
                nearest = min(namesakes, key=lambda p, others=others: _spread(p, others))
                if nearest is not m.place and _spread(nearest, others) + NAMESAKE_MARGIN_KM < _spread(m.place, others):
                    m = Mention(m.start, m.end, m.surface, nearest, m.kind)
            out.append(m)
        return out

    @staticmethod
    def _without_homonym_landmarks(text: str, mentions: list[Mention]) -> list[Mention]:
        """A landmark named "in" or "of" a town it does not belong to is that town's namesake:
        "Green Square in Sabratha" is not Tripoli's square. The town stays; the landmark goes."""
        out = []
        for before, m, after in zip([None, *mentions[:-1]], mentions, [*mentions[1:], None]):  # noqa: B905
            if m.place.parent and (
                    (after is not None and _IN_OR_OF.fullmatch(text, m.end, after.start) and _far(m, after))
                    or (before is not None and _POSSESSIVE.fullmatch(text, before.end, m.start) and _far(m, before))):
                continue
            if after is not None and _QUARTER_OF.fullmatch(text, m.end, after.start) and _far(m, after):
                continue  # "the al-Qalaa neighbourhood in the centre of Murzuq": not the village of that name
            out.append(m)
        return out

    def _words(self, text: str) -> _Words:
        """Where the words of every lexicon category occur in the text: one automaton pass."""
        low = text.lower()
        if len(low) != len(text):  # offsets of the lower-cased text would not be the text's
            return _NO_WORDS
        return _Words(low, dict(zip(self._categories, self._word_finder.read(low), strict=True)))

    def _blanked(self, words: _Words, name: str, text: str, blanked: str) -> tuple[WordHits | None, str | None]:
        """A category's words that are still there in ``blanked``, the text with parts blanked out."""
        hits, low = words.of(name)
        if hits is None or blanked is text:
            return hits, low
        blanked_low = blanked.lower()
        kept = self._word_finder.read_blanked(hits, blanked_low) if len(blanked_low) == len(blanked) else None
        return (kept, blanked_low) if kept is not None else (None, None)

    @staticmethod
    def _explained_sentences(sentences: list[tuple[int, str]], scan: _Scan) -> dict[int, set[str]]:
        """Sentence index -> the triggers a cue nearby explains away (an accident two sentences on)."""
        out: dict[int, set[str]] = {}
        if not any(cue.explains for cue, _ in scan.cues):
            return out
        starts = [start for start, _ in sentences]
        for cue, hit in scan.cues:
            if cue.explains:
                at = bisect.bisect_right(starts, hit.start()) - 1
                for i in range(max(0, at - EXPLAIN_REACH), min(len(sentences), at + EXPLAIN_REACH + 1)):
                    out.setdefault(i, set()).update(cue.explains)
        return out

    def _tells_again(self, text: str, at: int) -> bool:
        """Whether the trigger at ``at`` is a definite event noun ("the blast"): an event told again."""
        if text[at:at + 4].lower() == "the ":
            at += 4
        elif not _THE_BEFORE.search(text, max(0, at - 6), at):
            return False
        return self._event_noun.match(text, at) is not None

    def _with_references(self, text: str, mentions: list[Mention], references: list[Mention]) -> list[Mention]:
        """Add roles and demonyms (:meth:`references`: they win over a name read in the same words:
        "Zintani" is not a misspelt Zintan) and mark towns inside unit names."""
        if references:
            mentions = [m for m in mentions if not any(r.start < m.end and m.start < r.end for r in references)]
            mentions = sorted(mentions + references, key=lambda m: m.start)
        return [Mention(m.start, m.end, m.surface, m.place, "unit")
                if m.kind == "name" and (self._unit_after.match(text, m.end)
                                         or (_may_end_with_in(text, m.start)
                                             and self._seat_before.search(text, max(0, m.start - 60), m.start)))
                else m for m in mentions]

    # ---- reading -----------------------------------------------------------------------------

    @staticmethod
    def _clauses(sentence: str, trigger_starts: list[int]) -> list[tuple[int, str]]:
        """Cut a sentence where each side reports its own event ("..., and the road was closed")."""
        pieces, start = [], 0
        for m in CLAUSE_BREAK.finditer(sentence):
            pieces.append((start, m.start()))
            start = m.end()
        pieces.append((start, len(sentence)))
        merged: list[tuple[int, int]] = []
        for begin, end in pieces:
            has_event = any(begin <= p < end for p in trigger_starts)
            if merged and (not has_event or not any(merged[-1][0] <= p < merged[-1][1] for p in trigger_starts)):
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((begin, end))
        return [(begin, sentence[begin:end]) for begin, end in merged]

    def _best_location(self, locations: list[Location], reading: EventReading) -> Location | None:
        if not locations:
            return None

        def score(loc: Location) -> float:
            gap = min(abs(loc.position - p) for p in reading.positions)
            return loc.rank - DISTANCE_PENALTY * gap - (5 if loc.inferred else 0)

        named = [loc for loc in locations if loc.rank > WEAK_RANK]  # a name beats a demonym, however far
        return self.spatial.refine(max(named or locations, key=score), locations)

    def extract(self, text: str, published: dt.date, *, source_reliability: str | None = None) -> list[Incident]:
        """The incidents a report describes, in the order it tells them.

        Parameters
        ----------
        text
            The report (plain text; a title may be its first line).
        published
            Its publication date: relative dates ("on Sunday", "last week") count back from it.
        source_reliability
            Admiralty grade A-F of the source, if known.
        """
        text, dateline = self._prepared(text, published)
        if dateline is not None:
            published = dateline.date or published
        words = self._words(text)
        cleaned_text, triggers = self._triggers(text, words)
        if not triggers:  # nothing happens in this report: no need to look for places
            return []
        past_events = self._past_events(text, words)
        wars = self._wars(text, words, past_events)
        if any(w.named for w in wars):  # "the battle for Tripoli" names a war over: no battle today
            triggers = [(t, h) for t, h in triggers if not _in_a_past_war(h.start(), wars, published)]
            if not triggers:
                return []
        filed_at = None  # the dateline's town: where the report was filed, not a sentence of it
        if dateline is not None:
            filed_at = next((m.place for m in self.libyan_mentions(dateline.place) if not m.says_who), None)
        sentences = split_sentences(text)
        places = self.places_reader(self, text, words, sentences)
        past_free, scan = blank_spans(text, past_events), self._scan(text, cleaned_text, words)
        # a war's name is never a date ("the 17 February revolution"): dates are read without them
        dated = blank_spans(text, [(w.start, w.end) for w in wars if w.named])
        lead = dated[sentences[0][0]:sentences[0][0] + len(sentences[0][1])] if sentences else ""
        candidates: list[_Candidate] = []
        context = _Context(filed_at)  # "the city" of a story filed from Sirte is Sirte
        explained = self._explained_sentences(sentences, scan)
        trigger_starts = [h.start() for _, h in triggers]
        # the sentences that tell something, and what their cues make of it: history, a denial, the
        # weather explain some away (their places are looked for only if a later clause refers back)
        told: dict[int, float | None] = {}  # sentence index -> confidence factor, None: explained away
        for s_index in _sentences_with(sentences, trigger_starts):
            s_start, sentence = sentences[s_index]
            s_end = s_start + len(sentence)
            first, after = bisect.bisect_left(trigger_starts, s_start), bisect.bisect_left(trigger_starts, s_end)
            if is_historical(past_free[s_start:s_end], published) or self._told_in_a_past_war(
                    text, s_start, s_end, trigger_starts[first:after], wars, published):
                told[s_index] = None
                continue
            trigger_ids = {t.id for t, _ in triggers[first:after]}
            drop, factor = cue_effect(scan.within(scan.cues, [(s_start, s_end)]), trigger_ids)
            told[s_index] = None if drop or (s_index in explained and trigger_ids <= explained[s_index]
                                             and not scan.within(scan.actors, [(s_start, s_end)])) else factor
        places.read([k for k, factor in told.items() if factor is not None])  # their places, in one pass
        read = 0  # sentences before this one are read
        for s_index, factor in told.items():
            if factor is None:  # explained away: it counts as a sentence that tells nothing
                continue
            # the sentences in between tell nothing: the last place one of them names is the context
            # (looked for only if a clause asks: most never refer back)
            context = _Context.named_between(places, read, s_index, context)
            read = s_index + 1
            s_start, sentence = sentences[s_index]
            s_end = s_start + len(sentence)
            s_mentions = places.in_sentences(s_index, s_index + 1)
            s_triggers = triggers[bisect.bisect_left(trigger_starts, s_start):bisect.bisect_left(trigger_starts, s_end)]
            for c_offset, clause in self._clauses(sentence, [h.start() - s_start for _, h in s_triggers]):
                c_start = s_start + c_offset
                c_end = c_start + len(clause)
                cleaned = cleaned_text[c_start:c_end]
                local = [
                    Mention(m.start - c_start, m.end - c_start, m.surface, m.place, m.kind)
                    for m in s_mentions
                    if c_start <= m.start and m.end <= c_end and cleaned[m.start - c_start] != " "
                ]
                reading = reading_from_hits([(t, h) for t, h in s_triggers if c_start <= h.start() < c_end],
                                            self.lexicon, offset=c_start)
                if reading is not None:
                    locations = self.spatial.candidates(cleaned, local, context)
                    best = self._best_location(locations, reading)
                    refers_back = any(self._tells_again(cleaned_text, c_start + p) for p in reading.positions)
                    candidates.append(_Candidate(reading, best, cleaned, dated[s_start:s_end], s_index, factor,
                                                 evidence={(s_start, s_end): None}, refers_back=refers_back))
                places_named = [m for m in local if not m.says_who]
                if places_named:
                    context = _Context(next((m.place for m in reversed(places_named) if not m.place.is_area),
                                            places_named[-1].place))
        if candidates and all(c.location is None or c.location.rank <= WEAK_RANK for c in candidates):
            self._locate_by_the_report(candidates[0], places.everything(), sentences, filed_at)
        located = _join_references_back(_attach_unlocated(candidates), self.spatial.lies_on)
        merged = _merge_same_events(located)
        return [self._incident(c, scan, published, lead, source_reliability) for c in merged]

    def lexicon_matches(self, text: str, published: dt.date) -> LexiconMatches:
        """What the lexicons find in a whole report, found as :meth:`extract` finds it before it reads
        the sentences that tell something (the report's furniture and dateline blanked; the triggers
        in the text with its history blanked; the wars it mentions): the part of reading that must
        see all of a report, whatever it tells. ``bench/extract_throughput.py --stages`` times it
        against the whole."""
        text, _ = self._prepared(text, published)
        words = self._words(text)
        cleaned, triggers = self._triggers(text, words)
        past_events = self._past_events(text, words)
        return LexiconMatches(triggers, blank_spans(text, past_events), self._scan(text, cleaned, words),
                              self._wars(text, words, past_events))

    @staticmethod
    def _prepared(text: str, published: dt.date) -> tuple[str, Dateline | None]:
        """The report as it is read: Arabic folded, byline and credits blanked, and its dateline
        ("SIRTE, Libya (Reuters) -"), if it has one, blanked and returned."""
        text = blank_furniture(normalize_arabic(text))
        dateline = read_dateline(text, published)
        if dateline is not None:
            text = text[:dateline.start] + " " * (dateline.end - dateline.start) + text[dateline.end:]
        return text, dateline

    def _triggers(self, text: str, words: _Words) -> tuple[str, list]:
        """The text with its history blanked out, and the triggers found in it."""
        hits, low = words.of("history")
        cleaned = strip_history(text, self.lexicon, hits=hits, low=low)
        return cleaned, list(self.lexicon.triggers.finditer(cleaned, *self._blanked(words, "triggers", text, cleaned)))

    def _past_events(self, text: str, words: _Words) -> list[tuple[int, int]]:
        """Where the text recalls past events by their years ("the 2019 offensive")."""
        found = self.lexicon.past_events.finditer(text, *words.of("past_events"))
        return [(hit.start(), hit.end()) for _, hit in found]

    def _wars(self, text: str, words: _Words, past_events: list[tuple[int, int]]) -> list[_War]:
        """The wars the text mentions, by their years (``past_events``) and by their names, each
        with the word that sets a sentence in it, if one does ("during the 2011 uprising"; not
        "a mine laid during the 2011 uprising", where the war only tells when the mine was laid)."""
        wars = []
        for start, end in past_events:
            years = _YEAR_IN.findall(text, start, end)
            wars.append(_War(start, end, max(map(int, years)) if years else None, self._war_frame(text, start),
                             False))
        for war, hit in self.lexicon.past_wars.finditer(text, *words.of("past_wars")):
            wars.append(_War(hit.start(), hit.end(), war.ended, self._war_frame(text, hit.start()), True))
        return sorted(wars)

    def _war_frame(self, text: str, at: int) -> int | None:
        """Where the word that sets a sentence in the war mentioned at ``at`` starts, if there is one."""
        if _WAR_FRAME_OPENING.match(text, at):
            frame = at
        else:
            before = _WAR_FRAME_BEFORE.search(text, max(0, at - 40), at)
            if before is None:
                return None
            frame = before.start()
        return frame if self._left_by_war.search(text, max(0, frame - 40), frame) is None else None

    @staticmethod
    def _told_in_a_past_war(text: str, s_start: int, s_end: int, trigger_starts: list[int], wars: list[_War],
                            published: dt.date) -> bool:
        """Whether every event a sentence tells happens in a war that ended two years or more before
        the report: told before the war's mention in its clause ("fighting raged in Sirte during the
        2011 uprising"), or in a sentence the war opens ("In the 2016 campaign, fighters clashed");
        and no recent date says otherwise ("on Monday")."""
        frames = [w.frame for w in wars
                  if w.frame is not None and s_start <= w.frame < s_end and _is_over(w, published)]
        if not frames or not trigger_starts:
            return False
        if any(not text[s_start:frame].strip(" \t\n\"'“”‘’«»(-") for frame in frames):
            return not has_recent_date(text[s_start:s_end], published)
        dated = all(any(at < frame and not _CLAUSE_MARK.search(text, at, frame) for frame in frames)
                    for at in trigger_starts)
        return dated and not has_recent_date(text[s_start:s_end], published)

    def _scan(self, text: str, cleaned: str, words: _Words) -> _Scan:
        return _Scan(text, cleaned, list(self.lexicon.cues.finditer(text, *words.of("cues"))),
                     list(self.lexicon.actors.finditer(text, *words.of("actors"))),
                     list(self.lexicon.targets.finditer(text, *words.of("targets"))))

    def _locate_by_the_report(self, first: _Candidate, mentions: list[Mention], sentences: list[tuple[int, str]],
                              filed_at: Place | None) -> None:
        """No sentence that tells what happened says where: read it as a reader would, at the town
        of the dateline, else at the place the report names nearest to it ("Smugglers killed ten
        migrants on a beach. They were to sail from Zuwara."), as an inferred, vaguer location."""
        place = filed_at
        if place is None:
            at = sentences[first.sentence_index][0]
            named = [m for m in mentions if not m.says_who]
            place = min(named, key=lambda m: abs(m.start - at)).place if named else None
        if place is not None:
            first.location = self.spatial.nearby(place)
        elif first.location is None and mentions:  # only demonyms or units: the weakest reading there is
            first.location = self.spatial.nearby(mentions[0].place)

    def _retyped(self, trigger: Trigger, text: str) -> Trigger:
        return _retyped_trigger(trigger, self.lexicon, text)

    def _incident(self, c: _Candidate, scan: _Scan, published: dt.date, lead: str, reliability: str | None
                  ) -> Incident:
        loc = c.location
        trigger = c.reading.trigger
        tags = list(dict.fromkeys([*c.reading.tags, *c.extra_tags]))
        when = incident_date([c.sentence, lead], published)
        evidence_text = scan.evidence(c.evidence)
        cleaned_evidence = scan.evidence(c.evidence, cleaned=True)
        deaths = max(c.deaths, fatalities(c.clause if len(c.evidence) == 1 else cleaned_evidence))
        trigger = self._retyped(trigger, cleaned_evidence)
        confidence = c.reading.strength * c.confidence_factor * self.rules.precision_factor(loc.geo_precision)
        if loc.inferred:
            confidence *= INFERRED_FACTOR
        label = self.rules.tag_label(tags[0]) if tags else trigger.sub_event_type
        return Incident(
            event_type=trigger.event_type,
            sub_event_type=trigger.sub_event_type,
            tags=tags,
            date=when.date,
            time_precision=when.time_precision,
            date_stated=when.phrase is not None,
            lat=round(loc.lat, 5),
            lon=round(loc.lon, 5),
            geo_precision=loc.geo_precision,
            radius_km=loc.radius_km,
            location_kind=loc.kind,
            geometry_wkt=loc.geometry_wkt,
            segments=loc.segments,
            places=loc.place_refs(),
            actors=scan.names(scan.actors, c.evidence),
            targets=scan.names(scan.targets, c.evidence),
            fatalities=deaths,
            confidence=round(min(1.0, confidence), 3),
            source_reliability=reliability,
            evidence=evidence_text[:MAX_EVIDENCE],
            acled_event=trigger.acled_event,
            summary=f"{label[:1].upper()}{label[1:]} {loc.description}"[:160],
        )


def _is_over(war: _War, published: dt.date) -> bool:
    """Whether a war ended two years or more before the report (as a year in a sentence must, for
    the sentence to be history)."""
    return war.ended is None or war.ended <= published.year - PAST_AFTER_YEARS


def _in_a_past_war(at: int, wars: list[_War], published: dt.date) -> bool:
    """Whether ``at`` lies inside the name of a war that is over ("the battle for Tripoli")."""
    return any(w.named and w.start <= at < w.end and _is_over(w, published) for w in wars)


def _sentences_with(sentences: list[tuple[int, str]], positions: list[int]) -> list[int]:
    """The indices (in order) of the sentences in which some of the (sorted) positions lie."""
    starts = [start for start, _ in sentences]
    out: list[int] = []
    for p in positions:
        i = bisect.bisect_right(starts, p) - 1
        if i >= 0 and p < starts[i] + len(sentences[i][1]) and (not out or out[-1] != i):
            out.append(i)
    return out


def _spread(place: Place, others: list[Place]) -> float:
    """How far a place lies from the nearest of the others (km)."""
    return min(geodesic_km((place.lat, place.lon), (o.lat, o.lon)) for o in others)


def _may_end_with_in(text: str, at: int) -> bool:
    """Whether the text before ``at`` may end with "in" or "capital" and blanks, as a seat ("the
    government in") must: told without a regex search, spared most names. ("n" and "l" match only
    themselves when case is ignored.)"""
    return text[at - 1:at].isspace() and text[max(0, at - 60):at].rstrip()[-1:] in ("n", "N", "l", "L")


def _nationality(word: str) -> bool:
    """Whether a foreign word names a people ("Chadian", "التشادي") rather than a place ("Chad", "تشاد")."""
    word = word.lower().strip()
    return word.endswith(("an", "ese", "ish", "i")) if word.isascii() else word.endswith(("يه", "ي", "يين", "يون"))


def _far(landmark: Mention, town: Mention) -> bool:
    """Whether a landmark is not the town's own: another parent, and far from it."""
    return town.place.name != landmark.place.parent and landmark.place.name != town.place.name and geodesic_km(
        (landmark.place.lat, landmark.place.lon), (town.place.lat, town.place.lon)) > HOMONYM_KM


def _retyped_trigger(trigger: Trigger, lexicon: Lexicon, text: str) -> Trigger:
    """The trigger with the event type a ``retype`` rule gives it in this text (ACLED's conventions)."""
    for rule, category in lexicon.retypes:
        if trigger.id in rule.when and category.search(text) is not None:
            return trigger.model_copy(update={"event_type": rule.event_type, "sub_event_type": rule.sub_event_type})
    return trigger


def _absorb(into: _Candidate, other: _Candidate) -> None:
    lead_says = other.sentence_index == 0 < into.sentence_index  # a report's lead says what happened
    cancelled = other.reading.trigger.id in into.reading.trigger.cancels  # shelling told within a battle
    if not cancelled and (lead_says or other.reading.trigger.priority > into.reading.trigger.priority):
        # "a checkpoint outside Sokna ... two passengers were taken away": the graver event names it
        into.extra_tags.extend(t for t in into.reading.tags if t not in into.extra_tags)
        into.reading = other.reading
    into.extra_tags.extend(t for t in [*other.reading.tags, *other.extra_tags] if t not in into.extra_tags)
    into.evidence.update(other.evidence)
    into.deaths = max(into.deaths, fatalities(other.clause))
    into.confidence_factor = max(into.confidence_factor, other.confidence_factor)


#: A location this weak (a demonym, a unit's town, a place the report names elsewhere) stands only
#: when no clause of the report says where.
WEAK_RANK = 3


def _attach_unlocated(candidates: list[_Candidate]) -> list[_Candidate]:
    """A clause that says what happened but not where joins the nearest located incident
    (the one before it, else the one after); with none located, it is dropped. A clause placed
    only weakly counts as unlocated when another clause says where."""
    strong = [c for c in candidates if c.location is not None and c.location.rank > WEAK_RANK]
    located = strong or [c for c in candidates if c.location is not None]
    indices = [c.sentence_index for c in located]  # in text order
    kept = {id(c) for c in located}
    for c in candidates:
        if id(c) in kept or not located:
            continue
        k = bisect.bisect_right(indices, c.sentence_index)  # located[:k] are at or before c
        before = located[k - 1] if k else None
        after = located[k] if k < len(located) else None
        target = before if before is not None and (c.sentence_index - before.sentence_index <= 2 or after is None) \
            else after
        _absorb(target, c)
    return located


def _join_references_back(candidates: list[_Candidate], on_stretch=None) -> list[_Candidate]:
    """"The blast at X", "the attack, which took place at Y": a definite event noun tells again an
    event already told. It joins that incident (the nearest before it, at most
    ``REFERENCE_REACH`` sentences back) and gives it the more precise of their two locations.
    So does a precise point on the stretch of road the incident before it was put on ("robbed on
    the road between A and B ... a roadblock 30 km south of A"): ``on_stretch(point, stretch)``."""
    out: list[_Candidate] = []
    for c in candidates:
        earlier = out[-1] if out else None
        near = earlier is not None and c.sentence_index - earlier.sentence_index <= REFERENCE_REACH
        pins_the_road = (near and on_stretch is not None and earlier.location.kind == "stretch"
                         and c.location.kind == "point" and c.location.rank >= 60 and not c.location.inferred
                         and on_stretch(c.location, earlier.location))
        if (c.refers_back and near) or pins_the_road:
            if pins_the_road or _more_precise(c.location, earlier.location):
                earlier.location = c.location
            keep = earlier.reading
            _absorb(earlier, c)
            if earlier.reading is not keep and keep.trigger.priority >= c.reading.trigger.priority:
                earlier.reading = keep
            continue
        out.append(c)
    return out


def _more_precise(new: Location, old: Location) -> bool:
    """Whether a retelling's location says at least as much as the first telling's: a retelling
    adds detail ("the explosion, at the southern gate of Hun"), so ties go to it."""
    return new.rank >= old.rank and not new.inferred


def _merge_same_events(candidates: list[_Candidate]) -> list[_Candidate]:
    """Readings of one event type at one location become one incident."""
    out: list[_Candidate] = []
    by_key: dict[tuple, _Candidate] = {}
    for c in candidates:
        key = (c.reading.trigger.event_type, c.location.key())
        twin = by_key.get(key)
        if twin is None:
            by_key[key] = c
            out.append(c)
        else:
            _absorb(twin, c)
    return out
