"""The command line against its contract (shared/CLI.md): JSON shapes, exit codes, idempotence."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from riskengine.cli import build_parser, main

from .conftest import PROJECT

AT = "2026-11-17"

WADDAN_CSV = (
    "event_date,event_type,sub_event_type,actor1,latitude,longitude,geo_precision,fatalities,notes,source\n"
    "2026-11-15,Violence against civilians,Attack,Unidentified armed group,29.17,16.16,1,1,"
    '"A lorry was fired on just outside Waddan.",test wire\n'
)


def run(capsys, db, *args):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def route_json(capsys, db, start, end, at=AT):
    code, out, err = run(capsys, db, "route", start, end, "--at", at, "--json")
    assert code == 0, err
    return json.loads(out)


def test_route_rises_after_an_incident_near_waddan_and_explains_it(capsys, fresh_db, tmp_path):
    before = route_json(capsys, fresh_db, "Sirte", "Sebha")
    zawiya_before = route_json(capsys, fresh_db, "Tripoli", "Zawiya")
    csv = tmp_path / "waddan.csv"
    csv.write_text(WADDAN_CSV)
    code, _, err = run(capsys, fresh_db, "ingest", str(csv))
    assert code == 0, err
    after = route_json(capsys, fresh_db, "Sirte", "Sebha")
    assert after["score"] > before["score"]
    assert after["level"] >= before["level"]
    assert len(after["incidents"]) == 1 and "Waddan" in after["incidents"][0]["summary"]
    assert after["worst_segment"] in {s["id"] for s in after["segments"]}
    assert route_json(capsys, fresh_db, "Tripoli", "Zawiya") == zawiya_before

    worst = after["worst_segment"]
    code, out, _ = run(capsys, fresh_db, "explain", worst, "--at", AT, "--json")
    explained = json.loads(out)
    assert code == 0 and explained["incidents"][0]["id"] == after["incidents"][0]["id"]
    item = explained["incidents"][0]
    assert item["rule"] == "Violence against civilians/Attack"
    assert item["weight"] == pytest.approx(item["severity"] * item["time_decay"] * item["distance_decay"]
                                           * item["confidence"] * item["fatalities_boost"], rel=1e-2)


def test_route_json_has_the_contract_fields(capsys, fresh_db):
    doc = route_json(capsys, fresh_db, "Sirte", "Sebha")
    for key in ["from", "to", "at", "score", "level", "level_name", "distance_km", "via", "segments",
                "incidents", "alternative"]:
        assert key in doc
    assert doc["from"] == "Sirte" and doc["to"] == "Sebha" and doc["at"] == "2026-11-17T00:00:00+00:00"
    assert 0 <= doc["score"] <= 100 and doc["level"] in range(1, 6)
    assert doc["via"][0] == "Sirte" and doc["via"][-1] == "Sebha"
    for seg in doc["segments"]:
        assert {"id", "name", "from", "to", "length_km", "score", "level"} <= set(seg)
    assert doc["distance_km"] == pytest.approx(sum(s["length_km"] for s in doc["segments"]), abs=1)


def test_route_accepts_any_spelling(capsys, fresh_db):
    by_alias = route_json(capsys, fresh_db, "Surt", "Sabhā")
    assert by_alias["via"] == route_json(capsys, fresh_db, "Sirte", "Sebha")["via"]


def test_unknown_place_exits_2_with_one_line_naming_it_and_the_closest_names(capsys, fresh_db):
    code, out, err = run(capsys, fresh_db, "route", "Sebhaa", "Tripoli", "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "'Sebhaa'" in err and "Sebha" in err.split("did you mean", 1)[1]


def test_bad_time_exits_2(capsys, fresh_db):
    code, _, err = run(capsys, fresh_db, "segments", "--at", "yesterday")
    assert code == 2 and "'yesterday'" in err


def test_bad_rows_are_reported_by_line_and_the_rest_is_stored(capsys, fresh_db, tmp_path):
    csv = tmp_path / "mixed.csv"
    lines = WADDAN_CSV.splitlines()
    good = lines[1]
    csv.write_text("\n".join([lines[0], good, good.replace("2026-11-15", "2026-13-45"),
                              good.replace("29.17", "north"), good.replace("1,1,", "1,2,")]) + "\n")
    code, out, err = run(capsys, fresh_db, "ingest", str(csv), "--json")
    assert code == 0
    doc = json.loads(out)["files"][0]
    assert doc["incidents_added"] == 2
    assert [e["line"] for e in doc["errors"]] == [3, 4]
    assert "mixed.csv:3" in err and "mixed.csv:4" in err


def test_ingesting_the_same_file_twice_changes_nothing(capsys, fresh_db):
    sample = str(PROJECT / "seeds" / "sample_incidents.csv")
    run(capsys, fresh_db, "ingest", sample)
    first = run(capsys, fresh_db, "segments", "--at", AT, "--json")[1]
    code, out, _ = run(capsys, fresh_db, "ingest", sample, "--json")
    assert code == 0 and json.loads(out)["files"][0]["incidents_added"] == 0
    assert run(capsys, fresh_db, "segments", "--at", AT, "--json")[1] == first


def test_segments_lists_every_segment(capsys, fresh_db, network):
    code, out, _ = run(capsys, fresh_db, "segments", "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["segments"]) == len(network.segments)
    assert {"id", "name", "score", "level", "level_name", "length_km"} <= set(doc["segments"][0])


def test_explain_unknown_segment_suggests_ids(capsys, fresh_db, network):
    seg = network.segments[0].id
    code, _, err = run(capsys, fresh_db, "explain", seg + "x")
    assert code == 2 and seg in err


def test_places_knows_aliases_and_areas(capsys, fresh_db):
    code, out, _ = run(capsys, fresh_db, "places", "Sabha", "--json")
    assert code == 0 and json.loads(out)["places"][0]["name"] == "Sebha"
    code, out, _ = run(capsys, fresh_db, "places", "al-Jufra", "--json")
    area = json.loads(out)["places"][0]
    assert area["kind"] == "area" and set(area["members"]) == {"Hun", "Waddan", "Sokna"}


def test_human_tables_by_default(capsys, fresh_db):
    code, out, _ = run(capsys, fresh_db, "route", "Tripoli", "Sebha", "--at", AT)
    assert code == 0 and "Tripoli -> Sebha" in out and "Gharyan" in out


def test_every_command_is_documented_in_the_readme():
    readme = (PROJECT / "README.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert re.search(rf"`riskengine {name}\b", readme), name


def test_console_script_runs_as_a_process(fresh_db):
    proc = subprocess.run([sys.executable, "-m", "riskengine.cli", "--db", fresh_db, "route", "Misrata", "Sirte",
                           "--at", AT, "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["via"][0] == "Misrata"


def test_a_question_process_ends_with_its_whole_answer_and_its_status(capsys, fresh_db, tmp_path):
    """A question's own process ends as soon as its answer is out (no interpreter teardown): the
    answer is whole, into a pipe or a file, as printed in-process, and errors keep their status."""
    cli = [sys.executable, "-m", "riskengine.cli", "--db", fresh_db]
    for args in (["segments", "--at", AT, "--json"], ["segments", "--at", AT], ["explain", "coastal-zliten-misrata",
                                                                                "--at", AT, "--json"]):
        code, expected, err = run(capsys, fresh_db, *args)
        assert code == 0 and expected, err
        piped = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60)
        assert (piped.returncode, piped.stdout) == (code, expected), args
        with open(tmp_path / "answer.txt", "w") as out:
            filed = subprocess.run([*cli, *args], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60)
        assert filed.returncode == code and (tmp_path / "answer.txt").read_text() == expected, args
    wrong = subprocess.run([*cli, "route", "Nowhereville", "Sebha"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith("riskengine: error: unknown place 'Nowhereville'")


def test_reports_with_and_without_a_source_grade_score_together(capsys, fresh_db, tmp_path):
    report = tmp_path / "zawiya.txt"
    report.write_text("Rival militias exchanged fire in central Zawiya on Wednesday night.")
    code, _, err = run(capsys, fresh_db, "ingest", str(PROJECT / "seeds" / "sample_incidents.csv"), str(report),
                       "--published", "2026-11-19")
    assert code == 0, err
    doc = route_json(capsys, fresh_db, "Tripoli", "Zuwara", at="2026-11-20")
    assert doc["score"] > 0


def test_json_output_is_strict_json_even_for_missing_values(capsys, fresh_db, tmp_path):
    rows = tmp_path / "no_subtype.jsonl"
    rows.write_text('{"event_type": "Battles", "date": "2026-11-15", "lat": 29.17, "lon": 16.16}\n')
    assert run(capsys, fresh_db, "ingest", str(rows))[0] == 0
    out = run(capsys, fresh_db, "route", "Sirte", "Sebha", "--at", AT, "--json")[1]
    assert "NaN" not in out
    assert json.loads(out)["incidents"][0]["sub_event_type"] is None


def test_places_knows_landmarks_and_their_parent(capsys, fresh_db):
    code, out, _ = run(capsys, fresh_db, "places", "Mitiga", "--json")
    place = json.loads(out)["places"][0]
    assert code == 0 and place["kind"] == "airport" and place["parent"] == "Tripoli"
    code, out, _ = run(capsys, fresh_db, "places", "Mitiga")
    assert code == 0 and "Mitiga International Airport" in out and "Tripoli" in out


def test_a_mistyped_db_is_an_error_for_reading_commands_and_is_not_created(capsys, tmp_path):
    missing = tmp_path / "dmeo.db"
    for args in (["route", "Misrata", "Sebha"], ["segments"], ["explain", "coastal-misrata-sirte"]):
        code, out, err = run(capsys, str(missing), *args)
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and "dmeo.db" in err and "does not exist" in err
    assert not missing.exists()
    # --create makes the empty store on purpose; ingest creates it as well
    assert main(["--db", str(missing), "--create", "segments", "--json"]) == 0 and missing.is_file()
    capsys.readouterr()


def test_places_and_extract_never_open_a_store(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RISKENGINE_DB", raising=False)
    report = tmp_path / "r.txt"
    report.write_text("Gunmen ambushed a lorry near Waddan on Monday.", encoding="utf-8")
    assert main(["places", "Sirte"]) == 0
    assert main(["extract", str(report), "--published", "2026-11-17", "--json"]) == 0
    capsys.readouterr()
    assert list(tmp_path.iterdir()) == [report]  # no riskengine.db appeared
