"""Shared fixtures: the project's real rules and seeds, a fresh SQLite store, a fixed clock.

``db_url`` runs a store test on both backends: a new SQLite file, and the PostgreSQL database named
by ``$RISKENGINE_TEST_PG`` (emptied first), or skipped when that variable is not set (``.ci/run``
sets it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.gazetteer import Gazetteer
from riskengine.roads import RoadNetwork
from riskengine.rules import RuleBook
from riskengine.store import Store
from riskengine.store import metadata as store_metadata

from .browser import browser  # noqa: F401 - the headless Chromium fixture of the browser tests

#: The fixed "today" of the tests.
NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)

PROJECT = Path(__file__).resolve().parent.parent

#: The SQLAlchemy URL of a PostgreSQL database the tests may empty, e.g.
#: ``postgresql+psycopg://postgres@127.0.0.1:5432/riskengine_test``.
TEST_PG_VAR = "RISKENGINE_TEST_PG"


def benchmark_reports(engine, gazetteer, language: str, n: int, seed: int = 20261117) -> list[str]:
    """The texts of reports the throughput benchmark (``bench/extract_throughput.py``) generates and
    times (``engine``: anything with the road ``network``)."""
    spec = importlib.util.spec_from_file_location("bench_extract_throughput",
                                                  PROJECT / "bench" / "extract_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    geo, templates = bench.geography(gazetteer, engine), bench.ENGLISH
    if language == "ar":
        geo, templates = bench.arabic_geography(geo, gazetteer), bench.ARABIC
    return [r.text for r in bench.make_reports(n, seed, geo, templates)]


@pytest.fixture(scope="session")
def rules() -> RuleBook:
    return RuleBook.load(DEFAULT_RULES_DIR)


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(DEFAULT_SEEDS_DIR)


@pytest.fixture(scope="session")
def network(gazetteer) -> RoadNetwork:
    return RoadNetwork.load(DEFAULT_SEEDS_DIR, gazetteer)


@pytest.fixture
def rules_copy(tmp_path) -> Path:
    """A writable copy of the rules directory, for tests that break a file."""
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, target)
    return target


@pytest.fixture
def fresh_db(tmp_path) -> str:
    """Path of a new SQLite file holding an empty store (reading commands refuse a missing one)."""
    path = str(tmp_path / "risk.db")
    Store.open(path)
    return path


@pytest.fixture
def engine(fresh_db, rules, gazetteer, network) -> RiskEngine:
    """An engine on the real rules and seeds with an empty store on a real SQLite file."""
    return RiskEngine(Store.open(fresh_db), rules, gazetteer, network)


def ambushes(engine: RiskEngine, when: dt.datetime, numbers: range, *, killed: int = 0, label: str = "test") -> None:
    """Ambushes on the Waddan road (north of Waddan, on Sirte - Sebha), one report each, told at ``when``."""
    from riskengine.incident import Incident  # noqa: PLC0415
    from riskengine.store import ReportIn  # noqa: PLC0415

    for n in numbers:
        incident = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                            date=when.date(), lat=29.20 + n * 0.01, lon=16.15, geo_precision=1,
                            source_reliability="B", fatalities=killed, summary=f"Lorry ambushed near Waddan #{n}",
                            evidence=f"{label} incident {n}")
        engine.ingest_incidents(ReportIn(source=f"{label}-{n}", format="jsonl", text=f"{label} ambush {n} {when}"),
                                [incident], now=when)


class Recorder:
    """A notifier of ours that keeps what it was given (for policy tests: no network involved)."""

    def __init__(self, channel: str = "console"):
        self.channel = channel
        self.got: list = []

    def send(self, alert) -> None:
        self.got.append(alert)

    def to(self, chat_id: str) -> list:
        return [a for a in self.got if a.chat_id == chat_id]


@pytest.fixture
def alerting(engine):
    """The engine with the real alert policy, its subscriptions, a decider and the outbox."""
    from riskengine.alerts import AlertDecider, AlertPolicy  # noqa: PLC0415
    from riskengine.outbox import Outbox  # noqa: PLC0415
    from riskengine.subscriptions import Subscriptions  # noqa: PLC0415

    policy = AlertPolicy.load(DEFAULT_RULES_DIR)
    subs = Subscriptions(engine.store)
    outbox = Outbox(engine.store, policy)
    return engine, policy, subs, AlertDecider(engine, policy, subs, known=outbox.existing_keys), outbox


def _empty_database(url: str) -> None:
    """Drop the store's tables (``meta`` included), then any other table left by another layout."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")  # fail, not hang, if a table is in use
            store_metadata.drop_all(conn)
            leftover = MetaData()
            leftover.reflect(conn)
            leftover.drop_all(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """URL of an empty store database: a new SQLite file, or ``$RISKENGINE_TEST_PG`` emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'risk.db'}"
        return
    url = os.environ.get(TEST_PG_VAR)
    if not url:
        pytest.skip(f"{TEST_PG_VAR} is not set: no PostgreSQL to test against")
    _empty_database(url)
    yield url


@pytest.fixture
def pg_url():
    """``$RISKENGINE_TEST_PG``, emptied before and after (tests that need PostgreSQL itself: several
    processes on one store, the benchmarks' ``--db``); skipped when that variable is not set."""
    url = os.environ.get(TEST_PG_VAR)
    if not url:
        pytest.skip(f"{TEST_PG_VAR} is not set: no PostgreSQL to test against")
    _empty_database(url)
    yield url
    _empty_database(url)


@pytest.fixture
def loop():
    """An event loop running in its own thread, like the bot application's."""
    event_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=event_loop.run_forever, daemon=True)
    thread.start()
    yield event_loop
    event_loop.call_soon_threadsafe(event_loop.stop)
    thread.join(5)
    event_loop.close()


def start_service(tmp_path: Path, *, token: str, api_url: str, console: bool, stdout, board=None):
    """``riskengine run`` as a process with its bot pointed at ``api_url`` and one folder source,
    ``tmp_path / "inbox"`` (polled every second); returns the process, the inbox and the store's path."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "sources": [{"type": "folder", "name": "inbox", "path": "inbox", "interval": "1s"}],
        "notifiers": {"console": console}, **({"board": board} if board else {}),
        "intervals": {"evaluate": "1h", "dispatch": "1s"},
    }))
    db = tmp_path / "risk.db"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": api_url, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "riskengine.cli", "--db", str(db), "-v", "run", "--config",
                             str(config)], cwd=PROJECT, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True)
    return proc, inbox, db


def stop_service(proc: subprocess.Popen) -> int:
    """Stop a service started by :func:`start_service` as an operator would (SIGTERM); its exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        proc.kill()


class AlertReceiver(BaseHTTPRequestHandler):
    """A slow alert receiver on 127.0.0.1 (the ``recorder`` fixture): it records every POST and the
    Idempotency-Key it carried."""

    received: list[str] = []
    delay = 0.15

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(type(self).delay)
        type(self).received.append(self.headers["Idempotency-Key"])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    AlertReceiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlertReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()
