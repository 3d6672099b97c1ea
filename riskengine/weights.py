"""What each event weighs on each segment apart from its age, kept in the store (``event_weights``).

Scoring an event needs the rule its kind resolves to, its severity and reach, how much its reports
are believed together, its distance to each segment and the distance decay: none of it changes with
time (:func:`riskengine.scoring.standing_weights`). So it is computed when an event changes, in the
transaction that changes it, and stored; a question at a time ``now`` reads only the rows of the
segments it asks about, dated within the rules' horizon (an index on segment and date), and computes
only their time decay (:func:`riskengine.scoring.weights_at`). Rows of one segment, day and
half-life decay alike, so their base weights are also kept summed (``segment_days``): every
segment's score at any time is read from those sums, without reading the rows themselves.

The road statuses reports set (closures, checkpoints...) are kept the same way, per segment
(``event_statuses``, :func:`riskengine.road_status.stored_statuses`), under a fingerprint of their
own rules (meta ``statuses_rules``): other statuses rules make them again, without weighing again.

Every write to an event marks it unweighed (``events.weighed``); the writer weighs what is unweighed
before it commits (:meth:`Weigher.refresh`, through :meth:`Store.changing_events`). The rules the
rows were computed with are remembered by their fingerprint (meta ``weights_rules``): a writer with
other rules weighs every event again; a reader with other rules, or an event a writer without rules
left unweighed (a :class:`Store` used alone), is weighed in memory from the events themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import Text, bindparam, cast, delete, func, insert, or_, select, text, type_coerce, update
from sqlalchemy.engine import Connection

from .road_status import stored_statuses
from .rules import RuleBook
from .schema import (
    UNWEIGHED,
    WEIGHT_NUMBERS,
    event_statuses,
    event_weights,
    events,
    incident_segments,
    incidents,
    meta,
    pack_numbers,
    reports,
    segment_days,
)
from .scoring import event_confidence, standing_weights

__all__ = ["RULES_KEY", "SCORING_COLUMNS", "STATUSES_KEY", "Weigher", "read_events", "rules_fingerprint",
           "scoring_frame", "standing_rows", "stored_records", "stored_rules", "sum_days", "unweighed"]

#: ``meta`` key: the fingerprint of the rules the stored weights were computed with.
RULES_KEY = "weights_rules"
#: ``meta`` key: that of the road statuses kept with them (:attr:`RuleBook.statuses_fingerprint`).
STATUSES_KEY = "statuses_rules"

#: What weighing reads of an event, besides its reports' confidence.
SCORING_COLUMNS = ("event_type", "sub_event_type", "tags", "date", "geo_precision", "radius_km", "fatalities")

#: Events weighed per statement group (bounded memory when every event is weighed again), and from
#: how many events on a chunk is read as an id range rather than a list of ids.
CHUNK = 5_000
RANGE_FROM = 1_000
#: From how many events weighed at once the day sums are all made again rather than group by group.
RESUM_FROM = 20_000
#: A PostgreSQL advisory lock key: writers that weigh at once make their day sums one after the other.
DAY_SUMS_LOCK = 0x5E6D_A155


def rules_fingerprint(rules: RuleBook) -> str:
    """A hash of everything in the rules that standing weights depend on (kinds, severities, reaches,
    half-lives, precision and reliability factors, decays, corroboration): equal rules, equal hash,
    whatever the files' layout or comments (:attr:`RuleBook.fingerprint`, kept with a cached book)."""
    return rules.fingerprint


def scoring_frame(rules: RuleBook, frame: pd.DataFrame, event_reports: pd.DataFrame) -> pd.DataFrame:
    """Events (``frame``, indexed by id, with :data:`SCORING_COLUMNS`) as scoring reads them: with the
    confidence their reports (``event_reports``, as :meth:`Store.event_reports_frame`) give together."""
    credibility = event_confidence(rules, event_reports)
    frame["credibility"] = credibility.reindex(frame.index).to_numpy(dtype=float) if len(frame) else []
    frame["confidence"], frame["source_reliability"] = np.nan, None
    return frame


def standing_rows(rules: RuleBook, frame: pd.DataFrame, matches: pd.DataFrame,
                  event_reports: pd.DataFrame) -> pd.DataFrame:
    """The standing weights of events (:func:`scoring_frame`'s inputs, and their segment matches)."""
    return standing_weights(rules, scoring_frame(rules, frame, event_reports), matches)


def stored_rules(conn: Connection, key: str = RULES_KEY) -> str | None:
    """The fingerprint of the rules the stored weights (or what else is kept under ``key``) were
    computed with (None: never)."""
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def unweighed(conn: Connection, *, claim: bool = False, first: bool = False) -> list[str]:
    """The events whose stored weights are not up to date, in id order; ``claim`` (a writer about
    to weigh them): on PostgreSQL, locked so that two writers never weigh one event at once;
    ``first``: only the first (whether there is any)."""
    query = select(events.c.id).where(text(f"events.{UNWEIGHED}"))  # as its partial index says it
    query = query.order_by(events.c.id).limit(1 if first else None)
    if claim and conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


class Weigher:
    """Keeps a store's ``event_weights`` up to date with one set of rules."""

    def __init__(self, rules: RuleBook):
        self.rules = rules
        self.fingerprint = rules_fingerprint(rules)
        self.statuses_fingerprint = rules.statuses_fingerprint

    def refresh(self, conn: Connection) -> int:
        """Inside a writer's transaction: weigh every unweighed event (all of them when the stored
        weights come from other rules). Returns how many events were weighed."""
        again = stored_rules(conn) != self.fingerprint
        if again:
            conn.execute(delete(event_weights))
            conn.execute(update(events).values(weighed=False))
            _remember(conn, RULES_KEY, self.fingerprint)
        # the road statuses kept with the rows: made again for every event with other statuses rules
        statuses_again = stored_rules(conn, STATUSES_KEY) != self.statuses_fingerprint
        if statuses_again:
            conn.execute(delete(event_statuses))
            _remember(conn, STATUSES_KEY, self.statuses_fingerprint)
        ids = unweighed(conn, claim=True)
        from .store import among  # noqa: PLC0415 - the store builds on this module

        every_sum = again or len(ids) >= RESUM_FROM
        groups: set[tuple] = set()  # the day sums the changed rows belong to, before and after
        for first in range(0, len(ids), CHUNK):
            chunk = ids[first:first + CHUNK]
            these = among(events.c.id, chunk, conn.dialect.name)
            # many events in a row (every event weighed again): read their id range at once, the
            # others in it left out after reading, quicker than a long list of ids
            span = events.c.id.between(chunk[0], chunk[-1]) if len(chunk) >= RANGE_FROM else these
            old = among(event_weights.c.event_id, chunk, conn.dialect.name)
            if not every_sum:
                groups.update(conn.execute(select(*_GROUP).where(old & event_weights.c.weighs_until.is_not(None))))
            conn.execute(delete(event_weights).where(old))
            read = read_events(conn, span, only=frozenset(chunk))
            if not statuses_again:  # else made for every event below
                conn.execute(delete(event_statuses).where(among(event_statuses.c.event_id, chunk, conn.dialect.name)))
                _keep_statuses(conn, self.rules, read)
            rows = standing_rows(self.rules, *read)
            if len(rows):
                rows = rows.sort_values(["segment_id", "counts_until", "incident_id"], kind="stable")  # key order
                if not every_sum:
                    weigh = rows[rows["weighs_until"].notna()]
                    groups.update(zip(*(weigh[c.name].tolist() for c in _GROUP), strict=True))
                conn.execute(insert(event_weights), stored_records(rows))
            conn.execute(update(events).where(these).values(weighed=True))
        if every_sum:
            sum_days(conn)
        elif groups:
            sum_days(conn, groups)
        if statuses_again and self.rules.road_status.from_tags:
            # the events that may carry a tag that sets a status (a quick look at the tags' text;
            # the tags themselves are checked when the statuses are made)
            text_of = cast(events.c.tags, Text)
            find = func.strpos if conn.dialect.name == "postgresql" else func.instr
            _keep_statuses(conn, self.rules, read_events(conn, or_(*(
                find(text_of, f'"{tag}"') > 0 for tag in self.rules.road_status.from_tags))))
        return len(ids)


def _remember(conn: Connection, key: str, fingerprint: str) -> None:
    """Note in ``meta`` the fingerprint of the rules what is kept under ``key`` now comes from."""
    conn.execute(delete(meta).where(meta.c.key == key))
    conn.execute(insert(meta).values(key=key, value=fingerprint))


def _keep_statuses(conn: Connection, rules: RuleBook, read: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    """Store the road statuses the events of ``read`` (:func:`read_events`) set (``event_statuses``)."""
    statuses = stored_statuses(conn, rules, read[0], read[1])
    if statuses:
        conn.execute(insert(event_statuses), statuses)


def stored_records(rows: pd.DataFrame) -> list[dict]:
    """Standing weights (:func:`standing_rows`) as rows of ``event_weights``: the numbers packed in
    one value (:func:`riskengine.schema.pack_numbers`), those SQL reads also as their own columns."""
    numbers = pack_numbers({name: rows[name].to_numpy(dtype=float) for name in WEIGHT_NUMBERS})
    kept = [c.name for c in event_weights.columns if c.name not in ("event_id", "numbers")]
    records = rows[["incident_id", *kept]].rename(columns={"incident_id": "event_id"}).to_dict("records")
    for record, packed in zip(records, numbers, strict=True):
        record["numbers"] = packed
    return records


#: What identifies a day sum among the rows of ``event_weights`` (the rows of one segment, day and
#: half-life also share ``counts_until``, which leads the table's key: they are found at once).
_GROUP = (event_weights.c.segment_id, event_weights.c.counts_until, event_weights.c.date,
          event_weights.c.half_life_days)


def sum_days(conn: Connection, groups: set[tuple] | None = None) -> None:
    """Make the day sums (``segment_days``) of the rows that weigh again from ``event_weights``: all
    of them, or those of ``groups`` ((segment, counts until, date, half-life) of changed rows)."""
    if conn.dialect.name == "postgresql":  # another writer's sums wait until this one's are committed
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DAY_SUMS_LOCK})
    w, d = event_weights, segment_days
    summed = select(w.c.segment_id, w.c.date, w.c.half_life_days, func.max(w.c.weighs_until),
                    func.sum(w.c.base_weight), func.count()).where(w.c.weighs_until.is_not(None))
    summed = summed.group_by(w.c.segment_id, w.c.date, w.c.half_life_days)
    names = ["segment_id", "date", "half_life_days", "weighs_until", "weight", "events"]
    if groups is None:
        conn.execute(delete(d))
        conn.execute(insert(d).from_select(names, summed))
        return
    params = [{"s": s, "c": c, "d": day, "h": h} for s, c, day, h in sorted(groups)]
    conn.execute(delete(d).where((d.c.segment_id == bindparam("s")) & (d.c.date == bindparam("d"))
                                 & (d.c.half_life_days == bindparam("h"))), params)
    conn.execute(insert(d).from_select(names, summed.where(
        (w.c.segment_id == bindparam("s")) & (w.c.counts_until == bindparam("c"))
        & (w.c.date == bindparam("d")) & (w.c.half_life_days == bindparam("h")))), params)


def read_events(conn: Connection, which, only: frozenset[str] | None = None, *, status: str = "active"
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The events of ``status`` (active ones by default; the CAP export weighs retracted ones as
    they counted) that ``which`` selects (a condition on ``events``; of ``only``, when given),
    their segment matches and their reports, read in ``conn`` (a writer's transaction sees its own
    changes): what :func:`standing_rows` weighs. The status is checked here, not in the query, so
    that the query reads by id, whatever indexes the database has."""
    from .store import _each_once, _frame  # noqa: PLC0415 - the store builds on this module

    names = ["id", *SCORING_COLUMNS]
    columns = [type_coerce(events.c.tags, Text).label("tags") if c == "tags" else events.c[c] for c in names]
    frame = _frame(conn.execute(select(*columns, events.c.status).where(which).order_by(events.c.id)).all(),
                   [*names, "status"])
    keep = frame["status"] == status
    if only is not None:
        keep &= frame["id"].isin(only)
    frame = frame[keep].drop(columns="status")
    wanted = set(frame["id"])
    if len(frame):
        frame["tags"] = pd.Series(_each_once(frame["tags"].tolist(), json.loads), index=frame.index, dtype=object)
    matches = _frame(conn.execute(
        select(events.c.id, incident_segments.c.segment_id, incident_segments.c.distance_km)
        .join(events, events.c.location_incident == incident_segments.c.incident_id).where(which)
        .order_by(events.c.id, incident_segments.c.segment_id)).all(),
        ["incident_id", "segment_id", "distance_km"])
    source = func.coalesce(incidents.c.source, reports.c.source)
    told = _frame(conn.execute(
        select(incidents.c.event_id, source, reports.c.format, incidents.c.confidence, incidents.c.geo_precision,
               incidents.c.source_reliability)
        .join(reports, reports.c.id == incidents.c.report_id).join(events, events.c.id == incidents.c.event_id)
        .where(which).order_by(incidents.c.event_id, incidents.c.id)).all(),
        ["event_id", "source", "format", "confidence", "geo_precision", "source_reliability"])
    matches = matches[matches["incident_id"].isin(wanted)].reset_index(drop=True) if len(matches) else matches
    told = told[told["event_id"].isin(wanted)].reset_index(drop=True) if len(told) else told
    return frame.set_index("id", drop=False), matches, told
