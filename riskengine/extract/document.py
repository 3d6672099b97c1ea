"""The shape of a news report: its dateline, byline and credits.

Wire copy and Libyan outlets open with a dateline: "SIRTE, Nov 20 (Reuters) -", "Brak, 20 November
-", "Benghazi (Libya Herald) —". It says where the report was filed and on what day; it is not a
sentence of the story. Read as one, its date would override "on Thursday" in the lead, and its town
would be taken for where the event happened. :func:`read_dateline` finds it, so the extractor can
blank it out, count relative dates from its day, and fall back on its town only when the story
names no place.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import dateparser

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE = rf"(?:\d{{1,2}}\s+{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?)"
#: At the start of the report or of one of its next three lines (after a headline or a byline): a place in
#: one to four words,
#: maybe ", Libya", then a date and/or an agency in brackets, then a dash.
DATELINE = re.compile(
    rf"(?:\A(?:[^\n]{{0,200}}\n+){{0,3}})[ \t]*(?P<place>[A-Z][\w'’.-]*(?:(?:[ \t]+|/)[A-Za-z][\w'’.-]*){{0,3}}?)"
    rf"(?:,[ \t]*Libya)?(?:,?[ \t]+(?P<date>{_DATE}))?[ \t]*(?:\((?P<agency>[^()\n]{{2,40}})\))?[ \t]*[-–—]+[ \t]+",
    re.IGNORECASE,
)
#: A byline on its own line ("By Ahmed Salem", "By Sara Ali and John Smith, Reuters") and the credits
#: wire copy ends with ("(Reporting by ... in Benghazi; Editing by ...)"): names and places that are
#: not the story.
FURNITURE = re.compile(
    r"^[ \t]*By[ \t]+[A-Z][\w'’.-]*(?:[ \t]+(?:[A-Z][\w'’.-]*|and|al|el|bin|ben|de|van))*"
    r"(?:,[ \t]*[A-Z][\w ]{0,30})?[ \t]*$"
    r"|\((?:Additional )?(?:Reporting|Writing|Editing|Compiled|Translated)[ \t]+by[^()]{0,300}\)",
    re.MULTILINE | re.IGNORECASE,
)
#: A dated dateline more than this far from the publication date is a misreading, not a dateline.
MAX_DATELINE_DRIFT_DAYS = 31


@dataclass(frozen=True)
class Dateline:
    start: int
    end: int
    place: str
    date: dt.date | None


def read_dateline(text: str, published: dt.date) -> Dateline | None:
    """The report's dateline, if it has one: a place with a date or an agency, then a dash.

    Examples
    --------
    >>> d = read_dateline("Brak, 20 November - Gunmen attacked a bus on Thursday.", dt.date(2026, 11, 21))
    >>> d.place, d.date
    ('Brak', datetime.date(2026, 11, 20))
    >>> read_dateline("TRIPOLI (Reuters) — Clashes erupted.", dt.date(2026, 11, 21)).place
    'TRIPOLI'
    >>> read_dateline("Sirte - the coastal city - was quiet.", dt.date(2026, 11, 21)) is None
    True
    """
    m = DATELINE.match(text[:400])
    if m is None or not (m.group("date") or m.group("agency")):
        return None
    when = None
    if m.group("date"):
        parsed = dateparser.parse(m.group("date"), languages=["en"], settings={
            "RELATIVE_BASE": dt.datetime.combine(published, dt.time()), "PREFER_DATES_FROM": "past"})
        if parsed is not None and abs((parsed.date() - published).days) <= MAX_DATELINE_DRIFT_DAYS:
            when = parsed.date()
    return Dateline(m.start("place"), m.end(), m.group("place"), when)


def blank_furniture(text: str) -> str:
    """The text with its byline and credit lines blanked out (same length, so offsets hold).

    Examples
    --------
    >>> blank_furniture("By Sara Ali\\nGunmen shot a driver.\\n(Reporting by Sara Ali in Sirte)").split()
    ['Gunmen', 'shot', 'a', 'driver.']
    """
    if "(" not in text and not _has_byline_start(text):  # nothing FURNITURE could match: spare the regex
        return text
    return FURNITURE.sub(lambda m: " " * len(m.group()), text)


def _has_byline_start(text: str) -> bool:
    """Whether a line opens with "by" (any case) after spaces or tabs: where a byline may be."""
    return any(line.lstrip(" \t")[:2].lower() == "by" for line in text.split("\n"))
