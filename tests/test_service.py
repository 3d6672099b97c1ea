"""The running service end to end: real processes, real HTTP on loopback, a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, select

from riskengine.cli import main
from riskengine.schema import outbox

from .conftest import PROJECT, AlertReceiver

CHATS = 12


def write_setup(tmp_path: Path, hook_url: str | None, today: dt.date) -> Path:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "ambush.json").write_text(json.dumps({
        "title": "Tanker ambushed", "published": today.isoformat(),
        "text": "Gunmen ambushed a fuel tanker and two lorries between Sirte and Waddan today, killing a driver."}))
    notifiers = {"console": False, "webhook": {"url": hook_url, "timeout": "5s"}} if hook_url else {"console": True}
    channel = "webhook" if hook_url else "console"
    config = {
        "sources": [{"type": "folder", "name": "desk", "path": "reports", "interval": "1h"},
                    {"type": "feed", "name": "dead-feed", "url": "http://127.0.0.1:9/feed.xml", "timeout": "1s"}],
        "notifiers": notifiers,
        "board": [["Sirte", "Sebha"], ["Tripoli", "Zuwara"]],
        "subscriptions": [{"chat": f"chat-{i}", "channel": channel, "route": ["Sirte", "Sebha"], "min_level": 2}
                          for i in range(CHATS)],
        "intervals": {"evaluate": "1h", "dispatch": "2s"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def outbox_rows(db: str) -> list[dict]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(outbox.c.key, outbox.c.status)).mappings()]
    engine.dispose()
    return rows


def start(db: str, config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "riskengine.cli", "--db", db, "run", "--config", str(config)],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_dispatch_then_restart_delivers_every_alert_exactly_once(tmp_path, recorder):
    db = str(tmp_path / "risk.db")
    config = write_setup(tmp_path, recorder, dt.datetime.now(dt.UTC).date())
    first = start(db, config)
    try:
        wait_for(lambda: len(AlertReceiver.received) >= 5, 90, "the first alerts")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    rows = [r for r in outbox_rows(db) if r["status"] != "merged"]  # incidents told inside a level alert
    total = len(rows)
    assert total >= CHATS  # an alert for every chat
    assert 0 < sum(r["status"] == "sent" for r in rows) < total  # killed in the middle of the batch

    second = start(db, config)
    try:
        wait_for(lambda: all(r["status"] in ("sent", "merged") for r in outbox_rows(db)), 90, "the rest of the alerts")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0  # a clean stop
    finally:
        second.kill()
    output = second.stdout.read()
    counts = Counter(AlertReceiver.received)
    assert set(counts) == {r["key"] for r in outbox_rows(db) if r["status"] == "sent"}  # every alert arrived
    # never resent once recorded as sent; at most the one in flight at the kill is seen twice
    assert sum(counts.values()) - len(counts) <= 1, counts.most_common(3)
    assert "dead-feed" in output and "will retry" in output  # the failing source was logged, nothing stopped


def test_run_once_prints_the_board_and_the_alerts(tmp_path, capsys):
    today = dt.date(2026, 11, 20)
    config = write_setup(tmp_path, None, today)
    db = str(tmp_path / "once.db")
    code = main(["--db", db, "run", "--once", "--config", str(config), "--at", "2026-11-20T09:00", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    sources = {s["source"]: s for s in doc["sources"]}
    assert sources["desk"]["incidents_new"] >= 1 and "dead-feed" in sources["dead-feed"]["error"]
    board = {(r["from"], r["to"]): r for r in doc["board"]}
    assert board[("Sirte", "Sebha")]["level"] >= 2 and board[("Tripoli", "Zuwara")]["score"] == 0
    assert len(doc["alerts_sent"]) == CHATS  # one message per chat: the rise and the incident behind it
    # a second cycle finds nothing new and sends nothing again
    main(["--db", db, "run", "--once", "--config", str(config), "--at", "2026-11-20T09:05", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert again["alerts_sent"] == [] and all(s["reports_new"] == 0 for s in again["sources"])


def test_a_report_stored_by_another_process_reaches_subscribers_within_seconds(tmp_path, recorder):
    """The service notices a change of the store made by any process and sends at once, not at its
    next evaluation (an hour away here)."""
    today = dt.datetime.now(dt.UTC).date()
    db = str(tmp_path / "risk.db")
    config = write_setup(tmp_path, recorder, today)
    (tmp_path / "reports" / "ambush.json").unlink()  # nothing to find at the start: the report comes later
    setup = json.loads(config.read_text())
    setup["sources"] = setup["sources"][:1]
    setup["subscriptions"] = setup["subscriptions"][:1]
    setup["intervals"] = {"evaluate": "1h", "dispatch": "1h", "watch": "0.5s"}
    config.write_text(json.dumps(setup))
    service = start(db, config)
    try:
        wait_for(lambda: Path(db).exists(), 60, "the service's store")
        time.sleep(3)  # its first look at the store is done: nothing to send
        assert AlertReceiver.received == []
        report = tmp_path / "later.txt"
        report.write_text("Armed men opened fire on a convoy of lorries on the road between Sirte and Waddan "
                          "today and wounded two drivers.", encoding="utf-8")
        stored = subprocess.run([sys.executable, "-m", "riskengine.cli", "--db", db, "ingest", str(report),
                                 "--published", today.isoformat()], cwd=PROJECT, capture_output=True, text=True)
        assert stored.returncode == 0, stored.stderr
        after = time.monotonic()
        wait_for(lambda: len(AlertReceiver.received) >= 1, 30, "the alert of the report another process stored")
        assert time.monotonic() - after < 30  # seconds, not the hour until the next evaluation
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(30)
        finally:
            service.kill()
