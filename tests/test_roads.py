"""Tests of the road network built from ``seeds/roads.yaml`` and ``seeds/roads_geometry.geojson``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import networkx as nx
import pytest
from shapely.geometry import Point

from riskengine.errors import NoRouteError, SeedDataError, UnknownSegmentError
from riskengine.gazetteer import Gazetteer
from riskengine.geo import geodesic_km, to_metric
from riskengine.roads import RoadNetwork, segment_id, slug

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

#: Road id -> towns that must be plain waypoints of it, in this order (others may lie between).
REQUIRED_ROADS = {
    "coastal": (
        "Ras Ajdir, Zuwara, Zawiya, Tripoli, Khoms, Zliten, Misrata, Abu Grein, Sirte, Bin Jawad, Ras Lanuf, "
        "Brega, Ajdabiya, Benghazi, al-Marj, al-Bayda, Derna, Tobruk, Musaid"
    ).split(", "),
    "fezzan": ["Tripoli", "Gharyan", "Mizda", "Shwayrif", "Brak", "Sebha"],
    "tarhuna": ["Tripoli", "Tarhuna", "Bani Walid"],
    "misrata-bw": ["Misrata", "Bani Walid"],
    "shwayrif": ["Bani Walid", "Shwayrif"],
    "jufra": ["Sirte", "Waddan", "Hun", "Sokna", "Sebha"],
    "grein": ["Abu Grein", "Waddan"],
    "wadi-hayat": ["Sebha", "Ubari", "Ghat"],
    "murzuq": ["Sebha", "Murzuq"],
    "kufra": ["Ajdabiya", "Jalu", "Kufra"],
    "asabaa": ["Gharyan", "Zintan"],
    "nafusa": ["Tripoli", "Zintan"],
    "desert": ["Ajdabiya", "Tobruk"],
    "nafusa-west": ["Zintan", "Nalut"],
    "ghadames": ["Nalut", "Ghadames"],
    "tazirbu": ["Jalu", "Tazirbu", "Kufra"],
    "jaghbub": ["Tobruk", "Jaghbub"],
}


@pytest.fixture
def gaz(gazetteer) -> Gazetteer:
    """The project's gazetteer (loaded once per session in conftest)."""
    return gazetteer


@pytest.fixture
def net(network) -> RoadNetwork:
    """The project's road network (loaded once per session in conftest)."""
    return network


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A writable copy of the seeds directory, for tests that change a file."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target, ignore=shutil.ignore_patterns("tools", "__pycache__"))
    return target


def _is_subsequence(wanted: list[str], seq: tuple[str, ...]) -> bool:
    items = iter(seq)
    return all(name in items for name in wanted)


# ---- ids --------------------------------------------------------------------------------------


def test_slug_and_segment_id():
    assert slug("Ṣabrātah") == "sabratah"
    assert slug("Bi’r al Ghanam") == "bi-r-al-ghanam"
    assert segment_id("jufra", "Sirte", "Waddan") == "jufra-sirte-waddan"
    assert segment_id("coastal", "Benghazi", "al-Marj") == "coastal-benghazi-al-marj"


def test_segment_ids_are_unique_and_stable(net, gaz):
    ids = [s.id for s in net.segments]
    assert len(ids) == len(set(ids))
    again = RoadNetwork.load(SEEDS, gaz)
    assert [s.id for s in again.segments] == ids
    for seg in net.segments:
        assert seg.id == segment_id(seg.road_id, seg.start, seg.end)
        assert seg.name == f"{seg.start} - {seg.end}"


# ---- the seeded network -----------------------------------------------------------------------


@pytest.mark.parametrize("road_id", sorted(REQUIRED_ROADS))
def test_required_road_has_its_towns_in_order(net, gaz, road_id):
    road = net.road(road_id)
    wanted = [gaz.resolve(name).name for name in REQUIRED_ROADS[road_id]]
    assert road.towns[0] == wanted[0] and road.towns[-1] == wanted[-1]
    assert _is_subsequence(wanted, road.towns), (road.towns, wanted)
    assert [net.segment(i).road_id for i in road.segment_ids] == [road_id] * len(road.segment_ids)
    assert len(road.segment_ids) == len(road.towns) - 1


def test_nafusa_road_is_separate_from_gharyan_zintan(net):
    assert "Gharyan" not in net.road("nafusa").towns
    assert set(net.road("nafusa").segment_ids).isdisjoint(net.road("asabaa").segment_ids)


def test_every_segment_geometry_is_plausible(net):
    for seg in net.segments:
        a, b = net.graph.nodes[seg.start], net.graph.nodes[seg.end]
        (x0, y0), (x1, y1) = seg.geometry.coords[0], seg.geometry.coords[-1]
        assert geodesic_km((y0, x0), (a["lat"], a["lon"])) <= 15, seg.id
        assert geodesic_km((y1, x1), (b["lat"], b["lon"])) <= 15, seg.id
        direct = geodesic_km((a["lat"], a["lon"]), (b["lat"], b["lon"]))
        assert 0.9 * direct <= seg.length_km <= 2.0 * direct, (seg.id, seg.length_km, direct)


def test_graph_is_connected_with_one_edge_per_segment(net):
    assert nx.is_connected(net.graph)
    assert net.graph.number_of_edges() == len(net.segments)
    for seg in net.segments:
        assert net.graph.edges[seg.start, seg.end, seg.id]["weight"] == pytest.approx(seg.hours)
    assert set(net.nodes()) == set(net.graph.nodes)


def test_stored_geometry_comes_from_osm_where_it_exists():
    features = json.loads((SEEDS / "roads_geometry.geojson").read_text())["features"]
    source = {f["properties"]["segment_id"]: f["properties"]["source"] for f in features}
    assert source["coastal-tripoli-khoms"] == "osm-coarse"
    assert source["jufra-sirte-waddan"] == "osm-coarse"
    assert source["wadi-hayat-ubari-ghat"] == "waypoints"  # no coarse OSM line there
    assert set(source.values()) <= {"osm-coarse", "waypoints"}


# ---- routing ----------------------------------------------------------------------------------


def test_tripoli_to_sebha_by_the_gharyan_road(net):
    # Routes are the quickest: the Gharyan - Mizda highway beats the slower desert road from
    # Bani Walid to Shwayrif although the two are about as long.
    best = net.path("Tripoli", "Sebha")
    assert best.via == ["Tripoli", "Gharyan", "Mizda", "Shwayrif", "Brak", "Sebha"]
    other = net.path("Tripoli", "Sebha", avoid=frozenset({"fezzan-tripoli-gharyan"}))
    assert "Gharyan" not in other.via and other.via[-1] == "Sebha"


def test_a_slower_road_loses_to_a_quicker_one_of_similar_length(net, tmp_path):
    assert net.segment("shwayrif-bani-walid-shwayrif").speed_kmh < net.segment("fezzan-gharyan-mizda").speed_kmh
    hours = sum(s.hours for s in net.path("Tripoli", "Sebha").segments)
    assert hours == pytest.approx(sum(s.length_km / s.speed_kmh for s in net.path("Tripoli", "Sebha").segments))


def test_sirte_to_sebha_via_jufra(net):
    route = net.path("Sirte", "Sebha")
    assert route.via[0] == "Sirte" and route.via[-1] == "Sebha"
    assert route.via.index("Waddan") < route.via.index("Hun")
    assert [s.id for s in route.segments][:2] == ["jufra-sirte-waddan", "jufra-waddan-hun"]


def test_route_segments_chain_in_travel_order(net):
    route = net.path("Misrata", "Sebha")
    assert route.via[0] == "Misrata" and route.via[-1] == "Sebha"
    assert len(route.segments) == len(route.via) - 1
    for seg, u, v in zip(route.segments, route.via[:-1], route.via[1:], strict=True):
        assert {seg.start, seg.end} == {u, v}
    assert route.length_km == pytest.approx(sum(s.length_km for s in route.segments), abs=0.01)


def test_avoiding_the_longest_segment_finds_another_route(net):
    route = net.path("Sirte", "Sebha")
    worst = max(route.segments, key=lambda s: s.length_km).id
    other = net.path("Sirte", "Sebha", avoid=frozenset({worst}))
    assert worst not in {s.id for s in other.segments}
    assert other.via != route.via and other.length_km > route.length_km


def test_avoiding_a_dead_end_raises(net):
    with pytest.raises(NoRouteError, match="Ubari.*Ghat"):
        net.path("Ubari", "Ghat", avoid=frozenset({"wadi-hayat-ubari-ghat"}))


def test_place_off_the_network_snaps_to_nearest_node(net):
    route = net.path("Sabratha", "Tripoli")
    assert route.via == ["Zawiya", "Tripoli"]
    with pytest.raises(NoRouteError, match="Qa.r.n.*Murzuq"):
        net.path("Qatrun", "Tripoli")  # 130 km beyond Murzuq, and no road of ours goes there
    name, km = net.nearest_node(32.10, 20.10)
    assert name == "Benghazi" and km < 5
    assert net.path("Hun", "Hun").via == ["Hun"]


def test_unknown_segment_suggests_close_ids(net):
    with pytest.raises(UnknownSegmentError) as err:
        net.segment("jufra-sirte-wadan")
    assert "jufra-sirte-waddan" in err.value.suggestions
    with pytest.raises(UnknownSegmentError):
        net.path("Sirte", "Sebha", avoid=frozenset({"no-such-segment"}))


# ---- roads that reports name at the edges of the network -----------------------------------------


def _km_from(seg, place) -> float:
    """How far a place lies from a segment's line, in km (metric CRS)."""
    return to_metric(seg.geometry).distance(to_metric(Point(place.lon, place.lat))) / 1000.0


def test_nalut_to_ghadames_runs_through_sinawin_and_derj(net, gaz):
    route = net.path("Nalut", "Ghadames")
    assert route.via == ["Nalut", "Ghadames"]
    assert [s.id for s in route.segments] == ["ghadames-nalut-ghadames"]
    for name in ("Sinawin", "Derj"):
        assert _km_from(route.segments[0], gaz.resolve(name)) < 5, name
    # the road is longer than the straight line because it bends south through both oases
    assert route.length_km > 1.1 * geodesic_km((31.868, 10.981), (30.134, 9.501))


def test_nalut_joins_the_jabal_nafusa_roads_at_zintan(net, gaz):
    road = net.road("nafusa-west")
    assert road.segment_ids == ("nafusa-west-zintan-nalut",)
    seg = net.segment("nafusa-west-zintan-nalut")
    for name in ("Jadu", "Kabaw"):  # the mountain road, not the one on the plain below
        assert _km_from(seg, gaz.resolve(name)) < 5, name
    route = net.path("Tripoli", "Ghadames")
    assert route.via[0] == "Tripoli" and route.via[-3:] == ["Zintan", "Nalut", "Ghadames"]
    assert [s.id for s in route.segments][-2:] == ["nafusa-west-zintan-nalut", "ghadames-nalut-ghadames"]


def test_tazirbu_is_on_the_network(net, gaz):
    tazirbu = gaz.resolve("Tazirbu").name
    assert tazirbu in set(net.nodes())
    assert net.road("tazirbu").towns == ("Jalu", tazirbu, "Kufra")
    assert [s.id for s in net.path("Jalu", "Tazirbu").segments] == ["tazirbu-jalu-tazirbu"]
    assert [s.id for s in net.path("Kufra", "Tazirbu").segments] == ["tazirbu-tazirbu-kufra"]
    assert net.path("Benghazi", "Tazirbu").via[-3:] == ["Ajdabiya", "Jalu", tazirbu]


def test_jalu_to_kufra_keeps_the_main_road(net):
    best = net.path("Jalu", "Kufra")
    assert [s.id for s in best.segments] == ["kufra-jalu-kufra"]
    assert net.segment("tazirbu-jalu-tazirbu").speed_kmh < net.segment("kufra-jalu-kufra").speed_kmh
    detour = net.path("Jalu", "Kufra", avoid=frozenset({"kufra-jalu-kufra"}))
    assert [s.id for s in detour.segments] == ["tazirbu-jalu-tazirbu", "tazirbu-tazirbu-kufra"]
    assert sum(s.hours for s in detour.segments) > sum(s.hours for s in best.segments)


def test_tobruk_to_jaghbub(net, gaz):
    jaghbub = gaz.resolve("Jaghbub").name
    route = net.path("Tobruk", "Jaghbub")
    assert route.via == ["Tobruk", jaghbub]
    assert [s.id for s in route.segments] == ["jaghbub-tobruk-al-jaghbub"]
    assert net.path("Benghazi", "Jaghbub").via[-2:] == ["Tobruk", jaghbub]


def test_ghat_to_sebha_by_wadi_al_hayat(net):
    route = net.path("Ghat", "Sebha")
    assert route.via == ["Ghat", "Ubari", "Sebha"]
    assert [s.id for s in route.segments] == ["wadi-hayat-ubari-ghat", "wadi-hayat-sebha-ubari"]


def test_segments_drawn_through_waypoints_are_documented():
    """seeds/README.md lists every segment without OSM geometry, the new roads among them."""
    features = json.loads((SEEDS / "roads_geometry.geojson").read_text())["features"]
    source = {f["properties"]["segment_id"]: f["properties"]["source"] for f in features}
    new = ["nafusa-west-zintan-nalut", "ghadames-nalut-ghadames", "tazirbu-jalu-tazirbu",
           "tazirbu-tazirbu-kufra", "jaghbub-tobruk-al-jaghbub"]
    assert set(new) <= set(source)
    readme = (SEEDS / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Segments drawn through waypoints")[1].split("\n## ")[0]
    drawn = sorted(i for i, s in source.items() if s == "waypoints")
    assert [i for i in drawn if f"`{i}`" not in section] == []


# ---- user edits -------------------------------------------------------------------------------


def test_unknown_place_in_roads_yaml_names_road_and_place(seeds_copy, gaz):
    path = seeds_copy / "roads.yaml"
    path.write_text(path.read_text().replace("      - Hun\n", "      - Hunxq\n", 1))
    with pytest.raises(SeedDataError) as err:
        RoadNetwork.load(seeds_copy, gaz)
    message = str(err.value)
    assert "roads.yaml" in message and "'jufra'" in message and "Hunxq" in message


@pytest.mark.parametrize(
    "entry, problem",
    [
        ("  - id: stub\n    name: Stub\n    waypoints: [Sirte]\n", "at least 2 plain waypoints"),
        ("  - id: stub\n    waypoints: [Sirte, Hun]\n", "missing key 'name'"),
        ("  - id: stub\n    name: Stub\n    waypoints: [{via: Hun}, Sirte, Sokna]\n", "plain waypoint"),
    ],
)
def test_bad_road_entries_are_reported(seeds_copy, gaz, entry, problem):
    path = seeds_copy / "roads.yaml"
    path.write_text(path.read_text() + entry)
    with pytest.raises(SeedDataError, match=problem) as err:
        RoadNetwork.load(seeds_copy, gaz)
    assert "'stub'" in str(err.value)


def test_user_road_without_geometry_gets_its_waypoint_polyline(seeds_copy, gaz):
    path = seeds_copy / "roads.yaml"
    entry = "  - id: south\n    name: South\n    waypoints: [Murzuq, {via: Traghan}, Qatrun]\n"
    path.write_text(path.read_text() + entry)
    net = RoadNetwork.load(seeds_copy, gaz)
    places = [gaz.resolve(n) for n in ("Murzuq", "Traghan", "Qatrun")]
    seg = net.segment(segment_id("south", places[0].name, places[2].name))
    assert list(seg.geometry.coords) == [(p.lon, p.lat) for p in places]
    assert seg.length_km > geodesic_km((places[0].lat, places[0].lon), (places[2].lat, places[2].lon))
    assert net.path("Sebha", "Qatrun").via[-2:] == ["Murzuq", places[2].name]


def test_misplaced_stored_geometry_is_ignored_with_a_warning(seeds_copy, gaz, caplog):
    path = seeds_copy / "roads_geometry.geojson"
    data = json.loads(path.read_text())
    for feature in data["features"]:
        if feature["properties"]["segment_id"] == "coastal-tripoli-khoms":
            feature["geometry"]["coordinates"] = [[20.0, 32.0], [21.0, 32.5]]
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="riskengine.roads"):
        net = RoadNetwork.load(seeds_copy, gaz)
    assert "coastal-tripoli-khoms" in caplog.text
    seg = net.segment("coastal-tripoli-khoms")
    assert len(seg.geometry.coords) == 2
    assert seg.geometry.coords[0] == pytest.approx((13.187, 32.887), abs=0.01)
