"""Route latency: ``RiskEngine.route(a, b, now)`` in-process with N incidents in the store, and
``riskengine route`` as a whole process.

The store is built as in ``bench/scoring.py`` (generated incidents, bulk inserts, each event's
standing weights computed as ingest computes them; SQLite in a temporary directory). A new engine on
it answers a few hundred routes between random pairs of the network's towns (seeded), all at the
same ``now``: the first call is cold (it reads only its own segments' standing weights), the second
reads the whole network once, the others reuse it. Then one incident is ingested and one more route
asked: the engine must notice, and reads again only the changed event's rows (the first answer after
it works from the network's rows in hand; the next about other roads makes the whole again). For
comparison, the first call of an engine on the previous path (every event of the horizon read and
weighed at the question's time) is timed too, and ``riskengine route`` is run as a process (median
of rounds), on its own and handed to a warm server (``riskengine warm start``). A service asks at the
time each question comes: a new engine is also asked a hundred routes, each at a new time.

``--db URL`` runs it all on another database (PostgreSQL: ``postgresql+psycopg://user@host/db``), which must
hold no tables yet: the store is built there (then vacuumed and analysed, as autovacuum would be within a
minute of the bulk load) and its tables dropped at the end.

Run: ``python bench/query.py [--incidents N] [--queries Q] [--seed S] [--rounds R] [--store FILE | --db URL]``.
``--store FILE`` keeps the generated store in FILE (built there when missing) and benchmarks a copy of
it, so that runs compared with each other (code before and after a change, interleaved) read the same
store and the ingest at the end never changes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from riskengine.engine import RiskEngine
from riskengine.incident import Incident
from riskengine.store import ReportIn, Store
from riskengine.weights import Weigher

TARGET_FIRST_MS = 200.0
TARGET_P99_MS = 20.0
TARGET_AFTER_INGEST_MS = 200.0
#: The store size those three in-process targets are set for.
TARGET_INCIDENTS = 100_000
#: Questions asked at a new time each (as a service asks them), by a new engine.
CLOCKED_QUESTIONS = 100
#: the whole process, by store size: < 1 s with 100,000 incidents, < 2 s with 1,000,000
TARGET_PROCESS_S = ((100_000, 1.0), (1_000_000, 2.0))


def _sibling(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (``bench`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).resolve().parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scoring_bench = _sibling("scoring")
warm_server = _sibling("startup").warm_server
mapping_bench = scoring_bench.mapping_bench
NOW = scoring_bench.NOW


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def time_processes(argv: list[str], env: dict[str, str], rounds: int) -> list[float]:
    """Wall seconds of ``rounds`` runs of ``argv`` as a process; a failing run stops the benchmark."""
    times = []
    for _ in range(max(1, rounds)):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"riskengine route failed: {proc.stderr.strip()[-400:]}")
    return times


def kept_store(path: Path, url: str, args: argparse.Namespace, rules, network) -> dict:
    """The store kept in ``path`` (built there first when missing; weighed again when its weights or
    road statuses are not these rules', as after an upgrade) copied to ``url``: the counts :func:`build_store`
    gives (its weighing time only when weighed now)."""
    if not path.exists():
        built = scoring_bench.build_store(f"sqlite:///{path}", args.incidents, args.seed, rules, network)
    else:
        store = Store(f"sqlite:///{path}")  # a store an older riskengine kept is brought up to date
        start, weigher = time.perf_counter(), Weigher(rules)
        if (store.weights_state(weigher.fingerprint) != (True, [])  # weighed again, as its first writer would
                or not store.statuses_current(weigher.statuses_fingerprint)):
            with store.writer.begin() as conn:
                weigher.refresh(conn)
        weighed = time.perf_counter() - start
        with store.engine.connect() as conn:
            matches = conn.exec_driver_sql("SELECT count(*) FROM incident_segments").scalar_one()
        built = {"incidents": store.incident_count(), "matches": int(matches), "weigh_seconds": weighed}
        store.engine.dispose()
    shutil.copyfile(path, url.removeprefix("sqlite:///"))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents in the store (default 100,000)")
    parser.add_argument("--queries", type=int, default=300, help="routes asked (default 300)")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the incidents and of the town pairs")
    parser.add_argument("--rounds", type=int, default=3, help="runs of `riskengine route` as a process (median)")
    parser.add_argument("--store", type=Path, help="keep the generated store in this file and benchmark a copy")
    parser.add_argument("--db", metavar="URL", help="an empty database to run on (e.g. PostgreSQL), not SQLite")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.queries < 2:
        parser.error("--incidents must be at least 1 and --queries at least 2")
    if args.store is not None and args.db is not None:
        parser.error("--store keeps an SQLite file; it cannot be combined with --db")

    rules, network = mapping_bench.load_network()
    with (tempfile.TemporaryDirectory(prefix="riskengine-bench-") as tmp,
          scoring_bench.scratch_database(args.db, tmp) as url):
        start = time.perf_counter()
        if args.store is not None:
            built = kept_store(args.store, url, args, rules, network)
        else:
            built = scoring_bench.build_store(url, args.incidents, args.seed, rules, network)
        build = time.perf_counter() - start

        engine = RiskEngine.open(url)
        towns = engine.network.nodes()
        rng = random.Random(args.seed)
        pairs = [tuple(rng.sample(towns, 2)) for _ in range(args.queries)]
        # load what does not depend on the store: places, the road graph (networkx, which a route
        # round closed segments searches), the kept quickest routes
        engine.gazetteer.resolve(towns[0])
        engine.network.graph  # noqa: B018
        engine.network.path(towns[0], towns[1])

        start, cpu = time.perf_counter(), time.process_time()
        doc = engine.route(*pairs[0], NOW)
        cold, cold_cpu = _ms(start), (time.process_time() - cpu) * 1000.0
        first = json.dumps(doc, ensure_ascii=False)  # as printed, to compare byte for byte below
        shown = [len(doc["incidents"])]
        warm = []
        for a, b in pairs[1:]:
            start = time.perf_counter()
            doc = engine.route(a, b, NOW)
            warm.append(_ms(start))
            shown.append(len(doc["incidents"]))

        # a service asks at the time each question comes: each question a new time (a new engine,
        # so that nothing read above is in hand)
        clocked_engine, clocked = RiskEngine.open(url), []
        for i, (a, b) in enumerate(pairs[:CLOCKED_QUESTIONS]):
            start = time.perf_counter()
            clocked_engine.route(a, b, NOW + dt.timedelta(seconds=7 * (i + 1)))
            clocked.append(_ms(start))
        del clocked_engine

        previous = RiskEngine.open(url)  # the previous path: reads and weighs every event in memory
        previous.weigher.fingerprint = "not the rules the store was weighed with"
        start = time.perf_counter()
        before = previous.route(*pairs[0], NOW)
        previous_ms = _ms(start)
        same = json.dumps(before, ensure_ascii=False) == first == json.dumps(engine.route(*pairs[0], NOW),
                                                                             ensure_ascii=False)

        question = [sys.executable, "-m", "riskengine.cli", "--db", url,
                    "route", "Sirte", "Sebha", "--at", NOW.isoformat(), "--json"]
        processes = time_processes(question, {**os.environ, "RISKENGINE_WARM": "0"}, args.rounds)
        with warm_server([sys.executable, "-m", "riskengine.cli"], dict(os.environ), Path(tmp) / "sockets") as env:
            served = time_processes(question, env, args.rounds)

        a, b = pairs[0]
        place = engine.gazetteer.resolve(a)
        new = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                       date=NOW.date(), lat=place.lat, lon=place.lon, geo_precision=1, source="bench",
                       evidence=f"Gunmen ambushed a lorry at the gate of {place.name}.")
        start = time.perf_counter()
        engine.ingest_incidents(ReportIn(source="bench", format="jsonl", text=f"bench ingest {args.seed}"), [new],
                                now=NOW)
        ingest_ms = _ms(start)
        start = time.perf_counter()
        after = engine.route(a, b, NOW)
        after_ms = _ms(start)
        seen = any(row["id"] == new.fingerprint() for row in after["incidents"])
        start = time.perf_counter()
        engine.route(a, b, NOW)
        again_ms = _ms(start)
        start = time.perf_counter()
        engine.route(*pairs[1], NOW)  # another road: the whole network is made again from the rows in hand
        other_ms = _ms(start)
        peak = mapping_bench.peak_rss_mb()
        where = scoring_bench.describe(url)

    p50, p99 = np.percentile(warm, [50, 99])
    process_target = next((t for n, t in TARGET_PROCESS_S if built["incidents"] <= n), TARGET_PROCESS_S[-1][1])
    def verdict(ms: float, target: float) -> str:
        """The in-process targets are set for 100,000 incidents: other sizes print no verdict."""
        if built["incidents"] != TARGET_INCIDENTS:
            return f"the target of {target:.0f} is for {TARGET_INCIDENTS:,} incidents"
        return f"target {target:.0f}: {'met' if ms < target else 'NOT met'}"

    print(f"machine                    {mapping_bench.machine()}")
    print(f"incidents                  {built['incidents']:,} (seed {args.seed}, {built['matches']:,} segment matches; "
          f"store built in {build:.1f} s, {built['weigh_seconds']:.1f} s of it weighing, not timed below; {where})")
    print(f"queries                    {args.queries} routes between random pairs of {len(towns)} towns, "
          f"all at {NOW.isoformat()}")
    print(f"incidents per answer       {np.mean(shown):.0f} on average, {max(shown)} at most")
    print(f"cold first call ms         {cold:.0f} (CPU {cold_cpu:.0f} ms; {shown[0]:,} events listed; reads only "
          f"its segments' standing weights; {verdict(cold, TARGET_FIRST_MS)})")
    print(f"previous path first ms     {previous_ms:.0f} (every event read and weighed in memory; ratio "
          f"{previous_ms / cold:.1f}x; same answer: {'yes' if same else 'NO'}, byte for byte as printed)")
    print(f"second call ms             {warm[0]:.0f} (another route: reads the whole network once)")
    print(f"p50 ms                     {p50:.1f} (the {len(warm)} calls after the first)")
    print(f"p99 ms                     {p99:.1f} ({verdict(p99, TARGET_P99_MS)})")
    print(f"max ms                     {max(warm):.1f}")
    later = clocked[2:] or [float("nan")]
    print(f"at a new time each ms      first {clocked[0]:.0f}, second {clocked[1]:.0f} (reads the whole network), "
          f"then p50 {np.percentile(later, 50):.1f}, p99 {np.percentile(later, 99):.1f} over {len(clocked) - 2} "
          f"questions (a new engine asked as a service asks: each question at the time it comes, 7 s apart)")
    print(f"ingest ms                  {ingest_ms:.0f} (one report stored, weighed, and read in by the engine "
          f"that wrote it: RiskEngine.refresh)")
    print(f"after an ingest ms         {after_ms:.0f} (the new incident is {'in' if seen else 'NOT in'} the answer; "
          f"{verdict(after_ms, TARGET_AFTER_INGEST_MS)}), "
          f"then {again_ms:.1f} ms; another road then {other_ms:.0f} ms (the whole network made again)")
    for label, times in (("process s", processes), ("process, warm server s", served)):
        median = float(np.median(times))
        print(f"{label:26} {median:.2f} median of {len(times)} (`riskengine route Sirte Sebha`, "
              f"{min(times):.2f}-{max(times):.2f}; target {process_target:g}: "
              f"{'met' if median < process_target else 'NOT met'})")
    print(f"peak MB                    {peak:.0f} (this process, the store build included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
