"""Sources of reports for the scheduler: a folder of files, an ACLED export, an RSS or Atom feed.

Each source is polled on its own interval. ``fetch`` takes the state the caller kept from the last
poll and returns the reports that are new or changed since, with the state to keep for the next
poll. Sources never read the clock and never build their own HTTP client: the caller passes one in.
Deduplicating reports across polls is the caller's job (by ``(source, key)`` and content hash).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import io
import json
import logging
import re
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
           "FolderSource", "FolderSourceConfig", "Source", "SourceConfig", "SourceError", "SourceState",
           "build_source", "html_to_text", "parse_duration"]

log = logging.getLogger(__name__)

_DURATION = re.compile("".join(rf"(?:(\d+(?:\.\d*)?|\.\d+)\s*{unit}\s*)?" for unit in "dhms"))
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0)  # d, h, m, s
_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "section", "article",
               "h1", "h2", "h3", "h4", "h5", "h6"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_ENTRY_FIELDS = {"title", "summary", "content", "link", "id"}


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


@dataclass
class SourceState:
    """What a source remembers between polls; the caller persists it.

    ``etag`` and ``last_modified`` are a feed's HTTP validators; ``seen`` maps a file (its path relative
    to the folder) to the ``"mtime_ns:size"`` fingerprint it had when last read.
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


def _entry_report(entry: Any, source: str, reliability: str | None, key_prefix: str = "") -> FetchedReport:
    """A report from one feedparser entry: title, then content (else summary) as plain text."""
    title = _detail_text(entry.get("title_detail"), entry.get("title", "")) or None
    contents = entry.get("content") or []
    if contents:
        body = "\n".join(_detail_text(part, part.get("value", "")) for part in contents)
    else:
        body = _detail_text(entry.get("summary_detail"), entry.get("summary", ""))
    key = entry.get("id") or entry.get("link")
    if not key:
        key = hashlib.sha256(f"{entry.get('title', '')}\n{entry.get('summary', '')}".encode()).hexdigest()
    published = (_date_from(entry.get("published"), entry.get("published_parsed"))
                 or _date_from(entry.get("updated"), entry.get("updated_parsed")))
    text = "\n\n".join(part for part in (title, body) if part)
    return FetchedReport(source=source, key=key_prefix + key, format="text", text=text, title=title,
                         url=entry.get("link") or None, published=published, reliability=reliability)


class _SourceConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    reliability: Literal["A", "B", "C", "D", "E", "F"] | None = None  # the Admiralty grade of the source

    @field_validator("interval", "timeout", check_fields=False)
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class FolderSourceConfig(_SourceConfigBase):
    """Files dropped into a folder: ``.txt``/``.md`` text, ``.json``/``.jsonl`` incidents, ``.csv`` ACLED."""

    type: Literal["folder"]
    path: str
    interval: str = "5m"
    pattern: str = "*"


class FeedSourceConfig(_SourceConfigBase):
    """An RSS 2.0 or Atom feed fetched over HTTP(S)."""

    type: Literal["feed"]
    url: str
    interval: str = "10m"
    timeout: str = "10s"

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


SourceConfig = Annotated[FolderSourceConfig | FeedSourceConfig | AcledSourceConfig, Field(discriminator="type")]


class Source(Protocol):
    """What the scheduler polls: a name, an interval, and ``fetch``."""

    name: str
    interval_seconds: float

    def fetch(self, state: SourceState, *, client: httpx.Client) -> Fetched:
        """The reports new or changed since ``state``, and the state to keep for the next poll."""
        ...


class FolderSource:
    """The files of a folder matching a glob pattern; each read once, and again whenever it changes.

    Names starting with ``.`` (editor and temporary files) are skipped, and files gone from the folder
    leave ``seen``. A file that is not UTF-8 is logged and skipped until it changes; it never blocks the
    others. A ``.json`` object with a ``"text"`` is a text report (its ``title``, ``url`` and
    ``published`` kept); other JSON objects are incidents. A feed file (``.xml``, ``.rss``, ``.atom``)
    gives one report per entry.
    """

    kind = "folder"

    def __init__(self, name: str, folder: Path, *, interval_seconds: float, pattern: str = "*",
                 reliability: str | None = None):
        self.name, self.folder, self.pattern = name, folder, pattern
        self.interval_seconds, self.reliability = interval_seconds, reliability

    def fetch(self, state: SourceState, *, client: httpx.Client | None = None) -> Fetched:
        if not self.folder.is_dir():
            raise SourceError(self.kind, self.name, f"folder {self.folder} does not exist")
        files = sorted((path.relative_to(self.folder).as_posix(), path) for path in self.folder.glob(self.pattern)
                       if path.is_file() and not any(p.startswith(".") for p in path.relative_to(self.folder).parts))
        reports: list[FetchedReport] = []
        seen: dict[str, str] = {}  # only files still there
        for rel, path in files:
            try:
                fingerprint = _fingerprint(path)
                if state.seen.get(rel) == fingerprint:
                    seen[rel] = fingerprint
                    continue
                text = path.read_bytes().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                log.warning("%s %s: skipping %s: not UTF-8 (%s)", self.kind, self.name, path, exc.reason)
                seen[rel] = fingerprint
                continue
            except OSError as exc:
                log.warning("%s %s: skipping %s: cannot read it (%s)", self.kind, self.name, path, exc.strerror)
                continue
            seen[rel] = fingerprint
            reports.extend(self._reports(rel, path, text))
        return reports, dataclasses.replace(state, seen=seen)

    def _reports(self, rel: str, path: Path, text: str) -> list[FetchedReport]:
        fmt = sniff_format(path)
        base = {"source": self.name, "key": rel, "reliability": self.reliability}
        if fmt == "rss":
            parsed = feedparser.parse(io.BytesIO(text.encode()))
            return [_entry_report(entry, self.name, self.reliability, f"{rel}#") for entry in parsed.entries
                    if _ENTRY_FIELDS & entry.keys()]
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None  # perhaps JSON lines under a .json name: the incident reader reports bad lines
            if isinstance(data, dict) and isinstance(data.get("text"), str):
                title, url = data.get("title"), data.get("url")
                return [FetchedReport(**base, format="text", text=data["text"],
                                      title=title if isinstance(title, str) else None,
                                      url=url if isinstance(url, str) else None,
                                      published=_date_from(data.get("published")))]
            items = [data] if isinstance(data, dict) else data
            if isinstance(items, list) and all(isinstance(item, dict) for item in items):
                text = "\n".join(json.dumps(item, ensure_ascii=False) for item in items)  # one incident a line
            fmt = "jsonl"
        return [FetchedReport(**base, format=fmt if fmt in ("acled", "jsonl") else "text", text=text)]


class AcledSource:
    """One ACLED-style CSV file, returned whole whenever its fingerprint changes."""

    kind = "acled"

    def __init__(self, name: str, path: Path, *, interval_seconds: float, reliability: str | None = None):
        self.name, self.path = name, path
        self.interval_seconds, self.reliability = interval_seconds, reliability

    def fetch(self, state: SourceState, *, client: httpx.Client | None = None) -> Fetched:
        try:
            fingerprint = _fingerprint(self.path)
            if state.seen.get(self.path.name) == fingerprint:
                return [], state
            text = self.path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(self.kind, self.name, f"unreadable file {self.path}: not UTF-8 ({exc.reason})") from None
        except OSError as exc:
            raise SourceError(self.kind, self.name, f"unreadable file {self.path}: {exc.strerror}") from None
        report = FetchedReport(source=self.name, key=f"{self.path.name}@{fingerprint}", format="acled", text=text,
                               reliability=self.reliability)
        return [report], dataclasses.replace(state, seen={self.path.name: fingerprint})


class FeedSource:
    """An RSS 2.0 or Atom feed, fetched with a conditional GET; every entry of a changed feed is returned."""

    kind = "feed"

    def __init__(self, name: str, url: str, *, interval_seconds: float, timeout_seconds: float,
                 reliability: str | None = None):
        self.name, self.url = name, url
        self.interval_seconds, self.timeout_seconds, self.reliability = interval_seconds, timeout_seconds, reliability

    def fetch(self, state: SourceState, *, client: httpx.Client) -> Fetched:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        try:
            response = client.get(self.url, headers=headers, timeout=self.timeout_seconds, follow_redirects=True)
        except httpx.TimeoutException:
            problem = f"timeout after {self.timeout_seconds:g}s from {self.url}"
            raise SourceError(self.kind, self.name, problem) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceError(self.kind, self.name, f"cannot fetch {self.url}: {exc}") from None
        if response.status_code == 304:
            return [], state
        if not response.is_success:
            raise SourceError(self.kind, self.name, f"HTTP {response.status_code} from {self.url}")
        parsed = feedparser.parse(io.BytesIO(response.content), response_headers={
            "content-type": response.headers.get("content-type", "application/xml"),
            "content-location": str(response.url)})
        entries = [entry for entry in parsed.entries if _ENTRY_FIELDS & entry.keys()]  # a broken tail gives {}
        if not entries and (parsed.bozo or not parsed.get("version")):
            reason = re.sub(r"^<unknown>:(\d+):(\d+): ", r"line \1, column \2: ", str(parsed.get("bozo_exception", "")))
            reason = reason or "not an RSS or Atom document"
            raise SourceError(self.kind, self.name, f"malformed feed: {reason}")
        if parsed.bozo:
            log.warning("%s %s: feed not well-formed (%s)", self.kind, self.name, parsed.bozo_exception)
        reports = [_entry_report(entry, self.name, self.reliability) for entry in entries]
        return reports, dataclasses.replace(state, etag=response.headers.get("etag"),
                                            last_modified=response.headers.get("last-modified"))


def build_source(config: SourceConfig, base_dir: Path) -> Source:
    """The source a config describes; a relative ``path`` is taken from ``base_dir`` (the config's folder).

    Examples
    --------
    >>> source = build_source(FeedSourceConfig(type="feed", name="news", url="https://example.org/rss"), Path("."))
    >>> source.name, source.interval_seconds, source.timeout_seconds
    ('news', 600.0, 10.0)
    """
    interval = parse_duration(config.interval)
    if isinstance(config, FeedSourceConfig):
        return FeedSource(config.name, config.url, interval_seconds=interval,
                          timeout_seconds=parse_duration(config.timeout), reliability=config.reliability)
    path = Path(config.path).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if isinstance(config, FolderSourceConfig):
        return FolderSource(config.name, path, interval_seconds=interval, pattern=config.pattern,
                            reliability=config.reliability)
    if isinstance(config, AcledSourceConfig):
        return AcledSource(config.name, path, interval_seconds=interval, reliability=config.reliability)
    raise TypeError(f"not a source config: {config!r}")
