"""Generalisation check: extraction and mapping on held-out labelled reports (tests/data/heldout*.jsonl).

``heldout.jsonl`` (60 cases), ``heldout2.jsonl`` (50 cases) and ``heldout3.jsonl`` (40 cases, by a
writer with other habits: passive voice, place or date first, quotes, unusual spellings, new road
phrasings) are written in the style of ``shared/eval/dev.jsonl`` but never used to tune the rules.
``heldout_wire.jsonl`` (30 cases) is written the way wire services and Libyan outlets write (datelines,
headlines, bylines, quotes, background paragraphs on 2011 and the later wars, several events in one
story, roles and demonyms for places, districts and landmarks, spelling variants, distances along
roads, relative dates, decoys); ``heldout_acled.jsonl`` (20 cases) is written like ACLED event notes
(villages with their district in brackets, "(month of)" dates, "[size=...]", fatality counts).
The wire and ACLED sets were measured before any rule was changed for them (wire: type 87%, place 83%,
rise precision 87%, recall 93%, decoys 57%; ACLED: 90%, 95%, 100%, 87%); their misses then guided
general rules, so they are held-out no longer and stay as regression sets. ``heldout_local.jsonl``
(30 cases in the habits of Libyan outlets' English and of Telegram posts) was measured untouched
(type 80%, place 83%, rise precision 86%, recall 84%, flat 92%, decoys 57%) and then its misses'
general kinds fixed (plural accidents, court rulings, "shells", "injured", a neighbourhood of a town
named like a far village, background fighting "in 2016"). ``heldout_ar.jsonl`` (30 Arabic cases in the
habits of Libyan outlets and channels) was measured untouched (type 83%, place 87%, rise precision 95%,
recall 80%, flat 98%, decoys 71%), then its general kinds fixed (common words and numbers read as
villages, a namesake far from the report's other places, burnt tyres, arson by protesters).
``bench/eval_dev.py`` ingests each one into an empty store and compares route scores before and after;
every figure it reports must reach 0.85, or the set's measured floor in ``THRESHOLDS``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "tests" / "data"
#: Each held-out file and the number of cases it holds.
HELDOUT = {"heldout.jsonl": 60, "heldout2.jsonl": 50, "heldout3.jsonl": 40,
           "heldout_wire.jsonl": 30, "heldout_acled.jsonl": 20, "heldout_local.jsonl": 30, "heldout_ar.jsonl": 30}
THRESHOLD = 0.85
#: Sets that do not reach THRESHOLD yet, with their measured floor (none today; heldout_wire's place
#: figure was 0.83 when it was written, before the rules were extended).
THRESHOLDS: dict[str, float] = {}
FIGURES = ("event_type_accuracy", "place_within_25km", "rise_precision", "rise_recall")


def _load_eval_dev():
    spec = importlib.util.spec_from_file_location("bench_eval_dev", PROJECT / "bench" / "eval_dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=sorted(HELDOUT))
def heldout(request) -> tuple[Path, dict]:
    path = DATA / request.param
    return path, _load_eval_dev().run(path, verbose=False)


def test_heldout_cases_are_all_read(heldout):
    path, figures = heldout
    assert figures["cases"] == HELDOUT[path.name]


@pytest.mark.parametrize("name", FIGURES)
def test_heldout_figure_reaches_threshold(heldout, name):
    path, figures = heldout
    threshold = THRESHOLDS.get(path.name, THRESHOLD)
    assert figures[name] >= threshold, (
        f"{name} = {figures[name]:.2f} < {threshold} on {path.name}; "
        f"run `python bench/eval_dev.py {path.relative_to(PROJECT)} -v` for the misses"
    )
