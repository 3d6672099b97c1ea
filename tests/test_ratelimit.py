"""The per-user command budget kept in the store: every worker of one bot spends from the same bucket."""

from __future__ import annotations

import threading
from collections import Counter

from bot.ratelimit import RateLimit
from riskengine.store import Store


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_two_workers_share_one_budget_per_user(db_url):
    clock = Clock()
    one = RateLimit(Store.open(db_url), 4, now=clock)
    two = RateLimit(Store.open(db_url), 4, now=clock)  # another worker: its own connections
    verdicts = [worker.check(42) for worker in (one, two, one, two, one, two, one)]
    assert verdicts == ["ok", "ok", "ok", "ok", "warn", "drop", "drop"]  # 4 a minute in all, not 4 each
    assert one.check(7) == "ok"  # another user has a budget of their own
    clock.t += 30  # half a minute: two commands come back
    assert [two.check(42), one.check(42), two.check(42)] == ["ok", "ok", "warn"]


def test_concurrent_commands_from_many_threads_never_overspend(db_url):
    clock = Clock()
    workers = [RateLimit(Store.open(db_url), 20, now=clock) for _ in range(2)]
    verdicts: list[str] = []
    lock = threading.Lock()

    def flood(worker: RateLimit) -> None:
        for _ in range(25):
            verdict = worker.check(99)
            with lock:
                verdicts.append(verdict)

    threads = [threading.Thread(target=flood, args=(workers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(verdicts) == {"ok": 20, "warn": 1, "drop": 79}


def test_a_restart_does_not_refill_a_flooders_bucket(tmp_path):
    clock = Clock()
    path = str(tmp_path / "risk.db")
    first = RateLimit(Store.open(path), 2, now=clock)
    assert [first.check(5) for _ in range(3)] == ["ok", "ok", "warn"]
    again = RateLimit(Store.open(path), 2, now=clock)  # the process restarted
    assert again.check(5) == "drop"
