"""The offline map: one HTML page that fetches nothing, with its base layer, labels and risk layer.

The page is read as a browser would before running any script: every ``src``/``href`` and every CSS
``url()`` of the document, then the JSON document the script draws (``#riskengine-data``). The
incidents are written for these tests; none describes a real event.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from shapely.geometry import Polygon, box, shape
from shapely.geometry.polygon import orient

from riskengine.maps import LEVEL_COLOURS
from riskengine.web import basemap_build
from riskengine.web.offline_map import (
    DATA_ELEMENT_ID,
    LABELS,
    LEAFLET_DIR,
    NO_REPORTS_COLOUR,
    TOWN_MIN_POPULATION,
    basemap_geojson,
    leaflet_assets,
    map_data,
    map_html,
    map_script,
    map_style,
    towns_geojson,
)

from .conftest import NOW

#: Incidents written for these tests: an ambush on the Sirte - Waddan road, a roadblock along the
#: Waddan - Hun stretch, and a summary holding markup that must stay text.
INCIDENTS = [
    {"event_type": "Violence against civilians", "sub_event_type": "Attack", "tags": ["ambush"],
     "date": "2026-11-14", "lat": 30.35, "lon": 16.48, "geo_precision": 1, "fatalities": 1,
     "source": "map desk", "source_reliability": "B",
     "evidence": "Masked men stopped a fuel tanker on the desert road south of Sirte and shot its driver.",
     "summary": "Tanker driver shot south of Sirte"},
    {"event_type": "Strategic developments", "sub_event_type": "Other", "tags": ["illegal_checkpoint"],
     "date": "2026-11-12", "segments": ["jufra-waddan-hun"], "location_kind": "stretch", "geo_precision": 2,
     "source": "map desk", "source_reliability": "C",
     "evidence": "Bus passengers said armed men at a barrier of oil drums between Waddan and Hun took phones.",
     "summary": "Barrier of oil drums </script><script>alert(1)</script> near Hun"},
]
#: A segment far from every incident above: no recent reports.
QUIET = "ghadames-nalut-ghadames"
#: Libya and the six countries it borders.
NEIGHBOURS = {"LBY", "TUN", "DZA", "NER", "TCD", "SDN", "EGY"}


@pytest.fixture
def stocked(engine):
    text = "\n".join(json.dumps(row) for row in INCIDENTS) + "\n"
    result = engine.ingest_content(text, kind="jsonl", source="map desk", now=NOW)
    assert (result.incidents_added, result.errors) == (len(INCIDENTS), [])
    return engine


class _Page(HTMLParser):
    """What a browser would load from a page: its tags' URLs, its style text and its JSON data."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.scripts: list[dict] = []
        self._in: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value:
                self.urls.append((tag, name, value))
        if tag in ("script", "style"):
            self._in = {"tag": tag, "attrs": dict(attrs), "text": ""}

    def handle_data(self, data):
        if self._in is not None:
            self._in["text"] += data

    def handle_endtag(self, tag):
        if self._in is not None and tag == self._in["tag"]:
            self.scripts.append(self._in)
            self._in = None


def _read(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _data(page: str) -> dict:
    found = [s for s in _read(page).scripts if s["attrs"].get("id") == DATA_ELEMENT_ID]
    assert len(found) == 1 and found[0]["attrs"].get("type") == "application/json"
    return json.loads(found[0]["text"])


@pytest.fixture
def page(stocked) -> str:
    return map_html(stocked, NOW)


def test_the_page_fetches_nothing(page):
    parsed = _read(page)
    assert parsed.urls == [], f"the page names URLs to load: {parsed.urls}"
    assert "link" not in parsed.tags and "iframe" not in parsed.tags
    assert all(not s["attrs"].get("src") for s in parsed.scripts)
    styles = "".join(s["text"] for s in parsed.scripts if s["tag"] == "style")
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", styles)
    assert urls and all(u.startswith(("data:", "#")) for u in urls), urls
    assert "@import" not in styles
    assert not re.search(r"""(src|href)\s*=\s*\\?["']?https?://""", page)  # not even in a script's text
    assert _data(page)["tiles"] is None


def test_leaflet_and_the_map_script_are_inlined(page):
    leaflet_js, leaflet_css = leaflet_assets()
    version = json.loads((LEAFLET_DIR / "VENDORED.json").read_text(encoding="utf-8"))["version"]
    assert f'"{version}"' in leaflet_js
    assert leaflet_js in page and map_script() in page and map_style() in page
    shipped = (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")
    assert len(leaflet_js) > 0.99 * len(shipped) and leaflet_js.count("\n") == shipped.count("\n")
    assert leaflet_css in page and "images/layers.png" not in leaflet_css and "data:image/png;base64," in leaflet_css
    assert "window.riskengineMap = riskengineMap" in map_script() and "window.riskengineReady = true" in map_script()
    assert '<div id="map"' in page


def test_the_data_holds_every_segment_with_its_level(stocked, page):
    data = _data(page)
    drawn = {f["id"]: f["properties"] for f in data["segments"]["features"]}
    assert set(drawn) == {s.id for s in stocked.network.segments}
    assert all(p["level"] in LEVEL_COLOURS and p["level_label"] for p in drawn.values())
    assert data["colours"] == {str(k): v for k, v in LEVEL_COLOURS.items()}
    hit = drawn["jufra-sirte-waddan"]
    assert hit["covered"] and not hit["quiet"] and hit["events"] >= 1
    assert "Tanker driver shot south of Sirte" in [e["summary"] for e in hit["top_events"]]
    assert all(e["sources"] == ["map desk"] for e in hit["top_events"])
    assert {f["properties"]["summary"] for f in data["events"]["features"]} >= {INCIDENTS[0]["summary"]}
    for feature in data["events"]["features"]:
        lat, lon = feature["properties"]["marker"]
        assert 19 < lat < 34 and 9 < lon < 26 and feature["properties"]["segments"]


def test_a_segment_without_reports_is_not_covered_and_not_green(page):
    quiet = next(f["properties"] for f in _data(page)["segments"]["features"] if f["id"] == QUIET)
    assert quiet["covered"] is False and quiet["quiet"] is True
    assert quiet["level_label"] == "No recent reports" and quiet["coverage"]["why_not"]
    assert NO_REPORTS_COLOUR != LEVEL_COLOURS[1]
    script = map_script()
    assert "p.quiet ? data.no_reports_colour" in script and "dashArray: p.covered ? null" in script


def test_markup_in_a_report_stays_text(page):
    parsed = _read(page)
    assert page.count("</script>") == len([s for s in parsed.scripts if s["tag"] == "script"]) == 4
    summaries = {f["properties"]["summary"] for f in _data(page)["events"]["features"]}
    assert INCIDENTS[1]["summary"] in summaries  # read back whole: no report text closed the data's element


def test_towns_above_the_threshold_and_at_road_ends_are_labelled(engine):
    towns = {f["id"]: f["properties"] for f in towns_geojson(engine)["features"]}
    kinds = ("city", "town", "village", "hamlet", "locality")
    big = {p.name for p in engine.gazetteer.places if p.kind in kinds and (p.population or 0) >= TOWN_MIN_POPULATION}
    assert big and big <= set(towns)
    assert set(engine.network.nodes()) <= set(towns)
    assert towns["Tripoli"]["minzoom"] < towns["Zliten"]["minzoom"] <= towns["Brak"]["minzoom"]
    assert all(p["minzoom"] <= 6 for p in towns.values() if p["node"])


def test_road_names_are_placed_along_their_roads(stocked, page):
    roads = _data(page)["roads"]
    assert {r["road"] for r in roads} == {road.id for road in stocked.network.roads}
    coastal = next(r for r in roads if r["road"] == "coastal")
    assert coastal["name"] == "Coastal Highway"
    assert "road-label" in map_script() and "town-label" in map_script() and "'segment level-'" in map_script()


def test_the_arabic_page_reads_right_to_left(stocked):
    page = map_html(stocked, NOW, lang="ar")
    data = _data(page)
    assert '<html lang="ar">' in page and data["dir"] == "rtl" and data["lang"] == "ar"
    assert data["labels"]["levels"]["2"] == "منخفض"  # JSON keys are strings
    towns = {f["id"]: f["properties"] for f in data["towns"]["features"]}
    assert towns["Tripoli"]["name_ar"] == "طرابلس" and towns["Misrata"]["name_ar"]
    quiet = next(f["properties"] for f in data["segments"]["features"] if f["id"] == QUIET)
    assert quiet["level_label"] == "لا تقارير حديثة"
    assert re.search(r"[\u0621-\u064A]", quiet["label"])  # the ends' Arabic names
    script = map_script()
    assert "div.setAttribute('dir', data.dir)" in script and '\'<div class="rk-popup" dir="\' + data.dir' in script


def test_arabic_level_and_status_names_are_the_bots():
    from bot.i18n import LEVEL_NAMES, NO_RECENT_REPORTS, catalogue

    arabic = catalogue("ar")
    assert LABELS["ar"]["levels"] == {level: arabic[name] for level, name in LEVEL_NAMES.items()}
    assert LABELS["ar"]["no_reports"] == arabic[NO_RECENT_REPORTS]
    for status, word in LABELS["ar"]["statuses"].items():
        assert arabic.get(status, word) == word


def test_online_tiles_only_when_asked(stocked):
    data = map_data(stocked, NOW, tiles_url="https://tiles.example.org/{z}/{x}/{y}.png", tiles_attribution="x")
    assert data["tiles"] == {"url": "https://tiles.example.org/{z}/{x}/{y}.png", "attribution": "x"}
    with pytest.raises(ValueError, match="unknown language"):
        map_data(stocked, NOW, lang="fr")


def _rings(geometry: dict) -> list[list]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [ring for polygon in polygons for ring in polygon]


def test_the_base_layer_has_libya_and_its_neighbours_with_closed_rings():
    doc = basemap_geojson()
    by_iso = {f["properties"]["iso"]: f for f in doc["features"]}
    assert NEIGHBOURS <= set(by_iso)
    assert by_iso["LBY"]["properties"] == {"name": "Libya", "name_ar": "ليبيا", "iso": "LBY"}
    frame = box(*basemap_build.BOX).buffer(1e-6)
    for iso, feature in by_iso.items():
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon"), iso
        for ring in _rings(feature["geometry"]):
            assert len(ring) >= 4 and ring[0] == ring[-1], f"{iso}: a ring must close"
        geom = shape(feature["geometry"])
        assert geom.is_valid and frame.contains(geom), iso
        for part in getattr(geom, "geoms", [geom]):
            assert part.exterior.is_ccw, f"{iso}: outer rings run counter-clockwise (RFC 7946)"
    libya = shape(by_iso["LBY"]["geometry"])
    assert 140 < libya.area < 155  # square degrees: about 1.76 million km2
    assert libya.contains(shape({"type": "Point", "coordinates": [13.19, 32.85]}))  # Tripoli, on the coast
    assert shape(by_iso["TUN"]["geometry"]).touches(libya) or shape(by_iso["TUN"]["geometry"]).distance(libya) < 0.02


def test_the_basemap_build_clips_names_and_orients():
    clockwise = orient(Polygon([(20, 20), (20, 40), (35, 40), (35, 20)]), sign=-1.0)  # reaches out of the box
    far = Polygon([(100, 0), (101, 0), (101, 1)])
    source = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": clockwise.__geo_interface__,
         "properties": {"NAME": "Testland", "NAME_AR": "أرض", "ISO_A3": "TST", "POP_EST": 5}},
        {"type": "Feature", "geometry": far.__geo_interface__, "properties": {"NAME": "Faraway"}},
    ]}
    doc = basemap_build.build(source)
    assert [f["properties"] for f in doc["features"]] == [{"name": "Testland", "name_ar": "أرض", "iso": "TST"}]
    geom = shape(doc["features"][0]["geometry"])
    assert geom.bounds == (20.0, 20.0, 30.0, 38.0) and geom.exterior.is_ccw
    with pytest.raises(ValueError, match="no ISO code"):
        basemap_build.build({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": clockwise.__geo_interface__, "properties": {"NAME": "Nowhere"}}]})
