"""Who wants to hear about which road: subscriptions, kept in the store.

A subscription is a chat (on a channel: the console, a webhook, Telegram) plus a target: a route
between two places, one segment, or a place with a radius; a minimum level; and optional quiet
hours in the subscriber's time zone. It also remembers what it was last told, so an alert is not
repeated for the same level; and the subscriber's own choices (:mod:`riskengine.choices`): the kinds
of incident they want to hear of, silence, and a snooze.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, delete, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError

from .errors import RiskEngineError
from .schema import outbox, subscriptions
from .store import Store

DEFAULT_TIMEZONE = "Africa/Tripoli"
KINDS = ("route", "segment", "place", "region")  # region: a broadcast channel's (riskengine.regions)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SubscriptionError(RiskEngineError, ValueError):
    """A subscription that cannot be made: an unknown kind, level, time zone or quiet-hours format."""


class SubscriptionLimitError(SubscriptionError):
    """A new subscription for a chat that already has as many as it may have."""

    def __init__(self, chat_id: str, limit: int):
        super().__init__(f"chat {chat_id} already has {limit} subscriptions, the most it may have")
        self.chat_id, self.limit = chat_id, limit


@dataclass(frozen=True)
class Subscription:
    id: int
    chat_id: str
    channel: str
    kind: str
    target: str
    radius_km: float | None
    min_level: int
    quiet_start: str | None
    quiet_end: str | None
    timezone: str
    paused: bool
    created_at: dt.datetime
    last_level: int
    alerted_level: int
    episode: int
    # v9: the subscriber's choices (see :mod:`bot.choices`): event kinds told (None: all), no sound,
    # and held until a time (never an Extreme level)
    event_kinds: tuple[str, ...] | None = None
    silent: bool = False
    snoozed_until: dt.datetime | None = None

    @property
    def route(self) -> tuple[str, str]:
        start, end = self.target.split("|", 1)
        return start, end

    def describe(self) -> str:
        if self.kind == "route":
            return "{} -> {}".format(*self.route)
        if self.kind == "place":
            return f"within {self.radius_km:g} km of {self.target}"
        if self.kind == "region":
            return f"region {self.target}"
        return f"segment {self.target}"

    def quiet_until(self, now: dt.datetime) -> dt.datetime | None:
        """If ``now`` falls in this subscriber's quiet hours, when they end (UTC); else None.

        Examples
        --------
        >>> sub = Subscription(1, "c", "console", "route", "A|B", None, 3, "22:00", "06:00", "Africa/Tripoli",
        ...                    False, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1, 0, 0)
        >>> sub.quiet_until(dt.datetime(2026, 11, 20, 23, 0, tzinfo=dt.UTC)).isoformat()  # 01:00 in Tripoli
        '2026-11-21T04:00:00+00:00'
        >>> sub.quiet_until(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)) is None
        True
        """
        if not self.quiet_start or not self.quiet_end:
            return None
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        start = _clock(self.quiet_start)
        end = _clock(self.quiet_end)
        t = local.time()
        inside = (start <= t < end) if start < end else (t >= start or t < end)
        if not inside:
            return None
        end_day = local.date() if (start < end or t < end) else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(end_day, end, zone).astimezone(dt.UTC)


def _clock(text: str) -> dt.time:
    m = _CLOCK.match(text)
    if not m:
        raise SubscriptionError(f"quiet hours time {text!r} is not HH:MM")
    return dt.time(int(m.group(1)), int(m.group(2)))


def parse_quiet_hours(text: str) -> tuple[str, str]:
    """``"22:00-06:00"`` -> ("22:00", "06:00"); a clear error for anything else."""
    parts = [p.strip() for p in text.replace("–", "-").split("-")]
    if len(parts) != 2:
        raise SubscriptionError(f"quiet hours {text!r} are not HH:MM-HH:MM")
    for part in parts:
        _clock(part)
    if parts[0] == parts[1]:
        raise SubscriptionError(f"quiet hours {text!r} start and end at the same time")
    return parts[0], parts[1]


def _row(r) -> Subscription:
    values = {k: r[k] for k in Subscription.__dataclass_fields__}
    kinds = values["event_kinds"]
    values["event_kinds"] = tuple(kinds) if kinds is not None else None
    values["silent"] = bool(values["silent"])
    until = values["snoozed_until"]
    if until is not None and until.tzinfo is None:
        values["snoozed_until"] = until.replace(tzinfo=dt.UTC)
    return Subscription(**values)


class Subscriptions:
    """The subscriptions table of a store."""

    def __init__(self, store: Store):
        self.engine, self.writer = store.engine, store.writer

    def add(self, *, chat_id: str, channel: str, kind: str, target: str, min_level: int, now: dt.datetime,
            radius_km: float | None = None, timezone: str = DEFAULT_TIMEZONE,
            quiet: tuple[str, str] | None = None, max_per_chat: int | None = None) -> Subscription:
        """Subscribe (or return the same subscription if it exists, with the new level and hours).

        With ``max_per_chat``, a new subscription for a chat (on this channel) that already has that many
        raises :class:`SubscriptionLimitError`; changing an existing one is always allowed.
        """
        if kind not in KINDS:
            raise SubscriptionError(f"subscription kind {kind!r} is not one of {', '.join(KINDS)}")
        if not 1 <= int(min_level) <= 5:
            raise SubscriptionError(f"minimum level {min_level!r} is not 1-5")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SubscriptionError(f"time zone {timezone!r} is unknown") from None
        if kind == "place" and not radius_km:
            raise SubscriptionError("a place subscription needs a radius in km")
        if kind == "region" and not re.fullmatch(r"[a-z][a-z0-9-]*", target):
            raise SubscriptionError(f"region {target!r} is not a region id (such as west)")
        values = {"min_level": int(min_level), "radius_km": radius_km, "timezone": timezone,
                  "quiet_start": quiet[0] if quiet else None, "quiet_end": quiet[1] if quiet else None,
                  "paused": False}
        same = and_(subscriptions.c.chat_id == str(chat_id), subscriptions.c.channel == channel,
                    subscriptions.c.kind == kind, subscriptions.c.target == target)
        with self.writer.begin() as conn:
            if max_per_chat is not None and conn.execute(select(subscriptions.c.id).where(same)).first() is None:
                held = conn.execute(select(func.count()).select_from(subscriptions).where(
                    (subscriptions.c.chat_id == str(chat_id)) & (subscriptions.c.channel == channel))).scalar_one()
                if held >= max_per_chat:
                    raise SubscriptionLimitError(str(chat_id), max_per_chat)
            try:
                with conn.begin_nested():
                    conn.execute(insert(subscriptions).values(
                        chat_id=str(chat_id), channel=channel, kind=kind, target=target, created_at=now,
                        last_level=1, alerted_level=0, episode=0, **values))
            except IntegrityError:
                conn.execute(update(subscriptions).where(same).values(**values))
            row = conn.execute(select(subscriptions).where(same)).mappings().one()
        return _row(row)

    def all(self, *, chat_id: str | None = None, include_paused: bool = False) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.id)
        if chat_id is not None:
            query = query.where(subscriptions.c.chat_id == str(chat_id))
        if not include_paused:
            query = query.where(subscriptions.c.paused.is_(False))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def get(self, subscription_id: int) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).mappings().first()
        return _row(row) if row else None

    def remove(self, subscription_id: int, *, chat_id: str | None = None) -> bool:
        """Remove one subscription (only the chat's own, when ``chat_id`` is given)."""
        query = delete(subscriptions).where(subscriptions.c.id == subscription_id)
        if chat_id is not None:
            query = query.where(subscriptions.c.chat_id == str(chat_id))
        with self.writer.begin() as conn:
            # alerts already sent stay in the outbox; they only lose their link to the subscription
            conn.execute(update(outbox).where(outbox.c.subscription_id == subscription_id).values(subscription_id=None))
            return conn.execute(query).rowcount > 0

    def set_quiet_hours(self, chat_id: str, quiet: tuple[str, str] | None) -> int:
        """Set (or clear) the quiet hours of every subscription of a chat; returns how many."""
        values = {"quiet_start": quiet[0] if quiet else None, "quiet_end": quiet[1] if quiet else None}
        with self.writer.begin() as conn:
            return conn.execute(update(subscriptions).where(subscriptions.c.chat_id == str(chat_id))
                                .values(**values)).rowcount

    def pause_chat(self, chat_id: str, paused: bool = True) -> int:
        """Pause (a chat that blocked us) or resume every subscription of a chat."""
        with self.writer.begin() as conn:
            return conn.execute(update(subscriptions).where(subscriptions.c.chat_id == str(chat_id))
                                .values(paused=paused)).rowcount

    # ---- the subscriber's choices (bot: the ⚙ Settings keyboard; applied by riskengine.choices) ----

    def _own(self, subscription_id: int, chat_id: str | None):
        """The row of one subscription, only the chat's own when ``chat_id`` is given."""
        query = subscriptions.c.id == subscription_id
        return query if chat_id is None else query & (subscriptions.c.chat_id == str(chat_id))

    def _choose(self, subscription_id: int, chat_id: str | None, **values) -> Subscription | None:
        with self.writer.begin() as conn:
            if not conn.execute(update(subscriptions).where(self._own(subscription_id, chat_id))
                                .values(**values)).rowcount:
                return None
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).mappings().one()
        return _row(row)

    def set_event_kinds(self, subscription_id: int, kinds: Iterable[str] | None, *, chat_id: str | None,
                        known: Sequence[str]) -> Subscription | None:
        """Tell this subscriber only of incidents of these kinds (ids of ``known``, the policy's
        ``event_kinds``); None, or every known kind, tells all (kinds added to the rules later too).

        Returns the subscription as it is now; None when it is not the chat's or does not exist.
        """
        if kinds is None:
            chosen = None
        else:
            wanted = list(dict.fromkeys(kinds))
            unknown = [k for k in wanted if k not in known]
            if unknown:
                raise SubscriptionError(f"event kind {unknown[0]!r} is not one of {', '.join(known)}")
            chosen = None if set(wanted) == set(known) else [k for k in known if k in wanted]
        return self._choose(subscription_id, chat_id, event_kinds=null() if chosen is None else chosen)

    def set_silent(self, subscription_id: int, silent: bool, *, chat_id: str | None) -> Subscription | None:
        """Send this subscription's alerts without sound (or with it again); None when not the chat's."""
        if not isinstance(silent, bool):
            raise SubscriptionError(f"silent must be true or false, not {silent!r}")
        return self._choose(subscription_id, chat_id, silent=silent)

    def snooze(self, subscription_id: int, until: dt.datetime | None, *, chat_id: str | None,
               now: dt.datetime) -> Subscription | None:
        """Hold this subscription's alerts until ``until`` (None: no longer); None when not the chat's.

        Alerts already waiting for the old snooze to end follow the new one: with ``until`` None they
        are released at once (or when the subscriber's quiet hours end, if it is night for them).
        """
        if until is not None and (until.tzinfo is None or until <= now):
            raise SubscriptionError(f"snooze end {until.isoformat()} is not a time (with its zone) after "
                                    f"{now.isoformat()}")
        with self.writer.begin() as conn:
            row = conn.execute(select(subscriptions).where(self._own(subscription_id, chat_id))).mappings().first()
            if row is None:
                return None
            before = _row(row)
            conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id)
                         .values(snoozed_until=until))
            if before.snoozed_until is not None and before.snoozed_until > now:
                released = until or before.quiet_until(now) or now
                conn.execute(update(outbox).where(
                    (outbox.c.subscription_id == subscription_id) & (outbox.c.status == "pending")
                    & (outbox.c.attempts == 0) & (outbox.c.next_attempt_at == before.snoozed_until))
                    .values(not_before=released, next_attempt_at=released))
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).mappings().one()
        return _row(row)
