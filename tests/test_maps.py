"""Maps: the interactive HTML map of every segment and the route picture, on a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import re

import matplotlib.image
import pytest

from riskengine.cli import main
from riskengine.maps import LEVEL_COLOURS, interactive_map, route_picture

from .conftest import NOW, PROJECT

AT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SAMPLE_CSV = PROJECT / "seeds" / "sample_incidents.csv"
SAMPLE_JSONL = PROJECT / "seeds" / "sample_incidents.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: A stretch incident whose summary would break the page if it were not escaped.
HOSTILE = {
    "event_type": "Violence against civilians", "sub_event_type": "Attack", "tags": ["ambush"], "date": "2026-11-18",
    "segments": ["jufra-sirte-waddan"], "geo_precision": 2, "location_kind": "stretch", "source": "test",
    "source_reliability": "B", "evidence": "A convoy was fired on south of Sirte.",
    "summary": "Convoy <script>alert('x')</script> fired on `near` ${km} 40 & more",
}
#: Incidents that must not be drawn at AT: one dated after it, one decayed to nothing long before it.
LATER = {**HOSTILE, "date": "2026-11-25", "summary": "Checkpoint after the assessment date"}
STALE = {**HOSTILE, "date": "2024-01-05", "summary": "Ambush long forgotten"}


def polylines(html: str) -> list[tuple[list, dict]]:
    """Every ``L.polyline(points, options)`` of a saved folium page, parsed."""
    found = re.findall(r"L\.polyline\(\s*(\[\[.*?\]\]),\s*(\{.*?\})\s*\)", html, flags=re.S)
    return [(json.loads(points), json.loads(options)) for points, options in found]


@pytest.fixture
def loaded(engine):
    """The engine with the sample CSV and JSON lines ingested."""
    for path in (SAMPLE_CSV, SAMPLE_JSONL):
        assert engine.ingest_file(path, now=NOW).incidents_added > 0
    return engine


def test_interactive_map_draws_every_segment_in_the_colour_of_its_level(loaded, tmp_path):
    out = tmp_path / "map.html"
    interactive_map(loaded, AT).save(str(out))
    html = out.read_text(encoding="utf-8")
    lines = polylines(html)
    levels = {s["id"]: s["level"] for s in loaded.segments(AT)["segments"]}
    assert len(lines) == len(loaded.network.segments) == len(levels)

    drawn = {}
    for points, options in lines:
        level, seg_id = re.fullmatch(r"rk-segment rk-level-(\d) rk-seg-(\S+)", options["className"]).groups()
        drawn[seg_id] = (int(level), options["color"], points)
        assert options["weight"] == 5
    assert set(drawn) == set(levels)
    for seg_id, (level, colour, points) in drawn.items():
        assert level == levels[seg_id], seg_id
        assert colour == LEVEL_COLOURS[level], seg_id
        assert all(19 < lat < 34 and 9 < lon < 26 for lat, lon in points), f"{seg_id} is not in lat/lon order"
    assert drawn["jufra-sirte-waddan"][1] == LEVEL_COLOURS[levels["jufra-sirte-waddan"]]
    assert levels["jufra-sirte-waddan"] >= 3  # the sample incidents make it at least Medium
    assert len({colour for _, colour, _ in drawn.values()}) >= 3
    sirte = loaded.gazetteer.resolve("Sirte")
    start = drawn["jufra-sirte-waddan"][2][0]
    assert start == pytest.approx([sirte.lat, sirte.lon], abs=0.2)

    # the legend names the five levels; the popup of a segment names its score and its top incidents
    for level in range(1, 6):
        assert loaded.rules.level_name(level) in html
    top = loaded.explain("jufra-sirte-waddan", AT)
    assert f"score <b>{top['score']:.1f}</b>" in html
    assert "Lorry fired on along Sirte - Waddan" in html


def test_interactive_map_marks_the_incidents_that_weigh_with_escaped_popups(loaded, tmp_path):
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps(inc) + "\n" for inc in (HOSTILE, LATER, STALE)), encoding="utf-8")
    assert loaded.ingest_file(extra, now=NOW).incidents_added == 3
    out = tmp_path / "map.html"
    interactive_map(loaded, AT).save(str(out))
    html = out.read_text(encoding="utf-8")

    contributions = loaded.assess(AT).contributions
    weighing = set(contributions.loc[contributions["weight"] > 0, "incident_id"])
    markers = set(re.findall(r'"className": "rk-incident rk-inc-(\w+)"', html))
    assert markers == weighing
    assert html.count("L.circleMarker(") == len(weighing) >= 9
    frame = loaded.store.incidents_frame()
    summaries = dict(zip(frame["summary"], frame["id"], strict=True))
    assert summaries["Lorry fired on along Sirte - Waddan"] in markers
    assert summaries[LATER["summary"]] not in markers and summaries[STALE["summary"]] not in markers
    assert LATER["summary"] not in html and STALE["summary"] not in html
    assert "Gunmen stopped a fuel tanker on the desert road north of Waddan" in html

    escaped = "Convoy &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; fired on &#96;near&#96; &#36;{km} 40 &amp; more"
    assert escaped in html
    assert "<script>alert" not in html and "${km}" not in html
    assert "2026-11-18" in html and "Violence against civilians / Attack" in html


def test_route_picture_is_a_phone_sized_png_of_the_route(loaded, tmp_path):
    out = tmp_path / "route.png"
    drawn = route_picture(loaded, "Sirte", "Sebha", AT, out)
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(out).shape[:2] == (1350, 1080)
    assert drawn["size_px"] == (1080, 1350) and drawn["path"] == str(out)

    route = loaded.route("Sirte", "Sebha", AT)
    assert drawn["route"] == "Sirte -> Sebha" and drawn["via"] == route["via"]
    assert (drawn["level"], drawn["level_name"], drawn["score"]) == (route["level"], route["level_name"],
                                                                     route["score"])
    assert [(s["id"], s["level"]) for s in drawn["segments"]] == [(s["id"], s["level"]) for s in route["segments"]]
    for seg in drawn["segments"]:
        assert seg["colour"] == LEVEL_COLOURS[seg["level"]]
        assert drawn["colours"][seg["level"]] == seg["colour"]
    assert set(drawn["colours"]) == {s["level"] for s in route["segments"]}
    sirte_waddan = next(s for s in drawn["segments"] if s["id"] == "jufra-sirte-waddan")
    assert sirte_waddan["level"] >= 3

    assert drawn["incident_count"] == len(route["incidents"]) == len(drawn["incidents"]) >= 3
    assert [m["id"] for m in drawn["incidents"]] == [i["id"] for i in route["incidents"]]
    assert [m["number"] for m in drawn["incidents"]] == list(range(1, drawn["incident_count"] + 1))
    for mark in drawn["incidents"]:
        assert 24 < mark["lat"] < 33 and 14 < mark["lon"] < 18  # on or near the road to Sebha
    stretch = next(m for m in drawn["incidents"] if m["summary"] == "Lorry fired on along Sirte - Waddan")
    assert stretch["label"] == "15 Nov ambush"


def test_route_picture_of_a_quiet_route_and_another_resolution(engine, tmp_path):
    out = tmp_path / "quiet.png"
    drawn = route_picture(engine, "Tripoli", "Zawiya", AT, out, dpi=100)
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(out).shape[:2] == (900, 720) and drawn["size_px"] == (720, 900)
    assert drawn["incident_count"] == 0 and drawn["incidents"] == []
    assert drawn["colours"] == {1: LEVEL_COLOURS[1]}
    assert all(s["level"] == 1 for s in drawn["segments"])


def run(capsys, db, *args):
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_writes_the_map_and_the_route_picture(capsys, fresh_db, tmp_path, network):
    code, _, err = run(capsys, fresh_db, "ingest", str(SAMPLE_CSV), str(SAMPLE_JSONL))
    assert code == 0, err
    page = tmp_path / "risk.html"
    code, out, err = run(capsys, fresh_db, "map", "--out", str(page), "--at", "2026-11-20")
    assert code == 0, err
    assert out.strip() == str(page)
    drawn = polylines(page.read_text(encoding="utf-8"))
    assert len(drawn) == len(network.segments)  # every segment once, the roads added to the seeds too
    classes = " ".join(options["className"] for _points, options in drawn)
    assert "rk-seg-ghadames-nalut-ghadames" in classes and "rk-seg-tazirbu-tazirbu-kufra" in classes

    picture = tmp_path / "sirte-sebha.png"
    code, out, err = run(capsys, fresh_db, "map", "--route", "Surt", "Sabhā", "--out", str(picture), "--at",
                         "2026-11-20")
    assert code == 0, err
    assert out.strip() == str(picture)
    assert picture.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("args, name", [
    (["map", "--out"], "map.png"),
    (["map", "--route", "Sirte", "Sebha", "--out"], "route.html"),
    (["map", "--route", "Sirte", "Sebha", "--out"], "route"),
])
def test_cli_refuses_an_out_suffix_that_does_not_fit(capsys, fresh_db, tmp_path, args, name):
    target = tmp_path / name
    code, out, err = run(capsys, fresh_db, *args, str(target))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(target) in err
    assert (".png" in err) if "--route" in args else (".html" in err)
    assert not target.exists()
