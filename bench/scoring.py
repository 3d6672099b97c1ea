"""Scoring at scale: "all segments rescored" (``RiskEngine.assess(now)``) with N incidents in the store.

The store is an SQLite file in a temporary directory, filled quickly: incident rows are generated
(seeded numpy: a realistic mix of the rules' event types, sub-types and tags, dates over the last
180 days, geo_precision 1-3, some fatalities, confidences and source grades) at points around the
roads (``bench/mapping.py``'s generator), mapped onto the segments with ``SegmentIndex.nearest_points``
and the rules' cut-off, and bulk-inserted with SQLAlchemy Core ``insert`` in large batches (one report
per 1,000 incidents), not one report at a time.

Then, in a fresh subprocess (so the peak memory is the assessment's own, not the build's), a new
engine on that file runs ``RiskEngine.assess(now)`` once: every segment's score, from the day
sums of the stored standing weights (the time spent reading them is timed apart from the scoring);
then it reads every contribution behind the scores (what the map and every explanation need). It
then asks again at the same ``now`` (the engine's cache) and an hour later (the same store: only
the scoring).

``--db URL`` runs it on another database (PostgreSQL: ``postgresql+psycopg://user@host/db``), which
must hold no tables yet: the benchmark fills it (then vacuums and analyses it, as autovacuum would
within a minute of the bulk load), and drops the tables it made when it is done (with
``--keep``, they stay, and a later run with ``--db`` and ``--keep`` on the same database only reads
them again, as a fresh process).

Run: ``python bench/scoring.py [--incidents N] [--seed S] [--db URL [--keep]]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
from sqlalchemy import create_engine, func, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from riskengine.engine import RiskEngine
from riskengine.mapping import SegmentIndex
from riskengine.roads import RoadNetwork
from riskengine.rules import RuleBook
from riskengine.schema import events, incident_segments, incidents, reports
from riskengine.store import Store
from riskengine.weights import Weigher


def _sibling(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (``bench`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).resolve().parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mapping_bench = _sibling("mapping")

#: The fixed "now" of the benchmarks.
NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)
DAYS = 180
PER_REPORT = 1_000
BATCH = 50_000

#: (event type, sub-type, tags, relative share): what a season of Libyan road incidents looks like.
KINDS: list[tuple[str, str | None, list[str], float]] = [
    ("Battles", "Armed clash", ["clashes"], 12),
    ("Battles", "Armed clash", ["clashes", "armed_presence"], 4),
    ("Battles", "Government regains territory", [], 2),
    ("Battles", "Non-state actor overtakes territory", ["armed_presence"], 1),
    ("Battles", None, [], 1),
    ("Explosions/Remote violence", "Air/drone strike", ["air_drone_strike"], 7),
    ("Explosions/Remote violence", "Shelling/artillery/missile attack", [], 4),
    ("Explosions/Remote violence", "Remote explosive/landmine/IED", ["ied_landmine"], 4),
    ("Explosions/Remote violence", "Grenade", [], 1),
    ("Violence against civilians", "Attack", [], 6),
    ("Violence against civilians", "Attack", ["ambush"], 5),
    ("Violence against civilians", "Attack", ["banditry"], 5),
    ("Violence against civilians", "Attack", ["illegal_checkpoint"], 3),
    ("Violence against civilians", "Abduction/forced disappearance", ["kidnapping"], 6),
    ("Violence against civilians", "Abduction/forced disappearance", ["kidnapping", "illegal_checkpoint"], 2),
    ("Protests", "Peaceful protest", [], 10),
    ("Protests", "Protest with intervention", ["road_closure"], 3),
    ("Riots", "Violent demonstration", ["road_closure"], 3),
    ("Riots", "Mob violence", [], 1),
    ("Strategic developments", "Agreement", ["truce"], 2),
    ("Strategic developments", "Agreement", ["reopening"], 2),
    ("Strategic developments", "Arrests", [], 4),
    ("Strategic developments", "Headquarters or base established", ["armed_presence"], 2),
    ("Strategic developments", "Looting/property destruction", [], 2),
    ("Strategic developments", "Other", [], 3),
]
GRADES = ["A", "B", "C", "D", "E", "F", None]
GRADE_SHARES = [0.05, 0.2, 0.3, 0.15, 0.05, 0.05, 0.2]


def _batches(count: int) -> Iterator[range]:
    for first in range(0, count, BATCH):
        yield range(first, min(first + BATCH, count))


#: The columns an event copies from its one report.
EVENT_FIELDS = ("event_type", "sub_event_type", "tags", "date", "lat", "lon", "geo_precision", "radius_km",
                "location_kind", "geometry_wkt", "segments", "places", "actors", "targets", "fatalities", "summary",
                "evidence", "ingested_at")


def build_store(url: str, n: int, seed: int, rules: RuleBook, network: RoadNetwork, *, now: dt.datetime = NOW,
                near_road_share: float = 0.8) -> dict:
    """Fill the store at ``url`` with ``n`` generated incidents and their segment matches; return counts."""
    for event_type, sub_event_type, tags, _share in KINDS:
        rules.check_incident_kind(event_type, sub_event_type, tags)
    rng = np.random.default_rng(seed)
    lats, lons = mapping_bench.generate_points(n, seed, network.segments, near_road_share)
    shares = np.array([k[3] for k in KINDS], dtype=float)
    kind = rng.choice(len(KINDS), size=n, p=shares / shares.sum())
    age = rng.integers(0, DAYS, size=n)
    precision = rng.choice([1, 2, 3], size=n, p=[0.6, 0.3, 0.1])
    fatalities = np.where(rng.random(n) < 0.2, rng.geometric(0.3, size=n), 0)
    confidence = np.where(rng.random(n) < 0.5, np.round(rng.uniform(0.4, 0.95, size=n), 2), np.nan)
    grade = rng.choice(len(GRADES), size=n, p=GRADE_SHARES)
    ids = np.array([f"{v:016x}" for v in rng.integers(0, 2**63, size=n, dtype=np.int64)], dtype=object)
    if len(set(ids.tolist())) != n:
        raise RuntimeError("generated incident ids collide; try another seed")
    points, seg_ids, km = SegmentIndex(network.segments).nearest_points(lats, lons, rules.max_reach_km)

    store = Store(url)
    today = now.date()
    with store.engine.begin() as conn:
        report_rows = [{"source": "bench", "source_ref": f"bench/{seed}/{r}", "format": "jsonl",
                        "content_hash": f"{seed:016x}{r:048x}", "published": today, "ingested_at": now,
                        "title": f"bench report {r}", "text": f"generated incidents, batch {r}"}
                       for r in range((n + PER_REPORT - 1) // PER_REPORT)]
        report_ids: list[int] = []
        for rows in (report_rows[i:i + BATCH] for i in range(0, len(report_rows), BATCH)):
            result = conn.execute(insert(reports).returning(reports.c.id, sort_by_parameter_order=True), rows)
            report_ids.extend(row[0] for row in result)
        for part in _batches(n):
            rows = []
            for i in part:
                event_type, sub_event_type, tags, _ = KINDS[kind[i]]
                rows.append({
                    "id": ids[i], "report_id": report_ids[i // PER_REPORT], "event_type": event_type,
                    "sub_event_type": sub_event_type, "tags": tags,
                    "date": today - dt.timedelta(days=int(age[i])), "lat": round(float(lats[i]), 5),
                    "lon": round(float(lons[i]), 5), "geo_precision": int(precision[i]), "radius_km": None,
                    "location_kind": "point", "geometry_wkt": None, "segments": [], "places": [], "actors": [],
                    "targets": [], "fatalities": int(fatalities[i]),
                    "confidence": None if np.isnan(confidence[i]) else float(confidence[i]),
                    "source": "bench", "source_reliability": GRADES[grade[i]],
                    "evidence": f"Generated incident {i}: {event_type.lower()} near the road.",
                    "summary": f"bench {sub_event_type or event_type} #{i}", "ingested_at": now,
                    "event_id": ids[i], "time_precision": 1, "date_stated": True,
                })
            conn.execute(insert(incidents), rows)
            # each generated incident is an event of its own (told by one report), as ingest would make it
            conn.execute(insert(events), [{
                "id": r["id"], "status": "active", "merged_into": None, "lead_incident": r["id"],
                "location_incident": r["id"], "pinned": {}, "reports": 1, "sources": ["bench"], "updated_at": now,
                **{k: r[k] for k in EVENT_FIELDS}} for r in rows])
        for part in _batches(len(points)):
            conn.execute(insert(incident_segments), [
                {"incident_id": ids[points[j]], "segment_id": seg_ids[j], "distance_km": float(km[j])} for j in part
            ])
    # weighed as ingest weighs each event it stores (riskengine.weights), all at once here
    start = time.perf_counter()
    with store.writer.begin() as conn:
        Weigher(rules).refresh(conn)
    weighed = time.perf_counter() - start
    if store.engine.dialect.name == "postgresql":
        # what autovacuum does within a minute of a bulk load: planner statistics, and the index
        # entries of the rows weighing rewrote cleared; the questions are then those of a store in use
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    store.engine.dispose()
    return {"incidents": n, "matches": int(len(points)), "reports": len(report_rows), "weigh_seconds": weighed}


# ---- the assessment (in its own subprocess) ------------------------------------------------------------


def _timed(method, spent: list[float]):
    @functools.wraps(method)
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)
    return run


def worker(db: str) -> int:
    engine = RiskEngine.open(db)
    at_start = mapping_bench.rss_mb()
    loading: list[float] = []
    for name in ("events_frame", "event_matches_frame", "event_reports_frame", "event_weights_frame",
                 "segment_days_frame"):
        setattr(engine.store, name, _timed(getattr(engine.store, name), loading))
    start = time.perf_counter()
    assessment = engine.assess(NOW)
    total = time.perf_counter() - start
    first = len(loading)
    peak = mapping_bench.peak_rss_mb()
    start = time.perf_counter()
    contributions = len(assessment.contributions)
    read_all = time.perf_counter() - start
    peak_all = mapping_bench.peak_rss_mb()
    start = time.perf_counter()
    again = engine.assess(NOW)
    cached = time.perf_counter() - start
    later_loading = len(loading)
    start = time.perf_counter()
    engine.assess(NOW + dt.timedelta(hours=1))
    later = time.perf_counter() - start
    print(json.dumps({
        "seconds": total, "loading": sum(loading[:first]), "scoring": total - sum(loading[:first]), "peak_mb": peak,
        "start_mb": at_start, "contributions": contributions, "read_all": read_all, "peak_all_mb": peak_all,
        "cached": cached,
        "same_object": again is assessment, "later": later, "later_loaded": len(loading) > later_loading,
        "at_risk": int((assessment.segments["level"] >= 3).sum()),
    }))
    return 0


@contextmanager
def scratch_database(url: str | None, tmp: str, *, keep: bool = False, kept: int | None = None) -> Iterator[str]:
    """The database a benchmark fills: an SQLite file in ``tmp`` when ``url`` is None; else the
    database at ``url`` (PostgreSQL, say), which must hold no tables (nothing of anyone's is
    overwritten), and whose tables are dropped on leaving unless ``keep``. ``kept``: a database a
    ``keep`` run left with this many events is taken as it is (:func:`held_events` tells)."""
    if url is None:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    held = held_events(url)
    if held is not None and held != kept:
        raise SystemExit(f"--db {url}: the database already holds tables ({held:,} events); a benchmark "
                         f"fills an empty one" + (f" (or reads one it kept with --keep --incidents {held})"
                                                  if kept is not None else ""))
    try:
        yield url
    finally:
        if not keep:
            from riskengine.schema import metadata  # noqa: PLC0415

            engine = create_engine(url)
            metadata.drop_all(engine)
            engine.dispose()


def held_events(url: str) -> int | None:
    """How many events the database at ``url`` holds; None when it has no tables at all."""
    engine = create_engine(url)
    try:
        if not inspect(engine).get_table_names():
            return None
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()
    except SQLAlchemyError:  # tables, but not a store's: not empty either
        return -1
    finally:
        engine.dispose()


def describe(url: str) -> str:
    """The kind of database at ``url`` and its size."""
    if url.startswith("sqlite:///"):
        return f"SQLite, {Path(url.removeprefix('sqlite:///')).stat().st_size / 2**20:.0f} MB"
    engine = create_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return engine.dialect.name
        with engine.connect() as conn:
            size = conn.execute(select(func.pg_database_size(func.current_database()))).scalar_one()
        return f"PostgreSQL, {size / 2**20:.0f} MB"
    finally:
        engine.dispose()


def store_counts(url: str) -> dict:
    """What :func:`build_store` returns, read from a store built before (its weighing not timed)."""
    held = held_events(url) or 0
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            matches = conn.execute(select(func.count()).select_from(incident_segments)).scalar_one()
    finally:
        engine.dispose()
    return {"incidents": held, "matches": matches, "reports": -(-held // PER_REPORT), "weigh_seconds": 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents in the store (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the incident generator")
    parser.add_argument("--db", metavar="URL",
                        help="an empty database to run on (e.g. PostgreSQL) instead of an SQLite file")
    parser.add_argument("--keep", action="store_true",
                        help="with --db: keep the tables filled (a later --keep run on them only reads)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.incidents < 1:
        parser.error("--incidents must be at least 1")
    if args.keep and not args.db:
        parser.error("--keep needs --db (an SQLite run uses a temporary file)")

    rules, network = mapping_bench.load_network()
    kept = args.incidents if args.keep else None
    with (tempfile.TemporaryDirectory(prefix="riskengine-bench-") as tmp,
          scratch_database(args.db, tmp, keep=args.keep, kept=kept) as url):
        build = None
        if kept is not None and held_events(url) == kept:  # kept by an earlier --keep run: only read
            built = store_counts(url)
        else:
            start = time.perf_counter()
            built = build_store(url, args.incidents, args.seed, rules, network)
            build = time.perf_counter() - start
        where = describe(url)
        r = mapping_bench.run_worker(__file__, ["--worker", url])

    print(f"machine                    {mapping_bench.machine()}")
    print(f"incidents                  {built['incidents']:,} (seed {args.seed}, {built['reports']:,} reports, "
          f"{built['matches']:,} segment matches)")
    if build is None:
        print(f"store                      {where}: kept from an earlier --keep run, only read here")
    else:
        print(f"store built in             {build:.1f} s ({where}; bulk Core inserts, not timed below; "
              f"{built['weigh_seconds']:.1f} s of it weighing every event, as after a change of rules)")
    print(f"at                         {NOW.isoformat()} ({r['contributions']:,} weighted contributions, "
          f"{r['at_risk']} segments at level 3 or more)")
    print(f"assess seconds             {r['seconds']:.2f} (RiskEngine.assess(now): all segments rescored, cold)")
    print(f"loading seconds            {r['loading']:.2f} (reading the day sums of the stored standing weights, "
          f"and the rows that relieve)")
    print(f"scoring seconds            {r['scoring']:.2f}")
    print(f"peak MB                    {r['peak_mb']:.0f} (the assessing process; {r['start_mb']:.0f} MB before it)")
    print(f"every contribution s       {r['read_all']:.2f} (then reading the {r['contributions']:,} rows behind "
          f"the scores, as the map and every explanation need; peak {r['peak_all_mb']:.0f} MB)")
    print(f"again, same now, seconds   {r['cached']:.4f} (cached: {'yes' if r['same_object'] else 'no'})")
    print(f"an hour later, seconds     {r['later']:.2f} (store {'reloaded' if r['later_loaded'] else 'not reloaded'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
