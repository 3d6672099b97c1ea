"""Route latency: ``RiskEngine.route(a, b, now)`` in-process with N incidents in the store.

The store is built as in ``bench/scoring.py`` (generated incidents, bulk inserts, SQLite in a
temporary directory). A new engine on it answers a few hundred routes between random pairs of the
network's towns (seeded), all at the same ``now``: the first call is cold (it loads the store's
frames and scores the network), the others reuse the engine's assessment. Then one incident is
ingested and one more route asked: the cache must notice, so that call is cold again.

Run: ``python bench/query.py [--incidents N] [--queries Q] [--seed S]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from riskengine.engine import RiskEngine
from riskengine.models import Incident
from riskengine.store import ReportIn

TARGET_P99_MS = 50.0


def _sibling(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (``bench`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).resolve().parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scoring_bench = _sibling("scoring")
mapping_bench = scoring_bench.mapping_bench
NOW = scoring_bench.NOW


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents in the store (default 100,000)")
    parser.add_argument("--queries", type=int, default=300, help="routes asked (default 300)")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the incidents and of the town pairs")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.queries < 2:
        parser.error("--incidents must be at least 1 and --queries at least 2")

    rules, network = mapping_bench.load_network()
    with tempfile.TemporaryDirectory(prefix="riskengine-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        built = scoring_bench.build_store(url, args.incidents, args.seed, rules, network)
        build = time.perf_counter() - start

        engine = RiskEngine.open(url)
        towns = engine.network.nodes()
        rng = random.Random(args.seed)
        pairs = [tuple(rng.sample(towns, 2)) for _ in range(args.queries)]
        engine.gazetteer.resolve(towns[0])  # load what does not depend on the store

        start = time.perf_counter()
        doc = engine.route(*pairs[0], NOW)
        cold = _ms(start)
        shown = [len(doc["incidents"])]
        warm = []
        for a, b in pairs[1:]:
            start = time.perf_counter()
            doc = engine.route(a, b, NOW)
            warm.append(_ms(start))
            shown.append(len(doc["incidents"]))

        a, b = pairs[0]
        place = engine.gazetteer.resolve(a)
        new = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                       date=NOW.date(), lat=place.lat, lon=place.lon, geo_precision=1, source="bench",
                       evidence=f"Gunmen ambushed a lorry at the gate of {place.name}.")
        engine.ingest_incidents(ReportIn(source="bench", format="jsonl", text=f"bench ingest {args.seed}"), [new],
                                now=NOW)
        start = time.perf_counter()
        after = engine.route(a, b, NOW)
        after_ms = _ms(start)
        seen = any(row["id"] == new.fingerprint() for row in after["incidents"])
        start = time.perf_counter()
        engine.route(a, b, NOW)
        again_ms = _ms(start)
        peak = mapping_bench.peak_rss_mb()

    p50, p99 = np.percentile(warm, [50, 99])
    print(f"machine                    {mapping_bench.machine()}")
    print(f"incidents                  {built['incidents']:,} (seed {args.seed}, {built['matches']:,} segment matches; "
          f"store built in {build:.1f} s, not timed below)")
    print(f"queries                    {args.queries} routes between random pairs of {len(towns)} towns, "
          f"all at {NOW.isoformat()}")
    print(f"incidents per answer       {np.mean(shown):.0f} on average, {max(shown)} at most")
    print(f"cold first call ms         {cold:.0f} (loads the store's frames and scores the whole network)")
    print(f"p50 ms                     {p50:.1f} (the {len(warm)} calls after the first)")
    print(f"p99 ms                     {p99:.1f}")
    print(f"max ms                     {max(warm):.1f}")
    print(f"after an ingest ms         {after_ms:.0f} (cache invalidated: the new incident is "
          f"{'in' if seen else 'NOT in'} the answer), then {again_ms:.1f} ms")
    print(f"peak MB                    {peak:.0f} (this process, the store build included)")
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"target p99 under {TARGET_P99_MS:.0f} ms     {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
