"""Incidents onto road segments: which segments each incident touches, and how far away it is.

A point incident is matched to every segment within the cut-off distance (the farthest reach of
any rule plus the incident's precision radius); a stretch of road names its segments directly
(distance 0); an area (a lon/lat polygon) touches the segments within the cut-off of its edge and
is at distance 0 from those that cross it. All spatial work is vectorised with shapely's STRtree
in the metric CRS, so a million points map in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely import STRtree

from .errors import UnknownSegmentError
from .geo import metric_points, to_metric
from .models import Incident, Segment

Match = tuple[str, float]


class SegmentIndex:
    """A spatial index over the network's segments (metric CRS)."""

    def __init__(self, segments: Sequence[Segment]):
        self.ids = np.array([s.id for s in segments], dtype=object)
        self._positions = {s.id: i for i, s in enumerate(segments)}
        self.geometries = np.array([to_metric(s.geometry) for s in segments], dtype=object)
        self.tree = STRtree(self.geometries)

    def nearest_points(
        self, lats: np.ndarray, lons: np.ndarray, max_km: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised: every (point index, segment id, distance km) with distance <= ``max_km``.

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> seg = Segment("r-a-b", "A - B", "r", "R", "A", "B", LineString([(13.0, 32.0), (14.0, 32.0)]), 94.4)
        >>> idx = SegmentIndex([seg])
        >>> points, ids, km = idx.nearest_points(np.array([32.1, 33.5]), np.array([13.5, 13.5]), 50)
        >>> points.tolist(), ids.tolist(), [round(k) for k in km]
        ([0], ['r-a-b'], [11])
        """
        geoms = metric_points(lats, lons)
        return self._within(geoms, max_km)

    def _within(self, geoms: np.ndarray, max_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = self.tree.query(geoms, predicate="dwithin", distance=max_km * 1000.0)
        left, right = pairs[0], pairs[1]
        distances = shapely.distance(geoms[left], self.geometries[right]) / 1000.0
        return left, self.ids[right], distances

    def match(self, incidents: Sequence[Incident], cutoff_km: float) -> list[list[Match]]:
        """For each incident, the segments it touches and the distance in km (0 = on the road).

        ``cutoff_km`` is the farthest an incident can count (rules' largest reach plus the largest
        precision radius); an explicit ``radius_km`` larger than the default widens it for that one.
        """
        result: list[list[Match]] = [[] for _ in incidents]
        point_rows = []
        for i, inc in enumerate(incidents):
            if inc.segments:
                unknown = [s for s in inc.segments if s not in self._positions]
                if unknown:
                    raise UnknownSegmentError(unknown[0])
                result[i] = [(s, 0.0) for s in dict.fromkeys(inc.segments)]
            elif inc.geometry_wkt:
                geom = to_metric(shapely.from_wkt(inc.geometry_wkt))
                _, ids, km = self._within(np.array([geom]), cutoff_km)
                result[i] = list(zip(ids.tolist(), km.tolist(), strict=True))
            else:
                point_rows.append(i)
        if point_rows:
            lats = np.array([incidents[i].lat for i in point_rows], dtype=float)
            lons = np.array([incidents[i].lon for i in point_rows], dtype=float)
            extra = max((incidents[i].radius_km or 0.0) for i in point_rows)
            which, ids, km = self.nearest_points(lats, lons, cutoff_km + extra)
            for k, seg_id, dist in zip(which.tolist(), ids.tolist(), km.tolist(), strict=True):
                result[point_rows[k]].append((seg_id, dist))
        return result
