"""The road network: named roads cut into segments between towns, and routes along them.

Roads are declared in ``seeds/roads.yaml`` as ordered waypoints. A plain waypoint is a town or
junction where a segment ends; ``{via: name}`` is a shape point the road passes without a break.
Roads meet where they share a plain waypoint. Segment geometry comes from
``seeds/roads_geometry.geojson`` (written by ``seeds/tools/build_roads.py``); a segment without a
stored line, such as one on a road a user has just added, is drawn through its waypoints.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import shapely
from shapely.geometry import LineString, shape

from riskengine import compiled, yamlfile
from riskengine.errors import NoRouteError, SeedDataError, UnknownPlaceError, UnknownSegmentError
from riskengine.geo import geodesic_km, line_length_km, lonlat_line
from riskengine.models import Place, Segment

if TYPE_CHECKING:
    from collections.abc import Callable

    import networkx as nx

log = logging.getLogger(__name__)

ROADS_FILE = "roads.yaml"
GEOMETRY_FILE = "roads_geometry.geojson"
DEFAULT_SPEED_KMH = 80.0  # typical speed of a road whose entry does not say
#: Stored geometry whose ends lie farther than this from the segment's towns is ignored.
GEOMETRY_END_TOLERANCE_KM = 30.0
#: A place that is not a node is routed from the nearest node within this distance.
SNAP_TO_NODE_KM = 60.0
#: The code that builds a network: a change to any of it rebuilds the compiled cache.
_BUILD_CODE = tuple(Path(__file__).with_name(name) for name in ("roads.py", "geo.py", "models.py", "yamlfile.py"))


class PlaceResolver(Protocol):
    """What the road network needs from a gazetteer."""

    def resolve(self, name: str) -> Place: ...


def slug(text: str) -> str:
    """Lowercase ``text``, strip its diacritics and join its alphanumeric runs with hyphens.

    Examples
    --------
    >>> slug("Ṣabrātah"), slug("al-Marj"), slug("  Bani  Walid ")
    ('sabratah', 'al-marj', 'bani-walid')
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def segment_id(road_id: str, start: str, end: str) -> str:
    """Return the stable id of the segment of road ``road_id`` from ``start`` to ``end``.

    Examples
    --------
    >>> segment_id("jufra", "Sirte", "Waddan")
    'jufra-sirte-waddan'
    """
    return f"{road_id}-{slug(start)}-{slug(end)}"


def waypoint_line(places: list[Place]) -> LineString:
    """Return the lon/lat polyline through ``places`` in order."""
    return lonlat_line([(p.lat, p.lon) for p in places])


@dataclass(frozen=True)
class SegmentPlan:
    """A segment as declared: its id, its end places and the shape points between them."""

    id: str
    road_id: str
    road_name: str
    start: Place
    end: Place
    vias: tuple[Place, ...] = ()
    speed_kmh: float = DEFAULT_SPEED_KMH

    @property
    def places(self) -> list[Place]:
        """Start, vias and end, in order."""
        return [self.start, *self.vias, self.end]


@dataclass(frozen=True)
class Road:
    """A named road: its plain waypoints (canonical names) and its segment ids, in order."""

    id: str
    name: str
    towns: tuple[str, ...]
    segment_ids: tuple[str, ...]


@dataclass(frozen=True)
class RoutePath:
    """A route: the nodes passed (start first), the segments used and the total length."""

    via: list[str]
    segments: list[Segment] = field(default_factory=list)
    length_km: float = 0.0

    def line(self) -> LineString:
        """The route as one lon/lat polyline in travel order (each segment turned to face the way)."""
        coords: list[tuple[float, float]] = []
        for i, seg in enumerate(self.segments):
            part = list(seg.geometry.coords)
            if seg.start != self.via[i]:
                part.reverse()
            coords.extend(part if not coords else part[1:])
        return LineString(coords)


def read_roads(path: Path, gazetteer: PlaceResolver) -> tuple[list[Road], list[SegmentPlan]]:
    """Read and validate a ``roads.yaml``, resolving every waypoint through ``gazetteer``.

    Parameters
    ----------
    path : Path
        The YAML file.
    gazetteer : PlaceResolver
        Resolves waypoint names to places; canonical names become nodes and segment ends.

    Returns
    -------
    tuple of (list of Road, list of SegmentPlan)
        The roads in file order, and all their segments in road order.

    Raises
    ------
    SeedDataError
        For an unreadable file, a missing key, an unknown place (with the gazetteer's suggestions),
        a road with fewer than two plain waypoints, or a road or segment id used twice.
    """
    import yaml  # noqa: PLC0415 - only a build (a miss of the compiled cache) reads YAML

    try:
        data = yamlfile.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedDataError(f"{path}: cannot read roads file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SeedDataError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("roads"), list):
        raise SeedDataError(f"{path}: expected a top-level 'roads:' list")
    roads: list[Road] = []
    plans: list[SegmentPlan] = []
    seen: set[str] = set()  # road and segment ids
    for index, item in enumerate(data["roads"], start=1):
        road, road_plans = _read_road(path, index, item, gazetteer)
        for key in (road.id, *road.segment_ids):
            if key in seen:
                raise SeedDataError(f"{path}: road {road.id!r}: id {key!r} is used twice")
            seen.add(key)
        roads.append(road)
        plans.extend(road_plans)
    return roads, plans


def _read_road(path: Path, index: int, item: Any, gazetteer: PlaceResolver) -> tuple[Road, list[SegmentPlan]]:
    """Validate one road entry and cut it into segment plans."""
    if not isinstance(item, dict):
        raise SeedDataError(f"{path}: road #{index}: expected a mapping with id, name and waypoints")
    road_id = str(item.get("id") or f"#{index}")
    where = f"{path}: road {road_id!r}"
    for key in ("id", "name", "waypoints"):
        if not item.get(key):
            raise SeedDataError(f"{where}: missing key {key!r}")
    if slug(road_id) != road_id:
        raise SeedDataError(f"{where}: an id must be lowercase letters, digits and hyphens")
    if not isinstance(item["waypoints"], list):
        raise SeedDataError(f"{where}: 'waypoints' must be a list")
    points: list[tuple[Place, bool]] = []
    for raw in item["waypoints"]:
        is_via = isinstance(raw, dict)
        name = raw.get("via") if is_via else raw
        if not isinstance(name, str) or not name.strip() or (is_via and len(raw) != 1):
            raise SeedDataError(f"{where}: bad waypoint {raw!r} (a name or {{via: name}})")
        try:
            place = gazetteer.resolve(name)
        except UnknownPlaceError as exc:
            raise SeedDataError(f"{where}: {exc}") from exc
        if place.is_area:
            raise SeedDataError(f"{where}: waypoint {name!r} is an area ({place.name}), not a place")
        points.append((place, is_via))
    towns = [place for place, is_via in points if not is_via]
    if len(towns) < 2:
        raise SeedDataError(f"{where}: needs at least 2 plain waypoints, has {len(towns)}")
    if points[0][1] or points[-1][1]:
        raise SeedDataError(f"{where}: must begin and end with a plain waypoint, not a via")
    road_name = str(item["name"])
    speed = item.get("speed_kmh", DEFAULT_SPEED_KMH)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 10 <= speed <= 130:
        raise SeedDataError(f"{where}: speed_kmh {speed!r} must be a number from 10 to 130")
    plans: list[SegmentPlan] = []
    start, vias = points[0][0], []
    for place, is_via in points[1:]:
        if is_via:
            vias.append(place)
            continue
        if place.name == start.name:
            raise SeedDataError(f"{where}: {place.name!r} follows itself (a segment of length zero)")
        sid = segment_id(road_id, start.name, place.name)
        plans.append(SegmentPlan(sid, road_id, road_name, start, place, tuple(vias), float(speed)))
        start, vias = place, []
    road = Road(road_id, road_name, tuple(p.name for p in towns), tuple(p.id for p in plans))
    return road, plans


def read_geometry(path: Path) -> dict[str, tuple[LineString, str]]:
    """Read ``roads_geometry.geojson`` into {segment id: (lon/lat line, source)}; {} if absent."""
    if not path.exists():
        return {}
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SeedDataError(f"{path}: not a readable GeoJSON FeatureCollection: {exc}") from exc
    lines: dict[str, tuple[LineString, str]] = {}
    for feature in features:
        props = feature.get("properties") or {}
        try:
            geom = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError):
            geom = None
        if not props.get("segment_id") or not isinstance(geom, LineString) or geom.is_empty:
            log.warning("%s: skipping a feature without segment_id or LineString geometry", path)
            continue
        lines[str(props["segment_id"])] = (geom, str(props.get("source", "unknown")))
    return lines


def _fit_geometry(plan: SegmentPlan, line: LineString, where: Path) -> LineString | None:
    """Return ``line`` oriented start to end, or None (with a warning) if its ends are off."""
    (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
    a, b = (plan.start.lat, plan.start.lon), (plan.end.lat, plan.end.lon)
    tol = GEOMETRY_END_TOLERANCE_KM
    if geodesic_km((y0, x0), a) <= tol and geodesic_km((y1, x1), b) <= tol:
        return line
    if geodesic_km((y0, x0), b) <= tol and geodesic_km((y1, x1), a) <= tol:
        return LineString(line.coords[::-1])
    ends = f"{plan.start.name} and {plan.end.name}"
    log.warning(
        "%s: geometry of %s does not end within %.0f km of %s; using waypoints", where, plan.id, tol, ends
    )
    return None


class RoadNetwork:
    """Roads, their segments and a graph of towns joined by segments.

    Build one with :meth:`load`. ``graph`` is a networkx MultiGraph whose nodes are canonical
    place names (with ``lat``/``lon``) and whose edges are segments (key = segment id,
    ``weight`` = typical driving hours). It is made on first use, networkx with it: importing
    networkx takes about a tenth of a second, which commands that never route need not pay.

    A network loaded from seed files also keeps the quickest routes between all its nodes (found
    by networkx the first time any route is asked for) in the compiled cache, with or without each
    segment and without each set of segments asked to avoid, so that routes round closures and
    worst segments need neither the graph nor networkx again (:meth:`path`).

    Parameters
    ----------
    roads : list of Road
        The roads, in file order.
    segments : list of Segment
        Every segment of every road, in road order.
    places : dict of str to Place
        The node places by canonical name.
    gazetteer : PlaceResolver, optional
        Used by :meth:`path` to find places that are not nodes.
    """

    #: Sets of avoided segments whose quickest routes are kept in memory (the oldest go first).
    AVOIDING_KEPT = 32

    def __init__(
        self,
        roads: list[Road],
        segments: list[Segment],
        places: dict[str, Place],
        gazetteer: PlaceResolver | None = None,
    ):
        self.roads = list(roads)
        self.segments = list(segments)
        self._by_id = {s.id: s for s in self.segments}
        self._gazetteer = gazetteer
        self._nodes = {name: (place.lat, place.lon) for name, place in places.items()}
        #: What the network was loaded from (a digest of its seed files, its gazetteer's and its
        #: code); None when built in code. The quickest routes are kept in the compiled cache under it.
        self.source_key: str | None = None
        #: quickest routes avoiding several segments, by the set avoided (see :meth:`_way_round`)
        self._avoiding: dict[frozenset[str], QuickestRoutes] = {}

    @cached_property
    def graph(self) -> nx.MultiGraph:
        """The towns joined by segments (see the class docstring)."""
        import networkx as nx  # noqa: PLC0415 - see the class docstring

        graph = nx.MultiGraph()
        for name, (lat, lon) in self._nodes.items():
            graph.add_node(name, lat=lat, lon=lon)
        for seg in self.segments:
            graph.add_edge(seg.start, seg.end, key=seg.id, weight=seg.hours, road_id=seg.road_id)
        return graph

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("graph", None)  # made again on first use: a pickle of the network needs no networkx
        state.pop("_quickest", None)  # kept in the compiled cache on their own (see :meth:`_quickest`)
        state.pop("_quickest_avoiding", None)
        state["_avoiding"] = {}
        return state

    @cached_property
    def _quickest(self) -> QuickestRoutes | None:
        """The quickest routes between all nodes when no segment is avoided, from the compiled cache
        (found on a miss); None for a network built in code, which has no key to keep them under."""
        if self.source_key is None:
            return None
        return compiled.cached("routes", self._routes_key("quickest routes"), self._find_quickest)

    @cached_property
    def _quickest_avoiding(self) -> dict[str, QuickestRoutes] | None:
        """For each segment, the quickest routes between all nodes that avoid it (what an answer's
        alternative route asks: a way round its worst segment), kept in the compiled cache like
        :attr:`_quickest`; None for a network built in code."""
        if self.source_key is None:
            return None
        return compiled.cached("detours", self._routes_key("quickest routes avoiding one segment"),
                               lambda: {s.id: self._find_quickest(frozenset([s.id])) for s in self.segments})

    def _routes_key(self, what: str) -> list:
        """The compiled cache's key parts of routes found on this network (by networkx, by this code)."""
        return [type(self).__module__, type(self).__qualname__, what, self.source_key,
                compiled.package_version("networkx"), Path(__file__)]

    def _find_quickest(self, avoid: frozenset[str] = frozenset()) -> QuickestRoutes:
        """Every node's quickest routes without the ``avoid`` segments, as networkx finds them for
        :meth:`path` (the same search: a route to one node is the start of the search for all of
        them, and keeps its last step)."""
        import networkx as nx  # noqa: PLC0415 - see the class docstring

        usable = _usable_weight(avoid)
        previous = {}
        for a in self._nodes:
            found = nx.single_source_dijkstra_path(self.graph, a, weight=usable)
            previous[a] = {b: route[-2] for b, route in found.items() if len(route) > 1}
        step = {}
        for u, v in self.graph.edges():
            edges = self.graph.get_edge_data(u, v)
            if any(k not in avoid for k in edges):
                step[u, v] = step[v, u] = _quickest_edge(edges, avoid)
        return QuickestRoutes(previous, step)

    def _way_round(self, a: str, b: str, avoid: frozenset[str]) -> tuple[list[str], list[str]] | None:
        """The quickest route from ``a`` to ``b`` without any of ``avoid`` (several segments: a road's
        closed stretches, or those and an answer's worst segment): the kept quickest route when it
        uses none of them (taking segments away never makes a route quicker); else from the quickest
        routes without ``avoid``, found once per set and kept in memory and in the compiled cache
        (the set of closed segments changes seldom). None when no road is left between the two."""
        direct = _kept_route(self._quickest, a, b)
        if direct is not None and avoid.isdisjoint(direct[1]):
            return direct
        quickest = self._avoiding.get(avoid)
        if quickest is None:
            quickest = compiled.cached("avoiding", [*self._routes_key("quickest routes avoiding"), *sorted(avoid)],
                                       lambda: self._find_quickest(avoid))
            known = {**self._avoiding, avoid: quickest}  # a new dict: threads reading the old one are undisturbed
            while len(known) > self.AVOIDING_KEPT:
                del known[next(iter(known))]
            self._avoiding = known
        return _kept_route(quickest, a, b)

    def has_node(self, name: str) -> bool:
        """Whether ``name`` is a node: the canonical name of a place where a segment ends."""
        return name in self._nodes

    @classmethod
    def load(cls, seeds_dir: Path | str, gazetteer: PlaceResolver | None = None) -> RoadNetwork:
        """Read ``roads.yaml`` and, when present, ``roads_geometry.geojson`` from ``seeds_dir``.

        Without a ``gazetteer`` the one in ``seeds_dir`` is loaded.

        Raises
        ------
        SeedDataError
            When ``roads.yaml`` is missing or invalid (see :func:`read_roads`).
        """
        seeds_dir = Path(seeds_dir)
        if gazetteer is None:
            from riskengine.gazetteer import Gazetteer  # imported late: the gazetteer is optional here

            gazetteer = Gazetteer.load(seeds_dir)
        gazetteer_key = getattr(gazetteer, "source_key", None)
        if gazetteer_key is None:  # a gazetteer built in code: nothing to key a cached network on
            return cls._build(seeds_dir, gazetteer)
        key_parts = [cls.__module__, cls.__qualname__, gazetteer_key, shapely.__version__, yamlfile.version(),
                     *_BUILD_CODE, seeds_dir / ROADS_FILE, seeds_dir / GEOMETRY_FILE]

        def build() -> RoadNetwork:
            network = cls._build(seeds_dir, gazetteer)
            network._gazetteer = None  # the cached copy carries no gazetteer: the caller's is attached below
            return network

        network = compiled.cached("roads", key_parts, build)
        network._gazetteer = gazetteer
        network.source_key = compiled.fingerprint(key_parts)
        return network

    @classmethod
    def _build(cls, seeds_dir: Path, gazetteer: PlaceResolver) -> RoadNetwork:
        """Read and check the seed files: what :meth:`load` does on a cache miss."""
        roads, plans = read_roads(seeds_dir / ROADS_FILE, gazetteer)
        geometry_path = seeds_dir / GEOMETRY_FILE
        stored = read_geometry(geometry_path)
        segments: list[Segment] = []
        places: dict[str, Place] = {}
        for plan in plans:
            line = None
            if plan.id in stored:
                line = _fit_geometry(plan, stored[plan.id][0], geometry_path)
            if line is None:
                line = waypoint_line(plan.places)
            a, b = plan.start.name, plan.end.name
            places.setdefault(a, plan.start)
            places.setdefault(b, plan.end)
            length = round(line_length_km(line), 3)
            segments.append(
                Segment(plan.id, f"{a} - {b}", plan.road_id, plan.road_name, a, b, line, length, plan.speed_kmh)
            )
        return cls(roads, segments, places, gazetteer)

    def road(self, road_id: str) -> Road:
        """Return the road with id ``road_id`` (KeyError if none)."""
        return {road.id: road for road in self.roads}[road_id]

    def segment(self, seg_id: str) -> Segment:
        """Return a segment by id.

        Raises
        ------
        UnknownSegmentError
            When there is no such segment; it carries the closest ids.
        """
        try:
            return self._by_id[seg_id]
        except KeyError:
            from rapidfuzz import process  # noqa: PLC0415 - only an unknown id needs it

            close = process.extract(seg_id, list(self._by_id), limit=3, score_cutoff=60)
            raise UnknownSegmentError(seg_id, [c[0] for c in close]) from None

    def nodes(self) -> list[str]:
        """Return the node names (canonical place names), sorted."""
        return sorted(self._nodes)  # the graph's nodes, without making the graph

    def nearest_node(self, lat: float, lon: float) -> tuple[str, float]:
        """Return the node nearest to a point and its geodesic distance in km."""
        dists = ((geodesic_km((lat, lon), (nlat, nlon)), n) for n, (nlat, nlon) in self._nodes.items())
        km, name = min(dists)
        return name, km

    def _node_for(self, name: str, start: str, end: str) -> str:
        """Return the node a route from/to ``name`` uses: itself, or the nearest within reach."""
        if name in self._nodes:
            return name
        if self._gazetteer is None:
            raise NoRouteError(f"no route from {start!r} to {end!r}: {name!r} is not on the road network")
        place = self._gazetteer.resolve(name)
        if place.name in self._nodes:
            return place.name
        node, km = self.nearest_node(place.lat, place.lon)
        if km > SNAP_TO_NODE_KM:
            raise NoRouteError(
                f"no route from {start!r} to {end!r}: {place.name} is {km:.0f} km from the nearest "
                f"road node ({node}), more than {SNAP_TO_NODE_KM:.0f} km"
            )
        return node

    def path(self, start: str, end: str, avoid: frozenset[str] = frozenset()) -> RoutePath:
        """Return the quickest route (typical driving time) from ``start`` to ``end``.

        Parameters
        ----------
        start, end : str
            Node names, or any place the gazetteer knows within 60 km of a node (the route then
            begins or ends at that node).
        avoid : frozenset of str
            Segment ids the route must not use.

        Returns
        -------
        RoutePath
            Nodes and segments in travel order (a segment's geometry keeps its own direction).

        Raises
        ------
        NoRouteError
            When no road joins the two places (without the avoided segments).
        UnknownSegmentError
            When ``avoid`` names a segment that does not exist.
        UnknownPlaceError
            When a name is neither a node nor a place the gazetteer knows.
        """
        avoid = frozenset(avoid)
        for seg_id in avoid:
            self.segment(seg_id)
        a, b = self._node_for(start, start, end), self._node_for(end, start, end)
        if a == b:
            return RoutePath([a], [], 0.0)
        without = f" avoiding {', '.join(sorted(avoid))}" if avoid else ""
        quickest, keys = None, None
        if not avoid:
            quickest = self._quickest
        elif len(avoid) == 1:  # an alternative round one segment
            quickest = (self._quickest_avoiding or {}).get(next(iter(avoid)))
        if quickest is not None:  # found before, by the same search as below
            found = _kept_route(quickest, a, b)
            if found is None:
                raise NoRouteError(f"no route from {start!r} to {end!r}{without}")
            nodes, keys = found
        elif len(avoid) > 1 and self._quickest is not None:
            # round closed stretches (and an answer's worst segment)
            found = self._way_round(a, b, avoid)
            if found is None:
                raise NoRouteError(f"no route from {start!r} to {end!r}{without}")
            nodes, keys = found
        if keys is None:
            import networkx as nx  # noqa: PLC0415 - see the class docstring

            try:
                nodes = nx.dijkstra_path(self.graph, a, b, weight=_usable_weight(avoid))
            except nx.NetworkXNoPath:
                raise NoRouteError(f"no route from {start!r} to {end!r}{without}") from None
            keys = [_quickest_edge(self.graph.get_edge_data(u, v), avoid)
                    for u, v in zip(nodes, nodes[1:], strict=False)]
        segments = [self._by_id[key] for key in keys]
        return RoutePath(nodes, segments, round(sum(s.length_km for s in segments), 3))


def _kept_route(quickest: QuickestRoutes, a: str, b: str) -> tuple[list[str], list[str]] | None:
    """The nodes and segment ids of the kept quickest route from ``a`` to ``b``; None when there is none."""
    previous = quickest.previous[a]
    if b not in previous:
        return None
    nodes = [b]
    while nodes[-1] != a:
        nodes.append(previous[nodes[-1]])
    nodes.reverse()
    return nodes, [quickest.step[u, v] for u, v in zip(nodes, nodes[1:], strict=False)]


@dataclass(frozen=True)
class QuickestRoutes:
    """The quickest routes of a network (avoiding nothing, or one segment): ``previous[a][b]`` is the
    node before ``b`` on the route from ``a`` (no entry: no route), ``step[u, v]`` the segment from u
    to v."""

    previous: dict[str, dict[str, str]]
    step: dict[tuple[str, str], str]


def _usable_weight(avoid: frozenset[str]) -> Callable[[str, str, dict[str, dict]], float | None]:
    """The weight networkx searches with: the quickest of the segments joining two nodes that are
    not avoided (None: none is left, no way through)."""

    def usable(u: str, v: str, edges: dict[str, dict]) -> float | None:
        weights = [d["weight"] for k, d in edges.items() if k not in avoid]
        return min(weights) if weights else None

    return usable


def _quickest_edge(edges: dict[str, dict], avoid: frozenset[str]) -> str:
    """The segment a route takes between two nodes: the quickest not avoided (the first of equals)."""
    return min((k for k in edges if k not in avoid), key=lambda k: edges[k]["weight"])
