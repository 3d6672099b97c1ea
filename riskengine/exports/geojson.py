"""Segments and events as RFC 7946 GeoJSON, for partners' maps (QGIS, Leaflet, a data hub).

RFC 7946 fixes what a reader may assume: positions are [lon, lat] in WGS 84 (no ``crs`` member),
a line has two positions or more, and a polygon's outer ring runs counter-clockwise (its holes
clockwise). Shapely already keeps x = lon, y = lat (:mod:`riskengine.geo`); this module only rounds
the positions and orients the rings. What a feature says of a segment is the engine's own answer
(:meth:`RiskEngine.segments`): a road nobody reported on says "No recent reports" and
``covered: false``, never a bare "safe".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from shapely import wkt
from shapely.geometry import MultiLineString, Point
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

if TYPE_CHECKING:
    from ..engine import RiskEngine

__all__ = ["COORDINATE_DECIMALS", "TOP_EVENTS", "event_shape", "events_geojson", "geojson_document",
           "geometry", "segments_geojson"]

#: Decimals kept of each coordinate: 6 is about 0.1 m, finer than any report places an event.
COORDINATE_DECIMALS = 6
#: The events listed with each segment, those that weigh most first.
TOP_EVENTS = 5


def _position(xy: tuple[float, ...]) -> list[float]:
    return [round(float(xy[0]), COORDINATE_DECIMALS), round(float(xy[1]), COORDINATE_DECIMALS)]


def _positions(coords) -> list[list[float]]:
    """Rounded positions, without a point repeated by the rounding."""
    out: list[list[float]] = []
    for xy in coords:
        position = _position(xy)
        if not out or out[-1] != position:
            out.append(position)
    return out


def _ring(coords) -> list[list[float]]:
    ring = _positions(coords)
    if ring[0] != ring[-1]:  # rounding never opens a ring, but a ring must close
        ring.append(ring[0])
    return ring


def geometry(shape: BaseGeometry) -> dict[str, Any]:
    """The GeoJSON geometry of a lon/lat shapely geometry: rounded positions, rings by the right-hand rule.

    Examples
    --------
    >>> geometry(Point(13.1913, 32.8872))
    {'type': 'Point', 'coordinates': [13.1913, 32.8872]}
    >>> from shapely.geometry import Polygon
    >>> geometry(Polygon([(0, 0), (0, 1), (1, 1), (0, 0)]))["coordinates"]  # clockwise in, counter-clockwise out
    [[[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]
    """
    kind = shape.geom_type
    if kind == "Point":
        return {"type": kind, "coordinates": _position(shape.coords[0])}
    if kind == "LineString":
        return {"type": kind, "coordinates": _positions(shape.coords)}
    if kind == "MultiLineString":
        return {"type": kind, "coordinates": [_positions(line.coords) for line in shape.geoms]}
    if kind == "Polygon":
        shape = orient(shape, sign=1.0)
        return {"type": kind, "coordinates": [_ring(shape.exterior.coords),
                                              *(_ring(hole.coords) for hole in shape.interiors)]}
    if kind == "MultiPolygon":
        return {"type": kind, "coordinates": [geometry(part)["coordinates"] for part in shape.geoms]}
    raise ValueError(f"no GeoJSON geometry for a {kind}")


def event_shape(engine: RiskEngine, row: Mapping[str, Any]) -> BaseGeometry | None:
    """Where an event is, in lon/lat: its point, its stretch of road (the segments' lines), or its
    area; None when it has none. ``row`` is an event as :meth:`Store.events_frame` gives it."""
    if pd.notna(row.get("lat")) and pd.notna(row.get("lon")):
        return Point(float(row["lon"]), float(row["lat"]))
    if segments := list(row.get("segments") or []):
        lines = [engine.network.segment(s).geometry for s in segments]
        return lines[0] if len(lines) == 1 else MultiLineString(lines)
    if isinstance(row.get("geometry_wkt"), str) and row["geometry_wkt"]:
        return wkt.loads(row["geometry_wkt"])
    return None


def _top_event(item: dict) -> dict[str, Any]:
    return {"id": item["id"], "date": item["date"], "event_type": item["event_type"],
            "sub_event_type": item["sub_event_type"], "weight": item["weight"], "summary": item["summary"],
            "sources": list(item["sources"])}


def _segment_feature(engine: RiskEngine, row: dict, at: dt.datetime, as_of: str) -> dict[str, Any]:
    top = engine.explain(row["id"], at)["incidents"][:TOP_EVENTS] if row["incidents"] else []
    status, coverage = row["status"], row["coverage"]
    return {
        "type": "Feature", "id": row["id"],
        "geometry": geometry(engine.network.segment(row["id"]).geometry),
        "properties": {
            "kind": "segment", "id": row["id"], "name": row["name"], "road": row["road"],
            "from": row["from"], "to": row["to"], "length_km": row["length_km"],
            "score": row["score"], "level": row["level"], "level_name": row["level_name"],
            "covered": coverage["covered"], "status": status["status"], "status_since": status["since"],
            "status_source": status["source"], "as_of": as_of, "events": row["incidents"],
            "coverage": dict(coverage), "road_status": dict(status),
            "top_events": [_top_event(item) for item in top],
        },
    }


def segments_geojson(engine: RiskEngine, at: dt.datetime) -> dict[str, Any]:
    """Every road segment as a LineString feature with its risk at ``at``.

    Parameters
    ----------
    engine
        The engine whose road network and store are read.
    at
        The assessment time (timezone-aware).

    Returns
    -------
    dict
        A FeatureCollection, one feature per segment in the network's order; its properties are
        the segment answer's (score, level, ``level_name``, road ``status``, ``coverage``) with
        ``as_of`` and the ``top_events`` that weigh most on it (at most :data:`TOP_EVENTS`).
    """
    answer = engine.segments(at)
    features = [_segment_feature(engine, row, at, answer["at"]) for row in answer["segments"]]
    return {"type": "FeatureCollection", "features": features}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def events_geojson(engine: RiskEngine, at: dt.datetime, since: dt.date | None = None, *,
                   active: bool = True) -> dict[str, Any]:
    """The stored events dated on or before ``at`` (and on or after ``since``) as features.

    An event told at a point is a Point; one told along a stretch of road is the line of its
    segments; one told over an area is its polygon. ``confidence`` is what its reports give
    together (the confidence scoring uses); ``segments`` are those it weighs on at ``at``, where it
    weighs most first. ``active`` False includes retracted and merged events,
    with their ``status``.
    """
    from ..scoring import event_confidence  # noqa: PLC0415 - pandas work only when events are exported

    until = at.astimezone(dt.UTC).date()
    after = since - dt.timedelta(days=1) if since is not None else None
    frame = engine.store.events_frame(until, since=after, active=active)
    believed = event_confidence(engine.rules, engine.store.event_reports_frame(until, since=after))
    touched = _weighs_on(engine, at)
    features = []
    for row in frame.to_dict("records"):
        shape = event_shape(engine, row)
        if shape is None or shape.is_empty:
            continue
        confidence = believed.get(row["id"])
        features.append({
            "type": "Feature", "id": row["id"], "geometry": geometry(shape),
            "properties": {
                "kind": "event", "id": row["id"], "date": row["date"].isoformat(),
                "event_type": row["event_type"], "sub_event_type": _text(row["sub_event_type"]),
                "tags": list(row["tags"] or []), "fatalities": int(row["fatalities"]),
                "confidence": None if confidence is None or pd.isna(confidence) else round(float(confidence), 3),
                "sources": list(row["sources"] or []), "reports": int(row["reports"]),
                "segments": touched.get(row["id"], []), "location_kind": row["location_kind"],
                "geo_precision": int(row["geo_precision"]), "status": row["status"],
                "summary": row["summary"],
            },
        })
    return {"type": "FeatureCollection", "features": features}


def _weighs_on(engine: RiskEngine, at: dt.datetime) -> dict[str, list[str]]:
    """The segments each event weighs on at ``at``, where it weighs most first."""
    contributions = engine.assess(at).contributions
    weighing = contributions.loc[contributions["weight"] > 0, ["incident_id", "segment_id", "weight"]]
    if weighing.empty:
        return {}
    weighing = weighing.sort_values(["incident_id", "weight", "segment_id"], ascending=[True, False, True],
                                    kind="stable")
    return {str(k): v for k, v in weighing.groupby("incident_id")["segment_id"].agg(list).items()}


def geojson_document(engine: RiskEngine, at: dt.datetime) -> dict[str, Any]:
    """``riskengine export geojson``: the segments, then the events, in one FeatureCollection
    (each feature's ``kind`` says which)."""
    segments = segments_geojson(engine, at)["features"]
    events = events_geojson(engine, at)["features"]
    return {"type": "FeatureCollection", "features": segments + events}

