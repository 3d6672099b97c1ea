"""The compiled cache of the gazetteer and road network: the same objects, rebuilt on any change, never an error.

Every test works on a copy of the project's seeds and its own cache directory ($RISKENGINE_CACHE_DIR),
and counts the seed files actually parsed to tell a cache hit from a build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from riskengine import compiled
from riskengine import gazetteer as gazetteer_module
from riskengine import roads as roads_module
from riskengine.engine import DEFAULT_SEEDS_DIR
from riskengine.errors import SeedDataError
from riskengine.gazetteer import Gazetteer
from riskengine.models import Place
from riskengine.roads import RoadNetwork

#: A place that is no road node: a route from it goes through the gazetteer the network holds.
AIRPORT = "Tripoli International Airport"


@pytest.fixture
def seeds(tmp_path) -> Path:
    """A writable copy of the project's seeds."""
    target = tmp_path / "seeds"
    shutil.copytree(DEFAULT_SEEDS_DIR, target, ignore=shutil.ignore_patterns("tools", "reports", "__pycache__"))
    return target


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory of this test's own."""
    path = tmp_path / "cache"
    monkeypatch.setenv(compiled.CACHE_DIR_VAR, str(path))
    return path


@pytest.fixture
def builds(monkeypatch) -> dict[str, int]:
    """How many times places.tsv and roads.yaml were parsed (a build, not a cache hit)."""
    counts = {"gazetteer": 0, "roads": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(gazetteer_module, "_read_places", counting("gazetteer", gazetteer_module._read_places))
    monkeypatch.setattr(roads_module, "read_roads", counting("roads", roads_module.read_roads))
    return counts


def load(seeds: Path) -> tuple[Gazetteer, RoadNetwork]:
    gaz = Gazetteer.load(seeds)
    return gaz, RoadNetwork.load(seeds, gaz)


def assert_same(a: tuple[Gazetteer, RoadNetwork], b: tuple[Gazetteer, RoadNetwork]) -> None:
    """Two loads give gazetteers and networks that answer alike."""
    (gaz_a, net_a), (gaz_b, net_b) = a, b
    assert gaz_a.places == gaz_b.places
    assert list(gaz_a.aliases()) == list(gaz_b.aliases())
    for name in ("Sebha", "SABHA", "سبها", AIRPORT, "al-Jufra", "Misrata"):
        assert gaz_a.lookup(name) == gaz_b.lookup(name)
    assert gaz_a.suggest("Sebah") == gaz_b.suggest("Sebah")
    assert gaz_a.within("Tripoli") == gaz_b.within("Tripoli")
    assert gaz_a.area_geometry("al-Jufra").wkt == gaz_b.area_geometry("al-Jufra").wkt
    assert [s.id for s in net_a.segments] == [s.id for s in net_b.segments]
    assert net_a.segments == net_b.segments  # names, ends, roads, lengths, speeds
    assert [s.geometry.wkt for s in net_a.segments] == [s.geometry.wkt for s in net_b.segments]
    assert net_a.roads == net_b.roads
    assert sorted(net_a.graph.edges(keys=True, data=True)) == sorted(net_b.graph.edges(keys=True, data=True))
    assert dict(net_a.graph.nodes(data=True)) == dict(net_b.graph.nodes(data=True))
    for start, end in (("Sirte", "Sebha"), ("Tripoli", "Kufra"), ("Zuwara", "Ghat")):
        path_a, path_b = net_a.path(start, end), net_b.path(start, end)
        assert (path_a.via, path_a.length_km, path_a.line().wkt) == (path_b.via, path_b.length_km, path_b.line().wkt)
    assert net_a.path(AIRPORT, "Sebha").via == net_b.path(AIRPORT, "Sebha").via


def test_second_load_comes_from_the_cache_and_is_the_same(seeds, cache, builds):
    first = load(seeds)
    assert builds == {"gazetteer": 1, "roads": 1}
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.pickle")) == ["gazetteer", "roads"]
    second = load(seeds)
    assert builds == {"gazetteer": 1, "roads": 1}
    assert_same(first, second)
    assert second[1]._gazetteer is second[0]  # the network routes through the gazetteer it was given
    assert second[0].source_key == first[0].source_key


def test_same_contents_elsewhere_share_the_cache(seeds, cache, builds, tmp_path):
    load(seeds)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(seeds, elsewhere)
    load(elsewhere)
    assert builds == {"gazetteer": 1, "roads": 1}


def test_network_without_a_gazetteer_loads_its_own_and_is_cached(seeds, cache, builds):
    first = RoadNetwork.load(seeds)
    second = RoadNetwork.load(seeds)
    assert builds == {"gazetteer": 1, "roads": 1}
    assert second.path(AIRPORT, "Sebha").via == first.path(AIRPORT, "Sebha").via


def test_a_changed_places_file_rebuilds_both(seeds, cache, builds):
    load(seeds)
    places = seeds / "places.tsv"
    places.write_text(places.read_text(encoding="utf-8") + "Qasr Test\t30.5\t15.5\tvillage\t\t\tQasr Tist\t\t\n",
                      encoding="utf-8")
    gaz, net = load(seeds)
    assert builds == {"gazetteer": 2, "roads": 2}  # the network's places may have changed too
    assert gaz.resolve("Qasr Tist") == Place("Qasr Test", 30.5, 15.5, "village", aliases=("Qasr Tist",))
    assert "Qasr Test" in Gazetteer.load(seeds)
    assert builds["gazetteer"] == 2


def test_changed_road_files_rebuild_the_network_only(seeds, cache, builds):
    load(seeds)
    roads = seeds / "roads.yaml"
    roads.write_text(roads.read_text() + "  - id: south\n    name: South\n    waypoints: [Murzuq, Qatrun]\n")
    gaz, net = load(seeds)
    assert builds == {"gazetteer": 1, "roads": 2}
    assert net.path("Sebha", "Qatrun").via[-2:] == ["Murzuq", gaz.resolve("Qatrun").name]

    geometry = seeds / "roads_geometry.geojson"
    data = json.loads(geometry.read_text())
    feature = next(f for f in data["features"] if f["properties"]["segment_id"] == "jufra-sirte-waddan")
    feature["geometry"]["coordinates"] = feature["geometry"]["coordinates"][::3] + [
        feature["geometry"]["coordinates"][-1]]
    geometry.write_text(json.dumps(data))
    _, changed = load(seeds)
    assert builds == {"gazetteer": 1, "roads": 3}
    assert changed.segment("jufra-sirte-waddan").geometry.wkt != net.segment("jufra-sirte-waddan").geometry.wkt


def test_a_change_to_the_building_code_rebuilds(seeds, cache, builds, monkeypatch, tmp_path):
    load(seeds)
    code = tmp_path / "gazetteer.py"
    code.write_text(Path(gazetteer_module.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(gazetteer_module, "_BUILD_CODE", (*gazetteer_module._BUILD_CODE[1:], code))
    load(seeds)
    assert builds == {"gazetteer": 2, "roads": 2}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped byte", "other key"])
def test_a_damaged_cache_file_is_ignored_and_rewritten(seeds, cache, builds, damage):
    first = load(seeds)
    files = sorted(cache.glob("*.pickle"))
    for path in files:
        data = path.read_bytes()
        if damage == "garbage":
            data = b"\x80\x05not a pickle at all" * 10
        elif damage == "truncated":
            data = data[: len(data) // 2]
        elif damage == "empty":
            data = b""
        elif damage == "flipped byte":
            data = data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]
        else:  # a whole, valid file of another key under this name
            data = data[: len(compiled.MAGIC)] + bytes(32) + data[len(compiled.MAGIC) + 32:]
        path.write_bytes(data)
    second = load(seeds)
    assert builds == {"gazetteer": 2, "roads": 2}
    assert_same(first, second)
    third = load(seeds)  # the files were rewritten whole
    assert builds == {"gazetteer": 2, "roads": 2}
    assert_same(first, third)


def test_a_pickle_that_fails_to_load_is_a_miss(seeds, cache, builds):
    """A whole file of the right key whose object no longer unpickles (a class renamed, say) is rebuilt."""
    first = load(seeds)
    path = next(cache.glob("gazetteer-*.pickle"))
    data = path.read_bytes()
    head = len(compiled.MAGIC) + 32  # magic and key; then the payload's checksum, then the payload
    payload = data[head + 32:].replace(b"Gazetteer", b"Gazetteeq")
    path.write_bytes(data[:head] + hashlib.sha256(payload).digest() + payload)
    assert_same(first, load(seeds))
    assert builds["gazetteer"] == 2


def test_an_unusable_cache_directory_means_no_cache(seeds, tmp_path, monkeypatch, builds):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(compiled.CACHE_DIR_VAR, str(blocker / "cache"))
    first = load(seeds)
    second = load(seeds)
    assert builds == {"gazetteer": 2, "roads": 2}
    assert_same(first, second)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners and modes are POSIX")
def test_a_directory_others_may_write_is_not_used(seeds, cache, builds):
    cache.mkdir()
    cache.chmod(0o777)
    load(seeds)
    load(seeds)
    assert builds == {"gazetteer": 2, "roads": 2}
    assert list(cache.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root may write anywhere")
def test_a_read_only_cache_directory_means_no_cache(seeds, cache, builds):
    cache.mkdir()
    cache.chmod(0o500)
    try:
        load(seeds)
        load(seeds)
    finally:
        cache.chmod(0o700)
    assert builds == {"gazetteer": 2, "roads": 2}


def test_writes_leave_no_temporary_files(seeds, cache):
    load(seeds)
    assert all(p.suffix == ".pickle" and not p.name.startswith(".") for p in cache.iterdir())
    assert all(p.stat().st_mode & 0o077 == 0 for p in cache.iterdir())


def test_a_build_that_warned_is_not_kept_so_it_warns_again(seeds, cache, builds, caplog):
    geometry = seeds / "roads_geometry.geojson"
    data = json.loads(geometry.read_text())
    for feature in data["features"]:
        if feature["properties"]["segment_id"] == "coastal-tripoli-khoms":
            feature["geometry"]["coordinates"] = [[20.0, 32.0], [21.0, 32.5]]
    geometry.write_text(json.dumps(data))
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="riskengine.roads"):
            load(seeds)
        assert "coastal-tripoli-khoms" in caplog.text
    assert builds == {"gazetteer": 1, "roads": 2}


def test_a_failed_build_raises_as_before_and_keeps_nothing(seeds, cache):
    roads = seeds / "roads.yaml"
    roads.write_text(roads.read_text().replace("      - Hun\n", "      - Hunxq\n", 1))
    for _ in range(2):
        with pytest.raises(SeedDataError, match="Hunxq"):
            load(seeds)
    assert [p.name.split("-")[0] for p in cache.glob("*.pickle")] == ["gazetteer"]


def test_a_gazetteer_built_in_code_gives_an_uncached_network(seeds, cache, builds):
    made = Gazetteer(Gazetteer.load(seeds).places)
    assert made.source_key is None
    RoadNetwork.load(seeds, made)
    RoadNetwork.load(seeds, made)
    assert builds["roads"] == 2
    assert not list(cache.glob("roads-*.pickle"))


def test_old_files_are_pruned(seeds, cache, monkeypatch):
    monkeypatch.setattr(compiled, "KEEP_PER_NAME", 2)
    places = seeds / "places.tsv"
    text = places.read_text(encoding="utf-8")
    for i in range(4):
        places.write_text(text + f"Qasr {i}\t30.5\t15.{i}\tvillage\t\t\t\t\t\n", encoding="utf-8")
        Gazetteer.load(seeds)
    assert len(list(cache.glob("gazetteer-*.pickle"))) == 2


def test_cache_directory_location(monkeypatch, tmp_path):
    monkeypatch.setenv(compiled.CACHE_DIR_VAR, str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compiled.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(compiled.CACHE_DIR_VAR)
    assert compiled.cache_dir() == tmp_path / "xdg" / "riskengine"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compiled.cache_dir() == tmp_path / "home" / ".cache" / "riskengine"


def test_fingerprint_tells_contents_and_absence_apart(tmp_path):
    present, absent = tmp_path / "present", tmp_path / "absent"
    present.write_bytes(b"")
    assert compiled.fingerprint([present]) != compiled.fingerprint([absent])
    assert compiled.fingerprint(["ab", "c"]) != compiled.fingerprint(["a", "bc"])
    assert compiled.fingerprint([present]) != compiled.fingerprint([""])
    present.write_bytes(b"x")
    assert compiled.fingerprint([present]) == compiled.fingerprint([tmp_path / "present"])
