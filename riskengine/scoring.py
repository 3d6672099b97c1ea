"""Segment and route scores from incidents, rules and a time ``now``, with their explanations.

Vectorised with pandas/numpy over all (incident, segment) matches at once:

    weight = severity x time decay x distance decay x confidence x fatalities boost
    score  = 100 x (1 - exp(-sum(weights) x kept / saturation))

where ``kept`` is 1 unless a confirmed reopening or truce touches the segment: each takes away its
``relief`` share (times its own decays and confidence) of the threat. A new threat incident only
adds weight, so it never lowers a score; as incidents age their weight decays and so does the score.
A route counts each incident once, with its largest weight on any of the route's segments, so an
incident at a junction is not counted twice.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .models import Segment
from .rules import RuleBook

if TYPE_CHECKING:
    from .incident import Incident

CONTRIBUTION_COLUMNS = [
    "incident_id", "segment_id", "distance_km", "gap_km", "rule_id", "severity", "age_days",
    "time_decay", "distance_decay", "confidence", "fatalities_boost", "weight", "relief",
]
#: What an incident weighs on a segment apart from its age (:func:`standing_weights`): computed once
#: when the event changes and stored (:mod:`riskengine.weights`); only time decay is left for ``now``.
STANDING_COLUMNS = [
    "incident_id", "segment_id", "date", "distance_km", "gap_km", "rule_id", "severity", "half_life_days",
    "distance_decay", "confidence", "fatalities_boost", "base_weight", "base_relief", "weighs_until", "counts_until",
]
#: The number columns among them.
STANDING_FLOATS = frozenset({"distance_km", "gap_km", "severity", "half_life_days", "distance_decay", "confidence",
                             "fatalities_boost", "base_weight", "base_relief"})


def as_days(values) -> np.ndarray:
    """Dates (ISO texts or date objects; None for none) as numpy days, each distinct date converted
    once: a network's rows hold a few hundred distinct days among tens of thousands of rows."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    codes, distinct = pd.factorize(values.astype(object))
    days = np.append(np.asarray(distinct, dtype=object).astype("datetime64[D]"), np.datetime64("NaT", "D"))
    return days[codes]  # a missing date (code -1): the last, NaT


def _as_utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(dt.UTC)


def contributions(rules: RuleBook, incidents: pd.DataFrame, matches: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """Weight of every incident on every segment it touches, at time ``now``, with each factor.

    ``incidents`` is indexed by incident id (columns as in the store); ``matches`` has
    ``incident_id``, ``segment_id`` and ``distance_km``. Rows whose weight is 0 are dropped.
    """
    return weights_at(rules, standing_weights(rules, incidents, matches), now)


def standing_weights(rules: RuleBook, incidents: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """What every incident weighs on every segment it touches, all but its age: the rule resolved for
    its kind, severity, distance decay, confidence and death-toll boost (``base_weight`` = severity x
    distance decay x confidence x boost; ``base_relief`` = relief share x distance decay x confidence),
    ``weighs_until``, the last day the row can weigh (its time decay is 0 after it; None when it
    never weighs), and ``counts_until``, the last day it can matter at all (weight, or coverage).
    None of it changes with time, so it is computed when an event changes, not at every question:
    a question at ``now`` reads only rows that still count.
    Rows that can never weigh (both bases 0) are dropped, unless the incident lies within the
    coverage distance of the segment (``coverage.near_km``): it still tells that the road is watched."""
    if incidents.empty or matches.empty:
        return pd.DataFrame(columns=STANDING_COLUMNS)
    kinds = incidents[["event_type", "sub_event_type", "tags"]].copy()
    kinds["tags"] = kinds["tags"].map(lambda t: tuple(t or ()))
    kinds["sub_event_type"] = kinds["sub_event_type"].where(kinds["sub_event_type"].notna(), None)
    resolved = {
        key: rules.resolve(*key)
        for key in set(zip(kinds["event_type"], kinds["sub_event_type"], kinds["tags"], strict=True))
    }
    rule = [resolved[k] for k in zip(kinds["event_type"], kinds["sub_event_type"], kinds["tags"], strict=True)]
    per_incident = pd.DataFrame(
        {
            "rule_id": [r.id for r in rule],
            "severity": [r.severity for r in rule],
            "half_life_days": [r.half_life_days for r in rule],
            "reach_km": [r.reach_km for r in rule],
            "relief_share": [r.relief for r in rule],
            "date": incidents["date"].to_numpy(),
        },
        index=incidents.index,
    )
    precision = incidents["geo_precision"].astype(int)
    default_radius = precision.map(rules.precision_radius_km)
    per_incident["radius_km"] = incidents["radius_km"].astype(float).fillna(default_radius)
    per_incident["confidence"] = report_confidence(rules, incidents)
    if "credibility" in incidents.columns:  # an event: what its reports give together
        per_incident["confidence"] = incidents["credibility"].astype(float).fillna(per_incident["confidence"])
    per_incident["fatalities_boost"] = rules.fatalities_boost(incidents["fatalities"].to_numpy())

    frame = matches.join(per_incident, on="incident_id", how="inner")
    frame["gap_km"] = np.maximum(frame["distance_km"].to_numpy() - frame["radius_km"].to_numpy(), 0.0)
    frame["distance_decay"] = rules.distance_decay(frame["gap_km"].to_numpy(), frame["reach_km"].to_numpy())
    present = frame["distance_decay"] * frame["confidence"]
    frame["base_weight"] = frame["severity"] * present * frame["fatalities_boost"]
    frame["base_relief"] = frame["relief_share"] * present
    near = frame["gap_km"] <= rules.scoring.coverage.near_km
    frame = frame[(frame["base_weight"] > 0) | (frame["base_relief"] > 0) | near]
    # the last day the row can weigh (none: it only tells coverage), and the last day it can matter
    # at all (while it weighs, and while it is recent enough for coverage)
    dates = as_days(frame["date"].to_numpy())
    weighs = (frame["base_weight"].to_numpy() > 0) | (frame["base_relief"].to_numpy() > 0)
    life = rules.weighs_for_days(frame["half_life_days"].to_numpy(dtype=float)).astype("timedelta64[D]")
    recent = np.timedelta64(rules.scoring.coverage.recent_days, "D")
    until = np.where(weighs, dates + life, np.datetime64("NaT"))
    frame = frame.assign(weighs_until=pd.Series(until, index=frame.index).dt.date.astype(object).where(weighs, None),
                         counts_until=(np.where(weighs, np.maximum(life, recent), recent) + dates).astype(object))
    return frame[STANDING_COLUMNS].reset_index(drop=True)


def weights_at(rules: RuleBook, standing: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """Contributions at ``now`` from standing weights (:func:`standing_weights`): only the time decay
    of each row is computed here (an incident's age counts from the midnight UTC that starts its date).
    Rows whose weight and relief are both 0 at ``now`` (too old, or dated after it) are dropped."""
    now = _as_utc(now)
    if standing.empty:
        return pd.DataFrame(columns=CONTRIBUTION_COLUMNS)
    days = as_days(standing["date"].to_numpy())
    midnight = days.astype("datetime64[s]").astype(np.int64)
    age_days = (now.timestamp() - midnight) / 86400.0
    decay = rules.time_decay(age_days, standing["half_life_days"].to_numpy(dtype=float))
    weight = standing["base_weight"].to_numpy(dtype=float) * decay
    relief = standing["base_relief"].to_numpy(dtype=float) * decay
    keep = (weight > 0) | (relief > 0)
    frame = standing.loc[keep, ["incident_id", "segment_id", "distance_km", "gap_km", "rule_id", "severity"]]
    frame = frame.assign(age_days=age_days[keep], time_decay=decay[keep],
                         distance_decay=standing["distance_decay"].to_numpy(dtype=float)[keep],
                         confidence=standing["confidence"].to_numpy(dtype=float)[keep],
                         fatalities_boost=standing["fatalities_boost"].to_numpy(dtype=float)[keep],
                         weight=weight[keep], relief=relief[keep])
    return frame[CONTRIBUTION_COLUMNS].reset_index(drop=True)


def report_confidence(rules: RuleBook, rows: pd.DataFrame) -> pd.Series:
    """How much one report of an incident is believed: its own confidence (from extraction, which
    already counts its location precision; else the location precision factor) x its source's
    reliability factor."""
    precision = rows["geo_precision"].astype(int)
    own = rows["confidence"].astype(float).fillna(precision.map(rules.precision_factor))
    return own * rows["source_reliability"].map(rules.reliability_factor)


def event_confidence(rules: RuleBook, reports: pd.DataFrame) -> pd.Series:
    """How much each event is believed, from its reports (:meth:`Store.event_reports_frame`).

    Reports from one source are not corroboration: each source counts with its best report.
    Independent sources corroborate (``rules/identity.yaml``): the event is believed unless every
    source is wrong, ``1 - prod(1 - best of each source)``, at most ``max_confidence``; never less
    than its best single source. An analyst's own entries (a moved place) are not corroboration.
    """
    from .events import ANALYST_FORMAT  # noqa: PLC0415 - scoring is used without a store too

    told = reports[reports["format"] != ANALYST_FORMAT]
    if told.empty:
        return pd.Series(dtype=float)
    own = report_confidence(rules, told)
    best = own.groupby([told["event_id"], told["source"].fillna("")]).max()
    single = best.groupby(level=0).max()
    together = 1.0 - (1.0 - best).groupby(level=0).prod()
    cap = rules.identity.corroboration.max_confidence
    return np.maximum(single, np.minimum(together, cap))


class Assessment:
    """All segment scores at one time, and the contributions behind them.

    ``contributions`` may be given as a function that reads them: every segment's score is known
    without them (:func:`segment_table_from_days`), and they are read only when first asked for.
    """

    def __init__(self, now: dt.datetime, contributions: pd.DataFrame | Callable[[], pd.DataFrame],
                 segments: pd.DataFrame):
        self.now = now
        self.segments = segments  # index segment_id: score, level, level_name, incidents, weight, kept
        self._contributions = contributions
        self._lock = threading.Lock()

    @property
    def contributions(self) -> pd.DataFrame:
        """Every (incident, segment) row that weighs at ``now`` (:data:`CONTRIBUTION_COLUMNS`)."""
        if callable(self._contributions):
            with self._lock:
                if callable(self._contributions):
                    self._contributions = self._contributions()
        return self._contributions

    @property
    def read(self) -> bool:
        """Whether the contributions are in hand."""
        return not callable(self._contributions)


def assess(rules: RuleBook, segments: Sequence[Segment], incidents: pd.DataFrame, matches: pd.DataFrame,
           now: dt.datetime) -> Assessment:
    """Score every segment of the network at ``now``."""
    contrib = contributions(rules, incidents, matches, now)
    return Assessment(_as_utc(now), contrib, segment_table(rules, [s.id for s in segments], contrib))


def segment_table(rules: RuleBook, segment_ids: Sequence[str], contrib: pd.DataFrame) -> pd.DataFrame:
    """The score, level, weight and incident count of each of ``segment_ids`` from its contributions."""
    log_kept = np.log1p(-np.minimum(contrib["relief"].to_numpy(dtype=float), 0.999))
    sums_of = pd.DataFrame({"segment_id": contrib["segment_id"].to_numpy(),
                            "weight": contrib["weight"].to_numpy(dtype=float), "log_kept": log_kept})
    grouped = sums_of.groupby("segment_id")
    sums = grouped.sum()
    # each segment's distinct incidents, counted on numbers (a grouped nunique costs more than the sums)
    incident, distinct = pd.factorize(contrib["incident_id"].to_numpy())
    width = max(len(distinct), 1)
    pairs = np.unique(grouped.ngroup().to_numpy() * width + incident)
    sums["incidents"] = np.bincount(pairs // width, minlength=len(sums))
    return _scored(rules, segment_ids, sums)


def segment_table_from_days(rules: RuleBook, segment_ids: Sequence[str], days: pd.DataFrame,
                            relieving: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """:func:`segment_table` at ``now`` from the day sums of the standing weights (``days``: segment,
    date, half-life, summed base weight, events; :meth:`Store.segment_days_frame`) and the standing
    weights that relieve (``relieving``): the rows of one day and half-life decay alike, so their
    summed weight decays as one. No contribution is read: the cost is that of the days, not of the
    events. Equal to the table made from the contributions but for the rounding of sums."""
    now = _as_utc(now)
    if len(days):
        midnight = as_days(days["date"].to_numpy()).astype("datetime64[s]").astype(np.int64)
        decay = rules.time_decay((now.timestamp() - midnight) / 86400.0, days["half_life_days"].to_numpy(dtype=float))
        sums = pd.DataFrame({"segment_id": days["segment_id"].to_numpy(),
                             "weight": days["weight"].to_numpy(dtype=float) * decay,
                             "incidents": np.where(decay > 0, days["events"].to_numpy(dtype=int), 0)})
        sums = sums.groupby("segment_id").sum()
    else:
        sums = pd.DataFrame({"weight": [], "incidents": []}, index=pd.Index([], name="segment_id"))
    relief = weights_at(rules, relieving, now)
    log_kept = pd.Series(np.log1p(-np.minimum(relief["relief"].to_numpy(dtype=float), 0.999)),
                         index=relief["segment_id"].to_numpy(), dtype=float)
    sums["log_kept"] = log_kept.groupby(level=0).sum().reindex(sums.index)
    return _scored(rules, segment_ids, sums)


def _scored(rules: RuleBook, segment_ids: Sequence[str], sums: pd.DataFrame) -> pd.DataFrame:
    """The table of ``segment_ids`` from each segment's summed weight, log of what reliefs keep and
    incident count (``sums``, by segment; a segment missing from it has none)."""
    table = pd.DataFrame(index=pd.Index(list(segment_ids), name="segment_id"))
    table = table.join(sums).fillna({"weight": 0.0, "log_kept": 0.0, "incidents": 0})
    table["weight"] = table["weight"].astype(float)
    table["incidents"] = table["incidents"].astype(int)
    table["kept"] = np.exp(table.pop("log_kept").astype(float))
    table["score"] = rules.score_from_weight(table["weight"].to_numpy() * table["kept"].to_numpy())
    table["level"] = rules.level_for(table["score"].to_numpy())
    table["level_name"] = table["level"].map(rules.level_name)
    return table


@dataclass(frozen=True)
class RouteScore:
    """A route's score: its distinct incidents each counted once at their largest weight."""

    score: float
    level: int
    level_name: str
    worst_segment: str | None
    incidents: pd.DataFrame  # one row per incident: incident_id, segment_id (where it weighs most), weight


def score_route(rules: RuleBook, assessment: Assessment, segment_ids: Sequence[str]) -> RouteScore:
    """Combine the scores of a route's segments (given in travel order)."""
    contrib = assessment.contributions
    on_route = contrib[contrib["segment_id"].isin(segment_ids)]
    # each incident at its largest weight (then relief), the first of equals: a stable sort by
    # both, descending, and each incident's first row in that order
    order = np.lexsort((-on_route["relief"].to_numpy(dtype=float), -on_route["weight"].to_numpy(dtype=float)))
    if "incident_code" in on_route.columns:  # each incident's number, given
        codes = on_route["incident_code"].to_numpy()
    else:
        codes = pd.factorize(on_route["incident_id"])[0]
    first = ~pd.Series(codes[order]).duplicated().to_numpy()
    per_incident = on_route.take(order[first]).reset_index(drop=True)
    total = float(per_incident["weight"].sum())
    kept = float(np.prod(1.0 - np.minimum(per_incident["relief"].to_numpy(dtype=float), 0.999)))
    score = float(rules.score_from_weight(total * kept))
    level = int(rules.level_for(score))
    seg_scores = assessment.segments.loc[list(segment_ids), "score"]
    worst = str(seg_scores.idxmax()) if len(seg_scores) and seg_scores.max() > 0 else None
    return RouteScore(score, level, rules.level_name(level), worst, per_incident)


def incident_frame(incidents: Sequence[Incident], ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Incidents (pydantic models) as the frame :func:`contributions` expects, without a store."""
    from .incident import Incident  # noqa: PLC0415 - a question about a route needs no pydantic
    ids = list(ids) if ids is not None else [inc.fingerprint() for inc in incidents]
    rows = [{"id": i, **inc.model_dump(mode="python")} for i, inc in zip(ids, incidents, strict=True)]
    columns = ["id", *Incident.model_fields]
    return pd.DataFrame(rows, columns=columns).set_index("id", drop=False)
