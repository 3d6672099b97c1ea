"""Who must be told what: the alert policy (``rules/alerts.yaml``) applied to the current scores.

Decisions only: :func:`decide` turns subscriptions and an assessment into alerts, each with an
idempotency key, for the outbox to store and send. The same decision made twice gives the same
key, so nothing is ever told twice, whichever process decides.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update

from .choices import EventKind, Snooze, apply_choices, check_event_kinds
from .engine import RiskEngine
from .errors import NoRouteError, UnknownPlaceError, UnknownSegmentError
from .regions import UnknownRegionError, regions_of
from .rule_files import parse_rule_file
from .schema import event_audit, outbox
from .scoring import Assessment, RouteScore
from .subscriptions import Subscription, Subscriptions

alerts_log = logging.getLogger("riskengine.alerts")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IncidentAlerts(_Strict):
    min_severity: float = Field(ge=0, le=1)
    min_weight: float = Field(ge=0)


class QuietHours(_Strict):
    hold_below_level: int = Field(ge=1, le=6)


class Digest(_Strict):
    time: str
    timezone: str

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        dt.time.fromisoformat(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value


class Delivery(_Strict):
    retry_base_seconds: float = Field(gt=0)
    retry_max_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)


class AlertPolicy(_Strict):
    incident_alerts: IncidentAlerts
    quiet_hours: QuietHours
    digest: Digest
    delivery: Delivery
    level_marks: dict[int, str]
    #: the kinds of incident a subscriber may choose, and what a snooze offers (see riskengine.choices)
    event_kinds: list[EventKind]
    snooze: Snooze

    @classmethod
    def load(cls, rules_dir: Path | str) -> AlertPolicy:
        path = Path(rules_dir) / "alerts.yaml"
        policy = parse_rule_file(path, cls)
        check_event_kinds(policy.event_kinds, path)
        return policy

    def mark(self, level: int) -> str:
        return self.level_marks.get(int(level), "")

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait before the next try after ``attempts`` failed ones (exponential back-off)."""
        return min(self.delivery.retry_base_seconds * 2 ** max(attempts - 1, 0), self.delivery.retry_max_seconds)


@dataclass(frozen=True)
class AlertIn:
    """An alert decided but not yet stored: the outbox keeps it until it is confirmed sent."""

    key: str
    subscription_id: int | None
    chat_id: str
    channel: str
    kind: str  # level | update | allclear | incident | digest | correction | selftest
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    not_before: dt.datetime | None = None
    merged_into: str | None = None  # told inside another alert (kept so it is never told again)
    #: the situation it belongs to, ``sub:<id>:ep:<episode>``: a subscriber's level from its rise above
    #: their minimum to its fall back below it (see :data:`FOLLOWING_KINDS`)
    thread: str | None = None


#: The alerts that follow a situation's first message (the first level alert of its thread): a
#: further rise edits it and answers it loudly; an update (the level changed, no higher than told)
#: only edits it, silently; the all-clear edits it and answers it quietly; a new incident answers
#: it. The edits show the situation as it is now, so the first message always does too.
FOLLOWING_KINDS = frozenset({"level", "update", "allclear", "incident"})


def first_of_thread(alert: AlertIn) -> AlertIn:
    """An update of a situation nobody was told of yet is its first message: a level alert (with
    its sound, unless the subscriber chose silence)."""
    return replace(alert, kind="level", payload={k: v for k, v in alert.payload.items() if k != "update"})


@dataclass(frozen=True)
class LevelState:
    """A subscriber's level as the last evaluation left it (what a later rise is measured from)."""

    subscription_id: int
    level: int
    alerted_level: int
    episode: int


class Decisions(list):
    """The alerts owed (a list of :class:`AlertIn`), and the subscribers' level states they imply
    (``levels``): :meth:`riskengine.outbox.Outbox.enqueue` stores both in one transaction, so a
    crash never leaves a level recorded whose alert was not written (that alert would be lost)."""

    def __init__(self, alerts=(), levels=()):
        super().__init__(alerts)
        self.levels: list[LevelState] = list(levels)


@dataclass(frozen=True)
class TargetState:
    """A subscription's target now: its score and the incidents behind it."""

    name: str
    score: float
    level: int
    level_name: str
    worst_segment: str | None
    incidents: pd.DataFrame


def target_state(engine: RiskEngine, assessment: Assessment, sub: Subscription) -> TargetState:
    """Score what a subscription follows: a route, a segment, the segments near a place, or a region."""
    name = sub.describe()
    if sub.kind == "route":
        start, end = sub.route
        segment_ids = [s.id for s in engine.network.path(start, end).segments]
    elif sub.kind == "segment":
        segment_ids = [engine.network.segment(sub.target).id]
    elif sub.kind == "region":  # a broadcast channel: every segment of the region, shown by its name
        region = regions_of(engine).get(sub.target)
        segment_ids, name = list(region.segment_ids), region.name_en
    else:
        place = engine.gazetteer.resolve(sub.target)
        _, ids, _ = engine.index.nearest_points(np.array([place.lat]), np.array([place.lon]), sub.radius_km or 0)
        segment_ids = sorted(set(ids.tolist()))
    route: RouteScore = engine.score_segments(segment_ids, assessment.now) if segment_ids else None
    if route is None:
        return TargetState(name, 0.0, 1, engine.rules.level_name(1), None, pd.DataFrame())
    return TargetState(name, route.score, route.level, route.level_name, route.worst_segment,
                       route.incidents)


def _local(now: dt.datetime, zone: str) -> str:
    return now.astimezone(ZoneInfo(zone)).strftime("%d %b %H:%M")


def _incident_line(row: dict) -> str:
    return f"{row['date']} {row['summary']}".strip()


class AlertDecider:
    """Applies the policy to every active subscription."""

    def __init__(self, engine: RiskEngine, policy: AlertPolicy, subscriptions: Subscriptions,
                 known: Callable[[list[str]], set[str]] | None = None):
        """``known`` says which alert keys were decided before (the outbox), so that a message
        about a level rise lists only the incidents not told yet."""
        self.engine, self.policy, self.subscriptions = engine, policy, subscriptions
        self.known = known or (lambda keys: set())
        self._rows: dict[str, dict] = {}  # the events' rows read during one decision

    def _incident_rows(self, ids: list[str]) -> dict[str, dict]:
        """The events' rows, each read once per decision however many subscribers it concerns."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._rows]
        if missing:
            self._rows.update(self.engine.store.events_frame(ids=missing, active=False).loc[missing]
                              .to_dict("index"))
        return {i: self._rows[i] for i in ids}

    def _states(self, assessment: Assessment):
        """Each subscription with the state of what it follows, scored once per distinct target (many
        subscribers follow the same road); a target that cannot be scored is logged and skipped."""
        self._rows = {}
        scored: dict[tuple, TargetState | Exception] = {}
        for sub in self.subscriptions.all():
            key = (sub.kind, sub.target, sub.radius_km)
            if key not in scored:
                try:
                    scored[key] = target_state(self.engine, assessment, sub)
                except (NoRouteError, UnknownPlaceError, UnknownSegmentError, UnknownRegionError) as exc:
                    scored[key] = exc
            state = scored[key]
            if isinstance(state, Exception):
                alerts_log.warning("subscription %s (%s): %s", sub.id, sub.describe(), state)
                continue
            yield sub, state

    def _when(self, sub: Subscription, level: int, now: dt.datetime) -> dt.datetime:
        """Now, unless the subscriber's quiet hours hold this alert back until they end."""
        if level >= self.policy.quiet_hours.hold_below_level:
            return now
        return sub.quiet_until(now) or now

    def decide(self, now: dt.datetime) -> Decisions:
        """Alerts owed at ``now``: level rises and new severe incidents, for every subscription, with
        the level states they imply (stored with them by the outbox; nothing is written here but the
        cancelling of unsent alerts about retracted events)."""
        assessment = self.engine.assess(now)
        alerts: list[AlertIn] = []
        levels: list[LevelState] = []
        for sub, state in self._states(assessment):
            incidents = self._incident_alerts(sub, state, now)
            told = self.known([a.key for a in incidents])
            rise, level = self._level_alert(sub, state, now)
            levels.append(level)
            rise, fresh = apply_choices(sub, rise, [a for a in incidents if a.key not in told], self.policy,
                                        self.engine.store, now)  # the subscriber's kinds, silence, snooze
            alerts.extend(self._one_message(rise, fresh))
        corrections = self.corrections(now)
        told = self.known([a.key for a in corrections])
        return Decisions(alerts + [a for a in corrections if a.key not in told], levels)

    def corrections(self, now: dt.datetime) -> list[AlertIn]:
        """A correction for every alert sent about an event an analyst has since retracted, retyped or
        moved; alerts about a retracted event not sent yet are cancelled (status ``cancelled``): nobody
        was told, nobody is corrected. Each correction answers the alert it corrects."""
        with self.engine.store.engine.connect() as conn:
            query = (select(outbox.c.id, outbox.c.subscription_id, outbox.c.chat_id, outbox.c.channel,
                            outbox.c.status, outbox.c.payload, outbox.c.sent_at)
                     .where(outbox.c.kind.in_(("level", "incident")) & outbox.c.status.in_(("sent", "pending"))))
            told = conn.execute(query).mappings().all()
        about = {row["id"]: _event_ids(row["payload"]) for row in told}
        ids = sorted({i for found in about.values() for i in found})
        if not ids:
            return []
        events = self.engine.store.events_frame(ids=ids, active=False)
        retracted = set(events.index[events["status"] == "retracted"])
        changed = self._changes(ids)
        if not retracted and not changed:
            return []
        pending = [row["id"] for row in told if row["status"] == "pending" and about[row["id"]] & retracted]
        if pending:
            with self.engine.store.writer.begin() as conn:
                conn.execute(update(outbox).where(outbox.c.id.in_(pending) & (outbox.c.status == "pending"))
                             .values(status="cancelled", last_error="about a retracted event"))
        why = self._retraction_reasons(sorted(retracted))
        subs = {sub.id: sub for sub in self.subscriptions.all(include_paused=True)}
        out = []
        for row in told:
            sub = subs.get(row["subscription_id"])
            if row["status"] != "sent" or sub is None:
                continue
            for event_id in sorted(about[row["id"]] & retracted):
                ev = events.loc[event_id]
                line = _incident_line({"date": ev["date"].isoformat(), "summary": ev["summary"]})
                reason = why.get(event_id) or "no reason given"
                out.append(AlertIn(
                    key=f"sub:{sub.id}:correction:{event_id}", subscription_id=sub.id, chat_id=row["chat_id"],
                    channel=row["channel"], kind="correction",
                    text=f"Correction about {row['payload'].get('target', sub.describe())}: the incident I told you "
                         f"of was retracted by an analyst ({reason}): {line}. It no longer counts.",
                    payload={"target": row["payload"].get("target", sub.describe()), "incident_id": event_id,
                             "date": ev["date"].isoformat(), "summary": ev["summary"], "why": reason,
                             "at": now.isoformat(), "corrects": row["id"], "change": "retract"}))
            for event_id in sorted((about[row["id"]] & set(changed)) - retracted):
                told_at = _aware(row["sent_at"]) if row["sent_at"] is not None else None
                for change in changed[event_id]:
                    if told_at is None or _aware(change["at"]) <= told_at:
                        continue  # they were told of it as corrected already
                    out.append(self._changed(sub, row, events.loc[event_id], change, now))
        return out

    def _changes(self, event_ids: list[str]) -> dict[str, list[dict]]:
        """The analysts' retypes and moves of these events, oldest first."""
        query = (select(event_audit.c.id, event_audit.c.event_id, event_audit.c.action, event_audit.c.at,
                        event_audit.c.why, event_audit.c.detail)
                 .where(event_audit.c.event_id.in_(event_ids) & event_audit.c.action.in_(("retype", "move")))
                 .order_by(event_audit.c.id))
        found: dict[str, list[dict]] = {}
        with self.engine.store.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                found.setdefault(row["event_id"], []).append(dict(row))
        return found

    @staticmethod
    def _changed(sub: Subscription, told: dict, event: pd.Series, change: dict, now: dt.datetime) -> AlertIn:
        """The correction of an alert about an event an analyst retyped or moved after it was sent."""
        target = told["payload"].get("target", sub.describe())
        after = (change["detail"] or {}).get("after") or {}
        event_id, date = event.name, event["date"].isoformat()
        line = _incident_line({"date": date, "summary": event["summary"]})
        reason = change["why"] or "no reason given"
        if change["action"] == "move":
            where = (change["detail"] or {}).get("to", "")
            text = (f"Correction about {target}: an analyst moved the incident I told you of ({reason}): {line}. "
                    f"It is now placed at {where}.")
        else:
            where = " / ".join(v for v in (after.get("event_type"), after.get("sub_event_type")) if v)
            text = (f"Correction about {target}: an analyst changed what the incident I told you of was ({reason}): "
                    f"{line}. It is now {where}.")
        return AlertIn(
            key=f"sub:{sub.id}:correction:{event_id}:{change['id']}", subscription_id=sub.id, chat_id=told["chat_id"],
            channel=told["channel"], kind="correction", text=text,
            payload={"target": target, "incident_id": event_id, "date": date,
                     "summary": event["summary"], "why": reason, "at": now.isoformat(),
                     "corrects": told["id"], "change": change["action"], "now": where})

    def _retraction_reasons(self, event_ids: list[str]) -> dict[str, str]:
        """Why each event was retracted (its latest retraction in the audit trail)."""
        query = (select(event_audit.c.event_id, event_audit.c.why)
                 .where(event_audit.c.event_id.in_(event_ids) & (event_audit.c.action == "retract"))
                 .order_by(event_audit.c.id))
        with self.engine.store.engine.connect() as conn:
            return {event_id: why for event_id, why in conn.execute(query)}

    @staticmethod
    def _one_message(level: list[AlertIn], incidents: list[AlertIn]) -> list[AlertIn]:
        """A level rise and the new incidents behind it are one message, not several; the incidents
        are still recorded (as merged) so that they are never told on their own later."""
        if not level or not incidents:
            return level + incidents
        rise = level[0]
        kept = [line for line in rise.text.split("\n") if not line.startswith("Behind it:")]
        lines = [*kept, "New:"] + [f"- {a.payload['date']} {a.payload['summary']}" for a in incidents]
        combined = replace(rise, text="\n".join(lines),
                           payload={**rise.payload, "incident_ids": [a.payload["incident_id"] for a in incidents]})
        return [combined] + [replace(a, merged_into=rise.key) for a in incidents]

    def _level_alert(self, sub: Subscription, state: TargetState, now: dt.datetime
                     ) -> tuple[list[AlertIn], LevelState]:
        """The message a subscriber's level owes them now, if any, in the situation's thread: a rise
        above their minimum (the situation's first message, or one that follows it when the level rises
        above what they were told), an update (the level changed, no higher than told), or the all-clear."""
        alerted, episode = sub.alerted_level, sub.episode
        thread = f"sub:{sub.id}:ep:{episode}"
        was = f"{sub.last_level} {self.engine.rules.level_name(sub.last_level)}"
        worst = self.engine.network.segment(state.worst_segment).name if state.worst_segment else None
        out = []
        if state.level >= sub.min_level and state.level > alerted:
            top = state.incidents.head(1)["incident_id"].tolist()
            latest = self._incident_rows(top)
            lines = [f"{self.policy.mark(state.level)} {state.name}: now {state.level} {state.level_name} "
                     f"(score {state.score:.0f}; was {was})"]
            if worst:
                lines.append(f"Worst stretch: {worst}")
            if latest:
                lines.append("Behind it: " + _incident_line(next(iter(latest.values()))))
            lines.append(f"Assessed {_local(now, sub.timezone)} ({sub.timezone})")
            out.append(AlertIn(
                key=f"sub:{sub.id}:level:{state.level}:ep:{episode}", subscription_id=sub.id, chat_id=sub.chat_id,
                channel=sub.channel, kind="level", text="\n".join(lines),
                payload={"target": state.name, "level": state.level, "level_name": state.level_name,
                         "score": round(state.score, 1), "previous_level": sub.last_level, "worst_segment": worst,
                         "incident_ids": top, "at": now.isoformat(), "update": alerted > 0},
                not_before=self._when(sub, state.level, now), thread=thread))
            alerted = state.level
        elif state.level >= sub.min_level and alerted and state.level != sub.last_level:
            # the situation changed, no worse than they were told: its first message is brought up to
            # date, silently (a level they were told in this situation is not news again)
            lines = [f"{self.policy.mark(state.level)} {state.name}: now {state.level} {state.level_name} "
                     f"(score {state.score:.0f}; was {was})"]
            if worst:
                lines.append(f"Worst stretch: {worst}")
            lines.append(f"Updated {_local(now, sub.timezone)} ({sub.timezone})")
            out.append(AlertIn(
                key=f"sub:{sub.id}:update:ep:{episode}:{now:%Y%m%dT%H%M%S}", subscription_id=sub.id,
                chat_id=sub.chat_id, channel=sub.channel, kind="update", text="\n".join(lines),
                payload={"target": state.name, "level": state.level, "level_name": state.level_name,
                         "score": round(state.score, 1), "previous_level": sub.last_level, "worst_segment": worst,
                         "incident_ids": [], "at": now.isoformat(), "update": True},
                not_before=self._when(sub, state.level, now), thread=thread))
        elif state.level < sub.min_level and alerted:
            # it fell back below the subscriber's minimum: an all-clear, sent quietly (a level alert of
            # this episode never sent is superseded with it: see Outbox.enqueue); a new rise is news again
            out.append(AlertIn(
                key=f"sub:{sub.id}:allclear:ep:{episode}", subscription_id=sub.id, chat_id=sub.chat_id,
                channel=sub.channel, kind="allclear",
                text=(f"{self.policy.mark(state.level)} {state.name}: back to {state.level} {state.level_name} "
                      f"(score {state.score:.0f}), below your alert level {sub.min_level}\n"
                      f"Assessed {_local(now, sub.timezone)} ({sub.timezone})"),
                payload={"target": state.name, "level": state.level, "level_name": state.level_name,
                         "score": round(state.score, 1), "previous_level": alerted, "min_level": sub.min_level,
                         "episode": episode, "at": now.isoformat()},
                not_before=self._when(sub, state.level, now), thread=thread))
            alerted, episode = 0, episode + 1
        return out, LevelState(sub.id, state.level, alerted, episode)

    def _incident_alerts(self, sub: Subscription, state: TargetState, now: dt.datetime) -> list[AlertIn]:
        rules = self.policy.incident_alerts
        frame = state.incidents
        if frame.empty:
            return []
        severe = frame[(frame["severity"] >= rules.min_severity) & (frame["weight"] >= rules.min_weight)]
        rows = self._incident_rows(severe["incident_id"].tolist())
        thread = f"sub:{sub.id}:ep:{sub.episode}" if sub.alerted_level else None  # a situation told: answer it
        out = []
        for incident_id, row in rows.items():
            learnt = row.get("ingested_at")
            if learnt is not None and not pd.isna(learnt) and _aware(learnt) < _aware(sub.created_at):
                continue  # known before this subscription began
            text = (f"{self.policy.mark(state.level)} New incident on {state.name}: {_incident_line(row)}\n"
                    f"{row['event_type']} / {row['sub_event_type'] or '-'}"
                    + (f", {int(row['fatalities'])} killed" if row.get("fatalities") else "")
                    + f"\n{state.name} is now {state.level} {state.level_name} (score {state.score:.0f}).")
            out.append(AlertIn(
                key=f"sub:{sub.id}:incident:{incident_id}", subscription_id=sub.id, chat_id=sub.chat_id,
                channel=sub.channel, kind="incident", text=text, thread=thread,
                payload={"target": state.name, "incident_id": incident_id, "summary": row["summary"],
                         "date": str(row["date"]), "event_type": row["event_type"], "level": state.level,
                         "level_name": state.level_name, "score": round(state.score, 1), "at": now.isoformat()},
                not_before=self._when(sub, state.level, now)))
        return out

    def digest(self, now: dt.datetime) -> list[AlertIn]:
        """One summary per subscription: the level now and what happened in the last day."""
        assessment = self.engine.assess(now)
        day_ago = now - dt.timedelta(days=1)
        out = []
        for sub, state in self._states(assessment):
            rows = self._incident_rows(state.incidents["incident_id"].tolist()) if not state.incidents.empty else {}
            recent = [r for r in rows.values() if r.get("ingested_at") is not None and not pd.isna(r["ingested_at"])
                      and _aware(r["ingested_at"]) >= day_ago]
            local_day = now.astimezone(ZoneInfo(sub.timezone)).date()
            lines = [f"Daily digest {local_day:%d %b %Y}: {state.name}",
                     f"{self.policy.mark(state.level)} {state.level} {state.level_name} (score {state.score:.0f})",
                     f"New incidents in the last 24 h: {len(recent)}"]
            lines += [f"- {_incident_line(r)}" for r in recent[:5]]
            out.append(AlertIn(
                key=f"sub:{sub.id}:digest:{local_day.isoformat()}", subscription_id=sub.id, chat_id=sub.chat_id,
                channel=sub.channel, kind="digest", text="\n".join(lines),
                payload={"target": state.name, "level": state.level, "level_name": state.level_name,
                         "score": round(state.score, 1), "recent": len(recent), "at": now.isoformat()},
                not_before=self._when(sub, state.level, now)))
        return out


def _event_ids(payload: dict | None) -> set[str]:
    """The events an alert told of (an incident alert's one, a level alert's list)."""
    payload = payload or {}
    ids = set(payload.get("incident_ids") or [])
    if payload.get("incident_id"):
        ids.add(payload["incident_id"])
    return ids


def _aware(value) -> dt.datetime:
    """Stored times come back naive from SQLite: they are UTC."""
    value = pd.Timestamp(value).to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

