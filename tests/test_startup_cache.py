"""Start-up: what a route question imports and reads when the compiled cache is warm, and that what
the cache gives (the rule book, the quickest routes) is what a build gives.

Every test uses a cache directory of its own ($RISKENGINE_CACHE_DIR).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from riskengine import compiled
from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR
from riskengine.errors import NoRouteError, RuleFileError
from riskengine.gazetteer import Gazetteer
from riskengine.roads import RoadNetwork
from riskengine.rules import RuleBook
from riskengine.weights import rules_fingerprint

#: Libraries a route question on a warm cache needs not import (each costs tens of milliseconds):
#: pydantic validates rule files and incidents as they come in, not a book or rows read back; nor,
#: on SQLite, SQLAlchemy's PostgreSQL dialect (a twentieth of the whole process).
NOT_NEEDED = ("networkx", "yaml", "pyproj", "rapidfuzz", "geopy", "pydantic", "sqlalchemy.dialects.postgresql")

ROUTE = """
import datetime as dt, json, sys
from riskengine.engine import RiskEngine
engine = RiskEngine.open(sys.argv[1], create=True)
doc = engine.route("Sirte", "Sebha", dt.datetime(2026, 11, 17, 12, tzinfo=dt.UTC))
print(json.dumps({"doc": doc, "imported": sorted(m for m in sys.argv[2:] if m in sys.modules)}, default=str))
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(compiled.CACHE_DIR_VAR, str(path))
    return path


def _route_process(db: Path, cache: Path) -> dict:
    env = {**os.environ, compiled.CACHE_DIR_VAR: str(cache)}
    done = subprocess.run([sys.executable, "-c", ROUTE, str(db), *NOT_NEEDED], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_a_route_on_a_warm_cache_imports_no_yaml_graph_or_projection_library(tmp_path, cache):
    db = tmp_path / "empty.db"
    cold = _route_process(db, cache)
    assert "networkx" in cold["imported"]  # the first route finds the quickest routes, and keeps them
    assert {p.name.split("-")[0] for p in cache.glob("*.pickle")} >= {"gazetteer", "roads", "routes", "rules"}
    warm = _route_process(db, cache)
    assert warm["imported"] == []
    assert warm["doc"] == cold["doc"]


def test_the_cached_rule_book_is_the_built_one(tmp_path, cache):
    first = RuleBook.load(DEFAULT_RULES_DIR)
    second = RuleBook.load(DEFAULT_RULES_DIR)
    assert second is not first
    assert rules_fingerprint(second) == rules_fingerprint(first)
    assert second.fingerprint == first.fingerprint == rules_fingerprint(first)
    assert "fingerprint" in second.__dict__  # kept with the book: no serialiser is made to tell it
    for part in ("taxonomy", "scoring", "identity", "road_status"):
        assert getattr(second, part) == getattr(first, part)
    assert second.max_reach_km == first.max_reach_km and second.horizon_days == first.horizon_days
    assert second.resolve("Violence against civilians", "Attack", ("ambush",)) == first.resolve(
        "Violence against civilians", "Attack", ("ambush",))
    elsewhere = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, elsewhere)
    assert RuleBook.load(elsewhere).directory == elsewhere  # same contents, same cached book: its own place
    assert len(list(cache.glob("rules-*.pickle"))) == 1


def test_a_changed_rule_file_is_read_again_and_a_broken_one_fails_every_time(tmp_path, cache):
    rules_dir = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules_dir)
    RuleBook.load(rules_dir)
    path = rules_dir / "scoring.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["saturation"] = data["saturation"] * 2
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert RuleBook.load(rules_dir).scoring.saturation == data["saturation"]
    data["saturation"] = -1
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(RuleFileError, match="saturation"):
            RuleBook.load(rules_dir)


def _routes(network: RoadNetwork) -> dict[tuple[str, str], object]:
    out = {}
    for a in network.nodes():
        for b in network.nodes():
            try:
                out[a, b] = network.path(a, b)
            except NoRouteError as exc:
                out[a, b] = str(exc)
    return out


def test_kept_quickest_routes_are_those_networkx_finds(tmp_path, cache):
    seeds = tmp_path / "seeds"
    shutil.copytree(DEFAULT_SEEDS_DIR, seeds, ignore=shutil.ignore_patterns("tools", "reports", "__pycache__"))
    gazetteer = Gazetteer.load(seeds)
    for _ in range(2):  # found, then read from the cache
        network = RoadNetwork.load(seeds, gazetteer)
        searched = RoadNetwork.load(seeds, gazetteer)
        searched.__dict__["_quickest"] = None  # every route searched by networkx
        assert network._quickest is not None
        assert _routes(network) == _routes(searched)
    # another network (a road slower, a road gone) keeps routes of its own
    roads = seeds / "roads.yaml"
    data = yaml.safe_load(roads.read_text(encoding="utf-8"))
    data["roads"][0]["speed_kmh"] = 20
    del data["roads"][-1]
    roads.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    network = RoadNetwork.load(seeds, gazetteer)
    searched = RoadNetwork.load(seeds, gazetteer)
    searched.__dict__["_quickest"] = None
    assert _routes(network) == _routes(searched)
    assert len(list(cache.glob("routes-*.pickle"))) == 2


def test_a_network_built_in_code_searches_every_route(cache):
    gazetteer = Gazetteer(Gazetteer.load(DEFAULT_SEEDS_DIR).places)  # no source key: nothing to cache under
    network = RoadNetwork.load(DEFAULT_SEEDS_DIR, gazetteer)
    assert network.source_key is None and network._quickest is None
    assert network.path("Sirte", "Sebha").via[-1] == "Sebha"
    assert not list(cache.glob("routes-*.pickle"))


def test_avoided_segments_are_searched_as_before(cache):
    network = RoadNetwork.load(DEFAULT_SEEDS_DIR)
    direct = network.path("Sirte", "Sebha")
    around = network.path("Sirte", "Sebha", avoid=frozenset({direct.segments[0].id}))
    assert direct.segments[0] not in around.segments
    with pytest.raises(NoRouteError, match="avoiding"):
        network.path("Sirte", "Sebha", avoid=frozenset(s.id for s in network.segments if "Sirte" in (s.start, s.end)))


def test_kept_routes_round_one_segment_are_those_networkx_finds(cache):
    network = RoadNetwork.load(DEFAULT_SEEDS_DIR)
    searched = RoadNetwork.load(DEFAULT_SEEDS_DIR)
    searched.__dict__["_quickest_avoiding"] = None  # every detour searched by networkx
    towns = network.nodes()[::5]
    for segment in network.segments:
        _same_routes(network, searched, towns, frozenset([segment.id]))
    assert len(list(cache.glob("detours-*.pickle"))) == 1


def _same_routes(network: RoadNetwork, searched: RoadNetwork, towns: list[str], avoid: frozenset[str]) -> None:
    """Every route between ``towns`` without ``avoid`` is the same on both networks (or neither has one)."""
    for a in towns:
        for b in towns:
            try:
                kept = network.path(a, b, avoid=avoid)
            except NoRouteError as exc:
                kept = str(exc)
            try:
                found = searched.path(a, b, avoid=avoid)
            except NoRouteError as exc:
                found = str(exc)
            assert kept == found, (sorted(avoid), a, b)


def test_kept_routes_round_several_segments_are_those_networkx_finds(cache):
    """Routes round several segments (a closure and an answer's worst segment) come from the kept
    routes, or from routes found once per set avoided: each is the one networkx finds on the network
    without those segments, and no road left is "no route"."""
    network = RoadNetwork.load(DEFAULT_SEEDS_DIR)
    searched = RoadNetwork.load(DEFAULT_SEEDS_DIR)
    searched.__dict__["_quickest_avoiding"] = None  # every detour searched by networkx
    searched.__dict__["_quickest"] = None
    pick = random.Random(20261203)
    ids = [s.id for s in network.segments]
    towns = network.nodes()[::3]
    for _ in range(40):
        _same_routes(network, searched, towns, frozenset(pick.sample(ids, pick.choice((2, 3, 4)))))
    assert list(cache.glob("avoiding-*.pickle"))


def test_a_route_past_a_closure_elsewhere_needs_no_graph_search(tmp_path, cache):
    """A road closed far away: the route and its alternative (round its worst segment and the
    closure) come from the kept routes, with no networkx import, and are those a search finds."""
    from riskengine.engine import RiskEngine
    from riskengine.incident import Incident
    from riskengine.road_status import set_status
    from riskengine.store import ReportIn

    db = tmp_path / "closed.db"
    engine = RiskEngine.open(str(db), create=True)
    at = dt.datetime(2026, 11, 17, 12, tzinfo=dt.UTC)
    engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text="shelling near Waddan"), [Incident(
        event_type="Explosions/Remote violence", sub_event_type="Shelling/artillery/missile attack",
        date=at.date(), lat=29.16, lon=16.14, geo_precision=1, source="desk",
        evidence="Shells landed on the road outside Waddan.")], now=at)
    set_status(engine, "kufra-jalu-kufra", "closed", who="desk", why="a test closure", now=at - dt.timedelta(days=1))
    _route_process(db, cache)  # the quickest routes are found and kept
    warm = _route_process(db, cache)
    assert warm["imported"] == []
    assert warm["doc"]["worst_segment"] is not None  # so an alternative round it and the closure was sought
    searched = RiskEngine.open(str(db))
    searched.network.__dict__["_quickest_avoiding"] = None  # every detour searched by networkx
    searched.network.__dict__["_quickest"] = None
    assert json.loads(json.dumps(searched.route("Sirte", "Sebha", at), default=str)) == warm["doc"]
