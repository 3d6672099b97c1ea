"""Draw every segment of seeds/roads.yaml and write seeds/roads_geometry.geojson.

Run from the repository root::

    python seeds/tools/build_roads.py [--coarse PATH] [--seeds DIR]

The coarse OSM-derived network (LineStrings in lon/lat; lines flagged
``proposed_link_not_existing_road`` are skipped) becomes a graph: every vertex is a node,
consecutive vertices are joined, and vertices closer than ``SNAP_KM`` to a line end are merged so
that lines which end near each other connect. For each segment, its start, vias and end are
projected onto the nearest coarse edge (when within ``PROJECT_KM``) and joined by shortest paths
along the graph, leg by leg. The result, start + path + end, is kept only if it is plausible: no
longer than ``MAX_RATIO`` times the polyline through the waypoints, and passing within
``VIA_KM`` of every via. Otherwise the segment is drawn through its waypoints. All geometry is
computed in the metric CRS of :mod:`riskengine.geo`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.strtree import STRtree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from riskengine.gazetteer import Gazetteer  # noqa: E402
from riskengine.geo import geodesic_km, line_length_km, to_lonlat, to_metric  # noqa: E402
from riskengine.roads import GEOMETRY_FILE, ROADS_FILE, SegmentPlan, read_roads, waypoint_line  # noqa: E402

DEFAULT_COARSE = Path("/work/shared/data/ly_roads_osm_coarse.geojson")
SNAP_KM = 2.0  # line ends this close to another vertex are the same node
MERGE_KM = 0.05  # any two vertices this close are the same node
PROJECT_KM = 20.0  # a place farther than this from every coarse line is not on it
MAX_RATIO = 1.5  # coarse path length / waypoint polyline length
VIA_KM = 15.0  # a via must lie this close to the accepted path (20 km let the coarse line on the
# plain below the Nafusa escarpment, 18 km from Kabaw, stand for the mountain road Zintan - Jadu - Nalut)


def read_coarse_lines(path: Path) -> list[LineString]:
    """Return the existing-road lines of the coarse network, projected to metres."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = []
    for feature in data["features"]:
        if feature["properties"].get("proposed_link_not_existing_road"):
            continue
        lines.append(to_metric(LineString(feature["geometry"]["coordinates"])))
    return lines


class CoarseGraph:
    """The coarse lines as a weighted graph (metres), with projection and routing helpers."""

    def __init__(self, lines: list[LineString]):
        coords = [np.asarray(line.coords) for line in lines]
        points = np.vstack(coords)
        starts = np.cumsum([0] + [len(c) for c in coords[:-1]])
        ends = {int(s) for s in starts} | {int(s + len(c) - 1) for s, c in zip(starts, coords, strict=True)}
        parent = list(range(len(points)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        tree = STRtree(shapely.points(points))
        for i, xy in enumerate(points):
            reach = SNAP_KM if i in ends else MERGE_KM
            for j in tree.query(Point(xy), predicate="dwithin", distance=reach * 1000.0):
                parent[find(int(j))] = find(i)
        roots = np.array([find(i) for i in range(len(points))])
        self.xy = {int(r): points[roots == r].mean(axis=0) for r in np.unique(roots)}
        self.graph = nx.Graph()
        edges: list[tuple[int, int]] = []
        for s, c in zip(starts, coords, strict=True):
            for k in range(len(c) - 1):
                u, v = int(roots[s + k]), int(roots[s + k + 1])
                if u != v and not self.graph.has_edge(u, v):
                    self.graph.add_edge(u, v, weight=float(np.hypot(*(self.xy[u] - self.xy[v]))))
                    edges.append((u, v))
        self.edges = edges
        self.edge_tree = STRtree([LineString([self.xy[u], self.xy[v]]) for u, v in edges])

    def project(self, point: Point) -> tuple[int, Point] | None:
        """Return (edge index, nearest point on it) for a metric point, or None if too far."""
        hits = self.edge_tree.query_nearest(point, max_distance=PROJECT_KM * 1000.0)
        if len(hits) == 0:
            return None
        edge = int(hits[0])
        line = self.edge_tree.geometries[edge]
        return edge, line.interpolate(line.project(point))

    def leg(self, a: tuple[int, Point], b: tuple[int, Point]) -> list[tuple[float, float]]:
        """Return the shortest path between two projections as a list of metric coordinates."""
        graph = self.graph.copy()
        for tag, (edge, q) in (("a", a), ("b", b)):
            for node in self.edges[edge]:
                graph.add_edge(tag, node, weight=q.distance(Point(self.xy[node])))
        if a[0] == b[0]:
            graph.add_edge("a", "b", weight=a[1].distance(b[1]))
        nodes = nx.dijkstra_path(graph, "a", "b")
        return [a[1].coords[0], *(tuple(self.xy[n]) for n in nodes[1:-1]), b[1].coords[0]]


def _dedupe(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop consecutive points closer than 1 m."""
    out = [coords[0]]
    for xy in coords[1:]:
        if np.hypot(xy[0] - out[-1][0], xy[1] - out[-1][1]) > 1.0:
            out.append(xy)
    return out


def draw_segment(plan: SegmentPlan, coarse: CoarseGraph) -> tuple[LineString, str, str]:
    """Return (lon/lat line, source, reason) for one segment."""
    fallback = waypoint_line(plan.places)
    points = [to_metric(Point(p.lon, p.lat)) for p in plan.places]
    projections = [coarse.project(p) for p in points]
    missing = [p.name for p, proj in zip(plan.places, projections, strict=True) if proj is None]
    if missing:
        return fallback, "waypoints", f"> {PROJECT_KM:.0f} km from coarse lines: {', '.join(missing)}"
    coords: list[tuple[float, float]] = [points[0].coords[0]]
    for a, b in zip(projections, projections[1:], strict=False):
        coords.extend(coarse.leg(a, b))
    coords.append(points[-1].coords[0])
    path = LineString(_dedupe(coords))
    ratio = path.length / to_metric(fallback).length
    if ratio > MAX_RATIO:
        return fallback, "waypoints", f"coarse path {ratio:.2f}x the waypoint polyline"
    far = [v.name for v, p in zip(plan.vias, points[1:-1], strict=True) if path.distance(p) > VIA_KM * 1000]
    if far:
        return fallback, "waypoints", f"coarse path misses via {', '.join(far)}"
    return to_lonlat(path), "osm-coarse", f"{ratio:.2f}x the waypoint polyline"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds", help="seeds directory")
    parser.add_argument("--coarse", type=Path, default=DEFAULT_COARSE, help="coarse OSM road GeoJSON")
    args = parser.parse_args(argv)

    gazetteer = Gazetteer.load(args.seeds)
    _roads, plans = read_roads(args.seeds / ROADS_FILE, gazetteer)
    coarse = CoarseGraph(read_coarse_lines(args.coarse))
    features = []
    print(f"{'segment':38} {'source':10} {'km':>7} {'direct':>7}  note")
    for plan in plans:
        line, source, note = draw_segment(plan, coarse)
        rounded = [(round(x, 5), round(y, 5)) for x, y in line.coords]
        features.append(
            {
                "type": "Feature",
                "properties": {"segment_id": plan.id, "source": source},
                "geometry": {"type": "LineString", "coordinates": rounded},
            }
        )
        direct = geodesic_km((plan.start.lat, plan.start.lon), (plan.end.lat, plan.end.lon))
        print(f"{plan.id:38} {source:10} {line_length_km(line):7.1f} {direct:7.1f}  {note}")
    out = args.seeds / GEOMETRY_FILE
    collection = {
        "type": "FeatureCollection",
        "note": "Generated by seeds/tools/build_roads.py from seeds/roads.yaml; do not edit by hand. "
        "Geometry with source osm-coarse is derived from OpenStreetMap (ODbL 1.0, "
        "(c) OpenStreetMap contributors) via the flownet coarse network.",
        "features": features,
    }
    out.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = {s: sum(f["properties"]["source"] == s for f in features) for s in ("osm-coarse", "waypoints")}
    print(
        f"wrote {out} ({len(features)} segments: {counts['osm-coarse']} osm-coarse, "
        f"{counts['waypoints']} waypoints)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
