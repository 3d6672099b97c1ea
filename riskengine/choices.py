"""A subscriber's own choices, applied to the alerts decided for them: event kinds, silence, snooze.

The kinds of incident one can choose are rules (``event_kinds`` in ``rules/alerts.yaml``): each is
a set of ACLED event types, sub-event types and road-threat tags, and an event is of every kind one
of its own names is listed under. The choices themselves are kept per subscription in the store
(:class:`~riskengine.subscriptions.Subscription`: ``event_kinds``, ``silent``, ``snoozed_until``;
the bot's ⚙ Settings keyboard sets them, :mod:`bot.choices`). :func:`apply_choices` is called by the
decider once per subscription, before a level rise and the new incidents behind it become one message:

* event kinds: an incident alert about an event of none of the chosen kinds is dropped; an event of
  no kind at all is always told (nothing unforeseen is hidden), and so is the road's level;
* silent: every alert is marked ``payload["quiet"]`` (the notifier sends it without sound);
* snooze: every alert waits until the snooze ends (the outbox supersedes and merges what waited, as
  it does for quiet hours), but an alert at or above ``snooze.hold_below_level`` (Extreme) never waits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from .errors import RuleFileError
from .models import ACLED_EVENT_TYPES
from .rule_files import Taxonomy, _Strict, parse_rule_file
from .rules import ACLED_SUB_EVENT_TYPES
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .alerts import AlertIn, AlertPolicy
    from .store import Store

#: Every ACLED sub-event type, whatever its event type.
_SUB_EVENT_TYPES = frozenset(s for subs in ACLED_SUB_EVENT_TYPES.values() for s in subs)


class EventKind(_Strict):
    """A kind of incident a subscriber can choose, by the names its events carry (any one suffices)."""

    #: short, lowercase: it travels in a button's callback data (64 bytes at most)
    id: str = Field(pattern=r"^[a-z][a-z_]{0,19}$")
    label: str = Field(min_length=1, max_length=40)
    event_types: list[str] = Field(default_factory=list)
    sub_event_types: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_acled_names(self) -> EventKind:
        if not (self.event_types or self.sub_event_types or self.tags):
            raise ValueError("lists no event type, sub-event type or tag: no event would be of this kind")
        for name in self.event_types:
            if name not in ACLED_EVENT_TYPES:
                raise ValueError(f"{name!r} is not an ACLED event type ({', '.join(ACLED_EVENT_TYPES)})")
        for name in self.sub_event_types:
            if name not in _SUB_EVENT_TYPES:
                raise ValueError(f"{name!r} is not an ACLED sub-event type")
        return self

    def covers(self, event_type: str | None, sub_event_type: str | None, tags: Iterable[str]) -> bool:
        """Whether an event with these names is of this kind.

        Examples
        --------
        >>> kind = EventKind(id="kidnapping", label="Kidnapping", sub_event_types=["Abduction/forced disappearance"],
        ...                  tags=["kidnapping"])
        >>> kind.covers("Violence against civilians", "Attack", ["kidnapping"]), kind.covers("Battles", None, [])
        (True, False)
        """
        return (event_type in self.event_types or sub_event_type in self.sub_event_types
                or any(tag in self.tags for tag in tags or ()))


class Snooze(_Strict):
    """What a snooze button offers, and the level a snooze never holds back."""

    hours: list[int] = Field(min_length=1, max_length=4)
    hold_below_level: int = Field(ge=1, le=6)

    @model_validator(mode="after")
    def _sensible_hours(self) -> Snooze:
        if any(not 1 <= h <= 72 for h in self.hours) or len(set(self.hours)) != len(self.hours):
            raise ValueError(f"snooze hours {self.hours} must be distinct, each 1 to 72")
        return self


def check_event_kinds(kinds: Sequence[EventKind], alerts_file: Path) -> None:
    """Reject event kinds naming a tag the taxonomy (``taxonomy.yaml`` beside ``alerts_file``) lacks,
    and kinds listed twice: while loading, not while deciding."""
    taxonomy: Taxonomy = parse_rule_file(alerts_file.with_name("taxonomy.yaml"), Taxonomy)
    known = [t.id for t in taxonomy.tags]
    seen: set[str] = set()
    for kind in kinds:
        if kind.id in seen:
            raise RuleFileError(str(alerts_file), kind.id, "id", "event kind listed twice")
        seen.add(kind.id)
        for tag in kind.tags:
            if tag not in known:
                raise RuleFileError(str(alerts_file), kind.id, "tags",
                                    f"unknown tag {tag!r}; the taxonomy's tags are {', '.join(known)}")


def kinds_of(event: dict, kinds: Sequence[EventKind]) -> set[str]:
    """The ids of the kinds an event (``event_type``, ``sub_event_type``, ``tags``) is of; often one,
    sometimes several (an ambush on soldiers is an ambush and a clash), or none."""
    return {k.id for k in kinds if k.covers(event.get("event_type"), event.get("sub_event_type"),
                                            event.get("tags") or ())}


def told_of(sub: Subscription, event: dict, kinds: Sequence[EventKind]) -> bool:
    """Whether a subscriber is told of an incident: always, unless they chose kinds and the event is
    of some kinds but none of theirs."""
    if sub.event_kinds is None:
        return True
    found = kinds_of(event, kinds)
    return not found or bool(found & set(sub.event_kinds))


def apply_choices(sub: Subscription, rise: list[AlertIn], incidents: list[AlertIn], policy: AlertPolicy,
                  store: Store, now: dt.datetime) -> tuple[list[AlertIn], list[AlertIn]]:
    """A subscription's level alerts and new incident alerts, as the subscriber chose to get them.

    Parameters
    ----------
    sub
        The subscription, with its choices.
    rise
        Its level alerts (a rise, an update or an all-clear): never dropped.
    incidents
        Its new incident alerts (kind ``incident``, ``payload["incident_id"]`` the event).
    policy
        The alert policy: the event kinds and the snooze rule.
    store
        Where the events' types and tags are read (only when the subscriber chose kinds).
    now
        The decision time: a snooze that has ended holds nothing.
    """
    if sub.event_kinds is not None and incidents:
        ids = [a.payload["incident_id"] for a in incidents]
        events = {e["id"]: e for e in store.event_records(ids, ["event_type", "sub_event_type", "tags"])}
        incidents = [a for a in incidents if told_of(sub, events.get(a.payload["incident_id"], {}),
                                                      policy.event_kinds)]
    return [_as_chosen(sub, a, policy, now) for a in rise], [_as_chosen(sub, a, policy, now) for a in incidents]


def _as_chosen(sub: Subscription, alert: AlertIn, policy: AlertPolicy, now: dt.datetime) -> AlertIn:
    """One alert with the subscriber's silence and snooze."""
    if sub.silent:
        alert = replace(alert, payload={**alert.payload, "quiet": True})
    until = sub.snoozed_until
    level = int(alert.payload.get("level") or 0)
    if until is not None and until > now and level < policy.snooze.hold_below_level:
        alert = replace(alert, not_before=max(alert.not_before or now, until))
    return alert
