"""What is learnt of the lexicon's patterns (where a match can start, the words it needs) is kept in
the compiled cache: the next process builds its extractor without analysing them again, and reads
reports exactly as the first did (real processes, a cache directory of the test's own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from riskengine import compiled

from .conftest import PROJECT

EXTRACT = """
import datetime as dt, json, sys
from riskengine.engine import RiskEngine
from riskengine.extract import regexscan
calls = []
for name in ("_find_start_texts", "_find_literal_needs"):
    found = getattr(regexscan, name)
    setattr(regexscan, name, lambda *a, _f=found: calls.append(1) or _f(*a))
engine = RiskEngine.open(sys.argv[1], create=True)
engine.extractor
analysed = len(calls)
texts = ["Gunmen ambushed a fuel tanker 20 km south of Sirte on Tuesday, killing the driver.",
         "The coastal road between Misrata and Zliten was closed by protesters this morning.",
         "قتل سائق شاحنة في كمين نصبه مسلحون على الطريق بين سرت وهراوة أمس."]
out = [[i.model_dump(mode="json") for i in engine.extract_text(t, dt.date(2026, 11, 18))] for t in texts]
print(json.dumps({"analysed": analysed, "incidents": out}))
"""


def _process(db, cache) -> dict:
    env = {**os.environ, compiled.CACHE_DIR_VAR: str(cache)}
    done = subprocess.run([sys.executable, "-c", EXTRACT, str(db)], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_a_second_process_reuses_the_analyses_and_reads_alike(tmp_path):
    cache = tmp_path / "cache"
    first = _process(tmp_path / "a.db", cache)
    assert first["analysed"] > 1000  # the lexicon's patterns, analysed once
    assert list(cache.glob("regex-analyses-*.pickle"))
    second = _process(tmp_path / "b.db", cache)
    assert second["analysed"] == 0
    assert second["incidents"] == first["incidents"]
    assert all(second["incidents"])  # each text tells an incident


def test_a_damaged_analyses_file_is_analysed_again(tmp_path):
    cache = tmp_path / "cache"
    first = _process(tmp_path / "a.db", cache)
    for path in cache.glob("regex-analyses-*.pickle"):
        path.write_bytes(path.read_bytes()[:100])
    again = _process(tmp_path / "b.db", cache)
    assert again["analysed"] == first["analysed"] and again["incidents"] == first["incidents"]
