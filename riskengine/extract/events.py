"""What happened in a clause: event type and tags from the triggers, actors, targets, deaths, cues.

Everything here reads the lexicons of ``rules/extraction/``; the only knowledge in code is how to
read numbers ("two", "dozens") and how deaths are usually reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lexicon import Lexicon, Trigger, WordHits

#: ACLED's conservative reading of vague numbers.
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "a single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "a dozen": 12, "dozens": 12, "dozens of": 12, "tens": 10, "tens of": 10, "scores of": 20,
    "several": 3, "a few": 2, "hundreds": 100, "hundreds of": 100, "a number of": 2, "both": 2,
}
_NUM = r"(\d+|" + "|".join(sorted((re.escape(k) for k in NUMBER_WORDS), key=len, reverse=True)) + r")"
_WHO = r"(?:[\w-]+\s+){0,3}"
_DEATH_PATTERNS = [
    re.compile(rf"\b{_NUM}\s+{_WHO}(?:were|was|have been|had been|are|is)?\s*"
               r"(?:killed|dead|died|slain|shot dead)", re.I),
    re.compile(rf"\b(?:killing|killed|kill)\s+(?:its|their|his|her|the|all|at least)?\s*{_NUM}\b", re.I),
    re.compile(rf"\b(?:death toll|toll)\s+(?:rose to|of|reached|stands at|climbed to)\s+{_NUM}", re.I),
    re.compile(rf"\b{_NUM}\s+(?:people\s+)?dead\b", re.I),
    re.compile(r"\b(?:was|were) (?:killed|shot dead)\b", re.I),
    re.compile(r"\b(?:killing|killed|shot dead)\s+(?:the|a|one|its|their)\s+(?:\w+\s+)?"
               r"(?:driver|passenger|soldier|man|woman|child|boy|girl|officer|civilian|guard|policeman|worker)\b",
               re.I),
]
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")
_DEATH_WORDS = ("kill", "dead", "died", "slain", "toll", "casualt", "no one", "nobody", "injur")
_NO_DEATHS = re.compile(
    r"\b(?:no (?:one|body) was (?:killed|hurt|injured)|nobody (?:was )?(?:killed|hurt|injured)|no casualties|"
    r"no deaths|no one died|without casualties|no injuries)\b", re.I)


@dataclass
class EventReading:
    """The triggers found in a clause and what they say."""

    trigger: Trigger
    tags: list[str]
    positions: list[int]  # where the governing trigger's words are, for choosing the location
    strength: float
    found: list[str] = field(default_factory=list)  # ids of every trigger found


def read_event(clause: str, lexicon: Lexicon) -> EventReading | None:
    """The event a clause reports, by its highest-priority trigger; None when it reports none.

    Examples
    --------
    >>> from pathlib import Path
    >>> lex = Lexicon.load(Path(__file__).parents[2] / "rules")
    >>> r = read_event("Robbers ambushed a minibus and stole the passengers' phones.", lex)
    >>> r.trigger.event_type, r.trigger.sub_event_type, sorted(r.tags)
    ('Violence against civilians', 'Attack', ['ambush', 'banditry'])
    >>> read_event("The ministry opened a new school.", lex) is None
    True
    """
    return reading_from_hits(list(lexicon.triggers.finditer(clause)), lexicon)


def reading_from_hits(found: list[tuple[Trigger, object]], lexicon: Lexicon, offset: int = 0) -> EventReading | None:
    """The event given by trigger matches already found (positions made relative to ``offset``)."""
    hits: dict[str, list[int]] = {}
    for trig, m in found:
        hits.setdefault(trig.id, []).append(m.start() - offset)
    if not hits:
        return None
    active = sorted((lexicon.trigger_by_id[i] for i in hits), key=lambda t: -t.priority)
    for trig in list(active):
        if trig in active:
            active = [t for t in active if t.id not in trig.cancels]
    best = active[0]
    tags = list(dict.fromkeys(tag for t in active for tag in t.tags))
    strength = min(1.0, best.strength + 0.05 * (len(active) - 1))
    return EventReading(best, tags, hits[best.id], strength, [t.id for t in active])


def cue_effect(found, trigger_ids: set[str] = frozenset()) -> tuple[bool, float]:
    """(drop, confidence factor) from cue matches already found in a sentence whose triggers are
    ``trigger_ids``: a dropping cue spares a sentence with one of its ``unless`` triggers."""
    drop, factor = False, 1.0
    for cue, _ in found:
        if cue.effect == "drop":
            drop = drop or not trigger_ids.intersection(cue.unless)
        else:
            factor *= cue.effect["confidence"]
    return drop, factor


def strip_history(clause: str, lexicon: Lexicon, *, hits: WordHits | None = None, low: str | None = None) -> str:
    """The clause with its parts about the past ("five years after ...", "since 2011 ...", "the 2011
    war") blanked out; offsets are kept, so place names still line up. ``hits`` and ``low``: the
    category's words already found in the lower-cased clause (:class:`~.lexicon.WordFinder`)."""
    return blank_spans(clause, [(hit.start(), hit.end()) for _, hit in lexicon.history.finditer(clause, hits, low)])


def blank_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the (ordered, not overlapping) spans blanked out: offsets are kept."""
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(" " * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _number(token: str) -> int:
    token = token.lower().strip()
    return int(token) if token.isdigit() else NUMBER_WORDS.get(token, 0)


#: Arabic number words as news writes them (normalised: taa marbuta as haa, alef without hamza).
AR_NUMBERS = {"واحد": 1, "شخص": 1, "اثنين": 2, "اثنان": 2, "شخصين": 2, "ثلاثه": 3, "اربعه": 4, "خمسه": 5, "سته": 6,
              "سبعه": 7, "ثمانيه": 8, "تسعه": 9, "عشره": 10, "عشرات": 12, "العشرات": 12}
_AR_NUM = r"(\d+|" + "|".join(AR_NUMBERS) + ")"
_AR_DEATHS = [
    re.compile(rf"(?:مقتل|مصرع|وفاه|قتل|لقي)\s+{_AR_NUM}"),
    re.compile(rf"{_AR_NUM}\s+(?:\S+\s+){{0,2}}(?:قتلى|قتيل|قتيلا|جثث|ضحايا)"),
    re.compile(r"(?:مقتل|مصرع|اغتيال|وفاه)\s+(?:ال)?(?:سايق|شاب|مواطن|شخص|جندي|عنصر|رجل|امراه|طفل|حارس|شرطي)\w*"),
]


def _arabic_fatalities(text: str) -> int:
    """Deaths an Arabic text reports: "مقتل 3", "ثلاثه قتلى", "مصرع سائق" (one)."""
    best = 0
    for pattern in _AR_DEATHS:
        for m in pattern.finditer(text):
            token = m.group(1) if m.groups() else "1"
            best = max(best, int(token) if token.isdigit() else AR_NUMBERS.get(token, 1))
    return best


def fatalities(text: str) -> int:
    """Deaths a text reports, read conservatively: the largest single figure, not a sum.

    Examples
    --------
    >>> fatalities("A roadside bomb hit a minibus, killing its four occupants.")
    4
    >>> fatalities("Dozens were killed in the fighting.")
    12
    >>> fatalities("An air raid hit an empty barracks; nobody was hurt.")
    0
    >>> fatalities("One driver was killed and three were wounded.")
    1
    """
    if _ARABIC_SCRIPT.search(text) is not None:
        return _arabic_fatalities(text)
    low = text.lower()
    if not any(word in low for word in _DEATH_WORDS):
        return 0
    if _NO_DEATHS.search(text) and not re.search(r"\b(?:killed|dead|died)\b", _NO_DEATHS.sub("", text), re.I):
        return 0
    best = 0
    for pattern in _DEATH_PATTERNS:
        for m in pattern.finditer(text):
            value = _number(m.group(1)) if m.groups() else 1
            best = max(best, value)
    return best
