"""Report sources against real parts: a local HTTP server with RSS and Atom feeds, real folders and files."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from riskengine.sources import (
    AcledSource,
    FeedSource,
    FeedSourceConfig,
    FolderSource,
    SourceConfig,
    SourceError,
    SourceState,
    build_source,
    parse_duration,
)

UTC = dt.UTC
LIBYA = dt.timezone(dt.timedelta(hours=2))


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    html: str
    published: dt.datetime
    has_guid: bool = True


RSS_ITEMS = [
    Item("rss-1", "Armed men stop fuel tankers west of Abugrein",
         "<p>Drivers said armed men set up a <b>checkpoint</b> on the coastal road west of Abugrein on Sunday "
         "and turned back fuel tankers &amp; lorries bound for Sirte.</p><p>Traffic resumed by nightfall.</p>",
         dt.datetime(2026, 11, 15, 8, 30, tzinfo=UTC)),
    Item("rss-2", "Road to Waddan shut after exchange of fire",
         "<p>Local sources reported shooting between two armed groups <i>30 km south of Sirte</i>; the road to "
         "Waddan stayed closed for several hours.</p>",
         dt.datetime(2026, 11, 16, 14, 0, tzinfo=UTC), has_guid=False),
    Item("rss-3", "Landmine found beside the Shwayrif road",
         "<div>A road crew found a landmine buried beside the road between Shwayrif and Brak late on Monday."
         "<br/>Engineers removed it without casualties.</div>",
         dt.datetime(2026, 11, 17, 0, 30, tzinfo=LIBYA)),  # 16 November in UTC, 17 November where it was written
]
ATOM_ITEMS = [
    Item("urn:roads:atom-1", "Goods convoy fired on near Bani Walid",
         "<p>Unidentified gunmen shot at a goods convoy on the road from Bani Walid to Shwayrif on Monday, "
         "wounding two drivers.</p>",
         dt.datetime(2026, 11, 16, 9, 15, tzinfo=UTC)),
    Item("urn:roads:atom-2", "Checkpoint at the entrance of Hun reopened",
         "<p>Security forces reopened the checkpoint at the <b>entrance of Hun</b> after a two-day closure.</p>",
         dt.datetime(2026, 11, 16, 18, 45, tzinfo=UTC)),
    Item("urn:roads:atom-3", "Drone strike reported in the desert east of Brak",
         "<p>Residents reported a drone strike on a pickup in the desert east of Brak &amp; no group claimed it."
         "</p>",
         dt.datetime(2026, 11, 17, 0, 30, tzinfo=LIBYA)),
]
NEW_ITEM = Item("urn:roads:new-4", "Bus passengers robbed on the Sebha - Ubari road",
                "<p>Bandits stopped a passenger bus on the road from Sebha to Ubari late on Tuesday and robbed the "
                "travellers, a hospital official said.</p>",
                dt.datetime(2026, 11, 17, 21, 10, tzinfo=UTC))
MALFORMED = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Libya roads</title><item><title'


def render(kind: str, base: str, items: list[Item]) -> bytes:
    if kind == "rss":
        entries = "".join(
            f"<item><title>{escape(item.title)}</title><link>{base}/news/{item.guid}</link>"
            + (f'<guid isPermaLink="false">{item.guid}</guid>' if item.has_guid else "")
            + f"<pubDate>{email.utils.format_datetime(item.published)}</pubDate>"
            f"<description><![CDATA[{item.html}]]></description></item>" for item in items)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Libya Roads Watch'
                f"</title><link>{base}/</link><description>Road incidents</description>{entries}</channel></rss>"
                ).encode()
    entries = "".join(
        f'<entry><title>{escape(item.title)}</title><id>{item.guid}</id><link href="{base}/news/{item.guid}"/>'
        f'<updated>{item.published.isoformat()}</updated><summary type="html">{escape(item.html)}</summary></entry>'
        for item in items)
    updated = max(item.published for item in items).isoformat()
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>Desert '
            f"Routes</title><id>urn:roads:feed</id><updated>{updated}</updated>{entries}</feed>").encode()


class FeedServer(ThreadingHTTPServer):
    """Serves /rss and /atom with ETag and Last-Modified; ``mode`` switches it to failing."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.items = {"rss": list(RSS_ITEMS), "atom": list(ATOM_ITEMS)}
        self.mode = "ok"  # ok | error | slow | malformed
        self.requests: list[dict[str, str | None]] = []
        self.statuses: list[int] = []
        self.release = threading.Event()


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server, kind = self.server, self.path.strip("/")
        server.requests.append({name: self.headers.get(name) for name in ("If-None-Match", "If-Modified-Since")})
        if server.mode == "slow":
            server.release.wait(2.0)
        if server.mode == "error" or kind not in server.items:
            return self.answer(500 if server.mode == "error" else 404, b"no feed here")
        if server.mode == "malformed":
            return self.answer(200, MALFORMED)
        body = render(kind, server.url, server.items[kind])
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        modified = max(item.published for item in server.items[kind]).astimezone(UTC)
        headers = {"ETag": etag, "Last-Modified": email.utils.format_datetime(modified, usegmt=True)}
        since = self.headers.get("If-Modified-Since")
        if self.headers.get("If-None-Match") is not None:
            fresh = self.headers["If-None-Match"] == etag
        else:
            fresh = since is not None and email.utils.parsedate_to_datetime(since) >= modified
        self.answer(304 if fresh else 200, b"" if fresh else body, headers)

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.server.statuses.append(status)
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/xml; charset=utf-8", **(headers or {})}.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)


@pytest.fixture
def server():
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def client():
    with httpx.Client() as client:
        yield client


@pytest.fixture(params=["rss", "atom"])
def kind(request) -> str:
    return request.param


def feed(server: FeedServer, kind: str, timeout: str = "10s") -> FeedSource:
    config = FeedSourceConfig(type="feed", name=f"roads-{kind}", url=f"{server.url}/{kind}", timeout=timeout,
                              reliability="B")
    return build_source(config, Path("."))


def test_first_poll_returns_every_entry_as_plain_text(server, client, kind):
    reports, state = feed(server, kind).fetch(SourceState(), client=client)
    items = server.items[kind]
    assert [r.title for r in reports] == [item.title for item in items]
    assert [r.published for r in reports] == [dt.date(2026, 11, 15) if kind == "rss" else dt.date(2026, 11, 16),
                                              dt.date(2026, 11, 16), dt.date(2026, 11, 17)]
    assert {r.format for r in reports} == {"text"} and {r.reliability for r in reports} == {"B"}
    assert {r.source for r in reports} == {f"roads-{kind}"}
    assert [r.url for r in reports] == [f"{server.url}/news/{item.guid}" for item in items]
    expected_keys = [item.guid if item.has_guid else f"{server.url}/news/{item.guid}" for item in items]
    assert [r.key for r in reports] == expected_keys  # the GUID, else the link
    for report in reports:
        assert "<" not in report.text and "&amp;" not in report.text
        assert report.text.startswith(report.title + "\n\n")
    if kind == "rss":
        assert reports[0].text == (
            "Armed men stop fuel tankers west of Abugrein\n\nDrivers said armed men set up a checkpoint on the coastal"
            " road west of Abugrein on Sunday and turned back fuel tankers & lorries bound for Sirte.\n"
            "Traffic resumed by nightfall.")
    assert state.etag and state.last_modified


def test_second_poll_sends_validators_and_gets_nothing(server, client, kind):
    source = feed(server, kind)
    _, state = source.fetch(SourceState(), client=client)
    reports, again = source.fetch(state, client=client)
    assert reports == [] and again == state
    assert server.requests[-1] == {"If-None-Match": state.etag, "If-Modified-Since": state.last_modified}
    assert server.statuses == [200, 304]


def test_a_new_entry_comes_back_with_the_whole_feed(server, client, kind):
    source = feed(server, kind)
    _, state = source.fetch(SourceState(), client=client)
    server.items[kind].append(NEW_ITEM)
    reports, new_state = source.fetch(state, client=client)
    assert server.statuses == [200, 200] and len(reports) == 4
    new = next(r for r in reports if r.key == "urn:roads:new-4")
    assert new.title == "Bus passengers robbed on the Sebha - Ubari road"
    assert new.published == dt.date(2026, 11, 17)
    assert "robbed the travellers" in new.text
    assert new_state.etag != state.etag
    assert source.fetch(new_state, client=client)[0] == []


def test_http_error_names_the_status_and_the_source(server, client, kind):
    server.mode = "error"
    with pytest.raises(SourceError, match=rf"^feed roads-{kind}: HTTP 500 from {server.url}/{kind}$"):
        feed(server, kind).fetch(SourceState(), client=client)


def test_timeout_is_reported_quickly(server, client):
    server.mode = "slow"
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"feed roads-rss: timeout after 0\.5s") as info:
        feed(server, "rss", timeout="0.5s").fetch(SourceState(), client=client)
    assert time.monotonic() - start < 1.5
    assert "\n" not in str(info.value)


def test_malformed_feed(server, client, kind):
    server.mode = "malformed"
    with pytest.raises(SourceError, match=rf"^feed roads-{kind}: malformed feed: "):
        feed(server, kind).fetch(SourceState(), client=client)


def test_a_page_that_is_not_a_feed(server, client):
    source = FeedSource("roads", f"{server.url}/missing", interval_seconds=60, timeout_seconds=5)
    with pytest.raises(SourceError, match="HTTP 404"):
        source.fetch(SourceState(), client=client)


def test_connection_refused(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = FeedSource("roads", f"http://127.0.0.1:{port}/rss", interval_seconds=60, timeout_seconds=2)
    with pytest.raises(SourceError, match=rf"^feed roads: cannot fetch http://127.0.0.1:{port}/rss"):
        source.fetch(SourceState(), client=client)


def touch(path: Path, text: str | bytes) -> None:
    """Write a file and move its mtime on, so a rewrite in the same instant still looks changed."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    if before:
        os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_folder_reads_new_files_once_and_changed_files_again(tmp_path, caplog):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    touch(inbox / "report.txt", "Gunmen stopped cars at a checkpoint 20 km east of Sirte on Sunday.")
    touch(inbox / "notes.md", "# Brak\n\nThe road south of Brak was reopened on Monday.")
    touch(inbox / "incidents.jsonl", '{"event_type": "Battles"}\n')
    touch(inbox / "export.csv", "event_date,event_type\n")
    story = {"text": "A bus was robbed near Ubari.", "title": "Ubari robbery", "published": "2026-11-16",
             "url": "https://example.org/ubari"}
    touch(inbox / "story.json", json.dumps(story))
    touch(inbox / "incident.json", json.dumps({"event_type": "Battles", "date": "2026-11-16"}, indent=2))
    touch(inbox / ".draft.txt", "not finished")
    touch(inbox / "saved.rss", render("rss", "https://example.org", RSS_ITEMS[:1]))  # a feed saved by hand
    source = build_source(TypeAdapter(SourceConfig).validate_python(
        {"type": "folder", "name": "inbox", "path": "inbox", "reliability": "C"}), tmp_path)
    assert isinstance(source, FolderSource) and source.interval_seconds == 300

    reports, state = source.fetch(SourceState(), client=None)
    assert [(r.key, r.format) for r in reports] == [
        ("export.csv", "acled"), ("incident.json", "jsonl"), ("incidents.jsonl", "jsonl"), ("notes.md", "text"),
        ("report.txt", "text"), ("saved.rss#rss-1", "text"), ("story.json", "text")]
    by_key = {r.key: r for r in reports}
    assert by_key["story.json"].text == story["text"] and by_key["story.json"].title == "Ubari robbery"
    assert by_key["story.json"].published == dt.date(2026, 11, 16) and by_key["story.json"].url == story["url"]
    assert json.loads(by_key["incident.json"].text) == {"event_type": "Battles", "date": "2026-11-16"}
    assert by_key["saved.rss#rss-1"].title == RSS_ITEMS[0].title and "<" not in by_key["saved.rss#rss-1"].text
    assert by_key["report.txt"].published is None and {r.reliability for r in reports} == {"C"}
    assert source.fetch(state, client=None)[0] == []

    touch(inbox / "report.txt", "Gunmen stopped cars at a checkpoint 25 km east of Sirte on Sunday.")
    touch(inbox / "bad.txt", b"Sirte \xff\xfe road")
    touch(inbox / "later.txt", "Clashes closed the road from Ajdabiya to Jalu.")
    (inbox / "notes.md").unlink()
    with caplog.at_level(logging.WARNING, logger="riskengine.sources"):
        reports, state = source.fetch(state, client=None)
    assert [r.key for r in reports] == ["later.txt", "report.txt"]
    assert "25 km east" in reports[1].text
    assert "bad.txt" in caplog.text and "not UTF-8" in caplog.text
    assert "notes.md" not in state.seen and "bad.txt" in state.seen

    caplog.clear()
    assert source.fetch(state, client=None)[0] == [] and "bad.txt" not in caplog.text
    touch(inbox / "bad.txt", "Sirte road, fixed.")
    assert [r.key for r in source.fetch(state, client=None)[0]] == ["bad.txt"]


def test_missing_folder(tmp_path):
    source = FolderSource("inbox", tmp_path / "nowhere", interval_seconds=60)
    with pytest.raises(SourceError, match=r"^folder inbox: folder .*nowhere does not exist$"):
        source.fetch(SourceState(), client=None)


def test_acled_source_only_when_the_file_changed(tmp_path):
    (tmp_path / "exports").mkdir()
    csv = tmp_path / "exports" / "libya.csv"
    touch(csv, "event_date,event_type,notes\n2026-11-15,Battles,Clashes near Sirte\n")
    source = build_source(TypeAdapter(SourceConfig).validate_python(
        {"type": "acled", "name": "acled", "path": "exports/libya.csv"}), tmp_path)
    assert isinstance(source, AcledSource) and source.interval_seconds == 3600

    reports, state = source.fetch(SourceState(), client=None)
    assert len(reports) == 1 and reports[0].format == "acled" and reports[0].key.startswith("libya.csv@")
    assert source.fetch(state, client=None) == ([], state)

    touch(csv, csv.read_text() + "2026-11-16,Riots,Road blocked at Brak\n")
    changed, state = source.fetch(state, client=None)
    assert len(changed) == 1 and changed[0].key != reports[0].key and "Brak" in changed[0].text

    csv.unlink()
    with pytest.raises(SourceError, match="^acled acled: unreadable file"):
        source.fetch(state, client=None)


def test_config_is_strict():
    adapter = TypeAdapter(SourceConfig)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        adapter.validate_python({"type": "feed", "name": "n", "url": "https://example.org/rss", "every": "5m"})
    with pytest.raises(ValidationError, match="bad duration '5 min'"):
        adapter.validate_python({"type": "folder", "name": "n", "path": "in", "interval": "5 min"})
    with pytest.raises(ValidationError, match="reliability"):
        adapter.validate_python({"type": "acled", "name": "n", "path": "a.csv", "reliability": "G"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "mail", "name": "n"})


@pytest.mark.parametrize("text", ["", "5", "5x", "m", "30m1h", "5m5m", "0s", "-5m", "1 hour"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=f"bad duration {text!r}"):
        parse_duration(text)
