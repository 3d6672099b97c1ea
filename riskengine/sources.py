"""Sources of reports for the scheduler: a folder of files, an ACLED export, an RSS or Atom feed.

Each source is polled on its own interval. ``fetch`` takes the state the caller kept from the last
poll and returns the reports that are new or changed since, with the state to keep for the next
poll. Sources never read the clock and never build their own HTTP client: the caller passes one in.
Deduplicating reports across polls is the caller's job (by ``(source, key)`` and content hash).

Hostile or broken input never stalls a source. ``poll_source`` is the one place where a failure of
one file or one item (reading it, parsing it, or the caller's ingest of it, whatever the exception)
becomes a logged, skipped item: the rest goes on, and the file is remembered in ``SourceState.seen``
as failed, with its error, until it changes. Every source has byte limits (``max_*`` in its config):
a feed's body before and after decompression, a folder's file, one report's text. A feed's
``timeout`` bounds the whole request (connect and every read), not each read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import io
import json
import logging
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import feedparser
import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from riskengine.errors import RiskEngineError
from riskengine.structured import sniff_format

__all__ = ["AcledSource", "AcledSourceConfig", "FeedSource", "FeedSourceConfig", "Fetched", "FetchedReport",
           "FolderSource", "FolderSourceConfig", "ItemFailure", "PollResult", "Source", "SourceConfig", "SourceError",
           "SourceState", "build_source", "feed_items", "html_to_text", "parse_duration", "parse_size",
           "poll_source"]

log = logging.getLogger(__name__)

_DURATION = re.compile("".join(rf"(?:(\d+(?:\.\d*)?|\.\d+)\s*{unit}\s*)?" for unit in "dhms"))
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0)  # d, h, m, s
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "section", "article",
               "h1", "h2", "h3", "h4", "h5", "h6"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_ENTRY_FIELDS = {"title", "summary", "content", "link", "id"}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30}
_DECOMPRESS_STEP = 1 << 20  # at most this much decompressed output at a time
_FAILED = " failed: "  # in a ``seen`` value: "<fingerprint> failed: <error>"

#: Default byte limits (each configurable per source).
MAX_FEED_BYTES = 10_000_000  # a feed's body as sent (compressed)
MAX_FEED_DECODED_BYTES = 50_000_000  # a feed's body once decompressed
MAX_FILE_BYTES = 20_000_000  # one file of a folder, or an ACLED export
MAX_REPORT_BYTES = 2_000_000  # one text report (a feed entry, a text file) handed to extraction


@dataclass(frozen=True)
class FetchedReport:
    """One report a source returned, ready for the caller to store (see ``riskengine.store.ReportIn``)."""

    source: str
    key: str
    format: str
    text: str
    title: str | None = None
    url: str | None = None
    published: dt.date | None = None
    reliability: str | None = None
    origin: str | None = None  # the ``SourceState.seen`` entry (a file) this report came from, if any


@dataclass
class SourceState:
    """What a source remembers between polls; the caller persists it.

    ``etag`` and ``last_modified`` are a feed's HTTP validators; ``seen`` maps a file (its path relative
    to the folder) to the ``"mtime_ns:size"`` fingerprint it had when last read, followed by
    ``" failed: <error>"`` when reading or ingesting it failed (it is not tried again until it changes).
    A feed item whose ingest failed is kept there too, under its key, with a hash of its text.
    """

    etag: str | None = None
    last_modified: str | None = None
    seen: dict[str, str] = field(default_factory=dict)


#: What ``fetch`` returns: the new or changed reports, and the state to keep for the next poll.
Fetched = tuple[list[FetchedReport], SourceState]


class SourceError(RiskEngineError, RuntimeError):
    """A source that cannot be polled; one line naming the source and what failed."""

    def __init__(self, kind: str, name: str, problem: str):
        self.kind, self.name, self.problem = kind, name, problem
        super().__init__(f"{kind} {name}: {problem}")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"90s"``, ``"5m"``, ``"1h30m"`` or ``"2d"``.

    Units are ``d``, ``h``, ``m`` and ``s``, each at most once and largest first; numbers may have
    decimals. The total must be positive.

    Examples
    --------
    >>> [parse_duration(text) for text in ("90s", "5m", "1h", "1h30m", "2d", "0.5s")]
    [90.0, 300.0, 3600.0, 5400.0, 172800.0, 0.5]
    >>> parse_duration("5 minutes")
    Traceback (most recent call last):
    ...
    ValueError: bad duration '5 minutes': expected numbers with units d, h, m, s (e.g. '90s', '5m', '1h30m')
    """
    match = _DURATION.fullmatch(str(text).strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}: expected numbers with units d, h, m, s (e.g. '90s', '5m', '1h30m')")
    total = sum(float(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if n)
    if total <= 0:
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return total


def parse_size(value: int | str) -> int:
    """Bytes in a size such as ``"10MB"``, ``"512k"``, ``"2MiB"`` or ``1000`` (a positive number).

    Examples
    --------
    >>> [parse_size(v) for v in (1000, "10MB", "512k", "2MiB", "1.5 GB")]
    [1000, 10000000, 512000, 2097152, 1500000000]
    """
    match = _SIZE.fullmatch(str(value).strip())
    unit = (match.group(2) or "").lower() if match else ""
    if match is None or unit not in _SIZE_UNITS or isinstance(value, bool):
        raise ValueError(f"bad size {value!r}: expected a number of bytes, or with a unit (e.g. '512kB', '10MB')")
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"bad size {value!r}: must be more than zero")
    return size


def _mb(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 100_000 else f"{size} bytes"


@dataclass(frozen=True)
class ItemFailure:
    """One file or item of a source that was skipped; ``message`` is one line naming it."""

    source: str
    item: str
    message: str
    transient: bool = False  # an OSError (a file gone or locked): tried again next turn

    @property
    def error(self) -> str:
        """The message without the item's name: ``"line 2: ValueError: ..."`` or ``"not UTF-8 (...)"``."""
        return self.message.removeprefix(self.item).lstrip(", ").removeprefix(": ")


def _failure_line(exc: BaseException) -> int | None:
    """The line an error says it is about (InputRowError, JSON, CSV and XML errors carry one), if any."""
    for attr in ("line", "lineno", "line_number"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    if callable(getattr(exc, "getLineNumber", None)):  # xml.sax
        try:
            return int(exc.getLineNumber())
        except Exception:  # noqa: BLE001 - best effort
            return None
    return None


def _describe(exc: BaseException) -> str:
    """One line for an exception: ours as they are, anyone else's with its class name."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if isinstance(exc, SourceError):
        return exc.problem
    if isinstance(exc, RiskEngineError):
        return text
    return f"{exc.__class__.__name__}: {text}"


@contextmanager
def _isolated(kind: str, name: str, item: str, failures: list[ItemFailure]) -> Iterator[None]:
    """Run one file's or item's work; any exception becomes a logged ``ItemFailure`` and the caller goes on.

    The one place where a per-file or per-item failure turns into a skipped item. The log line names
    the source, the file or item, and the line when the error carries one.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - whatever one item raises must not stop the others
        line = _failure_line(exc)
        named = line is None or f"line {line}" in str(exc) or f":{line}:" in str(exc)
        where = item if named else f"{item}, line {line}"
        message = f"{where}: {_describe(exc)}"
        log.warning("%s %s: skipped %s", kind, name, message)
        failures.append(ItemFailure(name, item, message, transient=isinstance(exc, OSError)))


@dataclass
class PollResult:
    """What ``poll_source`` did: how many reports were ingested, what they gave, and what was skipped."""

    state: SourceState
    ingested: list[tuple[FetchedReport, Any]] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)


def poll_source(source: Source, state: SourceState, *, client: httpx.Client | None,
                ingest: Callable[[FetchedReport], Any],
                known: Callable[[FetchedReport], bool] = lambda report: False) -> PollResult:
    """Fetch one source and hand each new report to ``ingest``, each in isolation.

    A ``SourceError`` of the whole source (a missing folder, an unreachable feed) propagates. Any
    exception of one report's ``ingest`` is logged naming the source, the file or item (and the line
    when the error has one); the others go on, and the state still advances: the file the report came
    from (or, for a feed item, the item) is remembered as failed with its error, and is not tried
    again until it changes. Reports for which ``known`` is true are skipped.
    """
    reports, new_state = source.fetch(state, client=client)
    kind = getattr(source, "kind", "source")
    seen = dict(new_state.seen)
    result = PollResult(dataclasses.replace(new_state, seen=seen))
    result.failures.extend(getattr(source, "last_failures", []))  # the files or entries fetch itself skipped
    for report in reports:
        if known(report):
            continue
        failed: list[ItemFailure] = []
        with _isolated(kind, source.name, report.origin or report.key, failed):
            result.ingested.append((report, ingest(report)))
        if failed:
            result.failures.extend(failed)
            error = failed[0].error
            if report.origin is not None:
                fingerprint = seen.get(report.origin, "").split(_FAILED, 1)[0]
                seen[report.origin] = f"{fingerprint}{_FAILED}{error}"
            else:
                seen[report.key] = f"{_text_hash(report.text)}{_FAILED}{error}"
    return result


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _unchanged(seen_value: str | None, fingerprint: str) -> bool:
    return seen_value is not None and seen_value.split(_FAILED, 1)[0] == fingerprint


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._tag(tag, 1)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, -1)

    def _tag(self, tag: str, step: int) -> None:
        if tag in ("script", "style"):
            self.skipping = max(0, self.skipping + step)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities resolved, one paragraph a line.

    Examples
    --------
    >>> html_to_text("<p>Road <b>closed</b> near Sirte &amp; Waddan.</p><p>Traffic  diverted.</p>")
    'Road closed near Sirte & Waddan.\\nTraffic diverted.'
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def _date_from(value: Any, fallback: Any = None) -> dt.date | None:
    """The date of an RFC 822 or ISO 8601 string in its writer's offset, else of ``fallback``, else None.

    ``fallback`` is a UTC ``time.struct_time``, as feedparser gives it.
    """
    for parse in (email.utils.parsedate_to_datetime, dt.datetime.fromisoformat):
        try:
            return parse(value.strip()).date()
        except (AttributeError, TypeError, ValueError, IndexError):
            pass
    return dt.date(*fallback[:3]) if fallback else None


def _detail_text(detail: Any, value: str) -> str:
    kind = (detail or {}).get("type", "text/html")
    return html_to_text(value) if kind in _HTML_TYPES else " ".join(value.split())


class _TooLarge(RiskEngineError, ValueError):
    """A report over its byte limit (the item is skipped, the source goes on)."""


def _check_text(text: str, max_report_bytes: int) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_report_bytes:
        raise _TooLarge(f"report text of {_mb(size)} is over the limit of {_mb(max_report_bytes)} (max_report_bytes)")


def _entry_report(entry: Any, source: str, reliability: str | None, key_prefix: str = "",
                  max_report_bytes: int = MAX_REPORT_BYTES) -> FetchedReport:
    """A report from one feedparser entry: title, then content (else summary) as plain text."""
    title = _detail_text(entry.get("title_detail"), entry.get("title", "")) or None
    contents = entry.get("content") or []
    if contents:
        body = "\n".join(_detail_text(part, part.get("value", "")) for part in contents)
    else:
        body = _detail_text(entry.get("summary_detail"), entry.get("summary", ""))
    key = entry.get("id") or entry.get("link")
    if not key:
        key = hashlib.sha256(f"{entry.get('title', '')}\n{entry.get('summary', '')}".encode(
            "utf-8", "surrogatepass")).hexdigest()
    published = (_date_from(entry.get("published"), entry.get("published_parsed"))
                 or _date_from(entry.get("updated"), entry.get("updated_parsed")))
    text = "\n\n".join(part for part in (title, body) if part)
    _check_text(text, max_report_bytes)
    return FetchedReport(source=source, key=key_prefix + key, format="text", text=text, title=title,
                         url=entry.get("link") or None, published=published, reliability=reliability)


def feed_items(text: str | bytes, source_name: str, *, reliability: str | None = None, key_prefix: str = "",
               content_type: str | None = None, location: str | None = None,
               max_report_bytes: int = MAX_REPORT_BYTES, failures: list[ItemFailure] | None = None,
               kind: str = "feed") -> list[FetchedReport]:
    """The reports of an RSS or Atom document (a feed's body, or a feed saved to a file), one per entry.

    Never raises anything but ``SourceError`` (a document with no entries that is not a feed, or is
    broken before its first entry). An entry that cannot be read (or whose text is over
    ``max_report_bytes``) is logged, added to ``failures`` and skipped; the others are returned.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    headers = {"content-type": content_type or "application/xml"}
    if location:
        headers["content-location"] = location
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        entries = [entry for entry in parsed.entries if _ENTRY_FIELDS & entry.keys()]  # a broken tail gives {}
        bozo, version, bozo_exception = parsed.bozo, parsed.get("version"), parsed.get("bozo_exception", "")
    except Exception as exc:  # noqa: BLE001 - a parser crash on hostile input is a malformed feed
        raise SourceError(kind, source_name, f"malformed feed: {_describe(exc)}") from None
    if not entries and (bozo or not version):
        reason = re.sub(r"^<unknown>:(\d+):(\d+): ", r"line \1, column \2: ", " ".join(str(bozo_exception).split()))
        raise SourceError(kind, source_name, f"malformed feed: {reason or 'not an RSS or Atom document'}")
    if bozo:
        log.warning("%s %s: feed not well-formed (%s)", kind, source_name, " ".join(str(bozo_exception).split()))
    failures = failures if failures is not None else []
    reports = []
    for number, entry in enumerate(entries, 1):
        label = f"{key_prefix}entry {number}" if key_prefix else f"entry {number}"
        with _isolated(kind, source_name, label, failures):
            reports.append(_entry_report(entry, source_name, reliability, key_prefix, max_report_bytes))
    return reports


class _SourceConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    reliability: Literal["A", "B", "C", "D", "E", "F"] | None = None  # the Admiralty grade of the source
    max_report_bytes: int | str = MAX_REPORT_BYTES  # one text report's text

    @field_validator("interval", "timeout", check_fields=False)
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("max_report_bytes", "max_file_bytes", "max_bytes", "max_decoded_bytes", check_fields=False)
    @classmethod
    def _size(cls, value: int | str) -> int:
        return parse_size(value)


class FolderSourceConfig(_SourceConfigBase):
    """Files dropped into a folder: ``.txt``/``.md`` text, ``.json``/``.jsonl`` incidents, ``.csv`` ACLED."""

    type: Literal["folder"]
    path: str
    interval: str = "5m"
    pattern: str = "*"
    max_file_bytes: int | str = MAX_FILE_BYTES


class FeedSourceConfig(_SourceConfigBase):
    """An RSS 2.0 or Atom feed fetched over HTTP(S); ``timeout`` bounds the whole request."""

    type: Literal["feed"]
    url: str
    interval: str = "10m"
    timeout: str = "10s"
    max_bytes: int | str = MAX_FEED_BYTES  # the body as sent (compressed)
    max_decoded_bytes: int | str = MAX_FEED_DECODED_BYTES  # the body once decompressed

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("a feed URL starts with http:// or https://")
        return value


class AcledSourceConfig(_SourceConfigBase):
    """One ACLED-style CSV file, read again whenever it changes."""

    type: Literal["acled"]
    path: str
    interval: str = "1h"
    max_file_bytes: int | str = MAX_FILE_BYTES


SourceConfig = Annotated[FolderSourceConfig | FeedSourceConfig | AcledSourceConfig, Field(discriminator="type")]


class Source(Protocol):
    """What the scheduler polls: a name, an interval, and ``fetch``."""

    name: str
    interval_seconds: float

    def fetch(self, state: SourceState, *, client: httpx.Client) -> Fetched:
        """The reports new or changed since ``state``, and the state to keep for the next poll."""
        ...


def _read_file(kind: str, name: str, path: Path, max_file_bytes: int) -> str:
    """A file's text, its size checked before it is read; one-line ``SourceError`` when it cannot be."""
    size = path.stat().st_size
    if size > max_file_bytes:
        raise SourceError(kind, name, f"file {path.name} of {_mb(size)} is over the limit of {_mb(max_file_bytes)}"
                                      " (max_file_bytes)")
    with path.open("rb") as handle:
        data = handle.read(max_file_bytes + 1)  # it may have grown since
    if len(data) > max_file_bytes:
        raise SourceError(kind, name, f"file {path.name} is over the limit of {_mb(max_file_bytes)} (max_file_bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(kind, name, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None


class FolderSource:
    """The files of a folder matching a glob pattern; each read once, and again whenever it changes.

    Names starting with ``.`` (editor and temporary files) are skipped, and files gone from the folder
    leave ``seen``. A file that cannot be read (not UTF-8, over ``max_file_bytes``, unparsable, any
    error) is logged naming it and skipped until it changes; it never blocks the others. A ``.json``
    object with a ``"text"`` is a text report (its ``title``, ``url`` and ``published`` kept); other
    JSON objects are incidents. A feed file (``.xml``, ``.rss``, ``.atom``) gives one report per entry.
    """

    kind = "folder"

    def __init__(self, name: str, folder: Path, *, interval_seconds: float, pattern: str = "*",
                 reliability: str | None = None, max_file_bytes: int = MAX_FILE_BYTES,
                 max_report_bytes: int = MAX_REPORT_BYTES):
        self.name, self.folder, self.pattern = name, folder, pattern
        self.interval_seconds, self.reliability = interval_seconds, reliability
        self.max_file_bytes, self.max_report_bytes = max_file_bytes, max_report_bytes
        self.last_failures: list[ItemFailure] = []  # the files the last fetch skipped

    def fetch(self, state: SourceState, *, client: httpx.Client | None = None) -> Fetched:
        if not self.folder.is_dir():
            raise SourceError(self.kind, self.name, f"folder {self.folder} does not exist")
        files = sorted((path.relative_to(self.folder).as_posix(), path) for path in self.folder.glob(self.pattern)
                       if path.is_file() and not any(p.startswith(".") for p in path.relative_to(self.folder).parts))
        reports: list[FetchedReport] = []
        seen: dict[str, str] = {}  # only files still there
        self.last_failures = failures = []
        for rel, path in files:
            fingerprint = None
            failed: list[ItemFailure] = []
            with _isolated(self.kind, self.name, rel, failed):
                fingerprint = _fingerprint(path)
                if _unchanged(state.seen.get(rel), fingerprint):
                    seen[rel] = state.seen[rel]
                    continue
                text = _read_file(self.kind, self.name, path, self.max_file_bytes)
                reports.extend(self._reports(rel, path, text, failures))
                seen[rel] = fingerprint
            if failed:
                failures.extend(failed)
                if fingerprint is not None and not failed[0].transient:
                    seen[rel] = f"{fingerprint}{_FAILED}{failed[0].error}"
        return reports, dataclasses.replace(state, seen=seen)

    def _reports(self, rel: str, path: Path, text: str, failures: list[ItemFailure]) -> list[FetchedReport]:
        fmt = sniff_format(path)
        base = {"source": self.name, "key": rel, "reliability": self.reliability, "origin": rel}
        if fmt == "rss":
            found = feed_items(text, self.name, reliability=self.reliability, key_prefix=f"{rel}#",
                               max_report_bytes=self.max_report_bytes, failures=failures, kind=self.kind)
            return [dataclasses.replace(report, origin=rel) for report in found]
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None  # perhaps JSON lines under a .json name: the incident reader reports bad lines
            if isinstance(data, dict) and isinstance(data.get("text"), str):
                title, url = data.get("title"), data.get("url")
                _check_text(data["text"], self.max_report_bytes)
                return [FetchedReport(**base, format="text", text=data["text"],
                                      title=title if isinstance(title, str) else None,
                                      url=url if isinstance(url, str) else None,
                                      published=_date_from(data.get("published")))]
            items = [data] if isinstance(data, dict) else data
            if isinstance(items, list) and all(isinstance(item, dict) for item in items):
                text = "\n".join(json.dumps(item, ensure_ascii=False) for item in items)  # one incident a line
            fmt = "jsonl"
        fmt = fmt if fmt in ("acled", "jsonl") else "text"
        if fmt == "text":
            _check_text(text, self.max_report_bytes)
        return [FetchedReport(**base, format=fmt, text=text)]


class AcledSource:
    """One ACLED-style CSV file, returned whole whenever its fingerprint changes."""

    kind = "acled"

    def __init__(self, name: str, path: Path, *, interval_seconds: float, reliability: str | None = None,
                 max_file_bytes: int = MAX_FILE_BYTES):
        self.name, self.path = name, path
        self.interval_seconds, self.reliability, self.max_file_bytes = interval_seconds, reliability, max_file_bytes

    def fetch(self, state: SourceState, *, client: httpx.Client | None = None) -> Fetched:
        try:
            fingerprint = _fingerprint(self.path)
            if _unchanged(state.seen.get(self.path.name), fingerprint):
                return [], state
            text = _read_file(self.kind, self.name, self.path, self.max_file_bytes)
        except SourceError as exc:
            raise SourceError(self.kind, self.name, f"unreadable file {self.path}: {exc.problem}") from None
        except OSError as exc:
            raise SourceError(self.kind, self.name, f"unreadable file {self.path}: {exc.strerror}") from None
        report = FetchedReport(source=self.name, key=f"{self.path.name}@{fingerprint}", format="acled", text=text,
                               reliability=self.reliability, origin=self.path.name)
        return [report], dataclasses.replace(state, seen={self.path.name: fingerprint})


class _BoundedBody:
    """A response body collected chunk by chunk, decompressed as it comes, never past its limits."""

    def __init__(self, source: FeedSource, encoding: str):
        self.source, self.raw, self.decoded, self.parts = source, 0, 0, []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.decompressor = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self.decompressor = zlib.decompressobj(32 + zlib.MAX_WBITS)  # a gzip or zlib header
        else:
            raise self.source.error(f"unsupported Content-Encoding {encoding!r} from {source.url}")

    def add(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.source.max_bytes:
            raise self.source.error(f"response body over the limit of {_mb(self.source.max_bytes)} (max_bytes) "
                                    f"from {self.source.url}")
        if self.decompressor is None:
            self._out(chunk)
            return
        data = chunk
        try:
            while data and not self.decompressor.eof:
                room = min(_DECOMPRESS_STEP, self.source.max_decoded_bytes - self.decoded + 1)
                self._out(self.decompressor.decompress(data, room))
                data = self.decompressor.unconsumed_tail
        except zlib.error as exc:
            raise self.source.error(f"cannot decompress the body from {self.source.url}: {exc}") from None

    def _out(self, data: bytes) -> None:
        self.decoded += len(data)
        if self.decoded > self.source.max_decoded_bytes:
            raise self.source.error(f"decompressed body over the limit of {_mb(self.source.max_decoded_bytes)} "
                                    f"(max_decoded_bytes) from {self.source.url}")
        self.parts.append(data)

    def body(self) -> bytes:
        return b"".join(self.parts)


class FeedSource:
    """An RSS 2.0 or Atom feed, fetched with a conditional GET; every entry of a changed feed is returned.

    ``timeout_seconds`` bounds the whole request, connect and every read: a server that drips its
    answer is given up on after it. The body is counted as it streams in, and decompressed as it
    comes: over ``max_bytes`` as sent, or ``max_decoded_bytes`` decompressed, the poll fails at once.
    """

    kind = "feed"

    def __init__(self, name: str, url: str, *, interval_seconds: float, timeout_seconds: float,
                 reliability: str | None = None, max_bytes: int = MAX_FEED_BYTES,
                 max_decoded_bytes: int = MAX_FEED_DECODED_BYTES, max_report_bytes: int = MAX_REPORT_BYTES):
        self.name, self.url = name, url
        self.interval_seconds, self.timeout_seconds, self.reliability = interval_seconds, timeout_seconds, reliability
        self.max_bytes, self.max_decoded_bytes, self.max_report_bytes = max_bytes, max_decoded_bytes, max_report_bytes
        self.last_failures: list[ItemFailure] = []

    def error(self, problem: str) -> SourceError:
        return SourceError(self.kind, self.name, problem)

    def _timeout(self) -> SourceError:
        return self.error(f"timeout after {self.timeout_seconds:g}s from {self.url}")

    def fetch(self, state: SourceState, *, client: httpx.Client) -> Fetched:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
                   "Accept-Encoding": "gzip, deflate"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        self.last_failures = []
        deadline = time.monotonic() + self.timeout_seconds
        outcome: dict[str, Any] = {}
        cancelled = threading.Event()
        try:
            request = client.build_request("GET", self.url, headers=headers,
                                           timeout=httpx.Timeout(self.timeout_seconds))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.error(f"cannot fetch {self.url}: {exc}") from None
        timeouts = request.extensions.setdefault("timeout", {})  # httpcore reads it at every read of the body
        streams: list[Any] = []  # the connection(s) it opened, to cut if it is given up on

        def trace(event: str, info: dict[str, Any]) -> None:  # httpcore's "trace" request extension
            if event.endswith((".connect_tcp.complete", ".start_tls.complete")) and info.get("return_value"):
                streams.append(info["return_value"])

        request.extensions["trace"] = trace

        def run() -> None:
            try:
                outcome["value"] = self._get(client, request, deadline, cancelled)
            except BaseException as exc:  # noqa: BLE001 - handed to the polling thread
                outcome["error"] = exc

        # The request runs in a thread of its own so that the deadline holds even while a read (or the
        # headers) drips in; a thread given up on stops at its next read, whose timeout is what was left.
        worker = threading.Thread(target=run, name=f"feed {self.name}", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
        if worker.is_alive():
            cancelled.set()
            timeouts.update(connect=0.001, read=0.001, write=0.001, pool=0.001)  # its next read gives up
            for stream in streams:  # and a read in progress (headers dripping in) ends now
                with contextlib.suppress(Exception):
                    stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            raise self._timeout()
        if "error" in outcome:
            raise outcome["error"]
        status, response_headers, body, url = outcome["value"]
        if status == 304:
            return [], state
        if not 200 <= status < 300:
            raise self.error(f"HTTP {status} from {self.url}")
        self.last_failures = failures = []
        reports = feed_items(body, self.name, reliability=self.reliability,
                             content_type=response_headers.get("content-type", "application/xml"), location=url,
                             max_report_bytes=self.max_report_bytes, failures=failures)
        # Items whose ingest failed before (same text) are not handed out again; their memory stays while
        # they are in the feed.
        fresh = [r for r in reports if not _unchanged(state.seen.get(r.key), _text_hash(r.text))]
        present = {r.key for r in reports}
        seen = {key: value for key, value in state.seen.items() if key in present}
        return fresh, dataclasses.replace(state, etag=response_headers.get("etag"),
                                          last_modified=response_headers.get("last-modified"), seen=seen)

    def _get(self, client: httpx.Client, request: httpx.Request, deadline: float,
             cancelled: threading.Event) -> tuple[int, httpx.Headers, bytes, str]:
        try:
            response = client.send(request, stream=True, follow_redirects=True)
        except httpx.TimeoutException:
            raise self._timeout() from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.error(f"cannot fetch {self.url}: {exc}") from None
        try:
            if response.status_code == 304 or not response.is_success:
                return response.status_code, response.headers, b"", str(response.url)
            length = response.headers.get("content-length", "")
            if length.strip().isdigit() and int(length) > self.max_bytes:
                raise self.error(f"response body of {_mb(int(length))} (Content-Length) is over the limit of "
                                 f"{_mb(self.max_bytes)} (max_bytes) from {self.url}")
            body = _BoundedBody(self, response.headers.get("content-encoding", ""))
            timeouts = response.request.extensions.get("timeout")
            for chunk in response.iter_raw():  # as it comes: no buffering up to a chunk size
                left = deadline - time.monotonic()
                if cancelled.is_set() or left <= 0:
                    raise self._timeout()
                if isinstance(timeouts, dict):  # each later read may take only what is left of the deadline
                    timeouts["read"] = max(0.01, left)
                body.add(chunk)
            return response.status_code, response.headers, body.body(), str(response.url)
        except httpx.TimeoutException:
            raise self._timeout() from None
        except httpx.HTTPError as exc:
            raise self.error(f"cannot fetch {self.url}: {exc}") from None
        finally:
            response.close()


def build_source(config: SourceConfig, base_dir: Path) -> Source:
    """The source a config describes; a relative ``path`` is taken from ``base_dir`` (the config's folder).

    Examples
    --------
    >>> source = build_source(FeedSourceConfig(type="feed", name="news", url="https://example.org/rss"), Path("."))
    >>> source.name, source.interval_seconds, source.timeout_seconds, source.max_bytes
    ('news', 600.0, 10.0, 10000000)
    """
    interval = parse_duration(config.interval)
    report = parse_size(config.max_report_bytes)
    if isinstance(config, FeedSourceConfig):
        return FeedSource(config.name, config.url, interval_seconds=interval,
                          timeout_seconds=parse_duration(config.timeout), reliability=config.reliability,
                          max_bytes=parse_size(config.max_bytes),
                          max_decoded_bytes=parse_size(config.max_decoded_bytes),
                          max_report_bytes=report)
    path = Path(config.path).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if isinstance(config, FolderSourceConfig):
        return FolderSource(config.name, path, interval_seconds=interval, pattern=config.pattern,
                            reliability=config.reliability, max_file_bytes=parse_size(config.max_file_bytes),
                            max_report_bytes=report)
    if isinstance(config, AcledSourceConfig):
        return AcledSource(config.name, path, interval_seconds=interval, reliability=config.reliability,
                           max_file_bytes=parse_size(config.max_file_bytes))
    raise TypeError(f"not a source config: {config!r}")
