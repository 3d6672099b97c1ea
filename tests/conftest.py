"""Shared fixtures: the project's real rules and seeds, a fresh SQLite store, a fixed clock."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.gazetteer import Gazetteer
from riskengine.roads import RoadNetwork
from riskengine.rules import RuleBook
from riskengine.store import Store

#: The fixed "today" of the tests.
NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def rules() -> RuleBook:
    return RuleBook.load(DEFAULT_RULES_DIR)


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(DEFAULT_SEEDS_DIR)


@pytest.fixture(scope="session")
def network(gazetteer) -> RoadNetwork:
    return RoadNetwork.load(DEFAULT_SEEDS_DIR, gazetteer)


@pytest.fixture
def rules_copy(tmp_path) -> Path:
    """A writable copy of the rules directory, for tests that break a file."""
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, target)
    return target


@pytest.fixture
def fresh_db(tmp_path) -> str:
    """Path of a new SQLite file (not yet created)."""
    return str(tmp_path / "risk.db")


@pytest.fixture
def engine(fresh_db, rules, gazetteer, network) -> RiskEngine:
    """An engine on the real rules and seeds with an empty store on a real SQLite file."""
    return RiskEngine(Store.open(fresh_db), rules, gazetteer, network)
