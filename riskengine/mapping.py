"""Incidents onto road segments: which segments each incident touches, and how far away it is.

A point incident is matched to every segment within the cut-off distance (the farthest reach of
any rule plus the incident's precision radius); a stretch of road names its segments directly
(distance 0); an area (a lon/lat polygon) touches the segments that cross it or lie inside it
(distance 0) and those within a small margin of its edge (``areas.margin_km`` in
``rules/scoring.yaml``), not every segment within the cut-off: a region is where the events were,
and a road 80 km outside the Fezzan is not in it. All spatial work is vectorised in the metric CRS:
points are measured against the segments' straight pieces with numpy, a chunk of points at a time
(so memory stays flat however many points come), after a bounding-box filter; all areas go through
shapely's STRtree in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely import STRtree

from .errors import UnknownSegmentError
from .geo import lonlat_point, to_metric, transformers
from .models import Segment

if TYPE_CHECKING:
    from .incident import Incident

Match = tuple[str, float]


#: Points projected per step of :meth:`SegmentIndex.nearest_points`, and the most (point, piece)
#: distances measured at once: together they bound its scratch memory, however many points come.
POINT_CHUNK = 65_536
CELL_BUDGET = 2_000_000

#: How far outside its edge an area still touches a segment, in km, when the caller does not say
#: (the rules' ``areas.margin_km``).
AREA_MARGIN_KM = 10.0


def _pieces(line) -> np.ndarray:
    """The straight pieces of a (multi)line as rows ``(ax, ay, bx, by)``; a lone vertex is a piece of length 0."""
    rows = []
    for part in shapely.get_parts(line):
        xy = shapely.get_coordinates(part)
        if len(xy) == 1:
            xy = np.vstack([xy, xy])
        if len(xy):
            rows.append(np.hstack([xy[:-1], xy[1:]]))
    return np.vstack(rows) if rows else np.empty((0, 4))


def point_piece_distance(x: np.ndarray, y: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """Distance from each point ``(x[i], y[i])`` to the nearest of ``pieces`` (rows ``ax, ay, bx, by``).

    Vectorised over points and pieces: the nearest piece is found with squared distances, then the
    distance to it is measured with GEOS's point-to-segment arithmetic, so the result is what
    ``shapely.distance`` gives for the line made of those pieces.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> line = LineString([(0, 0), (10, 0), (10, 10), (10, 10), (3, 4)])
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(-20, 30, 2000), rng.uniform(-20, 30, 2000)
    >>> ours = point_piece_distance(x, y, _pieces(line))
    >>> bool(np.allclose(ours, shapely.distance(shapely.points(x, y), line), rtol=0, atol=1e-12))
    True
    """
    ax, ay, bx, by = pieces[:, 0], pieces[:, 1], pieces[:, 2], pieces[:, 3]
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
    # the nearest piece: squared distance to the clamped projection on each piece
    ex = x[:, None] - ax
    ey = y[:, None] - ay
    t = np.clip((ex * dx + ey * dy) * inv, 0.0, 1.0)
    ex -= t * dx
    ey -= t * dy
    ex *= ex
    ey *= ey
    ex += ey
    k = ex.argmin(axis=1)
    # the distance to it, as GEOS measures it (Distance::pointToSegment)
    ax, ay, bx, by, dx, dy, len2, inv = ax[k], ay[k], bx[k], by[k], dx[k], dy[k], len2[k], inv[k]
    r = ((x - ax) * dx + (y - ay) * dy) * inv
    to_a = np.sqrt((x - ax) ** 2 + (y - ay) ** 2)
    to_b = np.sqrt((x - bx) ** 2 + (y - by) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        across = np.abs(((ay - y) * dx - (ax - x) * dy) / len2) * np.sqrt(len2)
    return np.where((r <= 0) | (len2 == 0), to_a, np.where(r >= 1, to_b, across))


class SegmentIndex:
    """A spatial index over the network's segments (metric CRS)."""

    def __init__(self, segments: Sequence[Segment]):
        self.ids = np.array([s.id for s in segments], dtype=object)
        self._positions = {s.id: i for i, s in enumerate(segments)}
        self.geometries = np.array([to_metric(s.geometry) for s in segments], dtype=object)
        self.tree = STRtree(self.geometries)
        self._pieces = [_pieces(g) for g in self.geometries]
        self._bounds = shapely.bounds(self.geometries).reshape(-1, 4)

    def nearest(self, lat: float, lon: float) -> tuple[str, float]:
        """The segment nearest one point, and its distance in km (a traveller's road)."""
        indices, metres = self.tree.query_nearest(to_metric(lonlat_point(lat, lon)), return_distance=True)
        return str(self.ids[int(indices[0])]), float(metres[0]) / 1000.0

    def nearest_points(
        self, lats: np.ndarray, lons: np.ndarray, max_km: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised: every (point index, segment id, distance km) with distance <= ``max_km``.

        Pairs come ordered by point index, then by the segments' order.

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> seg = Segment("r-a-b", "A - B", "r", "R", "A", "B", LineString([(13.0, 32.0), (14.0, 32.0)]), 94.4)
        >>> idx = SegmentIndex([seg])
        >>> points, ids, km = idx.nearest_points(np.array([32.1, 33.5]), np.array([13.5, 13.5]), 50)
        >>> points.tolist(), ids.tolist(), [round(k) for k in km]
        ([0], ['r-a-b'], [11])
        """
        lats = np.asarray(lats, dtype=float).ravel()
        lons = np.asarray(lons, dtype=float).ravel()
        reach = float(max_km) * 1000.0
        found_points, found_segments, found_km = [], [], []
        to_metric_crs = transformers()[0]  # made on first use (pyproj): see riskengine.geo
        for first in range(0, len(lats), POINT_CHUNK):
            # the same projection as geo.metric_points, without making a shapely point of each
            x, y = to_metric_crs.transform(lons[first:first + POINT_CHUNK], lats[first:first + POINT_CHUNK])
            points, segments, metres = [], [], []
            for position, (pieces, (x0, y0, x1, y1)) in enumerate(zip(self._pieces, self._bounds, strict=True)):
                near = np.flatnonzero((x >= x0 - reach) & (x <= x1 + reach) & (y >= y0 - reach) & (y <= y1 + reach))
                if not len(near) or not len(pieces):
                    continue
                step = max(1, CELL_BUDGET // len(pieces))
                dist = np.concatenate([point_piece_distance(x[near[i:i + step]], y[near[i:i + step]], pieces)
                                       for i in range(0, len(near), step)])
                keep = dist <= reach
                points.append(near[keep])
                segments.append(np.full(int(keep.sum()), position, dtype=np.intp))
                metres.append(dist[keep])
            if not points:
                continue
            p, s, m = np.concatenate(points), np.concatenate(segments), np.concatenate(metres)
            order = np.argsort(p * len(self._pieces) + s, kind="stable")
            found_points.append(p[order] + first)
            found_segments.append(s[order])
            found_km.append(m[order] / 1000.0)
        if not found_points:
            return np.empty(0, dtype=np.intp), self.ids[np.empty(0, dtype=np.intp)], np.empty(0, dtype=float)
        return (np.concatenate(found_points), self.ids[np.concatenate(found_segments)],
                np.concatenate(found_km))

    def areas(self, geoms: Sequence, margin_km: float = AREA_MARGIN_KM
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised: every (area index, segment id, distance km) for metric polygons ``geoms``.

        An area touches the segments that cross it or lie inside it (distance 0) and those whose
        distance to its edge is at most ``margin_km``. Pairs come ordered by area, then by the
        segments' order.

        Examples
        --------
        >>> from shapely.geometry import LineString, box
        >>> segs = [Segment("r-a-b", "A - B", "r", "R", "A", "B", LineString([(13.0, 32.0), (14.0, 32.0)]), 94.4),
        ...         Segment("r-b-c", "B - C", "r", "R", "B", "C", LineString([(14.0, 32.0), (14.0, 33.0)]), 111.0)]
        >>> idx = SegmentIndex(segs)
        >>> area = to_metric(box(13.2, 31.8, 13.5, 32.2))  # across A - B, about 45 km west of B - C
        >>> which, ids, km = idx.areas([area], margin_km=10)
        >>> which.tolist(), ids.tolist(), km.tolist()
        ([0], ['r-a-b'], [0.0])
        >>> idx.areas([area], margin_km=50)[1].tolist()
        ['r-a-b', 'r-b-c']
        """
        geoms = np.asarray(geoms, dtype=object)
        if not len(geoms):
            return np.empty(0, dtype=np.intp), self.ids[np.empty(0, dtype=np.intp)], np.empty(0, dtype=float)
        left, right = self.tree.query(geoms, predicate="dwithin", distance=float(margin_km) * 1000.0)
        order = np.lexsort((right, left))
        left, right = left[order], right[order]
        distances = shapely.distance(geoms[left], self.geometries[right]) / 1000.0
        return left, self.ids[right], distances

    def match(self, incidents: Sequence[Incident], cutoff_km: float,
              area_margin_km: float = AREA_MARGIN_KM) -> list[list[Match]]:
        """For each incident, the segments it touches and the distance in km (0 = on the road).

        ``cutoff_km`` is the farthest a point incident can count (rules' largest reach plus the
        largest precision radius); an explicit ``radius_km`` larger than the default widens it for
        that one. An area touches only the segments inside it or within ``area_margin_km`` of its
        edge (:meth:`areas`).
        """
        result: list[list[Match]] = [[] for _ in incidents]
        point_rows, area_rows, area_geoms = [], [], []
        for i, inc in enumerate(incidents):
            if inc.segments:
                unknown = [s for s in inc.segments if s not in self._positions]
                if unknown:
                    raise UnknownSegmentError(unknown[0])
                result[i] = [(s, 0.0) for s in dict.fromkeys(inc.segments)]
            elif inc.geometry_wkt:
                area_rows.append(i)
                area_geoms.append(inc.geometry_wkt)
            else:
                point_rows.append(i)
        if area_rows:
            geoms = to_metric(shapely.from_wkt(np.array(area_geoms, dtype=object)))
            which, ids, km = self.areas(geoms, area_margin_km)
            for k, seg_id, dist in zip(which.tolist(), ids.tolist(), km.tolist(), strict=True):
                result[area_rows[k]].append((seg_id, dist))
        if point_rows:
            lats = np.array([incidents[i].lat for i in point_rows], dtype=float)
            lons = np.array([incidents[i].lon for i in point_rows], dtype=float)
            extra = max((incidents[i].radius_km or 0.0) for i in point_rows)
            which, ids, km = self.nearest_points(lats, lons, cutoff_km + extra)
            for k, seg_id, dist in zip(which.tolist(), ids.tolist(), km.tolist(), strict=True):
                result[point_rows[k]].append((seg_id, dist))
        return result
