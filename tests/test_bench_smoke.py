"""Smoke tests of the scripts in ``bench/``: they run on a tiny input, exit with 0 and print their figures."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, inspect

from riskengine.store import Store

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
    assert bench.main(["--reports", "20", "--seed", "7", "--sweep", "8,32"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("reports/s") for line in lines), out
    assert any(line.startswith("reports ") and " 20 " in f"{line} " for line in lines), out
    assert any(line.startswith("mean words per report") for line in lines), out
    assert any(line.startswith("incidents found per report") for line in lines), out
    assert any(line.startswith("target 2000 reports/s") for line in lines), out
    sweep = [line.split() for line in lines if "s/MB" in line]
    assert [row[0] for row in sweep] == ["8", "32"], out


def test_extract_throughput_times_the_whole_text_matching_apart(capsys):
    bench = load_script("extract_throughput")
    assert bench.main(["--reports", "20", "--seed", "7", "--sweep", "", "--rounds", "1", "--stages"]) == 0
    lines = capsys.readouterr().out.splitlines()
    stages = next(line for line in lines if line.startswith("stages, µs per report"))
    whole, matching, rest = (float(re.search(label + r" (\d+)", stages).group(1))
                             for label in ("whole", "matching", "the rest"))
    assert 0 < matching < whole and abs(whole - matching - rest) <= 1, stages
    assert any(line.startswith("  a report's time at 2000/s 500 µs: the rest alone is") for line in lines), lines


def test_extract_throughput_runs_on_arabic_reports(capsys):
    bench = load_script("extract_throughput")
    assert bench.main(["--reports", "20", "--seed", "7", "--language", "ar", "--sweep", ""]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "language                   ar" in lines
    assert any(line.startswith("target 300 reports/s") for line in lines)
    found = next(line for line in lines if line.startswith("incidents found per report"))
    assert not found.split()[4].startswith("0.0"), found  # the Arabic reports are read, not skipped


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


def test_fanout_sends_one_alert_to_each_subscriber_through_the_emulator(capsys):
    bench = load_script("fanout")
    assert bench.main(["--subscribers", "30"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for label in ("subscribers", "seconds", "messages/s", "telegram limit", "ratio to limit"):
        assert any(line.startswith(label) for line in lines), f"no {label!r} line in:\n{out}"
    assert any(line.split() == ["subscribers", "30"] for line in lines), out
    assert any(line.startswith("telegram limit") and "30 messages/s" in line for line in lines), out
    assert "lost 0, duplicated 0" in lines, out


def _has_lines(out: str, *labels: str) -> list[str]:
    lines = out.splitlines()
    for label in labels:
        assert any(line.startswith(label) for line in lines), f"no {label!r} line in:\n{out}"
    return lines


def test_mapping_benchmark_runs_on_tiny_input(capsys):
    bench = load_script("mapping")
    baseline = importlib.util.find_spec("geopandas") is not None
    assert bench.main(["--points", "2000", "--seed", "3", *([] if baseline else ["--no-baseline"])]) == 0
    out = capsys.readouterr().out
    lines = _has_lines(out, "machine", "points", "max km", "ours ", "note", "target")
    assert any(line.startswith("points") and "2,000" in line for line in lines), out
    ours = next(line for line in lines if line.startswith("ours "))
    assert len(ours.split()) == 3 + 5, ours  # its name, then seconds, peak MB, start MB, pairs, points matched
    if baseline:
        _has_lines(out, "baseline ", "ratio ours/baseline")
        assert any(line.startswith("points matched") and "same" in line for line in lines), out
    else:
        assert any(line.startswith("baseline") and "skipped" in line for line in lines), out


def test_scoring_benchmark_runs_on_tiny_input(capsys):
    bench = load_script("scoring")
    assert bench.main(["--incidents", "2000", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    lines = _has_lines(out, "incidents", "store built in", "assess seconds", "loading seconds", "scoring seconds",
                       "peak MB", "every contribution s", "again, same now, seconds", "an hour later, seconds")
    assert any(line.startswith("incidents") and "2,000" in line for line in lines), out
    weighted = next(line for line in out.splitlines() if "weighted contributions" in line)
    assert int(weighted.split("(")[1].split()[0].replace(",", "")) > 0, out  # the generated store is scored
    assert any(line.startswith("again, same now") and "cached: yes" in line for line in lines), out
    assert any(line.startswith("an hour later") and "not reloaded" in line for line in lines), out


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_scoring_benchmark_runs_on_postgresql_and_leaves_no_tables(capsys, pg_url):
    bench = load_script("scoring")
    assert bench.main(["--incidents", "2000", "--seed", "3", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    lines = _has_lines(out, "store built in", "assess seconds", "every contribution s")
    assert any(line.startswith("store built in") and "PostgreSQL" in line for line in lines), out
    assert any(line.startswith("again, same now") and "cached: yes" in line for line in lines), out
    assert _tables(pg_url) == []


def test_scoring_benchmark_kept_store_is_read_again_without_building(capsys, pg_url):
    bench = load_script("scoring")
    args = ["--incidents", "1500", "--seed", "3", "--db", pg_url, "--keep"]
    assert bench.main(args) == 0
    first = capsys.readouterr().out
    assert bench.main(args) == 0
    again = capsys.readouterr().out
    assert "store built in" in first and "store built in" not in again, again
    assert "kept from an earlier --keep run" in again
    contributions = [next(line for line in out.splitlines() if line.startswith("at ")) for out in (first, again)]
    assert contributions[0] == contributions[1]  # the same store, scored alike
    assert "events" in _tables(pg_url)


def test_scoring_benchmark_refuses_a_database_that_holds_a_store(tmp_path, capsys):
    """A benchmark fills an empty database: one that holds a store is left as it is."""
    bench = load_script("scoring")
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    Store(url)  # a store of someone's (empty of events, but a store)
    before = sorted(_tables(url))
    with pytest.raises(SystemExit) as refused:
        bench.main(["--incidents", "500", "--db", url])
    assert url in str(refused.value) and "already holds tables" in str(refused.value)
    assert sorted(_tables(url)) == before  # nothing dropped


def test_query_benchmark_runs_on_postgresql_with_the_same_answers(capsys, pg_url):
    bench = load_script("query")
    assert bench.main(["--incidents", "2000", "--queries", "20", "--seed", "3", "--rounds", "1", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    lines = _has_lines(out, "incidents", "cold first call ms", "p99 ms", "process s")
    assert any(line.startswith("incidents") and "PostgreSQL" in line for line in lines), out
    assert any(line.startswith("previous path") and "same answer: yes" in line for line in lines), out
    assert any(line.startswith("after an ingest") and "is in the answer" in line for line in lines), out
    assert _tables(pg_url) == []


def test_query_benchmark_runs_on_tiny_input(capsys):
    bench = load_script("query")
    assert bench.main(["--incidents", "2000", "--queries", "20", "--seed", "3", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    lines = _has_lines(out, "incidents", "queries", "cold first call ms", "previous path first ms", "p50 ms",
                       "p99 ms", "max ms", "at a new time each ms", "after an ingest ms", "process s")
    assert any(line.startswith("at a new time each") and "over 18 questions" in line for line in lines), out
    assert any(line.startswith("previous path") and "same answer: yes" in line for line in lines), out
    assert any(line.startswith("queries") and line.split()[1] == "20" for line in lines), out
    assert any(line.startswith("after an ingest") and "is in the answer" in line for line in lines), out


def test_startup_benchmark_runs_one_round(capsys):
    bench = load_script("startup")
    assert bench.main(["--rounds", "1", "--imports", "3"]) == 0
    out = capsys.readouterr().out
    for command in ("--help", "places Sirte", "route Sirte Sebha", "segments"):
        assert any(line.strip().startswith(command) and "median" in line for line in out.splitlines()), out
    assert "target: route on an empty store" in out, out


def test_startup_benchmark_times_a_revision_beside_this_tree(tmp_path):
    mine, theirs = load_script("startup").side_by_side("HEAD", 1, tmp_path)
    assert len(mine) == len(theirs) == 1 and all(0 < t < 60 for t in mine + theirs)
    assert (tmp_path / "baseline" / "riskengine" / "cli.py").is_file()  # the revision's own code ran


def test_outbox_claims_benchmark_runs_on_tiny_input(capsys):
    bench = load_script("outbox_claims")
    assert bench.main(["--alerts", "200", "--dispatchers", "1,2", "--pg", ""]) == 0
    out = capsys.readouterr().out
    assert "every alert delivered exactly once" in out, out


def test_latency_benchmark_runs_on_tiny_input(capsys):
    bench = load_script("latency")
    assert bench.main(["--reports", "2", "--watch", "0.5s"]) == 0
    lines = _has_lines(capsys.readouterr().out, "reports", "stored -> delivered", "target p95")
    assert any(line.startswith("reports") and "2 alerts delivered" in line for line in lines), lines


def test_instructions_benchmark_workers_do_their_work(tmp_path):
    """The processes it counts (under valgrind, too slow for the test run) read reports and answer a route."""
    bench = load_script("instructions")
    for language in ("en", "ar"):
        assert bench.main(["--worker", "--scenario", "extract", "--reports", "3", "--language", language]) == 0
    store = tmp_path / "store.db"
    load_script("scoring").build_store(f"sqlite:///{store}", 200, 5, *load_script("mapping").load_network())
    assert bench.main(["--worker", "--scenario", "route", "--store", str(store)]) == 0
    # a whole route process: its empty store made, the route asked (uncounted here)
    args = argparse.Namespace(scenario="process", reports=1, language="en", seed=1)
    side = bench.Side("this tree", bench.PROJECT_DIR, tmp_path, args, None)
    assert side.run("create", counted=False) is None and side.run("run", counted=False) is None
    assert side.store.is_file()


def test_instructions_benchmark_says_what_it_needs(capsys, tmp_path):
    bench = load_script("instructions")
    store = tmp_path / "store.db"
    store.write_bytes(b"")
    for argv, expected in ((["--scenario", "route", "--baseline", "HEAD"], "--scenario route needs --store FILE"),
                           (["--scenario", "extract"], "--baseline REV is required"),
                           (["--scenario", "route", "--baseline", "HEAD", "--store", str(store),
                             "--baseline-store", str(tmp_path / "missing.db")], "missing.db: no such file")):
        try:
            bench.main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
        assert expected in capsys.readouterr().err
