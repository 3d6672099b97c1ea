"""Each user's command budget: a token bucket of ``per_minute`` commands, refilled continuously.

The buckets live in the store (table ``rate_buckets``), so that every worker answering one bot
spends from the same budget: behind N webhook workers a user gets the limit once, not N times, and
a restart does not refill a flooder's bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from riskengine.schema import rate_buckets
from riskengine.store import Store


@dataclass
class Bucket:
    tokens: float
    at: float
    warned: bool = False


def spend(bucket: Bucket, now: float, per_minute: int) -> str:
    """Refill the bucket to ``now`` and take one command from it (it is changed in place):
    'ok' to go on; 'warn' the first time over the limit; 'drop' after that, until tokens come back.

    Examples
    --------
    >>> bucket = Bucket(tokens=2.0, at=0.0)
    >>> [spend(bucket, 0.0, 2) for _ in range(4)]
    ['ok', 'ok', 'warn', 'drop']
    >>> spend(bucket, 30.0, 2)  # half a minute: one command back
    'ok'
    """
    rate = per_minute / 60.0
    bucket.tokens = min(float(per_minute), bucket.tokens + max(0.0, now - bucket.at) * rate)
    bucket.at = now
    if bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        bucket.warned = False
        return "ok"
    if bucket.warned:
        return "drop"
    bucket.warned = True
    return "warn"


class RateLimit:
    """The buckets in the store, spent in one transaction per command (the row locked on
    PostgreSQL; the write lock on SQLite), on the wall clock every worker shares."""

    def __init__(self, store: Store, per_minute: int, now: Callable[[], float] = time.time):
        self.store, self.per_minute, self.now = store, per_minute, now
        self._insert = postgresql.insert if store.engine.dialect.name == "postgresql" else sqlite.insert

    def check(self, user_id: int) -> str:
        now = self.now()
        with self.store.writer.begin() as conn:
            conn.execute(self._insert(rate_buckets).values(user_id=user_id, tokens=float(self.per_minute), at=now,
                                                           warned=False).on_conflict_do_nothing())
            row = conn.execute(select(rate_buckets.c.tokens, rate_buckets.c.at, rate_buckets.c.warned)
                               .where(rate_buckets.c.user_id == user_id).with_for_update()).one()
            bucket = Bucket(row.tokens, row.at, bool(row.warned))
            verdict = spend(bucket, now, self.per_minute)
            conn.execute(update(rate_buckets).where(rate_buckets.c.user_id == user_id)
                         .values(tokens=bucket.tokens, at=bucket.at, warned=bucket.warned))
        return verdict
