"""One scheduler among several processes: the one holding a PostgreSQL advisory lock leads.

Several ``riskengine run`` processes may share one PostgreSQL store (for a standby that takes over
when the leader's machine dies). Only one of them may poll the sources, evaluate and send on its
timers, or every alert would be decided twice over. The leader holds a session-level advisory lock
on a connection kept for that alone; PostgreSQL releases the lock the moment that session ends (the
process killed, its machine gone, the network cut), and a standby, which asks for it every few
seconds, takes over. The leader checks its session too: once it is lost (the database restarted),
another may lead, so it stops leading at once.

SQLite is the single-process store: there the one process always leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from .store import Store

log = logging.getLogger("riskengine.leader")

#: The advisory lock's key ("riskengine scheduler"); other locks of the store use other keys.
SCHEDULER_LOCK = 0x5C4E_D01E


class Leadership:
    """Whether this process leads the scheduler (:meth:`acquire`), and keeping track of it (:meth:`held`)."""

    def __init__(self, store: Store):
        self.store = store
        self.shared = store.engine.dialect.name == "postgresql"
        self._conn = None  # the session holding the lock (PostgreSQL)

    def acquire(self) -> bool:
        """Take the lead if nobody holds it; True when this process leads (always, on SQLite)."""
        if not self.shared:
            return True
        if self._conn is not None:
            return self.held()
        conn = self.store.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK}).scalar())
            conn.commit()  # the lock is the session's: no transaction is left open while it is held
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """Whether the lead is still this process's: its session is alive (on SQLite: always)."""
        if not self.shared:
            return True
        if self._conn is None:
            return False
        try:
            alive = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND objid = :low AND granted"), {"low": SCHEDULER_LOCK & 0xFFFFFFFF}).scalar()
            self._conn.commit()
        except Exception:  # the session is gone, and the lock with it
            log.warning("lost the scheduler's lock: its database session ended")
            self._drop()
            return False
        if not alive:
            self._drop()
        return bool(alive)

    def release(self) -> None:
        """Give up the lead (a clean stop: a standby takes over at once)."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEDULER_LOCK})
            self._conn.commit()
        except Exception:  # noqa: BLE001 - the session is gone: the lock went with it
            pass
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back to the pool: its session may hold the lock
            except Exception:  # noqa: BLE001
                pass
