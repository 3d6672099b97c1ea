"""Build ``seeds/basemap/countries.geojson``, the offline map's countries, from Natural Earth.

The map must show where Libya is without any tile server: its outline and coast, its neighbours
and their borders. Natural Earth's Admin 0 countries (public domain; 1:50m or 1:10m) hold all of
it. This keeps the countries that reach into :data:`BOX`, clips them to it, keeps a name, an
Arabic name and the ISO code, and simplifies the shapes as one coverage (neighbours keep one
shared border, with no slivers between them) to about :data:`TOLERANCE_DEG`, about a kilometre,
far finer than the map shows the whole country at. Rings follow RFC 7946's right-hand rule::

    python -m riskengine.web.basemap_build ne_50m_admin_0_countries.geojson seeds/basemap/countries.geojson
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

__all__ = ["BOX", "DECIMALS", "ISO_A3", "TOLERANCE_DEG", "build", "main"]

#: West, south, east and north edges (lon, lat) of what the map may show: Libya and its neighbours
#: (Tunisia, Algeria, Niger, Chad, Sudan, Egypt) and the Mediterranean to Sicily, Malta and Crete.
BOX = (5.0, 15.0, 30.0, 38.0)
#: About 1 km at these latitudes (a degree of latitude is 111 km).
TOLERANCE_DEG = 0.009
#: 4 decimals of a degree is about 10 m.
DECIMALS = 4
#: ISO 3166-1 alpha-3 codes of the countries in :data:`BOX`, for copies of Natural Earth that
#: dropped the ``ISO_A3`` field (the file's own code wins when it has one).
ISO_A3 = {"Algeria": "DZA", "Chad": "TCD", "Egypt": "EGY", "Greece": "GRC", "Italy": "ITA", "Libya": "LBY",
          "Malta": "MLT", "Niger": "NER", "Sudan": "SDN", "Tunisia": "TUN", "Turkey": "TUR"}


def _field(props: dict[str, Any], *names: str) -> Any:
    upper = {k.upper(): v for k, v in props.items()}
    return next((upper[n] for n in names if upper.get(n) not in (None, "", "-99")), None)


def _rounded(coords) -> list:
    if coords and isinstance(coords[0], int | float):
        return [round(float(coords[0]), DECIMALS), round(float(coords[1]), DECIMALS)]
    return [_rounded(c) for c in coords]


def _oriented(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type == "Polygon":
        return orient(geom, sign=1.0)
    return shapely.MultiPolygon([orient(p, sign=1.0) for p in geom.geoms])


def _polygons(geom: BaseGeometry) -> BaseGeometry | None:
    """The polygonal part of a clipped shape (clipping may leave stray lines or points)."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return merged if merged.geom_type in ("Polygon", "MultiPolygon") else None


def build(source: dict[str, Any]) -> dict[str, Any]:
    """The countries of a Natural Earth Admin 0 FeatureCollection that reach into :data:`BOX`,
    clipped, simplified and rounded, as a FeatureCollection with ``name``, ``name_ar`` and ``iso``."""
    frame = box(*BOX)
    kept: list[tuple[dict[str, Any], BaseGeometry]] = []
    for feature in source["features"]:
        geom = shape(feature["geometry"])
        if not geom.intersects(frame):
            continue
        clipped = _polygons(shapely.make_valid(geom).intersection(frame))
        if clipped is None or clipped.area < TOLERANCE_DEG ** 2:
            continue
        props = feature.get("properties") or {}
        name = _field(props, "NAME_EN", "NAME", "ADMIN")
        iso = _field(props, "ISO_A3", "ISO_A3_EH", "ADM0_A3") or ISO_A3.get(name)
        if iso is None:
            raise ValueError(f"{name}: no ISO code in the file nor in ISO_A3")
        kept.append(({"name": name, "name_ar": _field(props, "NAME_AR"), "iso": iso}, clipped))
    # simplified together, neighbours keep one border; the box's edges stay where they are
    simple = shapely.coverage_simplify([g for _, g in kept], TOLERANCE_DEG, simplify_boundary=True)
    features = []
    for (props, _), geom in sorted(zip(kept, simple, strict=True), key=lambda item: item[0][0]["name"]):
        geom = _polygons(shapely.set_precision(geom, 10 ** -DECIMALS))
        if geom is None:
            continue
        geometry = mapping(_oriented(geom))
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": geometry["type"], "coordinates": _rounded(geometry["coordinates"])}})
    return {"type": "FeatureCollection", "bbox": list(BOX), "features": features}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskengine.web.basemap_build",
                                     description="Natural Earth Admin 0 countries -> the offline map's countries")
    parser.add_argument("source", type=Path, help="ne_50m_admin_0_countries.geojson (or ne_10m_...)")
    parser.add_argument("out", type=Path, nargs="?",
                        default=Path(__file__).resolve().parents[2] / "seeds" / "basemap" / "countries.geojson")
    args = parser.parse_args(argv)
    doc = build(json.loads(args.source.read_text(encoding="utf-8")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    names = ", ".join(f["properties"]["name"] for f in doc["features"])
    print(f"{args.out}: {len(doc['features'])} countries ({names}), {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
