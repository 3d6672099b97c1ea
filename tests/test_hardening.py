"""Hostile and broken input: one bad row never loses a file, one bad file never loses the others,
every bad argument is one clear line (exit 2), and the parsers never crash on anything."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.cli import main
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.errors import InputFileError, RuleFileError
from riskengine.rule_files import ScoringRules, parse_rule_file
from riskengine.rules import RuleBook
from riskengine.store import Store
from riskengine.structured import read_acled_csv, read_incident_jsonl

HEADER = "event_date,event_type,sub_event_type,actor1,latitude,longitude,geo_precision,fatalities,notes,source\n"


def good_row(i: int) -> str:
    return f"2026-11-{1 + i % 28:02d},Battles,Armed clash,Group {i},{30 + i * 0.001:.3f},15.0,1,{i % 3},clash {i},src\n"


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "risk.db")
    Store.open(path)
    return path


def test_an_absurd_death_toll_is_one_bad_row_not_a_lost_file(capsys, db, tmp_path):
    csv = tmp_path / "big.csv"
    csv.write_text(HEADER + good_row(1) + good_row(2).replace(",2,clash", ",99999999999999999999999,clash")
                   + good_row(3), encoding="utf-8")
    code, out, err = run(capsys, "--db", db, "ingest", str(csv), "--json")
    assert code == 0
    doc = json.loads(out)["files"][0]
    assert doc["incidents_added"] == 2 and doc["errors"][0]["line"] == 3
    assert "fatalities" in doc["errors"][0]["problem"] and "Traceback" not in err


def test_broken_or_impossible_areas_are_bad_rows(capsys, db, tmp_path):
    rows = [
        {"event_type": "Battles", "date": "2026-11-15", "location_kind": "area",
         "geometry_wkt": "POLYGON((0 0, 1 1, 1 0))"},  # a ring that does not close
        {"event_type": "Battles", "date": "2026-11-15", "location_kind": "area",
         "geometry_wkt": "POLYGON((14 32, 15 32, 15 33, 14 33, 14 32)"},  # cut short
        {"event_type": "Battles", "date": "2026-11-15", "location_kind": "area",
         "geometry_wkt": "POLYGON((32 140, 33 140, 33 141, 32 141, 32 140))"},  # lat, lon swapped: no such place
        {"event_type": "Battles", "date": "2026-11-15", "location_kind": "area",
         "geometry_wkt": "POLYGON((14 32, 15 32, 15 33, 14 33, 14 32))"},  # a good one
    ]
    path = tmp_path / "areas.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    code, out, err = run(capsys, "--db", db, "ingest", str(path), "--json")
    doc = json.loads(out)["files"][0]
    assert code == 0 and doc["incidents_added"] == 1
    assert [e["line"] for e in doc["errors"]] == [1, 2, 3]
    assert "outside lon -180..180" in doc["errors"][2]["problem"]


def test_a_quote_never_closed_costs_one_row_not_the_rest_of_the_file(tmp_path):
    text = HEADER + good_row(1) + good_row(2).replace("clash 2", '"clash 2') + good_row(3) + good_row(4)
    result = read_acled_csv("q.csv", text=text)
    assert [e.line for e in result.errors] == [3] and "quote" in result.errors[0].problem
    assert result.line_numbers == [2, 4, 5]


def test_one_unreadable_file_does_not_stop_the_others(capsys, db, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + good_row(1), encoding="utf-8")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, out, err = run(capsys, "--db", db, "ingest", str(tmp_path / "missing.csv"), str(binary), str(good),
                         "--json")
    assert code == 2  # something was skipped ...
    doc = json.loads(out)
    assert [f["file"] for f in doc["files"]] == [str(good)] and doc["files"][0]["incidents_added"] == 1
    assert len(doc["failed"]) == 2 and "no such file" in doc["failed"][0]["problem"]
    assert Store.open(db).incident_count() == 1  # ... and the rest stored


@pytest.mark.parametrize("args, says", [
    (["route", "Misrata", "Sirte", "--at", "9999-12-31T23:00-05:00"], "out of range"),
    (["segments", "--at", "0001-01-01"], "out of range"),
    (["route", "x" * 10_000, "Sirte"], "unknown place"),
    (["run", "--once", "--config", "."], "is a directory"),
])
def test_bad_arguments_are_one_short_line_and_exit_2(capsys, db, args, says):
    code, out, err = run(capsys, "--db", db, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and len(err) < 450


def test_a_text_dated_at_the_start_of_time_is_refused_not_crashed(capsys, tmp_path):
    report = tmp_path / "r.txt"
    report.write_text("Gunmen ambushed a lorry near Waddan last week.", encoding="utf-8")
    code, _, err = run(capsys, "extract", str(report), "--published", "0001-01-01")
    assert code == 2 and "out of range" in err


def test_a_rule_file_with_a_key_given_twice_is_refused(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    scoring = rules / "scoring.yaml"
    scoring.write_text(scoring.read_text(encoding="utf-8") + "\nsaturation: 5.0\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="found the key 'saturation' twice"):
        RuleBook.load(rules)


def test_dollar_signs_in_reports_do_not_break_the_route_picture(engine, tmp_path):
    from riskengine import maps
    from riskengine.incident import Incident
    from riskengine.store import ReportIn

    at = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    engine.ingest_incidents(ReportIn("x", "jsonl", "t"), [Incident(
        event_type="Battles", sub_event_type="Armed clash", date=dt.date(2026, 11, 19), lat=31.2, lon=16.59,
        summary="fighters paid $5 and $x^2$ a day", evidence="e")], now=at)
    drawn = maps.route_picture(engine, "Misrata", "Sirte", at, tmp_path / "r.png")
    assert drawn["incident_count"] == 1 and (tmp_path / "r.png").stat().st_size > 10_000


# ---- fuzzing: no input may crash a parser or lose a good row -------------------------------------------

GARBAGE = st.text(alphabet=string.printable + "\u00e9\u0627\x00", max_size=120)


@settings(max_examples=150, deadline=None)
@given(garbage=st.lists(GARBAGE, max_size=6), seed=st.integers(0, 1000))
def test_csv_garbage_never_crashes_and_never_loses_a_good_row(garbage, seed):
    goods = [good_row(seed + i) for i in range(3)]
    lines = [HEADER]
    for i, junk in enumerate(garbage):
        lines.append(goods[i % 3] if i < 3 else "")
        lines.append(junk.replace("\n", " ").replace("\r", " ") + "\n")
    lines += goods[len(garbage):] if len(garbage) < 3 else []
    result = read_acled_csv("fuzz.csv", text="".join(lines))
    read = {inc.actors[0] for inc in result.incidents}
    assert {f"Group {seed + i}" for i in range(3)} <= read


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_any_text_as_csv_or_jsonl_gives_rows_or_one_clear_error(text):
    """Every line of the input is accounted for: read as an incident, reported as a bad row (by a
    line that exists), or the whole input refused with one line naming it."""
    lines = max(1, len(text.splitlines()) + 1)
    for reader in (read_acled_csv, read_incident_jsonl):
        try:
            result = reader("fuzz", text=text)
        except InputFileError as exc:
            assert str(exc).startswith("fuzz: ") and "\n" not in str(exc)
            continue
        assert len(result.incidents) == len(result.line_numbers)
        assert all(1 <= line <= lines for line in result.line_numbers + [e.line for e in result.errors])
        assert all(e.problem and "Traceback" not in e.problem for e in result.errors)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=string.printable, max_size=300))
def test_any_rule_file_text_loads_or_gives_one_rule_file_error(tmp_path_factory, text):
    """A rule file either loads as rules or is refused with one error naming the file."""
    path = tmp_path_factory.mktemp("fuzz") / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        rules = parse_rule_file(path, ScoringRules)
    except RuleFileError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert isinstance(rules, ScoringRules) and [lv.level for lv in rules.levels] == [1, 2, 3, 4, 5]


def test_a_saved_feed_is_ingested_as_one_report_per_entry(capsys, db, tmp_path):
    feed = tmp_path / "desk.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        "<item><title>Tanker hit</title><guid>d1</guid><pubDate>Tue, 17 Nov 2026 08:00:00 GMT</pubDate>"
        "<description>Gunmen ambushed a fuel tanker near Waddan on Monday.</description></item>"
        "<item><title>Zawiya</title><guid>d2</guid><pubDate>Tue, 17 Nov 2026 09:00:00 GMT</pubDate>"
        "<description>Armed groups clashed in Zawiya on Monday night.</description></item>"
        "</channel></rss>", encoding="utf-8")
    code, out, err = run(capsys, "--db", db, "ingest", str(feed), "--json")
    assert code == 0, err
    assert json.loads(out)["files"][0]["format"] == "rss" and Store.open(db).report_count() == 2
    assert run(capsys, "--db", db, "ingest", "--format", "rss", str(feed))[0] == 0
    assert Store.open(db).report_count() == 2  # the same entries again change nothing
    broken = tmp_path / "broken.xml"
    broken.write_text("<rss><channel><item><title>cut", encoding="utf-8")
    code, _, err = run(capsys, "--db", db, "ingest", str(broken))
    assert code == 2 and "broken.xml" in err and err.count("\n") == 1


def test_an_input_file_over_its_limit_is_refused_before_it_is_read(capsys, db, tmp_path):
    from riskengine.engine import MAX_TEXT_FILE_BYTES

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(MAX_TEXT_FILE_BYTES + 1)  # sparse: nothing is written, the size is what counts
    for args in (["extract", str(huge)], ["--db", db, "ingest", str(huge)]):
        code, _, err = run(capsys, *args)
        assert code == 2 and "over the limit of 20 MB" in err and err.count("\n") == 1
    assert Store.open(db).report_count() == 0


def test_a_stray_quote_on_its_own_line_does_not_swallow_the_next_row():
    goods = [good_row(i) for i in range(3)]
    result = read_acled_csv("stray.csv", text=HEADER + goods[0] + '"\n' + goods[1] + '"\n' + goods[2])
    assert sorted(inc.actors[0] for inc in result.incidents) == ["Group 0", "Group 1", "Group 2"]
    assert [e.line for e in result.errors] == [3, 5] and "stray quote" in result.errors[0].problem
