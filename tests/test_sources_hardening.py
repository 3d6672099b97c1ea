"""Sources under hostile or broken input, against real parts: loopback HTTP servers of our own, real files.

One bad file or item is skipped and named, never a stalled source; byte limits before and after
decompression; a feed's timeout bounds the whole request; slow sources never hold up dispatch; the
feed parser never raises anything but ``SourceError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import threading
import time
import tracemalloc
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from riskengine.alerts import AlertPolicy
from riskengine.config import RunConfig
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.pipeline import Pipeline
from riskengine.scheduler import SOURCES_EXECUTOR, Service
from riskengine.sources import (
    FeedSource,
    FolderSource,
    SourceConfig,
    SourceError,
    SourceState,
    build_source,
    feed_items,
    poll_source,
)

from .faulty_server import FEED, FaultyServer, gzip_bomb, wait_until

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


@pytest.fixture
def client():
    with httpx.Client() as client:
        yield client


def touch(path: Path, text: str | bytes) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    if before:
        os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def folder(tmp_path: Path, **limits) -> FolderSource:
    return build_source(TypeAdapter(SourceConfig).validate_python(
        {"type": "folder", "name": "inbox", "path": "inbox", **limits}), tmp_path)


class Ingest:
    """An ingest callback that raises, as the engine did, for the files it is told are poison."""

    def __init__(self, poison: dict[str, Exception]):
        self.poison, self.calls = poison, []

    def __call__(self, report):
        self.calls.append(report.key)
        if report.origin in self.poison:
            raise self.poison[report.origin]
        return report.key


# ---- 1. one bad file or item is skipped, named, remembered; the rest goes on --------------------------

def test_a_file_whose_ingest_raises_is_skipped_named_and_remembered(tmp_path, caplog):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    touch(inbox / "a.txt", "Gunmen stopped cars near Sirte.")
    touch(inbox / "b.csv", "event_date,event_type,fatalities\n2026-11-15,Battles,99999999999999999999999\n")
    touch(inbox / "c.jsonl", '{"event_type": "Battles"}\n{"event_type": "Riots", "geometry": "POINT (1"}\n')
    touch(inbox / "d.txt", "The road south of Brak was reopened.")
    overflow = OverflowError("Python int too large to convert to C long")
    geos = ValueError("ParseException: Expected number but encountered end of stream")
    geos.line = 2  # as the incident reader's row errors carry it
    ingest = Ingest({"b.csv": overflow, "c.jsonl": geos})
    source = folder(tmp_path)

    with caplog.at_level(logging.WARNING, logger="riskengine.sources"):
        polled = poll_source(source, SourceState(), client=None, ingest=ingest)
    assert [r.key for r, _ in polled.ingested] == ["a.txt", "d.txt"]  # the files after the bad ones are read
    assert [f.item for f in polled.failures] == ["b.csv", "c.jsonl"]
    assert "folder inbox: skipped b.csv: OverflowError: Python int too large" in caplog.text
    assert "folder inbox: skipped c.jsonl, line 2: ValueError: ParseException" in caplog.text
    seen = polled.state.seen
    assert seen["b.csv"].endswith(" failed: OverflowError: Python int too large to convert to C long")
    assert seen["c.jsonl"].endswith(" failed: line 2: ValueError: ParseException: Expected number but encountered "
                                    "end of stream")
    assert " failed" not in seen["a.txt"]

    # The next turn does not try the bad files again (nor anything else: nothing changed) ...
    ingest.calls.clear()
    again = poll_source(source, polled.state, client=None, ingest=ingest)
    assert ingest.calls == [] and again.state.seen == seen
    # ... until one changes.
    touch(inbox / "b.csv", "event_date,event_type,fatalities\n2026-11-15,Battles,3\n")
    del ingest.poison["b.csv"]
    fixed = poll_source(source, again.state, client=None, ingest=ingest)
    assert ingest.calls == ["b.csv"] and " failed" not in fixed.state.seen["b.csv"]


def test_a_file_that_cannot_be_read_or_parsed_never_blocks_the_others(tmp_path, caplog):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    touch(inbox / "a.txt", "Clashes closed the road from Ajdabiya to Jalu.")
    touch(inbox / "b.txt", b"Sirte \xff\xfe road")
    touch(inbox / "c.txt", "x" * 5000)  # over max_file_bytes: refused before it is read
    touch(inbox / "d.json", json.dumps({"text": "y" * 3000}))  # a report text over max_report_bytes
    touch(inbox / "e.rss", b"<rss version='2.0'><channel><item><title>one</title></item>\x00\x00garbage")
    touch(inbox / "f.txt", "A bus was robbed near Ubari.")
    source = folder(tmp_path, max_file_bytes="4kB", max_report_bytes=2000)
    with caplog.at_level(logging.WARNING, logger="riskengine.sources"):
        reports, state = source.fetch(SourceState(), client=None)
    assert [r.key for r in reports][0] == "a.txt" and [r.key for r in reports][-1] == "f.txt"
    assert "skipped b.txt: not UTF-8" in caplog.text
    assert "skipped c.txt: file c.txt of 5000 bytes is over the limit of 4000 bytes (max_file_bytes)" in caplog.text
    assert "skipped d.json: report text of 3000 bytes is over the limit of 2000 bytes" in caplog.text
    for name in ("b.txt", "c.txt", "d.json"):
        assert " failed: " in state.seen[name]
    assert "\n" not in "".join(state.seen.values())
    caplog.clear()
    assert source.fetch(state, client=None)[0] == [] and "skipped" not in caplog.text


def test_the_service_poll_skips_a_file_the_engine_crashes_on(tmp_path, engine, monkeypatch, caplog):
    """The scheduler's poll, with the real engine and store: a crash on one file is not a stalled source."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    touch(inbox / "a-bad.txt", "Gunmen stopped cars at a checkpoint 20 km east of Sirte on Sunday.")
    touch(inbox / "b-good.txt", "Clashes closed the road from Ajdabiya to Jalu on Monday.")
    real = engine.ingest_content

    def crashing(text, **kwargs):
        if kwargs["source_key"] == "a-bad.txt":
            raise OverflowError("date value out of range")
        return real(text, **kwargs)

    monkeypatch.setattr(engine, "ingest_content", crashing)
    config = RunConfig.model_validate({"sources": [{"type": "folder", "name": "desk", "path": "inbox"}],
                                       "notifiers": {"console": False}})
    with httpx.Client() as client:
        service = Service(Pipeline(engine, config, tmp_path, AlertPolicy.load(DEFAULT_RULES_DIR), client=client,
                                   notifiers={}))
        with caplog.at_level(logging.WARNING):
            outcome = service.poll(service.pipeline.sources[0], NOW)
    assert outcome.error is None and outcome.items_failed == 1 and outcome.reports_new == 1
    assert "skipped a-bad.txt: OverflowError: date value out of range" in caplog.text
    assert engine.store.has_report("desk", "b-good.txt") and not engine.store.has_report("desk", "a-bad.txt")
    state = engine.store.source_state("desk")
    assert state["last_error"] is None and "failed: OverflowError" in state["seen"]["a-bad.txt"]


def test_a_feed_item_whose_ingest_raises_is_not_handed_out_again(client):
    with FaultyServer() as server:
        source = FeedSource("roads", f"{server.url}/feed", interval_seconds=60, timeout_seconds=5)
        polled = poll_source(source, SourceState(), client=client, ingest=lambda r: 1 / 0)
        key = f"{server.url}/g-1"  # the GUID, made absolute by feedparser
        assert [f.item for f in polled.failures] == [key]
        assert "failed: ZeroDivisionError" in polled.state.seen[key]
        calls = []
        again = poll_source(source, polled.state, client=client, ingest=calls.append)
        assert calls == [] and again.state.seen == polled.state.seen


# ---- 2. byte limits ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = gzip_bomb(1 << 30)  # 1 GiB of zeros
    assert len(data) < 1_100_000
    return data


def test_a_gzip_bomb_fails_fast_with_bounded_memory(client, bomb):
    ingested = []
    with FaultyServer(bomb=bomb) as server:
        source = build_source(TypeAdapter(SourceConfig).validate_python(
            {"type": "feed", "name": "bomb", "url": f"{server.url}/bomb", "timeout": "20s"}), Path("."))
        tracemalloc.start()
        start = time.monotonic()
        try:
            with pytest.raises(SourceError) as info:
                poll_source(source, SourceState(), client=client, ingest=ingested.append)
            seconds = time.monotonic() - start
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(info.value) == (f"feed bomb: decompressed body over the limit of 50 MB (max_decoded_bytes) "
                               f"from {server.url}/bomb")
    assert ingested == []
    print(f"gzip bomb ({len(bomb)} bytes -> 1 GiB): gave up after {seconds:.2f}s, peak {peak / 1e6:.0f} MB")
    assert peak < 120e6 and seconds < 10


@pytest.mark.parametrize(("path", "message"), [
    ("big", "response body of 30 MB (Content-Length) is over the limit of 10 MB (max_bytes)"),
    ("big-chunked", "response body over the limit of 10 MB (max_bytes)"),
])
def test_an_oversized_feed_body_fails_fast_and_stores_nothing(client, path, message):
    ingested = []
    with FaultyServer() as server:
        source = FeedSource("huge", f"{server.url}/{path}", interval_seconds=60, timeout_seconds=20)
        start = time.monotonic()
        with pytest.raises(SourceError, match=rf"^feed huge: {re.escape(message)} from {server.url}/{path}$"):
            poll_source(source, SourceState(), client=client, ingest=ingested.append)
    assert ingested == [] and time.monotonic() - start < 5


def test_limits_are_configurable_and_validated():
    adapter = TypeAdapter(SourceConfig)
    config = adapter.validate_python({"type": "feed", "name": "n", "url": "https://example.org/rss",
                                      "max_bytes": "1MB", "max_decoded_bytes": "2MiB", "max_report_bytes": 5000})
    source = build_source(config, Path("."))
    assert (source.max_bytes, source.max_decoded_bytes, source.max_report_bytes) == (10**6, 2 << 20, 5000)
    with pytest.raises(ValidationError, match="bad size '10 parsecs'"):
        adapter.validate_python({"type": "folder", "name": "n", "path": "in", "max_file_bytes": "10 parsecs"})


# ---- 3. the timeout bounds the whole request; slow sources never hold up dispatch ----------------------

@pytest.mark.parametrize("path", ["drip", "drip-headers"])
def test_a_dripping_server_is_given_up_on_after_the_timeout(client, path):
    with FaultyServer(drip_every=0.5) as server:
        source = FeedSource("drip", f"{server.url}/{path}", interval_seconds=60, timeout_seconds=2)
        start = time.monotonic()
        with pytest.raises(SourceError, match=rf"^feed drip: timeout after 2s from {server.url}/{path}$"):
            source.fetch(SourceState(), client=client)
        seconds = time.monotonic() - start
        # the request's own thread does not linger either: its next read is given no time
        assert wait_until(lambda: not any(t.name == "feed drip" for t in threading.enumerate()), 2.0)
        lingered = time.monotonic() - start - seconds
    print(f"{path}: gave up after {seconds:.2f}s (timeout 2s); its thread ended {lingered:.2f}s later")
    assert 1.9 < seconds < 3.0


def test_dispatch_and_evaluation_keep_time_while_four_slow_feeds_are_polled(tmp_path, engine):
    with FaultyServer(drip_every=0.5) as server, httpx.Client() as client:
        config = RunConfig.model_validate({
            "sources": [{"type": "feed", "name": f"slow-{i}", "url": f"{server.url}/drip", "timeout": "3s",
                         "interval": "1s"} for i in range(4)],
            "notifiers": {"console": False}, "intervals": {"evaluate": "0.5s", "dispatch": "0.2s"}})
        pipeline = Pipeline(engine, config, tmp_path, AlertPolicy.load(DEFAULT_RULES_DIR), client=client,
                            notifiers={})
        runs: dict[str, list[float]] = {"dispatch": [], "evaluate": [], "poll": []}

        class Timed(Service):
            def dispatch_job(self):
                runs["dispatch"].append(time.monotonic())
                super().dispatch_job()

            def evaluate_job(self):
                runs["evaluate"].append(time.monotonic())
                super().evaluate_job()

            def poll_job(self, source):
                runs["poll"].append(time.monotonic())
                super().poll_job(source)

        service = Timed(pipeline)
        executors: dict[str, str] = {}

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.call_later(1.0, lambda: executors.update(
                {job.id: job.executor for job in service.scheduler.get_jobs()}))
            loop.call_later(4.0, stop.set)
            await service.run(stop)

        start = time.monotonic()
        asyncio.run(main())
    assert {executors[f"poll:slow-{i}"] for i in range(4)} == {SOURCES_EXECUTOR}
    assert executors["dispatch"] == executors["evaluate"] == "default"
    assert len(runs["poll"]) >= 4  # all four slow feeds were being polled at once
    gaps = [b - a for a, b in zip([start, *runs["dispatch"]], runs["dispatch"], strict=False)]
    print(f"dispatch runs: {len(runs['dispatch'])}, longest gap {max(gaps):.2f}s; "
          f"evaluate runs: {len(runs['evaluate'])}; polls started: {len(runs['poll'])}")
    assert len(runs["dispatch"]) >= 12 and max(gaps) < 0.8
    assert len(runs["evaluate"]) >= 5


# ---- 4. the feed parser never crashes on hostile input -----------------------------------------------

RSS = FEED.decode()
ATOM = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        '<id>urn:f</id><updated>2026-11-16T09:15:00+00:00</updated><entry><title type="html">Convoy &lt;b&gt;hit'
        '&lt;/b&gt;</title><id>urn:e1</id><link href="https://example.org/1"/><updated>2026-11-16T09:15:00Z'
        '</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Near Bani Walid</p></div>'
        "</content></entry></feed>")
NASTY = ["<!DOCTYPE x [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>]>", "&b;", "<![CDATA[", "]]>",
         "<script>", "\x00", "\udcff", "&#0;", "&#xFFFFFFFF;", "<title type='html'>", "<pubDate>99999</pubDate>",
         "<updated>9999-99-99T99:99</updated>", "<link href=''/>", "</item>", "<entry>", "<?xml encoding='x'?>",
         "<content type='application/octet-stream'>", "<guid></guid>"]


@st.composite
def mutated(draw):
    doc = draw(st.sampled_from([RSS, ATOM]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(doc)))
        cut = draw(st.integers(0, 40))
        insert = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=20)))
        doc = doc[:at] + insert + doc[at + cut:]
    return doc


def check(document: str | bytes) -> None:
    try:
        reports = feed_items(document, "fuzz")
    except SourceError as exc:
        assert str(exc).startswith("feed fuzz: malformed feed") and "\n" not in str(exc)
        return
    for report in reports:
        assert isinstance(report.text, str) and report.source == "fuzz" and report.key


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_feed_items_on_arbitrary_bytes(data):
    check(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_feed_items_on_mutated_rss_and_atom(document):
    check(document)
    check(document.encode("utf-8", "surrogatepass"))


def test_feed_items_reads_a_local_feed_file(tmp_path):
    path = tmp_path / "saved.xml"
    path.write_bytes(FEED)
    reports = feed_items(path.read_text(), "desk")
    assert [(r.key, r.title, r.source) for r in reports] == [("g-1", "Checkpoint near Sirte", "desk")]
    with pytest.raises(SourceError, match="^feed desk: malformed feed: "):
        feed_items("just some words", "desk")
