"""Mapping throughput: N incident points onto the road network's segments, ours against geopandas.

The points are generated (seeded numpy) inside Libya's rough bounding box (lat 19.5-33.2, lon
9.3-25.2): a share of them uniform over the box, the rest scattered around the roads (a random
place along a segment, moved by a normal offset of ``--spread-km``), since incidents cluster on
the roads. Both contenders start from the same arrays of latitudes and longitudes and the loaded
road network, and work in the project's metric CRS with the same cut-off, ``RuleBook.max_reach_km``:

* ours: ``SegmentIndex(segments).nearest_points(lats, lons, max_km)``: every (point, segment)
  pair within the cut-off, with its distance;
* baseline: geopandas ``sjoin_nearest(points, segments, max_distance=..., distance_col=...)``:
  the nearest segment of each point within the cut-off (one pair per point, more on exact ties).

So the two answer slightly different questions and their pair counts differ; the number of points
with at least one segment within reach must be the same. Each contender runs in a fresh
subprocess, so its peak resident memory (VmHWM, else ``ru_maxrss``) is its own; the peak includes
the interpreter and the libraries, and "at start" is the resident memory just before the timed
work. Needs the ``bench`` extra for the baseline: ``pip install -e ".[bench]"``.

Run: ``python bench/mapping.py [--points N] [--seed S] [--near-road-share F] [--no-baseline]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR
from riskengine.geo import METRIC_CRS, to_metric
from riskengine.models import Segment
from riskengine.roads import RoadNetwork
from riskengine.rules import RuleBook

LAT_RANGE = (19.5, 33.2)
LON_RANGE = (9.3, 25.2)
TARGET_PEAK_MB = 1024.0
CONTENDERS = {"ours": "riskengine nearest_points", "baseline": "geopandas sjoin_nearest"}


# ---- shared with bench/scoring.py and bench/query.py ----------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM is the high-water mark of this program's own address space; ``ru_maxrss`` is the
    fallback (on Linux it can carry the peak of the process that forked this one).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def rss_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def machine() -> str:
    """One line about the machine the figures come from."""
    return (f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, shapely {shapely.__version__}")


def load_network() -> tuple[RuleBook, RoadNetwork]:
    return RuleBook.load(DEFAULT_RULES_DIR), RoadNetwork.load(DEFAULT_SEEDS_DIR)


def generate_points(n: int, seed: int, segments: Sequence[Segment], near_road_share: float = 0.5,
                    spread_km: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded (lats, lons) inside Libya's bounding box, a share of them scattered around the roads.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> seg = Segment("r-a-b", "A - B", "r", "R", "A", "B", LineString([(13.0, 32.0), (14.0, 32.0)]), 94.4)
    >>> lats, lons = generate_points(1000, 1, [seg])
    >>> bool((lats >= 19.5).all() and (lats <= 33.2).all() and (lons >= 9.3).all() and (lons <= 25.2).all())
    True
    >>> np.array_equal(generate_points(1000, 1, [seg])[0], lats)
    True
    """
    rng = np.random.default_rng(seed)
    near = int(round(n * min(max(near_road_share, 0.0), 1.0))) if segments else 0
    far = n - near
    lats = np.empty(n, dtype=float)
    lons = np.empty(n, dtype=float)
    lats[:far] = rng.uniform(*LAT_RANGE, far)
    lons[:far] = rng.uniform(*LON_RANGE, far)
    if near:
        lines = to_metric(np.array([s.geometry for s in segments], dtype=object))
        lengths = shapely.length(lines)
        pick = rng.choice(len(lines), size=near, p=lengths / lengths.sum())
        along = shapely.line_interpolate_point(lines[pick], rng.uniform(0.0, 1.0, near), normalized=True)
        xy = shapely.get_coordinates(along) + rng.normal(0.0, spread_km * 1000.0, size=(near, 2))
        lon, lat = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
        lats[far:] = np.clip(lat, *LAT_RANGE)
        lons[far:] = np.clip(lon, *LON_RANGE)
    order = rng.permutation(n)
    return lats[order], lons[order]


def run_worker(script: str | Path, args: Sequence[str]) -> dict:
    """Run ``script --worker ...`` in a fresh interpreter and return the JSON document it prints last."""
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the contenders (each in its own subprocess) -------------------------------------------------------


def map_ours(lats: np.ndarray, lons: np.ndarray, segments: Sequence[Segment], max_km: float) -> dict:
    from riskengine.mapping import SegmentIndex

    start = time.perf_counter()
    index = SegmentIndex(segments)
    points, _ids, _km = index.nearest_points(lats, lons, max_km)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pairs": int(len(points)), "points_matched": int(len(np.unique(points)))}


def map_baseline(lats: np.ndarray, lons: np.ndarray, segments: Sequence[Segment], max_km: float) -> dict:
    import geopandas as gpd

    start = time.perf_counter()
    lines = gpd.GeoDataFrame({"segment_id": [s.id for s in segments]}, geometry=[s.geometry for s in segments],
                             crs="EPSG:4326").to_crs(METRIC_CRS)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326").to_crs(METRIC_CRS)
    joined = gpd.sjoin_nearest(points, lines, how="inner", max_distance=max_km * 1000.0, distance_col="distance_m")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pairs": int(len(joined)), "points_matched": int(joined.index.nunique())}


def worker(name: str, points_file: str, max_km: float) -> int:
    _rules, network = load_network()
    data = np.load(points_file)
    lats, lons = data["lats"], data["lons"]
    at_start = rss_mb()
    job = map_ours if name == "ours" else map_baseline
    result = job(lats, lons, network.segments, max_km)
    result.update(peak_mb=peak_rss_mb(), start_mb=at_start)
    print(json.dumps(result))
    return 0


# ---- the benchmark -----------------------------------------------------------------------------------


def _row(label: str, r: dict) -> str:
    return (f"{label:<34} {r['seconds']:>9.2f} {r['peak_mb']:>9.0f} {r['start_mb']:>9.0f} "
            f"{r['pairs']:>12,} {r['points_matched']:>12,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="number of points (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the point generator")
    parser.add_argument("--near-road-share", type=float, default=0.5,
                        help="share of the points scattered around the roads, the rest uniform (default 0.5)")
    parser.add_argument("--spread-km", type=float, default=25.0,
                        help="standard deviation of a near-road point's offset from its road, km (default 25)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the geopandas sjoin_nearest baseline")
    parser.add_argument("--worker", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--max-km", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.input, args.max_km)
    if args.points < 1:
        parser.error("--points must be at least 1")

    rules, network = load_network()
    max_km = rules.max_reach_km
    contenders = ["ours"]
    skipped = None
    if args.no_baseline:
        skipped = "--no-baseline"
    elif importlib.util.find_spec("geopandas") is None:
        skipped = "geopandas is not installed (pip install -e '.[bench]')"
    else:
        contenders.append("baseline")

    with tempfile.TemporaryDirectory(prefix="riskengine-bench-") as tmp:
        made = time.perf_counter()
        lats, lons = generate_points(args.points, args.seed, network.segments, args.near_road_share, args.spread_km)
        made = time.perf_counter() - made
        points_file = str(Path(tmp) / "points.npz")
        np.savez(points_file, lats=lats, lons=lons)
        del lats, lons
        results = {name: run_worker(__file__, ["--worker", name, "--input", points_file, "--max-km", str(max_km)])
                   for name in contenders}

    print(f"machine                            {machine()}")
    print(f"points                             {args.points:,} (seed {args.seed}, {args.near_road_share:.0%} "
          f"around the roads, generated in {made:.1f} s)")
    print(f"segments                           {len(network.segments)}")
    print(f"max km                             {max_km:g} (RuleBook.max_reach_km, the real cut-off)")
    print(f"{'contender':<34} {'seconds':>9} {'peak MB':>9} {'start MB':>9} {'pairs':>12} {'points matched':>14}")
    ours = results["ours"]
    print(_row("ours     " + CONTENDERS["ours"], ours))
    if "baseline" in results:
        base = results["baseline"]
        print(_row("baseline " + CONTENDERS["baseline"], base))
        print(f"ratio ours/baseline                {ours['seconds'] / base['seconds']:>9.2f} "
              f"{ours['peak_mb'] / base['peak_mb']:>9.2f}")
        same = "same" if ours["points_matched"] == base["points_matched"] else "DIFFERENT"
        print(f"points matched                     {same}: ours {ours['points_matched']:,}, "
              f"baseline {base['points_matched']:,}")
    else:
        print(f"baseline                           skipped: {skipped}")
    print("note                               ours gives every segment within reach of a point (all pairs); "
          "sjoin_nearest gives only the nearest one (one pair per point, more on ties), hence fewer pairs")
    faster = "baseline" not in results or ours["seconds"] < results["baseline"]["seconds"]
    small = ours["peak_mb"] < TARGET_PEAK_MB
    verdict = "met" if faster and small else "NOT met"
    print(f"target faster than the baseline and under {TARGET_PEAK_MB:.0f} MB peak: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
