"""Several dispatchers on one outbox: each alert claimed by one of them, with a lease.

Real parts: dispatcher processes of their own (each with its own store), the webhook notifier posting
to an HTTP receiver on 127.0.0.1 that counts every delivery, and the store on a SQLite file and, when
``$RISKENGINE_TEST_PG`` is set, on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import OutboxAlert, WebhookNotifier
from riskengine.outbox import Outbox
from riskengine.store import Store

from .conftest import PROJECT

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
RACE_ALERTS = 10_000

#: A dispatcher process: opens the store, says "ready", waits for a line on stdin (so that several
#: start at the same moment), dispatches until nothing is left to claim, prints what it did as JSON.
DISPATCHER = textwrap.dedent("""
    import datetime as dt, json, sys, time
    import httpx
    from riskengine.alerts import AlertPolicy
    from riskengine.engine import DEFAULT_RULES_DIR
    from riskengine.notify import WebhookNotifier
    from riskengine.outbox import Outbox
    from riskengine.store import Store

    url, hook, now, limit, lease = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3]), \\
        int(sys.argv[4]), float(sys.argv[5])
    worker = sys.argv[6] if len(sys.argv) > 6 else None  # default: this host, this process
    box = Outbox(Store(url, create=False), AlertPolicy.load(DEFAULT_RULES_DIR))
    done = {"sent": 0, "duplicates": 0, "taken_over": 0, "failed": 0, "batches": 0}
    with httpx.Client() as client:
        notifiers = {"webhook": WebhookNotifier(hook, client, timeout=60)}
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        while True:
            report = box.dispatch(notifiers, now, limit=limit, lease_s=lease, worker=worker)
            counts = {"sent": len(report.sent), "duplicates": len(report.duplicates),
                      "taken_over": len(report.taken_over), "failed": len(report.retrying) + len(report.dead)}
            if not any(counts.values()):
                break
            done["batches"] += 1
            for name, n in counts.items():
                done[name] += n
        done["seconds"] = time.perf_counter() - started
    print(json.dumps(done), flush=True)
""")


class Receiver(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that counts the alerts posted to it by key; with ``hang_first``, it
    never answers the first one (a send that hangs until its dispatcher is killed)."""

    daemon_threads = True

    def __init__(self, hang_first: bool = False):
        super().__init__(("127.0.0.1", 0), _Receive)
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.hang_first, self.release, self.first_seen = hang_first, threading.Event(), threading.Event()
        self.url = f"http://127.0.0.1:{self.server_port}/alerts"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        pass  # a dispatcher killed mid-request


class _Receive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per dispatcher

    def do_POST(self):  # noqa: N802 - http.server's naming
        server: Receiver = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            first = not server.keys
            server.keys[body["key"]] += 1
        if first and server.hang_first:
            server.first_seen.set()
            server.release.wait(120)
            return
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _alerts(n: int) -> list[AlertIn]:
    return [AlertIn(key=f"k{i:05d}", subscription_id=None, chat_id=f"c{i}", channel="webhook", kind="incident",
                    text=f"alert {i}") for i in range(n)]


def _outbox(url: str) -> Outbox:
    return Outbox(Store(url), AlertPolicy.load(DEFAULT_RULES_DIR))


def _dispatchers(url: str, hook: str, count: int, *, now=NOW, limit=100, lease_s=300.0,
                 worker: str | None = None) -> list[subprocess.Popen]:
    """Start ``count`` dispatcher processes, wait until each is ready, then let them all go at once."""
    args = [sys.executable, "-c", DISPATCHER, url, hook, now.isoformat(), str(limit), str(lease_s),
            *([worker] if worker else [])]
    procs = [subprocess.Popen(args, cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(count)]
    for proc in procs:
        line = proc.stdout.readline().strip()
        assert line == "ready", proc.stderr.read() if proc.poll() is not None else line
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


def _finish(proc: subprocess.Popen, timeout: float = 600) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def race(url: str, dispatchers: int, alerts: int = RACE_ALERTS) -> dict:
    """Queue ``alerts`` alerts, let ``dispatchers`` processes race over them; what they and the receiver saw."""
    box = _outbox(url)
    box.enqueue(_alerts(alerts), NOW - dt.timedelta(minutes=1))
    with Receiver() as receiver:
        results = [_finish(p) for p in _dispatchers(url, receiver.url, dispatchers)]
        keys = Counter(receiver.keys)
    seconds = max(r["seconds"] for r in results)  # from the start signal to the last one done
    expected = {a.key for a in _alerts(alerts)}
    return {"dispatchers": results, "seconds": seconds, "delivered": keys,
            "duplicated": sum(n - 1 for n in keys.values() if n > 1), "lost": len(expected - set(keys)),
            "unexpected": len(set(keys) - expected), "counts": box.counts()}


def test_two_dispatcher_processes_racing_over_10000_alerts_send_each_exactly_once(db_url):
    result = race(db_url, 2)
    first, second = result["dispatchers"]
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["unexpected"] == 0
    assert sum(result["delivered"].values()) == RACE_ALERTS
    assert result["counts"] == {"sent": RACE_ALERTS}
    assert first["sent"] + second["sent"] == RACE_ALERTS
    assert first["duplicates"] == second["duplicates"] == first["taken_over"] == second["taken_over"] == 0
    # they really raced: both sent a good share (a test where one did everything proves nothing)
    assert min(first["sent"], second["sent"]) >= RACE_ALERTS // 10, result["dispatchers"]
    print(f"\n{db_url.split(':')[0]}: 2 dispatchers, {RACE_ALERTS} alerts in {result['seconds']:.1f} s "
          f"({RACE_ALERTS / result['seconds']:.0f}/s), split {first['sent']}/{second['sent']}")


def _kill_mid_send(db_url: str, receiver: Receiver, worker: str | None = None) -> subprocess.Popen:
    """A dispatcher process that claims 40 alerts, hangs in its first send, and is killed there."""
    [dying] = _dispatchers(db_url, receiver.url, 1, limit=40, lease_s=60, worker=worker)
    try:
        deadline = time.monotonic() + 60
        while not receiver.first_seen.wait(0.1):
            assert dying.poll() is None and time.monotonic() < deadline, \
                f"the dispatcher sent nothing: {dying.communicate(timeout=30) if dying.poll() is not None else ''}"
    finally:
        dying.kill()
        dying.wait(30)
    return dying


def test_a_dispatcher_killed_mid_batch_elsewhere_leaves_its_alerts_to_another_after_its_lease(db_url):
    box = _outbox(db_url)
    box.enqueue(_alerts(100), NOW)
    with Receiver(hang_first=True) as receiver:
        _kill_mid_send(db_url, receiver, worker="another-host:4242:cafe")  # as if on another machine
        claimed = [r for r in box.rows() if r["claimed_by"]]
        assert len(claimed) == 40 and all(r["status"] == "pending" for r in claimed)
        assert all(r["claimed_until"] == NOW + dt.timedelta(seconds=60) for r in claimed)
        with httpx.Client() as client:
            notifiers = {"webhook": WebhookNotifier(receiver.url, client, timeout=10)}
            # before the lease runs out: the other 60 go, the dead one's 40 wait
            before = box.dispatch(notifiers, NOW + dt.timedelta(seconds=59))
            assert [a.key for a in before.sent] == [f"k{i:05d}" for i in range(40, 100)]
            assert box.dispatch(notifiers, NOW + dt.timedelta(seconds=59)).sent == []
            # after it: they go, once
            after = box.dispatch(notifiers, NOW + dt.timedelta(seconds=60))
            assert [a.key for a in after.sent] == [f"k{i:05d}" for i in range(40)]
        keys = Counter(receiver.keys)
    assert box.counts() == {"sent": 100}
    assert not any(r["claimed_by"] or r["claimed_until"] for r in box.rows())
    # only the alert in flight when the dispatcher died arrived twice (sent, never recorded as sent)
    assert set(keys) == {f"k{i:05d}" for i in range(100)}
    assert {k: n for k, n in keys.items() if n > 1} == {"k00000": 2}


def test_a_dispatcher_of_this_host_killed_mid_batch_leaves_its_alerts_at_once(db_url):
    box = _outbox(db_url)
    box.enqueue(_alerts(100), NOW)
    with Receiver(hang_first=True) as receiver:
        dead = _kill_mid_send(db_url, receiver)  # this host, its own process id
        [holder] = {r["claimed_by"] for r in box.rows() if r["claimed_by"]}
        assert holder.startswith(f"{socket.gethostname()}:{dead.pid}:")
        with httpx.Client() as client:
            notifiers = {"webhook": WebhookNotifier(receiver.url, client, timeout=10)}
            report = box.dispatch(notifiers, NOW + dt.timedelta(seconds=1))  # long before its lease ends
        keys = Counter(receiver.keys)
    assert len(report.sent) == 100 and box.counts() == {"sent": 100}
    assert {k: n for k, n in keys.items() if n > 1} == {"k00000": 2}


def test_a_late_mark_from_an_expired_claim_does_not_undo_the_dispatcher_that_took_over(db_url):
    a, b = _outbox(db_url), _outbox(db_url)
    a.enqueue(_alerts(2), NOW)
    [x, y] = a.claim(NOW, "a", limit=2, lease_s=60)
    assert b.claim(NOW + dt.timedelta(seconds=59), "b", limit=2) == []  # a's claim holds
    assert [r.key for r in b.claim(NOW + dt.timedelta(seconds=60), "b", limit=2)] == [x.key, y.key]
    # x: b sends it and records it; a, whose lease ran out, reports its send (a duplicate) and a failure
    assert b.mark_sent(x.id, NOW + dt.timedelta(seconds=61), worker="b")
    assert not a.mark_sent(x.id, NOW + dt.timedelta(seconds=90), worker="a")
    assert a.mark_failed(x, NOW + dt.timedelta(seconds=91), "timeout", worker="a") == "taken over"
    row = {r["key"]: r for r in a.rows()}[x.key]
    assert (row["status"], row["sent_at"], row["attempts"], row["last_error"], row["claimed_by"]) == \
        ("sent", NOW + dt.timedelta(seconds=61), 1, None, None)
    # y: while b still holds it, a's late failure changes nothing; a's late delivery is recorded (it
    # happened), and b, sending it too, learns it was second
    assert a.mark_failed(y, NOW + dt.timedelta(seconds=62), "timeout", worker="a") == "taken over"
    row = {r["key"]: r for r in a.rows()}[y.key]
    assert (row["status"], row["attempts"], row["claimed_by"]) == ("pending", 0, "b")
    assert a.mark_sent(y.id, NOW + dt.timedelta(seconds=63), worker="a")
    assert not b.mark_sent(y.id, NOW + dt.timedelta(seconds=64), worker="b")
    row = {r["key"]: r for r in a.rows()}[y.key]
    assert (row["status"], row["sent_at"], row["attempts"], row["claimed_by"]) == \
        ("sent", NOW + dt.timedelta(seconds=63), 1, None)
    assert a.claim(NOW + dt.timedelta(hours=1), "c") == []


class Recorder:
    """A notifier of ours that records what it sends, and may do something while sending."""

    channel = "webhook"

    def __init__(self, during=None, pause: float = 0.0):
        self.sent, self.during, self.pause = [], during, pause

    def send(self, alert: OutboxAlert) -> None:
        time.sleep(self.pause)
        if self.during:
            self.during(alert, len(self.sent))
        self.sent.append(alert.key)


def test_a_dispatcher_whose_lease_ran_out_mid_batch_stops_sending_what_was_taken_over(db_url):
    a, b = _outbox(db_url), _outbox(db_url)
    a.enqueue(_alerts(5), NOW)
    other = Recorder()
    taken = []

    def b_takes_over(alert, index):  # while a sends its first alert, past a's lease in b's time
        if index == 0:
            taken.append(b.dispatch({"webhook": other}, NOW + dt.timedelta(seconds=0.31), worker="b"))

    mine = Recorder(during=b_takes_over, pause=0.15)
    report = a.dispatch({"webhook": mine}, NOW, worker="a", lease_s=0.3)
    assert other.sent == [f"k{i:05d}" for i in range(5)]  # b took over all five and sent them
    assert mine.sent == ["k00000"]  # a sent only the one in hand, and knows it went twice
    assert [x.key for x in report.duplicates] == ["k00000"] and report.sent == []
    assert [x.key for x in report.taken_over] == [f"k{i:05d}" for i in range(1, 5)]
    assert a.counts() == {"sent": 5}


def test_a_dispatcher_making_progress_keeps_its_claim(db_url):
    a, b = _outbox(db_url), _outbox(db_url)
    a.enqueue(_alerts(5), NOW)
    grabbed = []

    def b_tries(alert, index):  # at the fourth send, b claims past a's first lease (not its renewed one)
        if index == 3:
            grabbed.extend(b.claim(NOW + dt.timedelta(seconds=0.35), "b"))

    report = a.dispatch({"webhook": Recorder(during=b_tries, pause=0.12)}, NOW, worker="a", lease_s=0.3)
    assert grabbed == []
    assert len(report.sent) == 5 and not report.duplicates and not report.taken_over


def test_a_claim_takes_the_oldest_due_alerts_of_the_channels_and_shard_asked_for(db_url):
    box = _outbox(db_url)
    later = AlertIn(key="later", subscription_id=None, chat_id="c", channel="webhook", kind="level", text="quiet",
                    not_before=NOW + dt.timedelta(hours=6))
    other = AlertIn(key="other", subscription_id=None, chat_id="c", channel="telegram", kind="level", text="tg")
    box.enqueue([*_alerts(3), later, other, *_alerts(8)[3:]], NOW)
    ids = {r["key"]: r["id"] for r in box.rows()}
    first = box.claim(NOW, "w1", limit=3, channels=["webhook"])
    assert [a.key for a in first] == ["k00000", "k00001", "k00002"]
    even = box.claim(NOW, "w2", limit=10, channels=["webhook"], shard=(0, 2))
    assert [a.key for a in even] == [k for k in ("k00003", "k00004", "k00005", "k00006", "k00007")
                                     if ids[k] % 2 == 0]
    rest = box.claim(NOW, "w3", limit=10, channels=["webhook"])
    assert sorted(a.key for a in first + even + rest) == [f"k{i:05d}" for i in range(8)]  # each once
    assert box.claim(NOW, "w4", channels=["webhook"]) == [] and box.claim(NOW, "w4", channels=[]) == []
    assert box.held(NOW, channels=["webhook"]) == 2  # the quiet one, and the one no notifier here can send
    assert box.release("w3") == len(rest)
    assert [a.key for a in box.claim(NOW, "w4", limit=100, channels=["webhook"])] == [a.key for a in rest]
    assert [a.key for a in box.claim(NOW, "w5")] == ["other"]
    with pytest.raises(ValueError, match="lease"):
        box.claim(NOW, "w6", lease_s=0)
