"""Smoke tests of the scripts in ``bench/``: they run on a tiny input, exit with 0 and print their figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_script(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` as a module (``bench`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_throughput_runs(capsys):
    bench = load_script("extract_throughput")
    assert bench.main(["--reports", "20", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("reports/s") for line in lines), out
    assert any(line.startswith("reports ") and " 20 " in f"{line} " for line in lines), out
    assert any(line.startswith("mean words per report") for line in lines), out
    assert any(line.startswith("incidents found per report") for line in lines), out
    assert any(line.startswith("target 500 reports/s") for line in lines), out


def test_extract_throughput_reports_are_deterministic():
    bench = load_script("extract_throughput")
    geo = bench.Geography(["Sirte", "Sebha", "Hun"], [("Sirte", "Hun", "south", 220.0)])
    first = bench.make_reports(5, 3, geo)
    again = bench.make_reports(5, 3, geo)
    assert first == again
    assert all(200 <= r.words <= 400 for r in first)


CASES = [
    {
        "id": "smoke1", "published": "2026-03-10", "event_type": "Violence against civilians",
        "place": ["Zliten", 32.47, 14.57],
        "text": "Armed men stopped a minibus at a makeshift checkpoint near Zliten on Sunday evening "
                "and took two passengers away; their families have heard nothing since.",
        "rise": [["Misrata", "Khoms"]], "flat": [["Sebha", "Ubari"], ["Benghazi", "Tobruk"]],
    },
    {
        "id": "smoke2", "published": "2026-03-11", "event_type": None, "place": None,
        "text": "The chamber of commerce in Benghazi said exports of dates rose sharply this season "
                "thanks to a mild spring and cheaper shipping.",
        "rise": [], "flat": [["Tripoli", "Zuwara"]],
    },
]


def test_eval_dev_runs_on_tiny_cases(tmp_path, capsys):
    cases = tmp_path / "tiny.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    evaluate = load_script("eval_dev")
    assert evaluate.main([str(cases)]) == 0
    out = capsys.readouterr().out
    for label in ("cases", "event-type accuracy", "main place within 25 km", "route rise precision",
                  "route rise recall"):
        assert any(line.startswith(label) for line in out.splitlines()), f"no {label!r} line in:\n{out}"
    assert any(line.split() == ["cases", "2"] for line in out.splitlines()), out
