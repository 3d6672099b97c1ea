"""Event identity: several reports of one real event must be stored as one event and counted once.

Sources rarely agree on words: a wire service, a news site and a Telegram channel each tell the same
ambush with their own sentence, their own way of saying where ("near Sirte", "5 km west of Sirte") and
when ("yesterday", "on Tuesday", "on 14 March"). If the engine stores each telling as a new incident,
a road looks three times as dangerous as it is just because it is well covered. This benchmark
measures how well the engine recognises one event told several times, and that it does not merge
different events that merely happen close together.

Scenario "same" (one event, three tellings): N distinct synthetic events on the road network (seeded;
two of one type are more than 50 km or 7 days apart) are each written as 3 differently worded
English reports from 3 sources (reliabilities B, C, D). Store (a) gets all 3N reports. Targets: store
(a) holds N events within 5%, and no segment's score differs by 2 points or more from store (c), which
holds each true event once: one row of structured data combined from that event's own reports, grouped
by the truth (known here), the way the engine combines a group (place from the most precise report,
kind from the most reliable, the confidence all sources give together). So (a) and (c) differ only
where the engine grouped reports unlike the truth. Also printed: store (b), only the first wording of
each event, differs from (a) by design (corroboration and the most precise place), and how much
corroboration alone raises the scores.

Scenario "distinct" (close but different events): N events in clusters at the same town within a few
days (different types, or the same type with a different target, actor and day), each written once.
Target: fewer than 2% wrongly merged ((N - stored) / N).

The benchmark also checks its own reports: every report should yield one incident of its event's type
family, located within 15 km of the event (or on a stretch of road containing it) and dated on its day;
the misses are counted and printed, since they blur the figures above.

Run: ``python bench/event_identity.py [--events N] [--seed S] [--quick] [--distinct | --same]``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import random
import statistics
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskengine.engine import RiskEngine
from riskengine.events import derive
from riskengine.geo import geodesic_km
from riskengine.incident import Incident
from riskengine.models import Segment
from riskengine.rules import Section
from riskengine.scoring import event_confidence

#: The scoring time; every event is dated in the ~120 days before it.
SCORING_TIME = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SPREAD_DAYS = 120
#: Reports appear 0..3 days after the event, so events end this many days before the scoring time.
MAX_LAG = 3
#: (source name, Admiralty reliability) of the three sources.
SOURCES = (("wire-a", "B"), ("outlet-b", "C"), ("channel-c", "D"))
TELLINGS = 3

TARGET_COUNT_TOLERANCE = 0.05
TARGET_SCORE_POINTS = 2.0
TARGET_WRONGLY_MERGED = 0.02
#: How far from the event an extracted point may lie and still be the event's place.
PLACE_TOLERANCE_KM = 15.0

#: Scenario "same": two generated events of one type are at least this far apart in space or in time.
SEPARATION_KM = 50.0
SEPARATION_DAYS = 7

QUICK_EVENTS = 100
DEFAULT_EVENTS = 1000

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}

# ---- event material ---------------------------------------------------------------------------
# Each detail has three wordings; the k-th telling of an event uses the k-th wording of its details,
# so the three reports say the same thing in different words. {loc} is a place phrase, {when} a date
# phrase, {n} a number of people (a word), {target}/{victim}/{actor}/{other} details of the event.

TARGETS = [  # vehicles on the road
    ("a fuel tanker", "a tanker truck carrying fuel", "a lorry loaded with petrol"),
    ("a bus carrying workers", "a minibus with oil workers on board", "a bus transporting labourers"),
    ("a convoy of trucks", "a column of lorries", "several goods trucks travelling together"),
    ("a family car", "a private car carrying a family", "a saloon car with a family inside"),
    ("an ambulance", "a medical vehicle", "an ambulance of the local hospital"),
    ("a pick-up truck", "a pick-up", "a Toyota pick-up"),
]
#: Security forces as targets: not for ambushes or robberies, which the engine (like ACLED) reads as an
#: attack on security forces (Battles, tag "clashes") in some wordings and as an ambush in others.
SECURITY_TARGETS = [
    ("a military patrol", "an army patrol", "a patrol of soldiers"),
    ("a police car", "a police vehicle", "a patrol car of the police"),
]
VICTIMS = [  # people taken
    ("a doctor", "a physician", "a local doctor"),
    ("two engineers", "a pair of engineers", "two engineers working for an oil company"),
    ("a merchant", "a trader", "a businessman from the town"),
    ("three migrants", "a group of three migrants", "three foreign migrants"),
    ("a council member", "a member of the municipal council", "a local councillor"),
    ("a journalist", "a reporter", "a local journalist"),
    ("a lorry driver", "a truck driver", "the driver of a lorry"),
]
ACTORS = [  # armed groups
    ("an armed group", "a militia", "armed men"),
    ("a local brigade", "fighters of a local brigade", "members of a town brigade"),
    ("tribal fighters", "armed tribesmen", "gunmen from a local tribe"),
    ("a smuggling gang", "smugglers", "an armed smuggling network"),
]

#: type id -> (expected tag, templates). Templates differ in sentence structure, not only in words.
EVENT_TYPES: dict[str, tuple[str, list[str]]] = {
    "ambush": ("ambush", [
        "Gunmen ambushed {target} {loc} {when}, killing {n} people.",
        "{When}, {n} people were killed when attackers lying in wait opened fire on {target} {loc}.",
        "Security sources said {target} was ambushed {loc} {when} and {n} of those on board died.",
        "An ambush on {target} {loc} {when} left {n} people dead, residents said.",
    ]),
    "clash": ("clashes", [
        "Heavy clashes broke out between {actor} and {other} {loc} {when}.",
        "{When}, {actor} and {other} fought with machine guns {loc} for several hours.",
        "Fighting erupted {loc} {when} as {actor} clashed with {other}.",
        "Residents reported an armed clash between {actor} and {other} {loc} {when}.",
    ]),
    "ied": ("ied_landmine", [
        "{Target} struck a landmine {loc} {when}, wounding {n} people.",
        "A roadside bomb exploded as {target} passed {loc} {when}; {n} people were injured.",
        "{When}, an improvised explosive device planted {loc} hit {target}, injuring {n}.",
        "{N} people were hurt when a mine went off under {target} {loc} {when}.",
    ]),
    "kidnapping": ("kidnapping", [
        "Armed men kidnapped {victim} {loc} {when}.",
        "{Victim} was abducted by gunmen {loc} {when}, relatives said.",
        "{When}, unknown gunmen snatched {victim} {loc} and took them to an unknown destination.",
        "Relatives said {victim} had been kidnapped {loc} {when}.",
    ]),
    "closure": ("road_closure", [
        "{Actor} closed the road {loc} {when}, stranding hundreds of vehicles.",
        "{When}, traffic came to a halt {loc} after {actor} blocked the road with sand barriers.",
        "The road was cut {loc} {when} when {actor} put up barricades.",
        "Hundreds of vehicles were stranded {loc} {when} after {actor} closed the road.",
    ]),
    "checkpoint": ("illegal_checkpoint", [
        "{Actor} set up an illegal checkpoint {loc} {when} and searched passing cars.",
        "{When}, drivers were stopped at a fake checkpoint manned by {actor} {loc}.",
        "Motorists reported an unofficial checkpoint {loc} {when}, run by {actor} who demanded money.",
        "An illegal checkpoint was set up by {actor} {loc} {when}, travellers said.",
    ]),
    "drone": ("air_drone_strike", [
        "A drone strike hit {target} {loc} {when}, killing {n} people.",
        "{When}, a drone bombed {target} {loc}; {n} people died.",
        "{N} people were killed {when} when a drone struck {target} {loc}.",
        "An air strike by a drone destroyed {target} {loc} {when}, killing {n}.",
    ]),
    "robbery": ("banditry", [
        "Armed robbers stopped {target} {loc} {when} and stole the vehicle.",
        "{When}, bandits held up {target} {loc} and robbed the driver at gunpoint.",
        "The driver of {target} was robbed by armed bandits {loc} {when}.",
        "Gunmen hijacked {target} {loc} {when} and made off with its cargo.",
    ]),
}
#: Which detail each type's templates use (the others are not drawn).
NEEDS = {"ambush": ("target", "n"), "clash": ("actor", "other"), "ied": ("target", "n"), "kidnapping": ("victim",),
         "closure": ("actor",), "checkpoint": ("actor",), "drone": ("target", "n"), "robbery": ("target",)}

#: Place phrases of an event in a town ({t}); {k} km from it when a distance is given.
TOWN_PLACES = [
    "near {t}",
    "in {t}",
    "on the outskirts of {t}",
    "just outside {t}",
    "{k} km {d} of {t}",
    "at the entrance to {t}",
]
#: Place phrases of an event on a road segment between {a} and {b}, {k} km from {a} in direction {d}.
ROAD_PLACES = [
    "on the road between {a} and {b}",
    "{k} km {d} of {a} on the road to {b}",
    "on the highway linking {a} and {b}",
    "about {k} km from {a} on the road towards {b}",
]
#: Sentences that say no incident, added around the incident sentence.
BACKGROUND = [
    "Local officials could not be reached for comment.",
    "The road is the main route for goods travelling between the coast and the south.",
    "Travellers have long complained about the state of security on this stretch.",
    "No group has claimed responsibility so far.",
    "The municipal council called on the authorities to restore order.",
    "Photographs shared online could not be independently verified.",
    "Traffic on the road has fallen sharply over the past year, drivers say.",
]


def ascii_name(name: str) -> str:
    """How an English report spells a town: "Tāzirbū" -> "Tazirbu", "al-Bayda" -> "Al-Bayda" at a sentence start."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def compass(a: tuple[float, float], b: tuple[float, float]) -> str:
    north = b[0] - a[0]
    east = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return COMPASS[round(math.degrees(math.atan2(east, north)) % 360 / 45) % 8]


def offset(p: tuple[float, float], km: float, direction: str) -> tuple[float, float]:
    bearing = math.radians(COMPASS.index(direction) * 45)
    dlat = km * math.cos(bearing) / 111.0
    dlon = km * math.sin(bearing) / (111.0 * math.cos(math.radians(p[0])))
    return p[0] + dlat, p[1] + dlon


def approx_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance: good enough to keep generated events apart."""
    dx = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return 111.2 * math.hypot(b[0] - a[0], dx)


def capitalise(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass
class Event:
    key: int
    kind: str
    date: dt.date
    where: tuple[float, float]  # the true point (lat, lon)
    segment: str | None  # the road segment the event is on (road events), for stretch readings
    place_phrases: list[str]  # one per telling
    details: dict = field(default_factory=dict)


@dataclass
class Report:
    event: Event
    telling: int
    text: str
    published: dt.date
    source: str
    reliability: str


class Maker:
    """Draws events and their reports from one seeded RNG."""

    def __init__(self, engine: RiskEngine, seed: int):
        self.rng = random.Random(seed)
        self.engine = engine
        self.segments: list[Segment] = list(engine.network.segments)
        self.towns = sorted(engine.network.nodes())
        self.coords = {t: (engine.gazetteer.resolve(t).lat, engine.gazetteer.resolve(t).lon) for t in self.towns}
        self.texts: set[str] = set()

    # -- where --
    def town_place(self, town: str) -> tuple[tuple[float, float], None, list[str]]:
        rng = self.rng
        name = ascii_name(town)
        k, d = rng.choice((5, 7, 8, 10)), rng.choice(COMPASS)
        phrases = [p.format(t=name, k=k, d=d) for p in rng.sample(TOWN_PLACES, TELLINGS)]
        return self.coords[town], None, phrases

    def road_place(self, seg: Segment) -> tuple[tuple[float, float], str, list[str]]:
        rng = self.rng
        a, b = (seg.start, seg.end) if rng.random() < 0.5 else (seg.end, seg.start)
        top = min(60, int(seg.length_km) - 10) // 5 * 5
        k = rng.randrange(10, top + 1, 5) if top >= 10 else 5
        frac = k / seg.length_km
        line = seg.geometry if a == seg.start else seg.geometry.reverse()
        pt = line.interpolate(min(frac, 1.0), normalized=True)
        where = (pt.y, pt.x)
        d = compass(self.coords[a], where)
        phrases = [p.format(a=ascii_name(a), b=ascii_name(b), k=k, d=d) for p in rng.sample(ROAD_PLACES, TELLINGS)]
        return where, seg.id, phrases

    # -- what --
    def details(self, kind: str, avoid: dict | None = None) -> dict:
        rng = self.rng
        out = {}
        for need in NEEDS[kind]:
            if need == "n":
                out["n"] = rng.randint(1, 6)
            elif need == "target":
                pool = TARGETS + (SECURITY_TARGETS if kind in ("ied", "drone") else [])
                out["target"] = rng.choice([t for t in pool if not avoid or t != avoid.get("target")])
            elif need == "victim":
                out["victim"] = rng.choice([v for v in VICTIMS if not avoid or v != avoid.get("victim")])
            elif need in ("actor", "other"):
                taken = [out.get("actor"), avoid.get("actor") if avoid else None]
                out[need] = rng.choice([a for a in ACTORS if a not in taken])
        return out

    def event(self, key: int, kind: str | None = None, date: dt.date | None = None, town: str | None = None,
              avoid: dict | None = None) -> Event:
        rng = self.rng
        kind = kind or rng.choice(list(EVENT_TYPES))
        if date is None:
            last = SCORING_TIME.date() - dt.timedelta(days=MAX_LAG + 1)
            date = last - dt.timedelta(days=rng.randrange(SPREAD_DAYS))
        if town is not None or rng.random() < 0.55:
            where, seg, phrases = self.town_place(town or rng.choice(self.towns))
        else:
            where, seg, phrases = self.road_place(rng.choice(self.segments))
        return Event(key, kind, date, where, seg, phrases, self.details(kind, avoid))

    def distinct_events(self, n: int) -> list[Event]:
        """``n`` events of which no two of the same type lie within SEPARATION_KM and SEPARATION_DAYS:
        random draws would otherwise give a few pairs that are, for all a reader can tell, one event."""
        out: list[Event] = []
        while len(out) < n:
            e = self.event(len(out))
            if not any(o.kind == e.kind and abs((o.date - e.date).days) <= SEPARATION_DAYS
                       and approx_km(o.where, e.where) <= SEPARATION_KM for o in out):
                out.append(e)
        return out

    # -- when --
    def when_phrases(self, date: dt.date, lags: list[int]) -> list[str]:
        """A date phrase for each telling, published ``lag`` days after the event; styles differ between tellings."""
        rng = self.rng
        explicit = [f"on {date.day} {MONTHS[date.month - 1]}", f"on {MONTHS[date.month - 1]} {date.day}"]
        out = []
        styles = ["weekday", "explicit", "relative"]
        rng.shuffle(styles)
        for lag, style in zip(lags, styles, strict=True):
            if style == "relative":
                phrase = {0: rng.choice(("today", "this morning", "earlier today")), 1: "yesterday",
                          2: "two days ago", 3: "three days ago"}[lag]
            elif style == "weekday" and lag > 0:
                phrase = f"on {WEEKDAYS[date.weekday()]}" + rng.choice(("", " night", " morning"))
            else:
                phrase = rng.choice(explicit)
            out.append(phrase)
        return out

    # -- reports --
    def reports(self, event: Event, tellings: int = TELLINGS, first_source: int | None = None) -> list[Report]:
        rng = self.rng
        tag, templates = EVENT_TYPES[event.kind]
        lags = sorted(rng.randint(0, MAX_LAG) for _ in range(TELLINGS))
        whens = self.when_phrases(event.date, lags)
        chosen = rng.sample(templates, TELLINGS)
        start = rng.randrange(len(SOURCES)) if first_source is None else first_source
        out = []
        for i in range(tellings):
            fill = {"loc": event.place_phrases[i], "when": whens[i]}
            for name, value in event.details.items():
                fill[name] = NUMBER_WORDS[value] if name == "n" else value[i]
            fill.update({capitalise(k) if k != "n" else "N": capitalise(v) for k, v in fill.items()})
            sentence = capitalise(chosen[i].format(**fill))
            for attempt in range(20):
                extra = rng.sample(BACKGROUND, rng.randint(0, 2) + (attempt > 0))
                text = " ".join([sentence, *extra])
                if text not in self.texts:
                    break
            self.texts.add(text)
            name, grade = SOURCES[(start + i) % len(SOURCES)]
            out.append(Report(event, i, text, event.date + dt.timedelta(days=lags[i]), name, grade))
        return out


# ---- checks and runs ----------------------------------------------------------------------------

@dataclass
class Checks:
    reports: int = 0
    no_incident: int = 0
    several: int = 0
    wrong_type: int = 0
    wrong_place: int = 0
    wrong_date: int = 0
    examples: list[str] = field(default_factory=list)
    kinds: dict[int, set] = field(default_factory=dict)  # event key -> (event type, sub-event type) read

    def mixed(self) -> int:
        """Events whose tellings were read as different ACLED kinds."""
        return sum(len(k) > 1 for k in self.kinds.values())

    def miss(self, what: str, r: Report, note: str, keep: int) -> None:
        if len(self.examples) < keep:
            self.examples.append(f"{what}: [{r.event.kind} {r.event.date} pub {r.published}] {r.text!r} -> {note}")


def located(inc: Incident, event: Event) -> tuple[bool, str]:
    if event.segment and event.segment in inc.segments:
        return True, "stretch"
    if inc.lat is not None:
        km = geodesic_km((inc.lat, inc.lon), event.where)
        return km <= PLACE_TOLERANCE_KM, f"{km:.0f} km away"
    return False, f"segments {inc.segments}" if inc.segments else "an area"


def check(checks: Checks, r: Report, found: list[Incident], keep: int) -> None:
    """Whether a report yielded its event: one incident, of the event's type family, place and day."""
    checks.reports += 1
    if not found:
        checks.no_incident += 1
        checks.miss("no incident", r, "nothing", keep)
        return
    if len(found) > 1:
        checks.several += 1
        checks.miss("several", r, "; ".join(f"{i.sub_event_type} {i.tags}" for i in found), keep)
    tag = EVENT_TYPES[r.event.kind][0]
    inc = next((i for i in found if tag in i.tags), None)
    if inc is None:
        checks.wrong_type += 1
        checks.miss("wrong type", r, "; ".join(f"{i.event_type}/{i.sub_event_type} {i.tags}" for i in found), keep)
        inc = found[0]
    checks.kinds.setdefault(r.event.key, set()).add((inc.event_type, inc.sub_event_type))
    ok, note = located(inc, r.event)
    if not ok:
        checks.wrong_place += 1
        checks.miss("wrong place", r, f"{[p.name for p in inc.places]} {note}", keep)
    if inc.date != r.event.date:
        checks.wrong_date += 1
        checks.miss("wrong date", r, str(inc.date), keep)


def stored_events(engine: RiskEngine) -> tuple[int, str]:
    return engine.store.event_count(), "events (Store.event_count)"


def ingest(engine: RiskEngine, reports: list[Report], checks: Checks, keep: int) -> tuple[float, int]:
    """Ingest the reports in publication order; seconds spent in ``ingest_text``, and duplicates of stored reports."""
    seconds = 0.0
    known = 0
    for r in sorted(reports, key=lambda r: (r.published, r.event.key, r.telling)):
        now = dt.datetime.combine(r.published, dt.time(18, 0), tzinfo=dt.UTC)
        found = engine.extract_text(r.text, r.published, source_reliability=r.reliability)
        check(checks, r, found, keep)
        t0 = time.perf_counter()
        result = engine.ingest_text(r.text, source=r.source, published=r.published, now=now,
                                    source_reliability=r.reliability)
        seconds += time.perf_counter() - t0
        known += not result.new_report
    return seconds, known


def events_as_rows(engine: RiskEngine, tellings: list[list[Report]]) -> str:
    """Each true event once, as one JSON line combined from its reports' incidents the way the
    engine combines a group (:func:`riskengine.events.derive`, :func:`riskengine.scoring.event_confidence`)."""
    lines, members = [], []
    for reports in tellings:
        rows = []
        for r in reports:
            for i, inc in enumerate(engine.extract_text(r.text, r.published, source_reliability=r.reliability)):
                row = inc.model_dump(mode="python")
                row.update(id=f"{r.event.key}-{r.telling}-{i}", report_id=(r.event.key, r.telling), format="text",
                           source=r.source, ingested_at=dt.datetime.combine(r.published, dt.time(18), tzinfo=dt.UTC))
                rows.append(row)
                members.append({"event_id": reports[0].event.key, "source": r.source, "format": "text",
                                "confidence": inc.confidence, "geo_precision": inc.geo_precision,
                                "source_reliability": inc.source_reliability})
        if rows:
            lines.append((reports[0].event.key, derive(str(reports[0].event.key), rows, {}, SCORING_TIME)))
    confidence = event_confidence(engine.rules, pd.DataFrame(members))
    out = []
    for key, ev in lines:
        row = {k: ev[k] for k in ("event_type", "sub_event_type", "tags", "geo_precision", "location_kind", "segments",
                                  "actors", "targets", "fatalities", "summary", "evidence")}
        row.update(date=ev["date"].isoformat(), confidence=float(confidence[key]), source_reliability="A")
        row.update({k: ev[k] for k in ("lat", "lon", "radius_km", "geometry_wkt") if ev[k] is not None})
        out.append(json.dumps(row))
    return "\n".join(out)


def without_corroboration(engine: RiskEngine) -> RiskEngine:
    """The same store scored with each event at its best single report."""
    rules = copy.copy(engine.rules)
    rules.identity = engine.rules.identity.replaced(corroboration=Section(max_confidence=1e-9))
    return RiskEngine(engine.store, rules, engine.gazetteer, engine.network, engine.lexicon)


def print_checks(label: str, checks: Checks) -> None:
    print(f"extraction of {label}: {checks.reports} reports, {checks.no_incident} without an incident, "
          f"{checks.several} with several, {checks.wrong_type} of another type, {checks.wrong_place} placed "
          f"> {PLACE_TOLERANCE_KM:.0f} km off, {checks.wrong_date} dated on another day"
          + (f"; {checks.mixed()} events read as different ACLED sub-types across tellings"
             if any(len(k) > 1 or len(checks.kinds) < checks.reports for k in checks.kinds.values()) else ""))
    for line in checks.examples:
        print(f"  {line}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run_same(n: int, seed: int, tmp: Path, keep: int) -> list[str]:
    engine_a = RiskEngine.open(db=tmp / "same_all.db")
    engine_b = RiskEngine.open(db=tmp / "same_first.db")
    maker = Maker(engine_a, seed)
    events = maker.distinct_events(n)
    tellings = [maker.reports(e) for e in events]
    all_reports = [r for rs in tellings for r in rs]
    firsts = [rs[0] for rs in tellings]

    checks = Checks()
    secs_a, dup_a = ingest(engine_a, all_reports, checks, keep)
    secs_b, dup_b = ingest(engine_b, firsts, Checks(), 0)
    count_a, what = stored_events(engine_a)
    count_b, _ = stored_events(engine_b)

    t0 = time.perf_counter()
    seg_a = {s["id"]: s["score"] for s in engine_a.segments(SCORING_TIME)["segments"]}
    seg_b = {s["id"]: s["score"] for s in engine_b.segments(SCORING_TIME)["segments"]}
    score_secs = time.perf_counter() - t0
    diffs = {k: abs(seg_a[k] - seg_b.get(k, 0.0)) for k in seg_a}
    worst = sorted(diffs, key=diffs.get, reverse=True)[:3]
    differing = sum(d >= TARGET_SCORE_POINTS for d in diffs.values())
    ratio_a = count_a / n

    print(f"== scenario same: {n} events x {TELLINGS} tellings (sources "
          f"{', '.join(f'{s} {g}' for s, g in SOURCES)}), scored at {SCORING_TIME.isoformat()}")
    print_checks("all tellings", checks)
    print(f"reports ingested           (a) {len(all_reports)}  (b) {len(firsts)}"
          + (f"  (already stored: {dup_a} / {dup_b})" if dup_a or dup_b else ""))
    print(f"stored {what}")
    print(f"  (a) all tellings         {count_a}  = {ratio_a:.2f} x N")
    print(f"  (b) first telling only   {count_b}  = {count_b / n:.2f} x N"
          + (f" ({n - count_b} of N distinct events merged though each is told once)" if count_b < n else ""))
    print(f"  (a) / (b)                {count_a / count_b:.2f}" if count_b else "  (a) / (b)  -")
    print(f"ingest reports/s           (a) {len(all_reports) / secs_a:.0f}  (b) {len(firsts) / secs_b:.0f}")
    print(f"segment scores (a) vs (b)  {len(diffs)} segments: max |diff| {max(diffs.values()):.1f}, "
          f"mean {statistics.fmean(diffs.values()):.2f}, >= {TARGET_SCORE_POINTS:g} points: {differing} "
          f"(scoring both: {score_secs:.1f} s)")
    print("  largest: " + ", ".join(f"{k} {seg_b.get(k, 0):.1f} -> {seg_a[k]:.1f}" for k in worst))
    # Counted once? Store (c) holds each true event once, as one row of structured data made from
    # its reports grouped by the truth (which report tells which event, known here), the way the
    # engine combines a group (place from the most precise, kind from the most reliable, confidence
    # of all sources together). Scores differ from (a) only where the engine grouped reports
    # differently from the truth: an event counted twice, or two events counted as one.
    engine_c = RiskEngine.open(db=tmp / "same_once.db")
    engine_c.ingest_content(events_as_rows(engine_a, tellings), kind="jsonl", source="truth", now=SCORING_TIME)
    single_a = without_corroboration(engine_a)
    seg_c = {s["id"]: s["score"] for s in engine_c.segments(SCORING_TIME)["segments"]}
    seg_a1 = {s["id"]: s["score"] for s in single_a.segments(SCORING_TIME)["segments"]}
    once = {k: abs(seg_a[k] - seg_c.get(k, 0.0)) for k in seg_a}
    once_differing = sum(d >= TARGET_SCORE_POINTS for d in once.values())
    lift = {k: seg_a[k] - seg_a1[k] for k in seg_a}
    print(f"counted once: (a) vs (c) each true event once, combined from its own reports: max |diff| "
          f"{max(once.values()):.1f}, mean {statistics.fmean(once.values()):.2f}, >= {TARGET_SCORE_POINTS:g} "
          f"points: {once_differing}")
    print(f"corroboration: (a) with vs without it (each event at its best single report): max rise "
          f"{max(lift.values()):.1f}, mean {statistics.fmean(lift.values()):.2f} points (by design)")
    return [
        f"{verdict(once_differing == 0)} same: {once_differing} segments whose score differs by >= "
        f"{TARGET_SCORE_POINTS:g} points from each event counted once (max {max(once.values()):.1f}; target none)",
        f"{verdict(abs(ratio_a - 1) <= TARGET_COUNT_TOLERANCE)} same: {count_a} stored for {n} events told "
        f"{TELLINGS} times ({ratio_a:.2f} x N; target within {TARGET_COUNT_TOLERANCE:.0%} of N)",
        f"info same: {differing} segments differ by >= {TARGET_SCORE_POINTS:g} points from the first telling "
        f"alone (max {max(diffs.values()):.1f}: corroboration and the most precise place)",
    ]


def run_distinct(n: int, seed: int, tmp: Path, keep: int) -> list[str]:
    """Clusters of 4 different events at one town within 4 days, each told once."""
    engine = RiskEngine.open(db=tmp / "distinct.db")
    maker = Maker(engine, seed + 1)
    rng = maker.rng
    events: list[Event] = []
    last = SCORING_TIME.date() - dt.timedelta(days=MAX_LAG + 1)
    while len(events) < n:
        town = rng.choice(maker.towns)
        day = last - dt.timedelta(days=rng.randrange(4, SPREAD_DAYS))
        kinds = rng.sample(list(EVENT_TYPES), 3)
        first = maker.event(len(events), kinds[0], day, town)
        cluster = [first,
                   maker.event(len(events) + 1, kinds[1], day, town),
                   maker.event(len(events) + 2, kinds[2], day + dt.timedelta(days=rng.randint(1, 2)), town),
                   # the same type as the first, two or three days later, other target / actor / victim
                   maker.event(len(events) + 3, kinds[0], day + dt.timedelta(days=rng.randint(2, 3)), town,
                               avoid=first.details)]
        events.extend(cluster[: n - len(events)])
    reports = [maker.reports(e, tellings=1, first_source=e.key % len(SOURCES))[0] for e in events]
    checks = Checks()
    secs, dup = ingest(engine, reports, checks, keep)
    stored, what = stored_events(engine)
    merged = (n - stored) / n
    print(f"== scenario distinct: {n} different events in clusters of 4 at one town within 4 days, told once each")
    print_checks("the reports", checks)
    print(f"reports ingested           {len(reports)}" + (f" (already stored: {dup})" if dup else ""))
    print(f"stored {what}: {stored} for {n} events")
    print(f"wrongly merged             {merged:.1%}" + (" (more stored than events: extraction split reports)"
                                                         if stored > n else ""))
    print(f"ingest reports/s           {len(reports) / secs:.0f}")
    return [f"{verdict(merged < TARGET_WRONGLY_MERGED)} distinct: {merged:.1%} wrongly merged "
            f"({stored} stored for {n}; target < {TARGET_WRONGLY_MERGED:.0%})"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help=f"events N (default {DEFAULT_EVENTS})")
    parser.add_argument("--seed", type=int, default=20260601, help="seed of the event generator")
    parser.add_argument("--quick", action="store_true", help=f"N={QUICK_EVENTS}, for a smoke test")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--distinct", action="store_true", help="run only the distinct scenario")
    which.add_argument("--same", action="store_true", help="run only the same-event scenario")
    parser.add_argument("--examples", type=int, default=8,
                        help="print up to this many extraction misses per scenario (default 8)")
    args = parser.parse_args(argv)
    n = QUICK_EVENTS if args.quick else args.events
    if n < 1:
        parser.error("--events must be at least 1")

    started = time.perf_counter()
    summary = []
    with tempfile.TemporaryDirectory(prefix="event_identity_") as tmp:
        if not args.distinct:
            summary += run_same(n, args.seed, Path(tmp), args.examples)
        if not args.same:
            summary += run_distinct(n, args.seed, Path(tmp), args.examples)
    print(f"== summary (N={n}, seed {args.seed}, {time.perf_counter() - started:.1f} s)")
    for line in summary:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
