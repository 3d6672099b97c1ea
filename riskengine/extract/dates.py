"""Dating incidents: turn the date cues of a report's sentences into a date relative to its publication.

Candidate phrases are found with precompiled regexes in the lower-cased sentence; a sentence without any
date cue usually costs one cheap search for a hint (a digit, "day", "week", a month name...). Relative cues
("on Sunday", "yesterday", "last week") are resolved by date arithmetic; explicit calendar dates
("12 November", "November 12, 2026", "2026-09-03") go through ``dateparser``, memoised per (normalised
phrase, publication date). Precision follows ACLED's ``time_precision``: 1 the exact day, 2 within a week
or so, 3 only the month. A resolved date is never after the publication date: an explicit date that would
be moves back one year, and is dropped if it still lies in the future (a scheduled event, not an incident).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dateparser

from ..arabic import english_dates


@dataclass(frozen=True)
class DateGuess:
    """A date for an incident, with how precisely it is known and the text that gave it."""

    date: dt.date
    time_precision: int  # ACLED: 1 exact day, 2 within a week or so, 3 only the month known
    phrase: str | None  # the text that gave the date, None when the publication date was used


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
            "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_FULL_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_MON = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?" \
       r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
_DAY = r"[0-3]?\d(?:st|nd|rd|th)?\b"
_NUM = r"\d{1,2}|" + "|".join(_NUMBERS)

# Both are searched in the lower-cased sentence. Every cue holds a hint, so one cheap search rejects most
# sentences without a cue.
_HINT = re.compile(r"\d|d(?:a(?:y|wn)|ecember)|n(?:ight|ovember)|week|m(?:o(?:nth|rning)|arch|ay)"
                   r"|a(?:fternoon|pril|ugust)|evening|j(?:anuary|u(?:ne|ly))|february|september|october")
_HINT_REACH = 40  # a cue starts at most this many characters before its hint ("over the past couple of days")
_CUE = re.compile(
    rf"\b(?=[\dabdefijlmnostuwy])(?:(?P<iso>\d{{4}}-[01]\d-[0-3]\d\b)"
    rf"|(?P<explicit>{_DAY}\s+(?:of\s+)?{_MON}(?:,?\s+\d{{4}}\b)?|{_MON}\s+{_DAY}(?:,?\s+\d{{4}}\b)?)"
    rf"|(?P<month>(?:(?:in|during|since|until|through|by)\s+(?:(?:early|late|mid)[\s-]+)?|(?:early|late|mid)[\s-]+)"
    rf"(?P<month_name>{'|'.join(_FULL_MONTHS)})\b(?!\s+{_DAY})(?:\s+(?P<month_year>\d{{4}})\b)?)"
    rf"|(?P<ago>(?P<ago_n>{_NUM})\s+(?P<ago_unit>day|week)s?\s+ago\b)"
    r"|(?P<day_before>the\s+day\s+before\s+yesterday\b)"
    r"|(?P<yesterday>yesterday\b|last\s+night\b)"
    r"|(?P<today>today\b|tonight\b|this\s+(?:morning|afternoon|evening)\b|overnight\b|before\s+dawn\b)"
    r"|(?P<last_week>last\s+week\b)"
    r"|(?P<this_week>(?:earlier\s+)?this\s+week\b)"
    r"|(?P<recent>in\s+recent\s+days\b|(?:in|over)\s+the\s+(?:past|last)\s+(?:few\s+|several\s+|couple\s+of\s+)?days\b)"
    r"|(?P<weekend>(?:over|at|during)\s+the\s+weekend\b|(?:this|last)\s+weekend\b)"
    r"|(?P<last_month>last\s+month\b)"
    r"|(?P<this_month>(?:earlier\s+)?this\s+month\b)"
    rf"|(?P<weekday>(?P<wd_mod>last\s+|next\s+|this\s+past\s+|this\s+)?(?P<wd>{'|'.join(_WEEKDAYS)})\b))"
)
# An explicit date that names a street, brigade or revolution ("17 February Street") is not a date cue.
_NAME_AFTER = re.compile(r"(?:\s+\d{4})?\s+(?:street|st\b|road|square|brigade|battalion|revolution|uprising|martyrs"
                         r"|university|hospital|stadium|bridge|camp|district|airport)")
_NAME_BEFORE = re.compile(r"(?:revolution|uprising)\s+of\s+$")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b|\bof\b|[.,]")

# Both are searched in the lower-cased sentence.
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b(?!\s*(?:hours|hrs|h\b|gmt|utc|local))")
_HISTORY = re.compile(
    r"\byears\s+(?:after|ago|since|later|earlier|before)\b|\bdecades?\s+ago\b|\bhistor(?:y|ically)\b"
    r"|\b(?:past|last|previous)\s+(?:two\s+|three\s+|few\s+)?decades?\b|\banniversary\s+of\b"
    r"|\bback\s+then\b|\bin\s+those\s+days\b"
)
#: Every match of _HISTORY holds one of these.
_HISTORY_WORDS = ("year", "decade", "histor", "anniversary", "then", "those")
#: Days before publication within which an explicit date counts as recent for `is_historical`.
RECENT_DAYS = 60
#: A year this many years before publication, or earlier, is the past (a year's events are told
#: for a while after it ends).
PAST_AFTER_YEARS = 2


_PLAIN_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y", "%Y-%m-%d")
_PLAIN_FORMATS_NO_YEAR = ("%d %B", "%d %b", "%B %d", "%b %d")


def _parse_plain(phrase: str, published: dt.date) -> dt.date | None:
    """The common shapes ("12 november", "november 12 2026") without dateparser's ~1 ms."""
    text = " ".join(phrase.split())
    for fmt in _PLAIN_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    for fmt in _PLAIN_FORMATS_NO_YEAR:
        try:
            day = dt.datetime.strptime(f"{text} {published.year}", f"{fmt} %Y").date()
        except ValueError:
            continue
        return day
    return None


@functools.lru_cache(maxsize=8192)
def _parse_explicit(phrase: str, published: dt.date) -> dt.date | None:
    """Resolve a normalised calendar phrase: common shapes directly, the rest with dateparser
    (memoised, ~1 ms a miss)."""
    plain = _parse_plain(phrase, published)
    if plain is not None:
        return plain
    base = dt.datetime.combine(published, dt.time(12))
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past"}
    parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    return None if parsed is None else parsed.date()


def _not_after(day: dt.date | None, published: dt.date) -> dt.date | None:
    """Move a date after publication back one year; drop it if still later (a scheduled event)."""
    if day is not None and day > published:
        day = day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)
    return None if day is None or day > published else day


def _resolve(m: re.Match[str], published: dt.date) -> tuple[dt.date, int] | None:
    """The date and precision given by one match of `_CUE`, or None when it gives none."""
    kind = m.lastgroup
    if kind in ("iso", "explicit"):
        text = m.string
        if _NAME_AFTER.match(text, m.end()) or _NAME_BEFORE.search(text, 0, m.start()):
            return None
        norm = " ".join(_ORDINAL.sub(" ", m.group()).split())
        norm = re.sub(r"\bsept\b", "sep", norm)
        day = _not_after(_parse_explicit(norm, published), published)
        return None if day is None else (day, 1)
    if kind == "month":
        month = _FULL_MONTHS.index(m.group("month_name")) + 1
        year = int(m.group("month_year") or published.year)
        if (year, month) == (published.year, published.month):
            return min(dt.date(year, month, 15), published), 3  # the current month, maybe before its 15th
        day = _not_after(dt.date(year, month, 15), published)
        return None if day is None else (day, 3)
    if kind == "weekday":
        modifier = " ".join((m.group("wd_mod") or "").split())
        if modifier == "next":
            return None
        back = (published.weekday() - _WEEKDAYS.index(m.group("wd"))) % 7
        if back == 0 and modifier in ("last", "this past"):
            back = 7
        return published - dt.timedelta(days=back), 1
    if kind == "ago":
        raw = m.group("ago_n")
        n = int(raw) if raw.isdigit() else _NUMBERS[raw]
        if m.group("ago_unit") == "week":
            return published - dt.timedelta(weeks=n), 2
        return published - dt.timedelta(days=n), 1
    if kind == "last_month":
        previous = published.replace(day=1) - dt.timedelta(days=1)
        return previous.replace(day=15), 3
    if kind == "this_month":
        return published.replace(day=1), 3
    back, precision = {
        "today": (0, 1), "yesterday": (1, 1), "day_before": (2, 1), "last_week": (7, 2), "recent": (3, 2),
        "this_week": (min(published.weekday(), 3), 2), "weekend": ((published.weekday() - 5) % 7, 2),
    }[kind]
    return published - dt.timedelta(days=back), precision


def _candidates(sentence: str, published: dt.date) -> Iterator[DateGuess]:
    """Every date cue of a sentence that resolves, in order of appearance."""
    low = sentence.lower()
    hint = _HINT.search(low)
    if hint is None:
        return
    source = sentence if len(low) == len(sentence) else low
    for m in _CUE.finditer(low, max(0, hint.start() - _HINT_REACH)):
        resolved = _resolve(m, published)
        if resolved is not None:
            yield DateGuess(resolved[0], resolved[1], source[m.start() : m.end()])


def find_date(sentence: str, published: dt.date) -> DateGuess | None:
    """The date a sentence gives for its event, or None when it names none.

    The most precise cue wins (the first on ties), leaving out cues that only say when something
    was said ("police said on Monday") unless there is no other. Times of day and bare years
    ("in 2011") are ignored; the latter are for `is_historical`.

    Parameters
    ----------
    sentence : str
        One sentence of a report.
    published : datetime.date
        The report's publication date, the reference for relative cues.

    Returns
    -------
    DateGuess or None
        The date, its ACLED precision and the phrase that gave it; None without a date cue.

    Examples
    --------
    >>> wed = dt.date(2026, 9, 2)
    >>> find_date("Gunmen stopped a fuel tanker near Bani Walid late on Saturday.", wed)
    DateGuess(date=datetime.date(2026, 8, 29), time_precision=1, phrase='Saturday')
    >>> find_date("The coastal road was shut on 30 December.", dt.date(2026, 1, 3)).date
    datetime.date(2025, 12, 30)
    >>> find_date("Traffic moved normally through Gharyan.", wed) is None
    True
    """
    guesses = list(_candidates(sentence, published))
    if not guesses:
        return None
    event_dates = [g for g in guesses if not _attribution(sentence, g)] or guesses
    return min(event_dates, key=lambda g: g.time_precision)  # the most precise; the first on ties


_SAID = re.compile(r"\b(?:said|says|told|announced|reported|added|confirmed|stated|declared|warned|claimed)"
                   r"(?:\s+\w+){0,3}\s*(?:on|late on|early on|in a statement on)?\s*$", re.IGNORECASE)


def _attribution(sentence: str, guess: DateGuess) -> bool:
    """A date that says when something was said ("police said on Monday"), not when it happened."""
    at = sentence.find(guess.phrase) if guess.phrase else -1
    return at > 0 and _SAID.search(sentence[max(0, at - 40):at]) is not None


def incident_date(sentences: Sequence[str], published: dt.date) -> DateGuess:
    """First date found in the sentences given, else the publication date with precision 1.

    Parameters
    ----------
    sentences : sequence of str
        The incident's own sentence first, then the report's lead.
    published : datetime.date
        The report's publication date.

    Returns
    -------
    DateGuess
        The first sentence's date; the publication date (precision 1, phrase None) when none has one.
    """
    for sentence in sentences:
        guess = find_date(english_dates(sentence), published)
        if guess is not None:
            return guess
    return DateGuess(published, 1, None)


def is_historical(sentence: str, published: dt.date) -> bool:
    """True when the sentence is about the past rather than a current incident.

    Parameters
    ----------
    sentence : str
        One sentence of a report.
    published : datetime.date
        The report's publication date.

    Returns
    -------
    bool
        True when the sentence names only years at least two years before publication ("in 2011",
        "the 2019 offensive") or has a historical phrase ("five years after", "years ago", "in the past
        decade", "history", "anniversary of"), unless it also has a recent date cue: a relative one
        ("on Monday", "yesterday", "this week") or a date at most `RECENT_DAYS` before publication.
    """
    low = sentence.lower()
    # substring tests spare most sentences the regex searches: a year starts "18", "19" or "20", and
    # every historical phrase holds one of _HISTORY_WORDS
    years = [int(y) for y in _YEAR.findall(low)] if any(c in low for c in ("18", "19", "20")) else []
    old_years = bool(years) and max(years) <= published.year - PAST_AFTER_YEARS
    if not old_years and not (any(w in low for w in _HISTORY_WORDS) and _HISTORY.search(low)):
        return False
    return not has_recent_date(sentence, published)


def has_recent_date(sentence: str, published: dt.date) -> bool:
    """Whether the sentence has a recent date cue: a relative one ("on Monday", "yesterday") or a
    date at most `RECENT_DAYS` before publication."""
    return any((published - g.date).days <= RECENT_DAYS for g in _candidates(sentence, published))
