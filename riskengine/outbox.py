"""The alert outbox: every alert is written down before it is sent, and marked sent after.

An alert's idempotency key is unique, so deciding it twice stores it once. Dispatch sends what is
due (not held by quiet hours, not waiting for a retry), marks each one sent the moment its notifier
confirms, and backs off after failures; after a crash, what was not marked sent goes out on the
next dispatch and what was marked sent never again.

Several dispatchers (threads, processes, machines on one PostgreSQL store) share one outbox by
claiming what they send (:meth:`Outbox.claim`): a claim is taken in one transaction (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite's write lock on SQLite) and holds for a lease, renewed while its
dispatcher makes progress. An alert claimed by one is sent by no other until that lease has run
out: then its dispatcher is taken to have died, and another sends what it had not recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from .alerts import FOLLOWING_KINDS, AlertIn, AlertPolicy, first_of_thread
from .notify import DeliveryError, Notifier, OutboxAlert, PermanentDeliveryError
from .schema import outbox, subscriptions
from .store import Store

log = logging.getLogger("riskengine.outbox")

#: How long a dispatcher's claim on the alerts it took holds (seconds) unless renewed: longer than
#: one send can take (the Telegram notifier's timeout is 30 s), since a dispatcher that has not
#: renewed it by then is taken to have died and another sends its alerts.
DEFAULT_LEASE_S = 60.0


@dataclass
class DispatchReport:
    sent: list[OutboxAlert] = field(default_factory=list)
    retrying: list[OutboxAlert] = field(default_factory=list)
    dead: list[OutboxAlert] = field(default_factory=list)
    held: int = 0  # pending but not due yet (quiet hours, back-off), or for a channel without a notifier here
    #: sent here although another dispatcher had recorded it sent first (this one's lease ran out
    #: mid-batch and the other took it over): the receiver got it twice
    duplicates: list[OutboxAlert] = field(default_factory=list)
    #: claimed here but taken over by another dispatcher after this one's lease ran out, before it was
    #: sent here (so not sent here) or before its failure here was recorded (the other's outcome stands)
    taken_over: list[OutboxAlert] = field(default_factory=list)


class Outbox:
    """The outbox table of a store."""

    def __init__(self, store: Store, policy: AlertPolicy):
        self.engine, self.writer, self.policy = store.engine, store.writer, policy
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        self._token = secrets.token_hex(4)

    @property
    def worker(self) -> str:
        """This outbox's name as a dispatcher, ``host:pid:random``: unique per process and per
        :class:`Outbox` (the process id is read on each call, so a forked copy is another dispatcher)."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._token}"[-120:]

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
                if alert.kind == "update" and not self._thread_told(conn, alert.thread):
                    alert = first_of_thread(alert)  # nothing of it was told yet: it is the news itself
                when = alert.not_before or now
                statement = self._insert(outbox).values(
                    key=alert.key, subscription_id=alert.subscription_id, chat_id=alert.chat_id,
                    channel=alert.channel, kind=alert.kind, text=alert.text, payload=alert.payload, created_at=now,
                    not_before=when, status="merged" if alert.merged_into else "pending", attempts=0,
                    next_attempt_at=when, thread=alert.thread,
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
    def _thread_told(conn, thread: str | None) -> bool:
        """Whether this situation's level was told (a level alert of its thread was sent): an update
        then has a message to follow, an all-clear something to clear."""
        if thread is None:
            return False
        return conn.execute(select(outbox.c.id).where(
            (outbox.c.thread == thread) & (outbox.c.kind == "level") & (outbox.c.status == "sent")).limit(1)
        ).first() is not None

    def follows(self, alert: OutboxAlert) -> int | None:
        """The message id an alert follows, as its channel gave it: the one a correction corrects, or
        for a rise, an update or an all-clear of a situation already told, that situation's first
        message (None: it is the first, or the first went without an id)."""
        corrected = (alert.payload or {}).get("corrects")
        if corrected is not None:
            query = select(outbox.c.message_id).where(outbox.c.id == int(corrected))
        elif alert.thread is not None and alert.kind in FOLLOWING_KINDS and (
                alert.kind != "level" or (alert.payload or {}).get("update")):
            query = (select(outbox.c.message_id).where(
                (outbox.c.thread == alert.thread) & (outbox.c.status == "sent") & (outbox.c.id != alert.id)
                & (outbox.c.kind == "level") & outbox.c.message_id.is_not(None)).order_by(outbox.c.id).limit(1))
        else:
            return None
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return int(found) if found is not None else None

    @staticmethod
    def _supersede(conn, levels: dict[int, int], added: Sequence[AlertIn]) -> None:
        """Mark ``superseded`` the waiting level alerts of these subscribers that a newer level alert
        replaces or whose level has fallen since, and the waiting updates a newer update replaces."""
        newer = {a.subscription_id: a.key for a in added if a.kind == "level"}
        latest = {a.subscription_id: a.key for a in added if a.kind == "update"}
        if latest:
            conn.execute(update(outbox).where(
                (outbox.c.status == "pending") & (outbox.c.kind == "update")
                & outbox.c.subscription_id.in_(list(latest)) & outbox.c.key.not_in(list(latest.values())))
                .values(status="superseded", last_error="a newer state of the same subscription"))
        waiting = conn.execute(select(outbox.c.id, outbox.c.key, outbox.c.subscription_id, outbox.c.payload).where(
            (outbox.c.status == "pending") & (outbox.c.kind == "level")
            & outbox.c.subscription_id.in_(list(levels)))).all()
        stale = [row.id for row in waiting
                 if (row.subscription_id in newer and row.key != newer[row.subscription_id])
                 or int((row.payload or {}).get("level", 0)) > levels[row.subscription_id]]
        if stale:
            conn.execute(update(outbox).where(outbox.c.id.in_(stale) & (outbox.c.status == "pending"))
                         .values(status="superseded", last_error="a newer state of the same subscription"))
        # an all-clear for an episode whose rise was never told (held, then superseded) tells nothing
        for clear in (a for a in added if a.kind == "allclear"):
            if not Outbox._thread_told(conn, clear.thread):
                conn.execute(update(outbox).where((outbox.c.key == clear.key) & (outbox.c.status == "pending"))
                             .values(status="superseded", last_error="the rise it would clear was never told"))

    def newest_id(self) -> int:
        """The newest alert's row id (a lookup of the largest key): a watcher sees alerts any process
        queued (0: none yet)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(outbox.c.id))).scalar() or 0)

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
            return [_outbox_alert(r) for r in conn.execute(query).mappings()]

    def _claimable(self, now: dt.datetime, shard: tuple[int, int] | None, channels: Sequence[str] | None):
        """Due pending alerts nobody holds: never claimed, released, or claimed by a dispatcher whose
        lease has run out (it died, or hangs, mid-batch)."""
        free = outbox.c.claimed_until.is_(None) | (outbox.c.claimed_until <= now)
        where = (outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now) & free & self._in_shard(shard)
        return where if channels is None else where & outbox.c.channel.in_(list(channels))

    def claim(self, now: dt.datetime, worker: str, limit: int = 100, lease_s: float = DEFAULT_LEASE_S, *,
              shard: tuple[int, int] | None = None, channels: Sequence[str] | None = None) -> list[OutboxAlert]:
        """Take up to ``limit`` due alerts for ``worker`` to send, the oldest first, until ``now + lease_s``.

        One transaction selects and marks them: on PostgreSQL the rows are locked ``FOR UPDATE SKIP
        LOCKED``, so dispatchers claiming at the same moment take different alerts without waiting for
        each other; on SQLite the transaction holds the store's write lock (``BEGIN IMMEDIATE``), one
        claimer at a time. Alerts whose claim has run out are claimed again (their dispatcher is taken
        to have died). ``channels`` limits the claim to alerts this dispatcher has a notifier for.
        """
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, got {lease_s!r}")
        if limit <= 0 or (channels is not None and not channels):
            return []
        query = (select(outbox.c.id).where(self._claimable(now, shard, channels)).order_by(outbox.c.id).limit(limit)
                 .with_for_update(skip_locked=True))  # SQLite has no FOR UPDATE: SQLAlchemy leaves it out
        with self.writer.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                         .values(claimed_by=worker, claimed_until=now + dt.timedelta(seconds=lease_s)))
            rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id)).mappings()
            return [_outbox_alert(r) for r in rows]

    def renew(self, worker: str, ids: Sequence[int], now: dt.datetime, lease_s: float = DEFAULT_LEASE_S) -> set[int]:
        """Extend ``worker``'s claims on these alerts to ``now + lease_s``; returns the ids it still
        holds (not those another dispatcher took over after its lease ran out, nor those recorded since)."""
        if not ids:
            return set()
        mine = (outbox.c.id.in_(list(ids))) & (outbox.c.claimed_by == worker) & (outbox.c.status == "pending")
        with self.writer.begin() as conn:
            conn.execute(update(outbox).where(mine).values(claimed_until=now + dt.timedelta(seconds=lease_s)))
            return set(conn.execute(select(outbox.c.id).where(mine)).scalars())

    def release(self, worker: str) -> int:
        """Give up every claim ``worker`` holds (a dispatcher stopping cleanly); returns how many."""
        with self.writer.begin() as conn:
            return conn.execute(update(outbox).where(outbox.c.claimed_by == worker)
                                .values(claimed_by=None, claimed_until=None)).rowcount

    def release_orphans(self, now: dt.datetime) -> int:
        """Release the claims still running of this host's dispatchers whose process has ended (one
        killed and restarted need not wait for its own lease); returns how many alerts were released.

        A dispatcher is known by its name (:attr:`worker`, ``host:pid:random``): with the same host
        name, a process id that no longer exists means it has stopped. One of another host, or whose
        process id is in use, keeps its claim until its lease runs out. (Give dispatchers in separate
        process namespaces, e.g. containers, host names of their own, as they have by default.)
        """
        host = socket.gethostname()
        held = ((outbox.c.claimed_by.startswith(f"{host}:", autoescape=True)) & (outbox.c.claimed_until > now))
        with self.engine.connect() as conn:
            workers = conn.execute(select(outbox.c.claimed_by).where(held).distinct()).scalars().all()
        gone = [w for w in workers if _process_ended(w, host)]
        if not gone:
            return 0
        with self.writer.begin() as conn:
            released = conn.execute(update(outbox).where(outbox.c.claimed_by.in_(gone) & (outbox.c.status == "pending"))
                                    .values(claimed_by=None, claimed_until=None)).rowcount
        log.warning("released %d alerts claimed by dispatchers of this host that have stopped: %s", released,
                    ", ".join(gone))
        return released

    def mark_sent(self, alert_id: int, now: dt.datetime, *, worker: str | None = None,
                  message_id: int | None = None) -> bool:
        """Record an alert delivered, clearing its claim; returns whether this was its first record.

        With ``worker`` (a dispatcher that claimed it), a late record after its lease ran out and
        another dispatcher took the alert over still says what happened, since it was delivered: it
        marks the alert sent unless another dispatcher has recorded it sent already, in which case the
        row is left as that one wrote it and this returns False (the receiver got it twice). Without
        ``worker``, the alert is marked sent whatever its row says. ``message_id`` is the id the
        channel gave the message (later alerts of its situation follow it).
        """
        where = outbox.c.id == alert_id
        if worker is not None:
            where &= outbox.c.status != "sent"
        with self.writer.begin() as conn:
            return conn.execute(update(outbox).where(where).values(
                status="sent", sent_at=now, attempts=outbox.c.attempts + 1, last_error=None, claimed_by=None,
                claimed_until=None, message_id=message_id)).rowcount == 1

    def mark_failed(self, alert: OutboxAlert, now: dt.datetime, error: str, *, permanent: bool = False,
                    retry_after: float | None = None, worker: str | None = None) -> str:
        """Record a failed send, clearing its claim; returns the new status (pending again, or dead).

        With ``worker``, only while the alert is still claimed by it: once another dispatcher has taken
        it over (or recorded it), that one's outcome stands, nothing is written and this returns
        ``"taken over"``."""
        attempts = alert.attempts + 1
        dead = permanent or attempts >= self.policy.delivery.max_attempts
        delay = max(retry_after or 0.0, self.policy.retry_delay(attempts))
        where = outbox.c.id == alert.id
        if worker is not None:
            where &= outbox.c.claimed_by == worker
        with self.writer.begin() as conn:
            written = conn.execute(update(outbox).where(where).values(
                status="dead" if dead else "pending", attempts=attempts, last_error=error[:500],
                next_attempt_at=now + dt.timedelta(seconds=delay), claimed_by=None, claimed_until=None)).rowcount
        if not written:
            return "taken over"
        return "dead" if dead else "pending"

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        return {status: n for status, n in rows}

    def held(self, now: dt.datetime, *, shard: tuple[int, int] | None = None,
             channels: Sequence[str] | None = None) -> int:
        """How many pending alerts wait: not due yet (quiet hours, back-off) or, given the ``channels``
        a dispatcher has notifiers for, due on another channel."""
        waiting = outbox.c.next_attempt_at > now
        if channels is not None:
            waiting |= outbox.c.channel.not_in(list(channels))
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox).where(
                (outbox.c.status == "pending") & waiting & self._in_shard(shard))).scalar_one())

    def rows(self, status: str | None = None) -> list[dict]:
        query = select(outbox).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def dispatch(self, notifiers: Mapping[str, Notifier], now: dt.datetime, *, limit: int = 100,
                 on_permanent: Callable[[OutboxAlert, PermanentDeliveryError], None] | None = None,
                 shard: tuple[int, int] | None = None, worker: str | None = None,
                 lease_s: float = DEFAULT_LEASE_S) -> DispatchReport:
        """Claim up to ``limit`` due alerts and send each through its channel's notifier; one failure
        never stops the rest.

        Any number of dispatchers may run side by side (threads, processes, machines on one PostgreSQL
        store): each sends only what it claimed (:meth:`claim`, as ``worker``, by default
        :attr:`worker`). The claim is renewed while sends go on (every third of ``lease_s``, measured
        from ``now`` on the monotonic clock), and an alert another dispatcher took over meanwhile is
        skipped. A dispatcher that stops mid-batch (killed, hung in a send) leaves its unrecorded alerts
        claimed until the lease runs out (or, on its own host, until its process is seen gone:
        :meth:`release_orphans`); then another sends them, so the one in flight at that moment may
        arrive twice (as after any crash between "sent" and "recorded as sent").

        ``shard=(k, n)`` limits this dispatcher to the alerts whose id is k modulo n (and counts only
        their held ones). Claims make shards unnecessary for correctness; they still split the outbox,
        e.g. between bots.
        """
        worker = worker or self.worker
        report = DispatchReport()
        self.release_orphans(now)
        claimed = self.claim(now, worker, limit, lease_s, shard=shard, channels=list(notifiers))
        started = renewed = time.monotonic()
        mine = {alert.id for alert in claimed}
        for i, alert in enumerate(claimed):
            if time.monotonic() - renewed >= lease_s / 3:
                renewed = time.monotonic()
                mine = self.renew(worker, [a.id for a in claimed[i:]],
                                  now + dt.timedelta(seconds=renewed - started), lease_s)
            if alert.id not in mine:
                log.warning("alert %s: %s's claim ran out and another dispatcher took it over; not sent here",
                            alert.key, worker)
                report.taken_over.append(alert)
                continue
            notifier = notifiers[alert.channel]
            try:
                alert = replace(alert, follows=self.follows(alert))
                message_id = notifier.send(alert)
            except PermanentDeliveryError as exc:
                status = self.mark_failed(alert, now, str(exc), permanent=True, worker=worker)
                log.warning("alert %s to %s given up: %s", alert.key, alert.chat_id, exc)
                (report.dead if status == "dead" else report.taken_over).append(alert)
                if on_permanent:
                    on_permanent(alert, exc)
                continue
            except DeliveryError as exc:
                status = self.mark_failed(alert, now, str(exc), retry_after=exc.retry_after, worker=worker)
                log.warning("alert %s to %s failed (%s), %s", alert.key, alert.chat_id, exc,
                            "given up" if status == "dead" else "will retry")
                self._file(report, alert, status)
                continue
            except Exception as exc:  # a notifier bug must not stop the others
                status = self.mark_failed(alert, now, f"{exc.__class__.__name__}: {exc}", worker=worker)
                log.exception("alert %s: notifier %s crashed", alert.key, alert.channel)
                self._file(report, alert, status)
                continue
            if self.mark_sent(alert.id, now, worker=worker,
                              message_id=message_id if isinstance(message_id, int) else None):
                report.sent.append(alert)
            else:
                log.warning("alert %s to %s sent twice: %s's claim ran out mid-batch and another dispatcher "
                            "sent it first", alert.key, alert.chat_id, worker)
                report.duplicates.append(alert)
        report.held += self.held(now, shard=shard, channels=list(notifiers))
        return report

    @staticmethod
    def _file(report: DispatchReport, alert: OutboxAlert, status: str) -> None:
        {"dead": report.dead, "pending": report.retrying}.get(status, report.taken_over).append(alert)


def _process_ended(worker: str, host: str) -> bool:
    """Whether dispatcher ``worker`` of ``host`` (this host) has stopped: its process id exists no more."""
    pid = worker.removeprefix(f"{host}:").split(":")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def _outbox_alert(row) -> OutboxAlert:
    return OutboxAlert(row["id"], row["key"], row["chat_id"], row["channel"], row["kind"], row["text"], row["payload"],
                       row["attempts"], thread=row["thread"], subscription_id=row["subscription_id"])
