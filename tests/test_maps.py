"""Maps: the offline HTML map's data and the route picture, on a real SQLite store (the page itself
in a browser: ``test_browser_map.py``)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import matplotlib.image
import pytest
from matplotlib.transforms import Bbox

from riskengine.cli import main
from riskengine.maps import ANCHOR_PT, LEVEL_COLOURS, route_picture
from riskengine.placement import place_markers
from riskengine.web.offline_map import map_html

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


def page_data(html: str) -> dict:
    """The JSON document an offline map page draws (its ``#riskengine-data`` script)."""
    found = re.search(r'<script type="application/json" id="riskengine-data">(.*?)</script>', html, flags=re.S)
    assert found, "the page carries its data"
    return json.loads(found.group(1))


@pytest.fixture
def loaded(engine):
    """The engine with the sample CSV and JSON lines ingested."""
    for path in (SAMPLE_CSV, SAMPLE_JSONL):
        assert engine.ingest_file(path, now=NOW).incidents_added > 0
    return engine


def test_the_map_draws_every_segment_in_the_colour_of_its_level(loaded):
    html = map_html(loaded, AT)
    data = page_data(html)
    levels = {s["id"]: s["level"] for s in loaded.segments(AT)["segments"]}
    drawn = {f["properties"]["id"]: f for f in data["segments"]["features"]}
    assert set(drawn) == set(levels) and len(drawn) == len(loaded.network.segments)
    for seg_id, feature in drawn.items():
        assert feature["properties"]["level"] == levels[seg_id], seg_id
        assert all(19 < lat < 34 and 9 < lon < 26 for lon, lat in feature["geometry"]["coordinates"]), seg_id
    assert {int(k): v for k, v in data["colours"].items()} == LEVEL_COLOURS
    assert levels["jufra-sirte-waddan"] >= 3  # the sample incidents make it at least Medium
    assert len({f["properties"]["level"] for f in drawn.values()}) >= 3
    sirte = loaded.gazetteer.resolve("Sirte")
    start = drawn["jufra-sirte-waddan"]["geometry"]["coordinates"][0]
    assert start == pytest.approx([sirte.lon, sirte.lat], abs=0.2)
    top = loaded.explain("jufra-sirte-waddan", AT)
    props = drawn["jufra-sirte-waddan"]["properties"]
    assert props["score"] == pytest.approx(top["score"], abs=0.05)
    assert "Lorry fired on along Sirte - Waddan" in [e["summary"] for e in props["top_events"]]


def test_the_map_marks_the_incidents_that_weigh_and_keeps_their_text_text(loaded, tmp_path):
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps(inc) + "\n" for inc in (HOSTILE, LATER, STALE)), encoding="utf-8")
    assert loaded.ingest_file(extra, now=NOW).incidents_added == 3
    html = map_html(loaded, AT)
    data = page_data(html)

    contributions = loaded.assess(AT).contributions
    weighing = set(contributions.loc[contributions["weight"] > 0, "incident_id"])
    markers = {f["properties"]["id"] for f in data["events"]["features"]}
    assert markers == weighing and len(weighing) >= 9
    frame = loaded.store.incidents_frame()
    summaries = dict(zip(frame["summary"], frame["id"], strict=True))
    assert summaries["Lorry fired on along Sirte - Waddan"] in markers
    assert summaries[LATER["summary"]] not in markers and summaries[STALE["summary"]] not in markers
    assert LATER["summary"] not in html and STALE["summary"] not in html
    # the hostile summary is in the data as text, and nowhere as markup
    assert HOSTILE["summary"] in json.dumps([f["properties"].get("summary") for f in data["events"]["features"]],
                                            ensure_ascii=False)
    assert "<script>alert" not in html


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
    drawn = page_data(page.read_text(encoding="utf-8"))["segments"]["features"]
    ids = {f["properties"]["id"] for f in drawn}
    assert len(drawn) == len(network.segments)  # every segment once, the roads added to the seeds too
    assert {"ghadames-nalut-ghadames", "tazirbu-tazirbu-kufra"} <= ids

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


# ---- the route picture keeps its markers apart ------------------------------------------------------------

#: Our own incidents, written for these tests: four in the town of Sirte, two in Waddan and three on the
#: stretch between them (drawn at one spot, the middle of the stretch).
CROWD_BASE = {"event_type": "Violence against civilians", "sub_event_type": "Attack", "source": "maps test",
              "source_reliability": "B"}
IN_TOWN = {
    "Sirte": [
        ("ambush", "2026-11-16", "Travellers leaving Sirte at dusk were shot at from a pick-up."),
        ("illegal_checkpoint", "2026-11-17", "Armed men set up a checkpoint by the Sirte fish market and took phones."),
        ("kidnapping", "2026-11-18", "A bus driver was seized at the Sirte bus station."),
        ("banditry", "2026-11-19", "A pharmacy van was robbed at gunpoint inside Sirte."),
    ],
    "Waddan": [
        ("banditry", "2026-11-17", "Two motorcyclists took the takings of a Waddan petrol station."),
        ("illegal_checkpoint", "2026-11-19", "Masked men stopped cars at the Waddan roundabout."),
    ],
}
ON_STRETCH = [
    ("ambush", "2026-11-16", "A family car was fired on between Sirte and Waddan."),
    ("ambush", "2026-11-17", "Shots hit a water tanker on the desert road south of Sirte."),
    ("banditry", "2026-11-18", "A grain lorry was emptied by gunmen halfway to Waddan."),
]
CROWD_SIZE = sum(map(len, IN_TOWN.values())) + len(ON_STRETCH)


def dist(a, b) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


@pytest.fixture
def crowded(engine, gazetteer, tmp_path):
    """The engine with incidents clustered in Sirte and Waddan and on the Sirte - Waddan stretch."""
    rows = [{**CROWD_BASE, "tags": [tag], "date": day, "lat": place.lat, "lon": place.lon, "geo_precision": 1,
             "location_kind": "point", "evidence": text, "summary": text}
            for town, told in IN_TOWN.items() for place in [gazetteer.resolve(town)] for tag, day, text in told]
    rows += [{**CROWD_BASE, "tags": [tag], "date": day, "segments": ["jufra-sirte-waddan"], "geo_precision": 2,
              "location_kind": "stretch", "evidence": text, "summary": text} for tag, day, text in ON_STRETCH]
    path = tmp_path / "crowd.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert engine.ingest_file(path, now=NOW).incidents_added == len(rows) == CROWD_SIZE
    return engine


def luminance(image, x: float, y: float) -> float:
    """The brightness (0 black - 1 white) of the picture's pixel at (x, y), counted from the bottom left."""
    row, col = image.shape[0] - 1 - round(y), round(x)
    return float(image[row, col, :3].mean())


def ring(x: float, y: float, r: float, n: int = 16) -> list[tuple[float, float]]:
    return [(x + r * math.cos(2 * math.pi * k / n), y + r * math.sin(2 * math.pi * k / n)) for k in range(n)]


def test_place_markers_spreads_a_cluster_around_its_town_and_leaves_a_lone_marker_where_it_is():
    frame = Bbox.from_extents(0, 0, 600, 600)
    town = (300.0, 300.0, 13.0)
    label = Bbox.from_extents(320, 250, 420, 290)
    anchors = [(300.0, 300.0)] * 5 + [(500.0, 100.0)]
    spots = place_markers(anchors, 22, frame=frame, dots=[town], boxes=[label], gap=3)
    assert len(spots) == 6 and all(s.radius == 22 and s.clear for s in spots)
    assert spots == place_markers(anchors, 22, frame=frame, dots=[town], boxes=[label], gap=3)  # deterministic
    for i, a in enumerate(spots):
        for b in spots[i + 1:]:
            assert dist((a.x, a.y), (b.x, b.y)) >= a.radius + b.radius + 3
    cluster, lone = spots[:5], spots[5]
    for s in cluster:  # around the town, none on it nor on its label, all near it
        assert s.moved and s.anchor == (300.0, 300.0)
        assert town[2] + s.radius + 3 <= dist((s.x, s.y), town) < 160
        assert not s.box.overlaps(label)
    assert not lone.moved and (lone.x, lone.y) == (500.0, 100.0)


def test_place_markers_stays_inside_the_frame_and_takes_the_nearest_free_spot():
    frame = Bbox.from_extents(0, 0, 300, 300)
    corner, free = place_markers([(5.0, 5.0), (150.0, 150.0)], 20, frame=frame, gap=2, anchor_radius=3, leader=10)
    assert corner.moved and not free.moved and (free.x, free.y) == (150.0, 150.0)
    assert 22 <= corner.x <= 278 and 22 <= corner.y <= 278  # the whole circle and its gap inside the frame
    assert dist((corner.x, corner.y), corner.anchor) == pytest.approx(20 + 10 + 3)  # the first ring that fits


def test_route_picture_keeps_markers_apart_off_the_towns_with_leader_lines(crowded, tmp_path):
    out = tmp_path / "crowded.png"
    drawn = route_picture(crowded, "Sirte", "Sebha", AT, out)
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (1350, 1080) and drawn["size_px"] == (1080, 1350)
    spots, towns = drawn["markers"], drawn["town_dots"]
    assert len(spots) == drawn["incident_count"] == len(drawn["incidents"]) == CROWD_SIZE
    assert {name for name, *_ in towns} >= {"Sirte", "Waddan", "Sebha"}
    assert all(s.clear for s in spots)

    for town, told in IN_TOWN.items():  # each town's cluster goes around the town, not on it
        here = next((x, y) for name, x, y, _ in towns if name == town)
        assert sum(dist(s.anchor, here) < 1 for s in spots) == len(told)
    shared = [s for s in spots if sum(dist(s.anchor, o.anchor) < 1 for o in spots) > 1]
    assert len(shared) == CROWD_SIZE
    assert all(s.moved for s in shared)

    for i, a in enumerate(spots):  # apart from each other, with a white gap between their edges
        assert 0 <= a.x - a.radius and a.x + a.radius <= 1080 and 0 <= a.y - a.radius and a.y + a.radius <= 1350
        for b in spots[i + 1:]:
            assert dist((a.x, a.y), (b.x, b.y)) >= a.radius + b.radius + 2, (a, b)
        for name, x, y, r in towns:
            assert dist((a.x, a.y), (x, y)) >= a.radius + r + 2, (a, name)

    for s in spots:  # each marker is drawn where it is said to be: a dark disc round its white number
        assert sum(luminance(image, *p) < 0.25 for p in ring(s.x, s.y, 0.7 * s.radius)) >= 13, s
    # no town is hidden: a white dot in its dark ring (for towns whose dots do not overlap each other's)
    apart = [(name, x, y, r) for name, x, y, r in towns
             if all(dist((x, y), (x2, y2)) > r + r2 for other, x2, y2, r2 in towns if other != name)]
    assert {"Sirte", "Sebha"} <= {name for name, *_ in apart}
    for name, x, y, r in apart:
        assert all(luminance(image, *p) > 0.9 for p in [(x, y), *ring(x, y, 0.3 * r, 8)]), name
        assert sum(luminance(image, *p) < 0.4 for p in ring(x, y, 0.8 * r)) >= 14, name

    moved = [s for s in spots if s.moved]
    assert len(moved) >= len(shared)
    for s in moved:  # a leader line from the true position to the marker
        dot = (ANCHOR_PT / 2 + 0.5) * 150 / 72  # the anchor dot with its white edge, pixels at 150 dpi
        start = max([dot, *(r for _, x, y, r in towns if dist(s.anchor, (x, y)) <= r)]) + 2
        length = dist(s.anchor, (s.x, s.y)) - s.radius - 2
        assert length > start + 4  # a leader in sight, not a marker stuck to its town
        steps = [start + (length - start) * k / 20 for k in range(21)]
        points = [(s.anchor[0] + (s.x - s.anchor[0]) * t / dist(s.anchor, (s.x, s.y)),
                   s.anchor[1] + (s.y - s.anchor[1]) * t / dist(s.anchor, (s.x, s.y))) for t in steps]
        assert sum(luminance(image, *p) < 0.5 for p in points) >= 19, s

    again = route_picture(crowded, "Sirte", "Sebha", AT, tmp_path / "again.png")
    assert again["markers"] == spots
