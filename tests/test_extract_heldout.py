"""Generalisation check: extraction and mapping on held-out labelled reports (tests/data/heldout.jsonl).

The 60 cases are written in the style of ``shared/eval/dev.jsonl`` but never used to tune the rules.
``bench/eval_dev.py`` ingests each one into an empty store and compares route scores before and after;
every figure it reports must reach 0.85.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
HELDOUT = PROJECT / "tests" / "data" / "heldout.jsonl"
THRESHOLD = 0.85
FIGURES = ("event_type_accuracy", "place_within_25km", "rise_precision", "rise_recall")


def _load_eval_dev():
    spec = importlib.util.spec_from_file_location("bench_eval_dev", PROJECT / "bench" / "eval_dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> dict:
    return _load_eval_dev().run(HELDOUT, verbose=False)


def test_heldout_cases_are_all_read(figures):
    assert figures["cases"] == 60


@pytest.mark.parametrize("name", FIGURES)
def test_heldout_figure_reaches_threshold(figures, name):
    assert figures[name] >= THRESHOLD, (
        f"{name} = {figures[name]:.2f} < {THRESHOLD} on {HELDOUT.name}; "
        f"run `python bench/eval_dev.py {HELDOUT.relative_to(PROJECT)} -v` for the misses"
    )
