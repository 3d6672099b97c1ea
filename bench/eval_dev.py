"""Measure extraction and mapping on the labelled development cases (``shared/eval/dev.jsonl``).

For each case: a fresh store, the route scores the day after publication, the one report ingested,
the scores again. Prints event-type accuracy, the share of main places located within 25 km, and
the precision and recall of "this route's risk rose". Run: ``python bench/eval_dev.py [DEV.jsonl]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from riskengine.engine import RiskEngine
from riskengine.geo import geodesic_km
from riskengine.store import Store

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
PLACE_TOLERANCE_KM = 25.0


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
    return after["score"] - before["score"] >= 1.0 or after["level"] != before["level"]


def run(cases_path: Path, verbose: bool) -> dict:
    base = RiskEngine.open(db="sqlite:///:memory:")
    typed = typed_ok = placed = placed_ok = 0
    tp = fp = fn = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, line in enumerate(cases_path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            case = json.loads(line)
            text = case.get("text") or (cases_path.parent / case["text_file"]).read_text(encoding="utf-8")
            published = dt.date.fromisoformat(case["published"])
            at = dt.datetime.combine(published + dt.timedelta(days=1), dt.time(), dt.UTC)
            engine = RiskEngine(Store.open(f"{tmp}/case{n}.db"), base.rules, base.gazetteer, base.network, base.lexicon)
            routes = [tuple(r) for r in case["rise"] + case["flat"]]
            before = {r: engine.route(*r, at) for r in routes}
            engine.ingest_text(text, source="eval", published=published, now=at)
            after = {r: engine.route(*r, at) for r in routes}
            found = engine.extract_text(text, published)
            main = main_incident(engine, found)
            problems = []
            typed += 1
            predicted_type = main.event_type if main else None
            if predicted_type == case["event_type"]:
                typed_ok += 1
            else:
                problems.append(f"event type {predicted_type!r}, expected {case['event_type']!r}")
            if case.get("place"):
                placed += 1
                name, lat, lon = case["place"]
                km = geodesic_km((main.lat, main.lon), (lat, lon)) if main and main.lat is not None else None
                if km is not None and km <= PLACE_TOLERANCE_KM:
                    placed_ok += 1
                else:
                    problems.append(f"place {km and round(km)} km from {name}")
            for r in map(tuple, case["rise"]):
                if rose(before[r], after[r]):
                    tp += 1
                else:
                    fn += 1
                    problems.append(f"{r[0]} -> {r[1]} did not rise")
            for r in map(tuple, case["flat"]):
                if rose(before[r], after[r]):
                    fp += 1
                    problems.append(f"{r[0]} -> {r[1]} rose by {after[r]['score'] - before[r]['score']:.1f}")
            if verbose or problems:
                status = "ok " if not problems else "MISS"
                print(f"{status} {case['id']}: " + ("; ".join(problems) if problems else
                      ", ".join(f"{i.event_type}/{i.sub_event_type}" for i in found)))
    figures = {
        "cases": typed,
        "event_type_accuracy": typed_ok / typed if typed else 0.0,
        "place_within_25km": placed_ok / placed if placed else 0.0,
        "rise_precision": tp / (tp + fp) if tp + fp else 0.0,
        "rise_recall": tp / (tp + fn) if tp + fn else 0.0,
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case, not only misses")
    args = parser.parse_args(argv)
    if not args.cases.exists():
        print(f"eval_dev: {args.cases}: no such file", file=sys.stderr)
        return 2
    figures = run(args.cases, args.verbose)
    print(f"cases                      {figures['cases']}")
    print(f"event-type accuracy        {figures['event_type_accuracy']:.0%}")
    print(f"main place within 25 km    {figures['place_within_25km']:.0%}")
    print(f"route rise precision       {figures['rise_precision']:.0%}")
    print(f"route rise recall          {figures['rise_recall']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
