"""The outbox: written before sending, marked after; retries with back-off; blocked chats paused."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import DeliveryError, OutboxAlert, PermanentDeliveryError, WebhookNotifier
from riskengine.outbox import Outbox
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


class Flaky:
    """A notifier of ours that fails a given number of times, then delivers."""

    channel = "console"

    def __init__(self, failures: int, error=DeliveryError):
        self.failures, self.error, self.delivered = failures, error, []

    def send(self, alert: OutboxAlert) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error("service unavailable")
        self.delivered.append(alert.key)


@pytest.fixture
def outbox(fresh_db):
    store = Store.open(fresh_db)
    return Outbox(store, AlertPolicy.load(DEFAULT_RULES_DIR)), Subscriptions(store)


def alert(key: str, chat: str = "c1") -> AlertIn:
    return AlertIn(key=key, subscription_id=None, chat_id=chat, channel="console", kind="level", text=f"alert {key}")


def test_failed_sends_are_retried_with_growing_back_off(outbox):
    box, _ = outbox
    box.enqueue([alert("a")], NOW)
    notifier = Flaky(failures=2)
    report = box.dispatch({"console": notifier}, NOW)
    assert report.retrying and notifier.delivered == []
    first_retry = box.rows()[0]["next_attempt_at"]
    assert box.dispatch({"console": notifier}, NOW + dt.timedelta(seconds=5)).sent == []  # not yet due
    box.dispatch({"console": notifier}, NOW + dt.timedelta(seconds=20))  # second failure
    second_retry = box.rows()[0]["next_attempt_at"]
    assert (second_retry - first_retry).total_seconds() >= 39  # 20 s, then 40 s
    box.dispatch({"console": notifier}, NOW + dt.timedelta(minutes=5))
    assert notifier.delivered == ["a"]
    row = box.rows()[0]
    assert row["status"] == "sent" and row["attempts"] == 3
    assert box.dispatch({"console": notifier}, NOW + dt.timedelta(hours=1)).sent == []  # never again


def test_an_alert_is_given_up_after_max_attempts(outbox):
    box, _ = outbox
    box.enqueue([alert("a")], NOW)
    notifier = Flaky(failures=100)
    when = NOW
    for _ in range(box.policy.delivery.max_attempts):
        box.dispatch({"console": notifier}, when)
        when += dt.timedelta(hours=1)
    assert box.rows()[0]["status"] == "dead"


def test_one_failing_alert_does_not_block_the_others(outbox):
    box, _ = outbox
    box.enqueue([alert("a"), alert("b"), alert("c")], NOW)

    class FailsOnB:
        channel = "console"
        delivered: list[str] = []

        def send(self, a: OutboxAlert) -> None:
            if a.key == "b":
                raise RuntimeError("bug in a notifier")
            self.delivered.append(a.key)

    notifier = FailsOnB()
    report = box.dispatch({"console": notifier}, NOW)
    assert notifier.delivered == ["a", "c"] and [a.key for a in report.retrying] == ["b"]


def test_a_blocked_chat_is_paused_not_retried(outbox):
    box, subs = outbox
    subs.add(chat_id="c9", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOW)
    box.enqueue([alert("x", chat="c9")], NOW)
    paused = []
    box.dispatch({"console": Flaky(1, PermanentDeliveryError)}, NOW,
                 on_permanent=lambda a, e: paused.append(subs.pause_chat(a.chat_id)))
    assert box.rows()[0]["status"] == "dead" and paused == [1]
    assert subs.all() == [] and len(subs.all(include_paused=True)) == 1


def test_an_alert_without_a_notifier_for_its_channel_waits(outbox):
    box, _ = outbox
    box.enqueue([alert("t")], NOW)
    report = box.dispatch({}, NOW)
    assert report.held == 1 and box.rows()[0]["status"] == "pending" and box.rows()[0]["attempts"] == 0


class _Hook(BaseHTTPRequestHandler):
    answers: list[int] = []
    bodies: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append((self.headers["Idempotency-Key"], body))
        code = type(self).answers.pop(0) if type(self).answers else 204
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    _Hook.answers, _Hook.bodies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


def test_webhook_notifier_over_real_http(hook, outbox):
    box, _ = outbox
    box.enqueue([alert("w1"), alert("w2")], NOW)
    _Hook.answers = [503, 204, 404]
    with httpx.Client() as client:
        notifiers = {"console": WebhookNotifier(hook, client, timeout=2)}
        first = box.dispatch(notifiers, NOW)  # w1 -> 503 (retry), w2 -> 204
        assert [a.key for a in first.retrying] == ["w1"] and [a.key for a in first.sent] == ["w2"]
        second = box.dispatch(notifiers, NOW + dt.timedelta(minutes=1))  # w1 -> 404: permanent
        assert [a.key for a in second.dead] == ["w1"]
    assert [k for k, _ in _Hook.bodies] == ["w1", "w2", "w1"]
    assert _Hook.bodies[1][1]["text"] == "alert w2"


def test_sharded_dispatch_workers_side_by_side_send_each_alert_once(outbox):
    box, _ = outbox
    box.enqueue([alert(f"s{i}", chat=f"c{i}") for i in range(20)], NOW)
    ids = {r["key"]: r["id"] for r in box.rows()}
    lock, sent_by = threading.Lock(), {k: [] for k in range(3)}

    class Recorder:
        channel = "console"

        def __init__(self, shard: int):
            self.shard = shard

        def send(self, a: OutboxAlert) -> None:
            with lock:
                sent_by[self.shard].append(a.key)

    def worker(k: int) -> None:
        while box.dispatch({"console": Recorder(k)}, NOW, limit=3, shard=(k, 3)).sent:
            pass

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    everything = [key for keys in sent_by.values() for key in keys]
    assert sorted(everything) == sorted(ids) and len(everything) == 20  # all sent, none twice
    assert all(ids[key] % 3 == k for k, keys in sent_by.items() for key in keys)
    assert box.counts() == {"sent": 20}
    with pytest.raises(ValueError, match="shard"):
        box.dispatch({"console": Recorder(0)}, NOW, shard=(3, 3))


def test_a_shards_held_count_is_its_own(outbox):
    box, _ = outbox
    box.enqueue([alert(f"h{i}", chat=f"c{i}") for i in range(4)], NOW)
    box.dispatch({"console": Flaky(failures=100)}, NOW)  # all four wait for a retry
    assert box.held(NOW) == 4
    assert box.held(NOW, shard=(0, 2)) + box.held(NOW, shard=(1, 2)) == 4
    assert box.dispatch({"console": Flaky(0)}, NOW, shard=(1, 2)).held == box.held(NOW, shard=(1, 2)) == 2
