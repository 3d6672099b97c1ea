"""The risk map as one self-contained HTML page: it opens from a file, offline, and shows where it is.

A map of road risk is only read when the reader can tell which road is which. Without network the
page still has its ground: the countries of Natural Earth (``seeds/basemap/countries.geojson``,
Libya emphasised, the sea as the background), the gazetteer's towns labelled by size and the
network's road names, under the segments coloured by level and the events that weigh. Leaflet,
its styles (with their images as ``data:`` URIs), the page's own script and style and the data are
all inlined: nothing is fetched, unless ``tiles_url`` asks for online tiles.

The data is kept apart from the code: one JSON document in ``<script type="application/json"
id="riskengine-data">`` read by ``window.riskengineMap(element, data)`` (``static/map.js``), which
the web board serves as a file and calls with the same document (:func:`map_data`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapely.geometry import shape

from ..arabic import arabic_name
from ..coverage import NO_RECENT_REPORTS
from ..engine import DEFAULT_SEEDS_DIR
from ..exports.geojson import events_geojson, segments_geojson
from ..gazetteer import PLACE_KINDS
from ..maps import LEVEL_COLOURS, LIBYA_BOUNDS
from .i18n import ARABIC

if TYPE_CHECKING:
    from ..engine import RiskEngine
    from ..models import Place

__all__ = ["DATA_ELEMENT_ID", "LABELS", "NO_REPORTS_COLOUR", "TOWN_MIN_POPULATION",
           "basemap_geojson", "json_script", "leaflet_assets", "map_data", "map_html", "map_script", "map_style",
           "road_labels", "towns_geojson"]

STATIC_DIR = Path(__file__).with_name("static")
LEAFLET_DIR = STATIC_DIR / "vendor" / "leaflet"
BASEMAP_FILE = DEFAULT_SEEDS_DIR / "basemap" / "countries.geojson"
#: The id of the page's ``<script type="application/json">`` holding :func:`map_data`.
DATA_ELEMENT_ID = "riskengine-data"
#: A segment nobody reported on is drawn in this grey, dashed: unknown, never "safe" green.
NO_REPORTS_COLOUR = "#9e9e9e"
#: The smallest population of a town labelled on the map (towns at segment ends are always labelled).
TOWN_MIN_POPULATION = 5000
#: (population at least, zoom from which a town is labelled): the bigger the town, the sooner.
TOWN_ZOOMS = ((500_000, 4), (100_000, 5), (30_000, 6), (10_000, 7), (0, 8))
#: The zoom from which a town at a segment's end is labelled, whatever its population.
NODE_ZOOM = 6

#: The page's words. Level and status names in Arabic are the board's (:data:`.i18n.ARABIC`, the bot's
#: catalogue's words; a test keeps them equal): riskengine cannot import the bot.
LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Road risk", "as_of": "as of", "score": "Score", "level": "Level", "road": "Road",
        "status": "Road status", "coverage": "Coverage", "events": "events", "sources": "sources",
        "newest": "newest", "top_events": "Events that weigh most", "no_events": "No event weighs here",
        "event": "event", "confidence": "confidence", "reports": "reports", "segments": "on",
        "weight": "weight", "km": "km", "no_reports": NO_RECENT_REPORTS,
        "levels": {1: "Insignificant", 2: "Low", 3: "Medium", 4: "High", 5: "Extreme"},
        "statuses": {"open": "open", "restricted": "restricted", "checkpoint": "checkpoint", "closed": "closed"},
        "attribution": "Countries: Natural Earth. Roads and places: \u00a9 OpenStreetMap contributors, GeoNames",
    },
    "ar": {
        "title": "مخاطر الطرق", "as_of": "حتى", "score": "الدرجة", "level": "المستوى", "road": "الطريق",
        "status": "حالة الطريق", "coverage": "التغطية", "events": "أحداث", "sources": "المصادر",
        "newest": "الأحدث", "top_events": "الأحداث الأكثر تأثيرا", "no_events": "لا حدث يؤثر هنا",
        "event": "حدث", "confidence": "الثقة", "reports": "تقارير", "segments": "على",
        "weight": "الوزن", "km": "كم", "no_reports": ARABIC[NO_RECENT_REPORTS],
        "levels": {1: ARABIC["Insignificant"], 2: ARABIC["Low"], 3: ARABIC["Medium"], 4: ARABIC["High"],
                   5: ARABIC["Extreme"]},
        "statuses": {name: ARABIC[name] for name in ("open", "restricted", "checkpoint", "closed")},
        "attribution": "الدول: Natural Earth. الطرق والأماكن: \u00a9 OpenStreetMap contributors, GeoNames",
    },
}
RTL = frozenset({"ar"})

_LEAFLET_LINK, _LEAFLET_LINK_OFFLINE = '<a href="https://leafletjs.com" ', '<a '
_CSS_URL = re.compile(r"url\((['\"]?)(images/[\w.-]+)\1\)")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS as shipped (``static/vendor/leaflet``), made to stand alone:
    the CSS's images (layer control, marker icons) become ``data:`` URIs, and the link to Leaflet's
    site in the default attribution (never shown: map.js sets a plain prefix) is dropped, so that
    nothing in the page points outside it."""
    def inline(match: re.Match) -> str:
        data = base64.b64encode((LEAFLET_DIR / match.group(2)).read_bytes()).decode("ascii")
        return f'url("data:image/png;base64,{data}")'

    script = _read(LEAFLET_DIR / "leaflet.js").replace(_LEAFLET_LINK, _LEAFLET_LINK_OFFLINE)
    return script, _CSS_URL.sub(inline, _read(LEAFLET_DIR / "leaflet.css"))


def map_script() -> str:
    """``static/map.js``: defines ``window.riskengineMap(element, data)`` for the data of :func:`map_data`."""
    return _read(STATIC_DIR / "map.js")


def map_style() -> str:
    """``static/map.css``: the base layer's labels, the legend and the popups."""
    return _read(STATIC_DIR / "map.css")


@cache
def _basemap(path: Path) -> dict[str, Any]:
    return json.loads(_read(path))


def basemap_geojson(path: Path | str | None = None) -> dict[str, Any]:
    """The countries drawn under the roads (``seeds/basemap/countries.geojson``): Libya, its
    neighbours and the Mediterranean coast, each with ``name``, ``name_ar`` and ``iso``. Read once;
    do not modify it."""
    return _basemap(Path(path) if path else BASEMAP_FILE)


def _country_labels(basemap: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each country's name goes: inside its largest part."""
    out = []
    for feature in basemap["features"]:
        geom = shape(feature["geometry"])
        part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
        if part.area < 1.0:  # an island or a sliver of a country at the box's edge: no room for a name
            continue
        point = part.representative_point()
        out.append({**feature["properties"], "lat": round(point.y, 4), "lon": round(point.x, 4)})
    return out


def _town_zoom(population: int | None, node: bool) -> int:
    by_size = next((zoom for floor, zoom in TOWN_ZOOMS if (population or 0) >= floor), TOWN_ZOOMS[-1][1])
    return min(by_size, NODE_ZOOM) if node else by_size


def towns_geojson(engine: RiskEngine) -> dict[str, Any]:
    """The towns labelled on the map, as Point features: every place of at least
    :data:`TOWN_MIN_POPULATION` people and every town at a segment's end.

    Each has ``name``, ``name_ar`` (its Arabic alias, or None), ``population``, ``kind``,
    ``node`` (it ends a segment) and ``minzoom``, the zoom from which it is labelled: big towns
    first (:data:`TOWN_ZOOMS`). Features come biggest first, the order in which labels are placed.
    """
    nodes = set(engine.network.nodes())
    chosen: dict[str, Place] = {}
    for place in engine.gazetteer.places:
        if place.kind in PLACE_KINDS and (place.population or 0) >= TOWN_MIN_POPULATION:
            chosen.setdefault(place.name, place)
    for name in nodes - chosen.keys():
        chosen[name] = engine.gazetteer.resolve(name)
    features = []
    for name, place in chosen.items():
        node = name in nodes
        features.append({
            "type": "Feature", "id": name,
            "geometry": {"type": "Point", "coordinates": [round(place.lon, 5), round(place.lat, 5)]},
            "properties": {"name": name, "name_ar": arabic_name(place.aliases),
                           "population": place.population, "kind": place.kind, "node": node,
                           "minzoom": _town_zoom(place.population, node)},
        })
    features.sort(key=lambda f: (f["properties"]["minzoom"], not f["properties"]["node"],
                                 -(f["properties"]["population"] or 0), f["id"]))
    return {"type": "FeatureCollection", "features": features}


def road_labels(engine: RiskEngine) -> list[dict[str, Any]]:
    """Where road names may go: the middle of each of a road's segments, the road's middle segment
    first (the map keeps as many as fit, farther apart than a screen's width at low zoom)."""
    out = []
    for road in engine.network.roads:
        ids = list(road.segment_ids)
        middle = (len(ids) - 1) / 2
        for index, seg_id in enumerate(ids):
            point = engine.network.segment(seg_id).geometry.interpolate(0.5, normalized=True)
            out.append({"road": road.id, "name": road.name, "segment": seg_id, "order": abs(index - middle),
                        "lat": round(point.y, 5), "lon": round(point.x, 5)})
    out.sort(key=lambda r: (r["order"], r["road"]))
    return out


def _place_name(engine: RiskEngine, name: str, lang: str) -> str:
    if lang != "ar":
        return name
    found = engine.gazetteer.lookup(name)
    return (arabic_name(found[0].aliases) if found else None) or name


def _marker_point(geometry: dict[str, Any]) -> list[float]:
    """Where an event's marker goes, [lat, lon]: its point, the middle of its road, inside its area."""
    geom = shape(geometry)
    if geom.geom_type == "Point":
        point = geom
    elif geom.geom_type in ("LineString", "MultiLineString"):
        lines = list(getattr(geom, "geoms", [geom]))
        point = lines[len(lines) // 2].interpolate(0.5, normalized=True)
    else:
        point = geom.representative_point()
    return [round(point.y, 5), round(point.x, 5)]


def map_data(engine: RiskEngine, at: dt.datetime, *, lang: str = "en", tiles_url: str | None = None,
             tiles_attribution: str | None = None) -> dict[str, Any]:
    """Everything ``window.riskengineMap`` draws, as one JSON-ready document.

    Parameters
    ----------
    engine
        The engine whose store, rules, gazetteer and road network are drawn.
    at
        The assessment time (timezone-aware).
    lang
        ``en`` or ``ar``: names (towns, segment ends) and words of the page; ``dir`` is ``rtl`` in Arabic.
    tiles_url, tiles_attribution
        An online tile layer (a Leaflet URL template) to draw under the countries; None draws none.

    Returns
    -------
    dict
        ``segments`` (:func:`~riskengine.exports.geojson.segments_geojson`, each feature's properties
        with ``label``, its name in ``lang``, ``level_label`` and ``quiet``: no recent reports),
        ``events`` (those that weigh on a segment, with ``marker``, [lat, lon]), ``basemap``,
        ``countries`` (label points), ``towns`` (:func:`towns_geojson`), ``roads``
        (:func:`road_labels`), ``colours``, ``no_reports_colour``, ``bounds``, ``as_of``, ``lang``,
        ``dir``, ``labels`` (:data:`LABELS`) and ``tiles``.
    """
    if lang not in LABELS:
        raise ValueError(f"unknown language {lang!r}; one of {', '.join(LABELS)}")
    words = LABELS[lang]
    segments = segments_geojson(engine, at)
    for feature in segments["features"]:
        p = feature["properties"]
        quiet = p["level"] == 1 and not p["covered"]
        p["quiet"] = quiet
        p["label"] = " - ".join(_place_name(engine, end, lang) for end in (p["from"], p["to"]))
        p["level_label"] = words["no_reports"] if quiet else words["levels"][p["level"]]
    names = {f["id"]: f["properties"]["label"] for f in segments["features"]}
    events = events_geojson(engine, at)
    weighing = []
    for feature in events["features"]:
        p = feature["properties"]
        if not p["segments"]:
            continue
        p["marker"] = _marker_point(feature["geometry"])
        p["segment_labels"] = [names.get(s, s) for s in p["segments"]]
        weighing.append(feature)
    own = engine.seeds_dir / "basemap" / "countries.geojson"  # seeds of one's own may lack the countries
    basemap = basemap_geojson(own if own.is_file() else None)
    as_of = at.astimezone(dt.UTC)
    return {
        "as_of": as_of.isoformat(), "as_of_text": as_of.strftime("%Y-%m-%d %H:%M UTC"),
        "lang": lang, "dir": "rtl" if lang in RTL else "ltr", "labels": words,
        "colours": {str(level): colour for level, colour in LEVEL_COLOURS.items()},
        "no_reports_colour": NO_REPORTS_COLOUR, "bounds": LIBYA_BOUNDS,
        "segments": segments, "events": {"type": "FeatureCollection", "features": weighing},
        "basemap": basemap, "countries": _country_labels(basemap),
        "towns": towns_geojson(engine), "roads": road_labels(engine),
        "tiles": {"url": tiles_url, "attribution": tiles_attribution or ""} if tiles_url else None,
    }


def json_script(data: Any, element_id: str = DATA_ELEMENT_ID) -> str:
    r"""``data`` as a ``<script type="application/json">`` element that no text inside can close or
    turn into markup: ``<``, ``>`` and ``&`` are written as JSON escapes, which the page's
    ``JSON.parse`` reads back as the same characters.

    >>> json_script({"summary": "</script><b>"}, "d")
    '<script type="application/json" id="d">{"summary": "\\u003c/script\\u003e\\u003cb\\u003e"}</script>'
    """
    text = (json.dumps(data, ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return f'<script type="application/json" id="{html.escape(element_id)}">{text}</script>'


def map_html(engine: RiskEngine, at: dt.datetime, *, lang: str = "en", tiles_url: str | None = None,
             tiles_attribution: str | None = None) -> str:
    """The risk map at ``at`` as one HTML page that needs no network (see the module's docstring).

    Parameters are those of :func:`map_data`. The map's container is ``#map``; once drawn, the page
    sets ``window.riskengineReady``. Segments are SVG paths of class ``segment level-N`` (and
    ``quiet`` with no recent reports), town labels tooltips of class ``town-label``, road names of
    class ``road-label``, events circles of class ``event``.
    """
    data = map_data(engine, at, lang=lang, tiles_url=tiles_url, tiles_attribution=tiles_attribution)
    leaflet_js, leaflet_css = leaflet_assets()
    title = f"{data['labels']['title']} \u00b7 {data['as_of_text']}"
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{leaflet_css}\n</style>",
        f"<style>\n{map_style()}\n</style>",
        "</head>",
        f'<body class="riskengine-page" data-lang="{lang}">',
        '<div id="map" class="riskengine-map"></div>',
        json_script(data),
        f"<script>\n{leaflet_js}\n</script>",
        f"<script>\n{map_script()}\n</script>",
        "<script>window.riskengineMap(document.getElementById('map'), "
        f"JSON.parse(document.getElementById('{DATA_ELEMENT_ID}').textContent));</script>",
        "</body>",
        "</html>",
        "",
    ])
