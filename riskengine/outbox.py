"""The alert outbox: every alert is written down before it is sent, and marked sent after.

An alert's idempotency key is unique, so deciding it twice stores it once. Dispatch sends what is
due (not held by quiet hours, not waiting for a retry), marks each one sent the moment its notifier
confirms, and backs off after failures; after a crash, what was not marked sent goes out on the
next dispatch and what was marked sent never again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from .alerts import AlertIn, AlertPolicy
from .notify import DeliveryError, Notifier, OutboxAlert, PermanentDeliveryError
from .schema import outbox, subscriptions
from .store import Store

log = logging.getLogger("riskengine.outbox")


@dataclass
class DispatchReport:
    sent: list[OutboxAlert] = field(default_factory=list)
    retrying: list[OutboxAlert] = field(default_factory=list)
    dead: list[OutboxAlert] = field(default_factory=list)
    held: int = 0  # pending but not due yet (quiet hours, back-off)


class Outbox:
    """The outbox table of a store."""

    def __init__(self, store: Store, policy: AlertPolicy):
        self.engine, self.writer, self.policy = store.engine, store.writer, policy
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def enqueue(self, alerts: Sequence[AlertIn], now: dt.datetime) -> list[AlertIn]:
        """Store alerts not stored before (by key); returns those that were new.

        With :class:`~riskengine.alerts.Decisions`, the subscribers' level states are stored in the
        same transaction, and a subscriber's level alerts still waiting (held by quiet hours) are
        superseded when a newer one is stored or the level has fallen below theirs: nobody gets
        "now High" at 06:05 after "now Extreme" at 23:35, nor a rise that has passed.
        """
        added = []
        with self.writer.begin() as conn:
            for alert in alerts:
                when = alert.not_before or now
                statement = self._insert(outbox).values(
                    key=alert.key, subscription_id=alert.subscription_id, chat_id=alert.chat_id,
                    channel=alert.channel, kind=alert.kind, text=alert.text, payload=alert.payload, created_at=now,
                    not_before=when, status="merged" if alert.merged_into else "pending", attempts=0,
                    next_attempt_at=when,
                ).on_conflict_do_nothing(index_elements=["key"])
                if conn.execute(statement).rowcount:
                    added.append(alert)
            levels = getattr(alerts, "levels", [])
            for state in levels:
                conn.execute(update(subscriptions).where(subscriptions.c.id == state.subscription_id).values(
                    last_level=state.level, alerted_level=state.alerted_level, episode=state.episode))
            if levels:
                self._supersede(conn, {s.subscription_id: s.level for s in levels}, added)
        return added

    @staticmethod
    def _supersede(conn, levels: dict[int, int], added: Sequence[AlertIn]) -> None:
        """Mark ``superseded`` the waiting level alerts of these subscribers that a newer level alert
        replaces or whose level has fallen since."""
        newer = {a.subscription_id: a.key for a in added if a.kind == "level"}
        waiting = conn.execute(select(outbox.c.id, outbox.c.key, outbox.c.subscription_id, outbox.c.payload).where(
            (outbox.c.status == "pending") & (outbox.c.kind == "level")
            & outbox.c.subscription_id.in_(list(levels)))).all()
        stale = [row.id for row in waiting
                 if (row.subscription_id in newer and row.key != newer[row.subscription_id])
                 or int((row.payload or {}).get("level", 0)) > levels[row.subscription_id]]
        if stale:
            conn.execute(update(outbox).where(outbox.c.id.in_(stale) & (outbox.c.status == "pending"))
                         .values(status="superseded", last_error="a newer state of the same subscription"))

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these alert keys are in the outbox already."""
        if not keys:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(select(outbox.c.key).where(outbox.c.key.in_(list(keys)))).scalars())

    @staticmethod
    def _in_shard(shard: tuple[int, int] | None):
        """The rows of shard ``(k, n)``: those whose id is k modulo n (every row is in exactly one shard)."""
        if shard is None:
            return true()
        k, n = shard
        if not (isinstance(k, int) and isinstance(n, int) and n >= 1 and 0 <= k < n):
            raise ValueError(f"shard must be (k, n) with 0 <= k < n, got {shard!r}")
        return (outbox.c.id % n) == k

    def due(self, now: dt.datetime, limit: int = 100, *, shard: tuple[int, int] | None = None) -> list[OutboxAlert]:
        query = (select(outbox).where((outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now)
                                      & self._in_shard(shard))
                 .order_by(outbox.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [OutboxAlert(r["id"], r["key"], r["chat_id"], r["channel"], r["kind"], r["text"], r["payload"],
                                r["attempts"]) for r in conn.execute(query).mappings()]

    def mark_sent(self, alert_id: int, now: dt.datetime) -> None:
        with self.writer.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == alert_id)
                         .values(status="sent", sent_at=now, attempts=outbox.c.attempts + 1, last_error=None))

    def mark_failed(self, alert: OutboxAlert, now: dt.datetime, error: str, *, permanent: bool = False,
                    retry_after: float | None = None) -> str:
        """Record a failed send; returns the new status (pending again, or dead)."""
        attempts = alert.attempts + 1
        dead = permanent or attempts >= self.policy.delivery.max_attempts
        delay = max(retry_after or 0.0, self.policy.retry_delay(attempts))
        with self.writer.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == alert.id).values(
                status="dead" if dead else "pending", attempts=attempts, last_error=error[:500],
                next_attempt_at=now + dt.timedelta(seconds=delay)))
        return "dead" if dead else "pending"

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        return {status: n for status, n in rows}

    def held(self, now: dt.datetime, *, shard: tuple[int, int] | None = None) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox).where(
                (outbox.c.status == "pending") & (outbox.c.next_attempt_at > now) & self._in_shard(shard)))
                .scalar_one())

    def rows(self, status: str | None = None) -> list[dict]:
        query = select(outbox).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def dispatch(self, notifiers: Mapping[str, Notifier], now: dt.datetime, *, limit: int = 100,
                 on_permanent: Callable[[OutboxAlert, PermanentDeliveryError], None] | None = None,
                 shard: tuple[int, int] | None = None) -> DispatchReport:
        """Send every due alert through its channel's notifier; one failure never stops the rest.

        ``shard=(k, n)`` dispatches only the alerts whose id is k modulo n (and counts only their held
        ones), so that n workers, one per shard, can dispatch side by side: the shards are disjoint, so no
        alert is sent by two workers. Two dispatchers of the same shard (or one sharded and one not) may
        still send an alert twice: give each shard exactly one worker.
        """
        report = DispatchReport()
        for alert in self.due(now, limit, shard=shard):
            notifier = notifiers.get(alert.channel)
            if notifier is None:
                log.debug("alert %s waits: no notifier for channel %r", alert.key, alert.channel)
                report.held += 1
                continue
            try:
                notifier.send(alert)
            except PermanentDeliveryError as exc:
                self.mark_failed(alert, now, str(exc), permanent=True)
                log.warning("alert %s to %s given up: %s", alert.key, alert.chat_id, exc)
                report.dead.append(alert)
                if on_permanent:
                    on_permanent(alert, exc)
                continue
            except DeliveryError as exc:
                status = self.mark_failed(alert, now, str(exc), retry_after=exc.retry_after)
                log.warning("alert %s to %s failed (%s), %s", alert.key, alert.chat_id, exc,
                            "given up" if status == "dead" else "will retry")
                (report.dead if status == "dead" else report.retrying).append(alert)
                continue
            except Exception as exc:  # a notifier bug must not stop the others
                status = self.mark_failed(alert, now, f"{exc.__class__.__name__}: {exc}")
                log.exception("alert %s: notifier %s crashed", alert.key, alert.channel)
                (report.dead if status == "dead" else report.retrying).append(alert)
                continue
            self.mark_sent(alert.id, now)
            report.sent.append(alert)
        report.held += self.held(now, shard=shard)
        return report
