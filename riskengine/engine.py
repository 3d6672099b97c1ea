"""The engine in one object: gazetteer, roads, rules and store, and the questions users ask of them.

The CLI, the scheduler and the bot all go through :class:`RiskEngine`; nothing here reads the
clock: every question that depends on time takes ``at``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputFileError, InputRowError, NoRouteError
from .extract.extractor import Extractor
from .extract.lexicon import Lexicon
from .gazetteer import Gazetteer
from .mapping import SegmentIndex
from .models import Incident, Segment
from .roads import RoadNetwork
from .rules import RuleBook
from .scoring import Assessment, RouteScore, assess, score_route
from .store import ReportIn, Store
from .structured import read_acled_csv, read_incident_jsonl, sniff_format

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = PROJECT_DIR / "rules"
DEFAULT_SEEDS_DIR = PROJECT_DIR / "seeds"

#: An alternative route is offered only if it is at most this many times longer than the route.
ALTERNATIVE_MAX_DETOUR = 2.0


@dataclass
class IngestResult:
    """What one input file added to the store."""

    file: str
    format: str
    new_report: bool = False
    incidents_added: int = 0
    incidents_known: int = 0
    errors: list[InputRowError] = field(default_factory=list)


class RiskEngine:
    """Answers "how dangerous is this road, and why?" from the stored incidents."""

    def __init__(self, store: Store, rules: RuleBook, gazetteer: Gazetteer, network: RoadNetwork,
                 lexicon: Lexicon | None = None, seeds_dir: Path | None = None):
        self.seeds_dir = Path(seeds_dir or DEFAULT_SEEDS_DIR)
        self.store = store
        self.rules = rules
        self.gazetteer = gazetteer
        self.network = network
        self.lexicon = lexicon or Lexicon.load(rules.directory or DEFAULT_RULES_DIR, rules)

    @classmethod
    def open(cls, db: str | None = None, rules_dir: Path | str | None = None,
             seeds_dir: Path | str | None = None) -> RiskEngine:
        """Load rules and seeds and open (or create) the store."""
        rules_dir = Path(rules_dir or DEFAULT_RULES_DIR)
        rules = RuleBook.load(rules_dir)
        lexicon = Lexicon.load(rules_dir, rules)
        seeds = Path(seeds_dir or DEFAULT_SEEDS_DIR)
        gazetteer = Gazetteer.load(seeds)
        network = RoadNetwork.load(seeds, gazetteer)
        return cls(Store.open(db), rules, gazetteer, network, lexicon, seeds)

    @cached_property
    def index(self) -> SegmentIndex:
        return SegmentIndex(self.network.segments)

    @cached_property
    def extractor(self) -> Extractor:
        return Extractor(self.gazetteer, self.network, self.rules, self.lexicon)

    # ---- extract ------------------------------------------------------------------------------

    def extract_text(self, text: str, published: dt.date, *, source_reliability: str | None = None
                     ) -> list[Incident]:
        """The incidents a text report describes; nothing is stored."""
        return self.extractor.extract(text, published, source_reliability=source_reliability)

    def touched_segments(self, found: list[Incident]) -> list[list[str]]:
        """For each incident, the segments where its rules give it weight (for display)."""
        matches = self.index.match(found, self.rules.max_reach_km)
        out = []
        for inc, hits in zip(found, matches, strict=True):
            rule = self.rules.resolve(inc.event_type, inc.sub_event_type, tuple(inc.tags))
            radius = inc.radius_km if inc.radius_km is not None else self.rules.precision_radius_km(inc.geo_precision)
            out.append([seg for seg, km in sorted(hits, key=lambda h: h[1])
                        if rule.severity > 0 and km - radius < rule.reach_km])
        return out

    def ingest_text(self, text: str, *, source: str, published: dt.date, now: dt.datetime,
                    source_ref: str | None = None, source_reliability: str | None = None,
                    title: str | None = None, source_key: str | None = None) -> IngestResult:
        """Extract a text report's incidents and store both."""
        found = self.extract_text(text, published, source_reliability=source_reliability)
        report = ReportIn(source=source, format="text", text=text, source_ref=source_ref, published=published,
                          title=title, source_key=source_key)
        return self.ingest_incidents(report, found, now=now)

    # ---- ingest -------------------------------------------------------------------------------

    def ingest_incidents(self, report: ReportIn, found: list[Incident], *, now: dt.datetime) -> IngestResult:
        """Map incidents onto the roads and store them with their report."""
        for inc in found:
            self.rules.check_incident_kind(inc.event_type, inc.sub_event_type, inc.tags)
        matches = self.index.match(found, self.rules.max_reach_km)
        outcome = self.store.add_report(report, found, matches, now=now)
        return IngestResult(report.source_ref or report.source, report.format, outcome.new_report,
                            outcome.incidents_added, outcome.incidents_known)

    def ingest_file(self, path: Path | str, *, fmt: str = "auto", published: dt.date | None = None,
                    now: dt.datetime) -> IngestResult:
        """Read one input file and store what it holds; malformed rows are reported and skipped."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path}: cannot be read: {exc}") from None
        kind = sniff_format(path) if fmt == "auto" else fmt
        return self.ingest_content(text, kind=kind, source=path.name, source_ref=str(path), published=published,
                                   now=now)

    def ingest_content(self, text: str, *, kind: str, source: str, now: dt.datetime, source_ref: str | None = None,
                       source_key: str | None = None, published: dt.date | None = None,
                       source_reliability: str | None = None, title: str | None = None) -> IngestResult:
        """Store one report of any format: a text report is extracted, structured rows are read."""
        if kind == "text":
            return self.ingest_text(text, source=source, source_ref=source_ref, source_key=source_key,
                                    published=published or now.date(), now=now,
                                    source_reliability=source_reliability, title=title)
        where = source_ref or source
        if kind == "acled":
            read = read_acled_csv(where, text=text)
        elif kind == "jsonl":
            read = read_incident_jsonl(where, text=text)
        else:
            raise InputFileError(f"{where}: format {kind!r} is not supported (use text, acled or jsonl)")
        kept, errors = [], list(read.errors)
        for inc, line in zip(read.incidents, read.line_numbers, strict=True):
            try:
                self.rules.check_incident_kind(inc.event_type, inc.sub_event_type, inc.tags)
                for seg in inc.segments:
                    self.network.segment(seg)
            except (ValueError, LookupError) as exc:
                errors.append(InputRowError(where, line, str(exc).strip("'\"")))
                continue
            if source_reliability and not inc.source_reliability:
                inc = inc.model_copy(update={"source_reliability": source_reliability})
            kept.append(inc)
        report = ReportIn(source=source, format=kind, text=text, source_ref=source_ref, published=published,
                          source_key=source_key, title=title)
        result = self.ingest_incidents(report, kept, now=now)
        result.errors = sorted(errors, key=lambda e: e.line)
        return result

    # ---- questions ----------------------------------------------------------------------------

    def assess(self, at: dt.datetime) -> Assessment:
        """Every segment's score at ``at``, from incidents dated on or before it."""
        until = at.astimezone(dt.UTC).date()
        return assess(self.rules, self.network.segments, self.store.incidents_frame(until),
                      self.store.matches_frame(until), at)

    def _segment_rows(self, assessment: Assessment, path_segments: list[Segment], via: list[str]) -> list[dict]:
        rows = []
        for i, seg in enumerate(path_segments):
            s = assessment.segments.loc[seg.id]
            rows.append({
                "id": seg.id, "name": seg.name, "road": seg.road_name, "from": via[i], "to": via[i + 1],
                "length_km": round(seg.length_km, 1), "score": round(float(s["score"]), 1),
                "level": int(s["level"]), "level_name": s["level_name"], "incidents": int(s["incidents"]),
            })
        return rows

    def _incident_rows(self, weights: pd.DataFrame, limit: int | None = None) -> list[dict]:
        if weights.empty:
            return []
        rows = weights.head(limit) if limit else weights
        frame = self.store.incidents_frame().loc[rows["incident_id"]]
        out = []
        for (_, w), (_, inc) in zip(rows.iterrows(), frame.iterrows(), strict=True):
            out.append({
                "id": inc["id"], "event_type": inc["event_type"], "sub_event_type": inc["sub_event_type"],
                "tags": list(inc["tags"] or []), "date": inc["date"].isoformat(),
                "weight": round(float(w["weight"]), 4), "relief": round(float(w["relief"]), 4),
                "segment": w["segment_id"], "rule": w["rule_id"],
                "summary": inc["summary"] or inc["evidence"][:160],
                "confidence": None if pd.isna(inc["confidence"]) else float(inc["confidence"]),
                "evidence": inc["evidence"],
            })
        return out

    def route(self, start: str, end: str, at: dt.datetime) -> dict[str, Any]:
        """The risk of the road route between two places at ``at``, as the CLI's JSON document."""
        a, b = self.gazetteer.resolve(start), self.gazetteer.resolve(end)
        path = self.network.path(a.name, b.name)
        assessment = self.assess(at)
        route = score_route(self.rules, assessment, [s.id for s in path.segments])
        doc = {
            "from": a.name, "to": b.name, "at": assessment.now.isoformat(),
            "score": round(route.score, 1), "level": route.level, "level_name": route.level_name,
            "distance_km": round(path.length_km, 1), "via": list(path.via),
            "segments": self._segment_rows(assessment, path.segments, path.via),
            "worst_segment": route.worst_segment,
            "incidents": self._incident_rows(route.incidents),
            "alternative": self._alternative(assessment, a.name, b.name, path, route),
        }
        return doc

    def _alternative(self, assessment: Assessment, start: str, end: str, path, route: RouteScore) -> dict | None:
        """A safer route that avoids the worst segment, if there is one within a sensible detour."""
        if route.worst_segment is None:
            return None
        try:
            other = self.network.path(start, end, avoid=frozenset({route.worst_segment}))
        except NoRouteError:
            return None
        if other.length_km > ALTERNATIVE_MAX_DETOUR * path.length_km:
            return None
        alt = score_route(self.rules, assessment, [s.id for s in other.segments])
        if alt.score >= route.score:
            return None  # no safer way round
        return {
            "avoids": route.worst_segment, "score": round(alt.score, 1), "level": alt.level,
            "level_name": alt.level_name, "distance_km": round(other.length_km, 1), "via": list(other.via),
            "segments": self._segment_rows(assessment, other.segments, other.via),
        }

    def segments(self, at: dt.datetime) -> dict[str, Any]:
        """Every segment with its score and level at ``at``."""
        assessment = self.assess(at)
        rows = []
        for seg in self.network.segments:
            s = assessment.segments.loc[seg.id]
            rows.append({
                "id": seg.id, "name": seg.name, "road": seg.road_name, "from": seg.start, "to": seg.end,
                "length_km": round(seg.length_km, 1), "score": round(float(s["score"]), 1),
                "level": int(s["level"]), "level_name": s["level_name"], "incidents": int(s["incidents"]),
            })
        return {"at": assessment.now.isoformat(), "segments": rows}

    def explain(self, segment_id: str, at: dt.datetime) -> dict[str, Any]:
        """The incidents and rules behind one segment's score, factor by factor."""
        seg = self.network.segment(segment_id)
        assessment = self.assess(at)
        s = assessment.segments.loc[seg.id]
        contrib = assessment.contributions
        mine = contrib[contrib["segment_id"] == seg.id].sort_values("weight", ascending=False)
        incidents = self.store.incidents_frame().loc[mine["incident_id"]] if len(mine) else None
        items = []
        for i, (_, c) in enumerate(mine.iterrows()):
            inc = incidents.iloc[i]
            items.append({
                "id": c["incident_id"], "date": inc["date"].isoformat(), "event_type": inc["event_type"],
                "sub_event_type": inc["sub_event_type"], "tags": list(inc["tags"] or []),
                "rule": c["rule_id"], "severity": round(float(c["severity"]), 3),
                "age_days": round(float(c["age_days"]), 1), "time_decay": round(float(c["time_decay"]), 3),
                "distance_km": round(float(c["distance_km"]), 1), "gap_km": round(float(c["gap_km"]), 1),
                "distance_decay": round(float(c["distance_decay"]), 3),
                "confidence": round(float(c["confidence"]), 3),
                "fatalities_boost": round(float(c["fatalities_boost"]), 3), "weight": round(float(c["weight"]), 4),
                "relief": round(float(c["relief"]), 4),
                "summary": inc["summary"], "evidence": inc["evidence"], "source": inc["source"],
            })
        return {
            "segment": {"id": seg.id, "name": seg.name, "road": seg.road_name, "from": seg.start, "to": seg.end,
                        "length_km": round(seg.length_km, 1)},
            "at": assessment.now.isoformat(), "score": round(float(s["score"]), 1), "level": int(s["level"]),
            "level_name": s["level_name"], "total_weight": round(float(s["weight"]), 4),
            "kept": round(float(s["kept"]), 4),
            "formula": "weight = severity x time_decay x distance_decay x confidence x fatalities_boost; "
                       "kept = product of (1 - relief) over reopenings and truces; "
                       f"score = 100 x (1 - exp(-sum(weight) x kept / {self.rules.scoring.saturation:g}))",
            "incidents": items,
        }
