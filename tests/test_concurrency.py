"""Several processes on one SQLite store: readers never fail while a writer works, writers wait
for each other, and two processes can create a new store at the same moment (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from riskengine.store import Store

from .conftest import PROJECT

AT = "2026-11-20"
CSV_HEADER = ("event_date,event_type,sub_event_type,actor1,latitude,longitude,geo_precision,fatalities,notes,"
              "source\n")


def _cli(db, *args, timeout=120) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "riskengine.cli", "--db", str(db), *args], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _csv(tmp_path, name: str, rows: int, lat: float) -> str:
    lines = [f"2026-11-{10 + i % 9},Battles,Armed clash,Group {name},{lat + i * 0.01:.3f},14.0,1,0,"
             f"clash {name} {i},{name}\n" for i in range(rows)]
    path = tmp_path / f"{name}.csv"
    path.write_text(CSV_HEADER + "".join(lines), encoding="utf-8")
    return str(path)


def test_a_route_answers_while_another_process_holds_the_write_lock(tmp_path):
    db = tmp_path / "risk.db"
    Store.open(str(db))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta VALUES ('writer', 'busy')")
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    try:
        code, out, err = _done(_cli(db, "route", "Misrata", "Sirte", "--at", AT, "--json"), timeout=50)
        still_writing = holder.poll() is None
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert code == 0, err
    assert json.loads(out)["via"][0] == "Misrata"
    assert still_writing  # it answered while the writer still held the lock: it neither waited nor wrote


def test_two_ingests_at_once_both_store_everything(tmp_path):
    db = tmp_path / "risk.db"
    Store.open(str(db))
    files = [_csv(tmp_path, name, 150, lat) for name, lat in (("north", 32.0), ("south", 27.0), ("west", 30.0))]
    procs = [_cli(db, "ingest", path, "--json") for path in files]
    results = [_done(p) for p in procs]
    for code, _, err in results:
        assert code == 0, err
        assert "locked" not in err and "Traceback" not in err
    assert Store.open(str(db)).report_count() == 3
    assert sum(json.loads(out)["files"][0]["incidents_added"] for _, out, _ in results) == 450


def test_two_processes_create_a_new_store_at_the_same_moment(tmp_path):
    db = tmp_path / "new.db"
    files = [_csv(tmp_path, name, 5, lat) for name, lat in (("a", 32.0), ("b", 27.0))]
    procs = [_cli(db, "ingest", path) for path in files]
    for code, _, err in (_done(p) for p in procs):
        assert code == 0, err
        assert "already exists" not in err
    store = Store.open(str(db), create=False)
    assert store.report_count() == 2 and store.incident_count() == 10


def test_opening_a_current_store_to_read_writes_nothing(tmp_path):
    db = tmp_path / "risk.db"
    Store.open(str(db)).engine.dispose()  # its connections closed now, not whenever it is collected
    wal = tmp_path / "risk.db-wal"
    before = (db.stat().st_mtime_ns, wal.stat().st_size if wal.exists() else 0)
    time.sleep(0.05)
    store = Store.open(str(db), create=False)
    assert store.report_count() == 0
    assert (db.stat().st_mtime_ns, wal.stat().st_size if wal.exists() else 0) == before
