"""The point-by-point projections and the geodesic destination that text reading uses give the
figures of the slower ways they replace: shapely geometries projected whole, and geopy's geodesic."""

from __future__ import annotations

import random

from geopy.distance import distance

from riskengine.geo import destination, latlon_of, lonlat_point, metric_xy, to_lonlat, to_metric


def _points(n: int, seed: int = 5) -> list[tuple[float, float]]:
    """Random points over Libya and a margin around it."""
    rng = random.Random(seed)
    return [(rng.uniform(18.0, 34.0), rng.uniform(8.0, 26.0)) for _ in range(n)]


def test_one_point_projects_as_a_geometry_does_to_the_last_bit():
    for lat, lon in _points(500):
        metric = to_metric(lonlat_point(lat, lon))
        assert metric_xy(lat, lon) == (metric.x, metric.y)
        back = to_lonlat(metric)
        assert latlon_of(metric.x, metric.y) == (back.y, back.x)


def test_a_point_projected_and_back_is_where_it_was():
    for lat, lon in _points(50):
        got = latlon_of(*metric_xy(lat, lon))
        assert abs(got[0] - lat) < 1e-9 and abs(got[1] - lon) < 1e-9


def test_the_destination_is_geopys_within_a_millimetre():
    rng = random.Random(9)
    for lat, lon in _points(2000):
        bearing, km = rng.choice((0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0, 22.5)), rng.uniform(1, 300)
        theirs = distance(kilometers=km).destination((lat, lon), bearing)
        ours = destination(lat, lon, bearing, km)
        assert abs(ours[0] - theirs.latitude) < 1e-8 and abs(ours[1] - theirs.longitude) < 1e-8
    # a bearing points where it says: 40 km due south keeps the longitude and loses about 0.36 degrees
    lat, lon = destination(31.2, 16.6, 180.0, 40.0)
    assert lon == 16.6 or abs(lon - 16.6) < 1e-12
    assert 0.35 < 31.2 - lat < 0.37
