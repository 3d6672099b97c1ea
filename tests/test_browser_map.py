"""The offline map in a real headless Chromium with the network off: roads, towns and labels are drawn.

``riskengine map --out`` writes the page; the browser opens it from disk (see ``tests/browser.py`` for
how the network is cut). A screenshot of each page is saved for review. The incidents are written for
these tests; none describes a real event.
"""

from __future__ import annotations

import json

import pytest

from riskengine.cli import main

from .browser import console_errors, remote_resources, screenshot
from .conftest import NOW

#: An ambush on the Sirte - Waddan road and a kidnapping at the gate of Sebha, ours.
INCIDENTS = [
    {"event_type": "Violence against civilians", "sub_event_type": "Attack", "tags": ["ambush"],
     "date": "2026-11-14", "lat": 30.4, "lon": 16.45, "geo_precision": 1, "fatalities": 2,
     "source": "browser desk", "source_reliability": "B",
     "evidence": "Two lorry drivers were shot dead when gunmen opened fire on them south of Sirte.",
     "summary": "Lorry drivers shot south of Sirte"},
    {"event_type": "Violence against civilians", "sub_event_type": "Abduction/forced disappearance",
     "tags": ["kidnapping"], "date": "2026-11-15", "lat": 27.05, "lon": 14.42, "geo_precision": 1,
     "source": "browser desk", "source_reliability": "C",
     "evidence": "A trader driving into Sebha from the north was taken by armed men at the city gate.",
     "summary": "Trader kidnapped at the gate of Sebha"},
]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The map in English and in Arabic, written by the command line from a store holding our incidents."""
    where = tmp_path_factory.mktemp("browser-map")
    db, rows = where / "map.db", where / "incidents.jsonl"
    rows.write_text("\n".join(json.dumps(row) for row in INCIDENTS) + "\n", encoding="utf-8")
    assert main(["--db", str(db), "ingest", str(rows), "--format", "jsonl"]) == 0
    out = {}
    for lang in ("en", "ar"):
        out[lang] = where / f"map-{lang}.html"
        assert main(["--db", str(db), "map", "--out", str(out[lang]), "--lang", lang, "--at", NOW.isoformat()]) == 0
    return out


def _open(browser, page) -> None:
    browser.get(page.as_uri())
    browser.set_script_timeout(30)
    ready = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], start = Date.now();
        (function wait() {
            if (window.riskengineReady) return done(true);
            if (Date.now() - start > 20000) return done(false);
            setTimeout(wait, 50);
        })();""")
    assert ready, f"the map never finished drawing; console: {console_errors(browser)}"


def _visible_texts(browser, selector: str) -> list[str]:
    """The texts of the elements matching ``selector`` that are on screen (inside the window, not hidden)."""
    return browser.execute_script("""
        const w = window.innerWidth, h = window.innerHeight;
        return [...document.querySelectorAll(arguments[0])].filter(e => {
            const r = e.getBoundingClientRect(), s = getComputedStyle(e);
            return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < w && r.top < h
                && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0;
        }).map(e => e.textContent.trim());""", selector)


def test_the_map_draws_roads_towns_and_the_ground_with_the_network_off(browser, pages):
    _open(browser, pages["en"])
    assert console_errors(browser) == []
    assert remote_resources(browser) == []
    segments = browser.execute_script("return document.querySelectorAll('#map path.segment').length")
    assert segments >= 40, "every road segment is drawn"
    risky = browser.execute_script("return document.querySelectorAll('#map path.segment.level-1').length")
    assert risky < segments, "the incidents raised some segments above Insignificant"
    towns = _visible_texts(browser, ".town-label")
    assert {"Tripoli", "Benghazi", "Sebha", "Sirte"} <= set(towns), towns
    ground = browser.execute_script("return document.querySelectorAll('#map path.country').length")
    assert ground >= 7, "Libya and its neighbours are drawn under the roads"
    # nearer in, the roads are named
    browser.execute_script("window.riskengineMapObject.setView([30.5, 16.0], 7, {animate: false})")
    roads = _visible_texts(browser, ".road-label")
    assert roads, "road names are shown when zoomed in"
    assert screenshot(browser, "map-en").stat().st_size > 20_000


def test_the_arabic_map_reads_right_to_left_with_arabic_town_names(browser, pages):
    _open(browser, pages["ar"])
    assert console_errors(browser) == []
    assert remote_resources(browser) == []
    towns = _visible_texts(browser, ".town-label")
    assert "طرابلس" in towns and "سبها" in towns, towns
    legend_direction = browser.execute_script(
        "const e = document.querySelector('.rk-legend'); return e ? getComputedStyle(e).direction : null")
    assert legend_direction == "rtl"
    assert screenshot(browser, "map-ar").stat().st_size > 20_000
