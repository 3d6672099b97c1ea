"""Structured incident input: ACLED-style CSV exports and JSON Lines of incidents.

Forgiving per row, strict per file: a bad row is skipped and reported as an ``InputRowError`` naming
its physical line; a file that cannot be read at all raises ``InputFileError``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from riskengine.errors import InputFileError, InputRowError
from riskengine.incident import Incident, PlaceRef
from riskengine.models import ACLED_EVENT_TYPES, MAX_FATALITIES

__all__ = ["LEGACY_EVENT_TYPES", "REQUIRED_COLUMNS", "ReadResult", "read_acled_csv",
           "read_incident_jsonl", "sniff_format"]

#: Columns an ACLED-style CSV must have; any other column is optional or ignored.
REQUIRED_COLUMNS = ("event_date", "event_type", "sub_event_type", "actor1", "latitude", "longitude",
                    "geo_precision", "fatalities", "notes", "source")

#: Pre-2019 ACLED labels (lower case, no spaces around "-" or "/") -> current type, implied sub-type.
LEGACY_EVENT_TYPES: dict[str, tuple[str, str | None]] = {
    "battle-no change of territory": ("Battles", "Armed clash"),
    "battle-government regains territory": ("Battles", "Government regains territory"),
    "battle-non-state actor overtakes territory": ("Battles", "Non-state actor overtakes territory"),
    "remote violence": ("Explosions/Remote violence", None),
    "riots/protests": ("Protests", None),
    "strategic development": ("Strategic developments", None),
    "non-violent transfer of territory": ("Strategic developments", "Non-violent transfer of territory"),
    "headquarters or base established": ("Strategic developments", "Headquarters or base established"),
}

_MONTH_NAMES = "january february march april may june july august september october november december".split()
_MONTHS = {name: n for n, full in enumerate(_MONTH_NAMES, 1) for name in (full, full[:3])} | {"sept": 9}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_ACLED_DATE = re.compile(r"(\d{1,2})[ -]+([A-Za-z]+)\.?[ -]+(\d{4})")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BY_SUFFIX = {".csv": "acled", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xml": "rss", ".rss": "rss",
              ".atom": "rss"}


@dataclass
class ReadResult:
    """What a reader got from one input: the incidents, their lines, and the rows it skipped."""

    incidents: list[Incident] = field(default_factory=list)
    errors: list[InputRowError] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)


def _norm_label(label: str) -> str:
    return re.sub(r"\s*([-/])\s*", r"\1", " ".join(label.lower().split()))


#: Every accepted event label, normalised, to its (event type, implied sub-event type or None).
_EVENT_LABELS = {**{_norm_label(name): (name, None) for name in ACLED_EVENT_TYPES}, **LEGACY_EVENT_TYPES}


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _parse_date(column: str, raw: str) -> dt.date:
    if match := _ISO_DATE.fullmatch(raw):
        year, month, day = (int(part) for part in match.groups())
    elif (match := _ACLED_DATE.fullmatch(raw)) and match.group(2).lower() in _MONTHS:
        year, month, day = int(match.group(3)), _MONTHS[match.group(2).lower()], int(match.group(1))
    else:
        raise ValueError(f"{column} {_shown(raw)} is not YYYY-MM-DD or DD Month YYYY")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"{column} {_shown(raw)} is not a real date") from None


def _parse_number(column: str, raw: str, low: float, high: float, *, whole: bool = False,
                  default: int | None = None) -> float | int:
    if not raw:
        if default is None:
            raise ValueError(f"{column} is blank")
        return default
    if not _DECIMAL.fullmatch(raw) or (whole and not float(raw).is_integer()):
        raise ValueError(f"{column} {_shown(raw)} is not a {'whole ' if whole else ''}number")
    value = float(raw)
    if not low <= value <= high:
        where = "negative" if value < 0 <= low else f"not between {low:g} and {high:g}"
        raise ValueError(f"{column} {_shown(raw)} is {where}")
    return int(value) if whole else value


def _parse_event_type(column: str, raw: str) -> tuple[str, str | None]:
    if (label := _norm_label(raw)) not in _EVENT_LABELS:
        raise ValueError(f"{column} {_shown(raw)} is not an ACLED event type")
    return _EVENT_LABELS[label]


def _first_problem(exc: ValidationError) -> str:
    """The first pydantic error as ``field: message``, without pydantic's URL and input dump."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _is_hxl_row(values: Sequence[object]) -> bool:
    """A row of HXL hashtags (``#event+type``, ``#geo+lat`` ...): humanitarian data hubs put one
    under the header to say what each column holds."""
    cells = [str(value).strip() for value in values if str(value).strip()]
    return bool(cells) and all(cell.startswith("#") for cell in cells)


def _incident_from_row(row: Mapping[str, str]) -> Incident:
    """One incident from a CSV row ("" for absent columns), or ``ValueError`` naming every bad value."""
    problems: list[str] = []

    def attempt(parse: Callable[..., Any], column: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return parse(column, row[column], *args, **kwargs)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    date = attempt(_parse_date, "event_date")
    kind = attempt(_parse_event_type, "event_type")
    lat = attempt(_parse_number, "latitude", -90, 90)
    lon = attempt(_parse_number, "longitude", -180, 180)
    precision = attempt(_parse_number, "geo_precision", 1, 3, whole=True, default=1)
    fatalities = attempt(_parse_number, "fatalities", 0, MAX_FATALITIES, whole=True, default=0)
    time_precision = attempt(_parse_number, "time_precision", 1, 3, whole=True, default=1)
    if (grade := row["source_reliability"]) and grade[0].upper() not in "ABCDEF":
        problems.append(f"source_reliability {_shown(grade)} is not an Admiralty grade A-F")
    if problems:
        raise ValueError("; ".join(problems))
    event_type, implied_sub_event_type = kind
    sub_event_type = row["sub_event_type"] or implied_sub_event_type
    named = [row["actor1"], row["actor2"], *row["assoc_actor_1"].split(";")]
    location, notes = row["location"], row["notes"]
    summary = (sub_event_type or event_type) + (f" in {location}" if location else "")
    summary = " ".join((f"{summary}: {notes}" if notes else summary).split())
    if len(summary) > 120:  # one line of at most 120 characters, the ellipsis included
        summary = summary[:119].rstrip() + "…"
    try:
        return Incident(
            event_type=event_type, sub_event_type=sub_event_type, date=date, time_precision=time_precision,
            lat=lat, lon=lon,
            geo_precision=precision, fatalities=fatalities, source=row["source"] or None,
            actors=list(dict.fromkeys(name.strip() for name in named if name.strip())),
            tags=[tag.strip() for tag in row["tags"].split(";") if tag.strip()],
            places=[PlaceRef(name=location, lat=lat, lon=lon, role="event")] if location else [],
            source_reliability=grade or None, evidence=notes, summary=summary,
        )
    except ValidationError as exc:
        raise ValueError(_first_problem(exc)) from None


def _load_text(path: Path | str, text: str | None) -> str:
    try:  # bytes, so that quoted "\r\n" inside fields stays as written
        return (Path(path).read_bytes().decode("utf-8") if text is None else text).removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None


def _records(lines: list[str]) -> tuple[list[list[str]], list[int], list[InputRowError]]:
    """The csv records of the lines with their first physical line; a record the csv module cannot
    read (a quote never closed swallows every line after it), or one over several lines that does
    not have the header's number of fields (a stray quote took the next rows into one field), is
    reported at its first line, and reading goes on from the line after it."""
    records: list[list[str]] = []
    starts: list[int] = []
    broken: list[InputRowError] = []
    offset = 0
    while offset < len(lines):
        reader = csv.reader(iter(lines[offset:]), strict=True)
        previous = 0
        try:
            for record in reader:
                start, previous = previous + 1, reader.line_num
                if records and start < previous and len(record) != len(records[0]):
                    raise _StrayQuote(start)
                if record and (start < previous or lines[offset + start - 1].strip(" \t\r\n")):
                    records.append(record)
                    starts.append(offset + start)
        except _StrayQuote as stray:
            line = offset + stray.start
            broken.append(InputRowError(source="", line=line, problem="a quoted field runs over several lines "
                                        "and the row has not the header's fields: a stray quote? the row is "
                                        "skipped, the lines after it are read"))
            offset = line
            continue
        except csv.Error as exc:
            line = offset + previous + 1
            broken.append(InputRowError(source="", line=line, problem=f"cannot be read as CSV ({exc}); "
                                        "a quote not closed? the row is skipped, the lines after it are read"))
            offset = line
            continue
        break
    return records, starts, broken


class _StrayQuote(Exception):
    """A record over several lines that is not a row (see :func:`_records`), starting at line ``start``."""

    def __init__(self, start: int):
        super().__init__(start)
        self.start = start


def _table(source: str, text: str) -> tuple[pd.DataFrame, list[list[str]], list[int], list[InputRowError]]:
    """Parse CSV text with pandas; the csv module finds each record's first physical line.

    Blank lines are dropped as pandas drops them; should the parsers still disagree (or a row be
    unreadable), the csv records win.
    """
    lines = io.StringIO(text, newline="").readlines()
    records, starts, broken = _records(lines)
    broken = [InputRowError(source=source, line=b.line, problem=b.problem) for b in broken]
    if not records:
        raise InputFileError(f"{source}: no header row")
    width = max(len(record) for record in records)
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, names=list(range(width)), dtype=str,
                            keep_default_na=False, index_col=False)
    except (pd.errors.ParserError, ValueError):
        frame = None
    if broken or frame is None or frame.shape != (len(records), width):
        frame = pd.DataFrame([record + [""] * (width - len(record)) for record in records])
    return frame.fillna(""), records, starts, broken


def read_acled_csv(path: Path | str, *, text: str | None = None) -> ReadResult:
    """Read an ACLED-style CSV export into incidents, skipping and reporting malformed rows.

    Parameters
    ----------
    path
        The file to read; with ``text`` given it only names the input in errors.
    text
        The CSV content itself, when it does not come from a file.

    Returns
    -------
    ReadResult
        One incident per good row with its physical line (header = 1), one error per bad row.
        Older ACLED event labels are mapped through :data:`LEGACY_EVENT_TYPES`.

    Raises
    ------
    InputFileError
        If the file cannot be read, is empty or lacks any of :data:`REQUIRED_COLUMNS`.

    Examples
    --------
    >>> csv_text = ("event_date,event_type,sub_event_type,actor1,latitude,longitude,"
    ...             "geo_precision,fatalities,notes,source\\n"
    ...             "16 November 2026,Remote violence,,Unidentified,29.16,16.14,,0,IED near Waddan.,X\\n")
    >>> result = read_acled_csv("sample.csv", text=csv_text)
    >>> result.incidents[0].event_type, result.line_numbers, result.errors
    ('Explosions/Remote violence', [2], [])
    """
    source = str(path)
    frame, records, starts, broken = _table(source, _load_text(path, text))
    table = frame.to_numpy(dtype=object).tolist()
    header = [str(name).strip().lower() for name in table[0][: len(records[0])]]
    if missing := [name for name in REQUIRED_COLUMNS if name not in header]:
        raise InputFileError(f"{source}: missing required column(s): {', '.join(missing)}")
    result = ReadResult(errors=list(broken))
    for line, record, values in zip(starts[1:], records[1:], table[1:], strict=True):
        if line == starts[1] and _is_hxl_row(values):
            continue
        if any(str(value).strip() for value in values[len(header):]):  # blank surplus fields are fine
            problem = f"row has {len(record)} fields but the header has {len(header)}"
            result.errors.append(InputRowError(source=source, line=line, problem=problem))
            continue
        row: defaultdict[str, str] = defaultdict(str)
        for name, value in zip(header, values, strict=False):
            row.setdefault(name, str(value).strip())  # the first of two same-named columns wins
        try:
            result.incidents.append(_incident_from_row(row))
            result.line_numbers.append(line)
        except ValueError as exc:
            result.errors.append(InputRowError(source=source, line=line, problem=str(exc)))
    return result


def read_incident_jsonl(path: Path | str, *, text: str | None = None) -> ReadResult:
    """Read JSON Lines of incidents, skipping blank lines and reporting bad ones.

    Each non-blank line must be one JSON object that validates as an ``Incident``; ``path`` and
    ``text`` are as for :func:`read_acled_csv`. A bad line's problem is pydantic's first error.

    Examples
    --------
    >>> error = read_incident_jsonl("x.jsonl", text='\\n{"event_type": "Battles"}').errors[0]
    >>> error.line, error.problem
    (2, 'date: Field required')
    """
    source = str(path)
    result = ReadResult()
    for number, line in enumerate(_load_text(path, text).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            result.incidents.append(Incident.model_validate(json.loads(line)))
            result.line_numbers.append(number)
        except json.JSONDecodeError as exc:
            problem = f"not JSON: {exc.msg} at column {exc.colno}"
            result.errors.append(InputRowError(source=source, line=number, problem=problem))
        except ValidationError as exc:
            result.errors.append(InputRowError(source=source, line=number, problem=_first_problem(exc)))
    return result


def sniff_format(path: Path | str) -> str:
    """Guess an input's format, ``acled``, ``jsonl``, ``rss`` or ``text``, from its suffix, then content.

    Otherwise ``{`` first in a ``.json`` file means JSON Lines, and ``<?xml``, ``<rss`` or ``<feed`` a feed.

    Examples
    --------
    >>> [sniff_format(name) for name in ("a.CSV", "b.ndjson", "c.atom", "d.xml")]
    ['acled', 'jsonl', 'rss', 'rss']
    """
    suffix = Path(str(path)).suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return "text"
    if suffix == ".json" and head.startswith("{"):
        return "jsonl"
    return "rss" if head.startswith(("<?xml", "<rss", "<feed")) else "text"
