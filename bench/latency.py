"""Alert latency: from a report stored by one process to its alert delivered by the running service.

The service (``riskengine run``, its own process) follows one route for one subscriber and sends its
alerts to a webhook on 127.0.0.1 that notes when each arrives; its timed evaluation is an hour away,
so only its watch of the store (``intervals.watch``) can make them go. This process stores reports
one at a time, each a new incident on that route, and times each from the moment its transaction is
committed to the moment its alert arrives: p50, p95 and the worst (target p95 < 5 s).

Run: ``python bench/latency.py [--reports N] [--watch 1s]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from riskengine.engine import RiskEngine

TARGET_P95_S = 5.0
PROJECT = Path(__file__).resolve().parent.parent
#: Two stretches of Sirte - Sebha far apart, and what happens there (our own words): each pair is an
#: event of its own (another place or another kind), so each brings an alert of its own.
STRETCHES = [("Sirte", "Waddan"), ("Sokna", "Sebha")]
TOLD = [
    "Gunmen ambushed a lorry on the road between {a} and {b} today and wounded its driver.",
    "Armed men kidnapped two travellers at a false checkpoint on the road between {a} and {b} today.",
    "A roadside bomb went off under a passing car on the road between {a} and {b} today, killing one man.",
    "Two armed groups fought with heavy weapons beside the road between {a} and {b} today.",
    "A militia fired on a fuel convoy on the road between {a} and {b} today, killing two drivers.",
]


class _Arrivals(BaseHTTPRequestHandler):
    """The subscriber's webhook: notes the time each alert arrives."""

    times: list[float] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).times.append(time.monotonic())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _config(where: Path, hook: str, watch: str) -> Path:
    (where / "inbox").mkdir()
    config = {"sources": [{"type": "folder", "name": "inbox", "path": "inbox", "interval": "1h"}],
              "notifiers": {"console": False, "webhook": {"url": hook, "timeout": "5s"}},
              "board": [["Sirte", "Sebha"]],
              "subscriptions": [{"chat": "desk", "channel": "webhook", "route": ["Sirte", "Sebha"], "min_level": 5}],
              "intervals": {"evaluate": "1h", "dispatch": "1h", "watch": watch}}
    path = where / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10, help="reports stored one after another (10)")
    parser.add_argument("--watch", default="1s", help="the service's watch interval (1s)")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Arrivals)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    today = dt.datetime.now(dt.UTC).date()
    delays: list[float] = []
    with tempfile.TemporaryDirectory(prefix="riskengine-latency-") as name:
        where = Path(name)
        db = str(where / "latency.db")
        config = _config(where, f"http://127.0.0.1:{server.server_port}/alerts", args.watch)
        engine = RiskEngine.open(db)  # the store, made before the service opens it
        service = subprocess.Popen([sys.executable, "-m", "riskengine.cli", "--db", db, "run", "--config", str(config)],
                                   cwd=PROJECT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)  # the service has started and looked at the store once
            for i in range(args.reports):
                a, b = STRETCHES[i % len(STRETCHES)]
                told = TOLD[(i // len(STRETCHES)) % len(TOLD)]
                day = today - dt.timedelta(days=4 * (i // (len(STRETCHES) * len(TOLD))))  # then days apart
                seen = len(_Arrivals.times)
                engine.ingest_text(told.format(a=a, b=b), source=f"desk-{i}", published=day,
                                   now=dt.datetime.now(dt.UTC))
                stored = time.monotonic()
                deadline = stored + 30
                while len(_Arrivals.times) == seen and time.monotonic() < deadline:
                    time.sleep(0.01)
                if len(_Arrivals.times) == seen:
                    print(f"report {i}: no alert within 30 s (an event told before, or not severe enough)")
                    continue
                delays.append(_Arrivals.times[seen] - stored)
                time.sleep(0.5)  # the alert's own follow-ups, if any, settle
        finally:
            service.terminate()
            service.wait(30)
            server.shutdown()
    print(f"date        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine     {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}")
    print(f"reports     {args.reports} stored, {len(delays)} alerts delivered (watch every {args.watch})")
    if not delays:
        print("no alert arrived")
        return 1
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"stored -> delivered   p50 {statistics.median(delays):.2f} s   p95 {p95:.2f} s   max {max(delays):.2f} s")
    print(f"target p95 < {TARGET_P95_S:g} s: {'met' if p95 < TARGET_P95_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
