"""Tests for riskengine.structured: ACLED-style CSV, incident JSON Lines, format sniffing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskengine.errors import InputFileError, InputRowError
from riskengine.structured import (
    LEGACY_EVENT_TYPES,
    ReadResult,
    read_acled_csv,
    read_incident_jsonl,
    sniff_format,
)

HEADER = ("event_date,event_type,sub_event_type,actor1,latitude,longitude,geo_precision,fatalities,"
          "notes,source")
WADDAN_IED = ("2026-11-16,Explosions/Remote violence,Remote explosive/landmine/IED,Unidentified armed group,"
              "29.16,16.14,2,1,A roadside bomb hit a fuel tanker south of Waddan.,Libya Observer")
HUN_CLASH = "17 November 2026,battles,Armed clash,Militia (Hun),29.13,15.95,1,0,Gunfire at a checkpoint.,X"
SOKNA_ARREST = "2026-11-18,Strategic developments,Arrests,Police Forces of Libya,29.07,15.78,,,,"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def csv_file(tmp_path, *rows: str, header: str = HEADER):
    return write(tmp_path, "events.csv", "\n".join([header, *rows]) + "\n")


def test_good_rows_become_incidents_with_their_fields(tmp_path):
    result = read_acled_csv(csv_file(tmp_path, WADDAN_IED, HUN_CLASH, SOKNA_ARREST))
    assert isinstance(result, ReadResult)
    assert result.errors == []
    assert result.line_numbers == [2, 3, 4]
    ied, clash, arrest = result.incidents
    assert ied.event_type == "Explosions/Remote violence"
    assert ied.sub_event_type == "Remote explosive/landmine/IED"
    assert ied.date == dt.date(2026, 11, 16)
    assert (ied.lat, ied.lon, ied.geo_precision, ied.fatalities) == (29.16, 16.14, 2, 1)
    assert ied.actors == ["Unidentified armed group"]
    assert ied.evidence == "A roadside bomb hit a fuel tanker south of Waddan."
    assert ied.source == "Libya Observer"
    assert ied.summary.startswith("Remote explosive/landmine/IED: A roadside bomb")
    assert clash.event_type == "Battles" and clash.date == dt.date(2026, 11, 17)
    assert (arrest.geo_precision, arrest.fatalities, arrest.source, arrest.places) == (1, 0, None, [])


def test_optional_columns_fill_actors_places_tags_and_reliability(tmp_path):
    header = HEADER + ",actor2,assoc_actor_1,location,source_reliability,tags,time_precision,source_scale"
    row = ("2026-11-20,Violence against civilians,Abduction/forced disappearance,Unidentified gunmen,"
           "29.16,16.14,1,0,\"Two drivers were seized at a fake checkpoint, then released.\","
           "Local media,Civilians (Libya),Truck drivers (Libya); Civilians (Libya),Waddan,b2,"
           "fake checkpoint; kidnapping,1,Subnational")
    (incident,) = read_acled_csv(csv_file(tmp_path, row, header=header)).incidents
    assert incident.actors == ["Unidentified gunmen", "Civilians (Libya)", "Truck drivers (Libya)"]
    assert incident.tags == ["fake checkpoint", "kidnapping"]
    assert incident.source_reliability == "B"
    assert [(p.name, p.lat, p.lon) for p in incident.places] == [("Waddan", 29.16, 16.14)]
    assert incident.summary.startswith("Abduction/forced disappearance in Waddan: Two drivers")


def test_summary_is_one_line_and_short(tmp_path):
    notes = "\"" + "Convoy stopped near Hun. " * 20 + "\nSecond line.\""
    row = f"2026-11-16,Battles,Armed clash,Militia,29.13,15.95,1,0,{notes},X"
    (incident,) = read_acled_csv(csv_file(tmp_path, row)).incidents
    assert "\n" not in incident.summary and len(incident.summary) <= 120


def test_bad_rows_are_reported_by_line_and_the_rest_kept(tmp_path):
    bad_date = WADDAN_IED.replace("2026-11-16", "16/11/2026")
    bad_lat = HUN_CLASH.replace("29.13", "abc")
    path = csv_file(tmp_path, WADDAN_IED, bad_date, HUN_CLASH, bad_lat, SOKNA_ARREST)
    result = read_acled_csv(path)
    assert [error.line for error in result.errors] == [3, 5]
    assert all(isinstance(error, InputRowError) and error.source == str(path) for error in result.errors)
    assert "event_date" in result.errors[0].problem and "'16/11/2026'" in result.errors[0].problem
    assert result.errors[1].problem == "latitude 'abc' is not a number"
    assert result.line_numbers == [2, 4, 6]
    assert len(result.incidents) == 3


@pytest.mark.parametrize(
    ("column_value", "expected"),
    [
        (("latitude", "95.5"), "latitude '95.5' is not between -90 and 90"),
        (("longitude", "nan"), "longitude 'nan' is not a number"),
        (("event_type", "Skirmish"), "event_type 'Skirmish' is not an ACLED event type"),
        (("geo_precision", "4"), "geo_precision '4' is not between 1 and 3"),
        (("fatalities", "-2"), "fatalities '-2' is negative"),
        (("fatalities", "dozens"), "fatalities 'dozens' is not a whole number"),
        (("event_date", "2026-02-30"), "event_date '2026-02-30' is not a real date"),
        (("latitude", ""), "latitude is blank"),
    ],
)
def test_each_kind_of_bad_value_is_named(tmp_path, column_value, expected):
    column, value = column_value
    row = dict(zip(HEADER.split(","), next(csv.reader([HUN_CLASH])), strict=True))
    row[column] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([HEADER.split(","), row.values()])
    result = read_acled_csv("inline.csv", text=buffer.getvalue())
    assert result.incidents == []
    assert [(error.source, error.line) for error in result.errors] == [("inline.csv", 2)]
    assert result.errors[0].problem.startswith(expected)


def test_quoted_multiline_notes_do_not_shift_later_lines(tmp_path):
    notes = "\"Gunfire at a checkpoint.\nRoad closed,\n\nuntil dusk.\""
    multiline = HUN_CLASH.replace("Gunfire at a checkpoint.", notes)
    bad_lon = WADDAN_IED.replace("16.14", "east")
    result = read_acled_csv(csv_file(tmp_path, WADDAN_IED, multiline, bad_lon, SOKNA_ARREST))
    assert result.line_numbers == [2, 3, 8]
    assert [error.line for error in result.errors] == [7]
    assert result.incidents[1].evidence == "Gunfire at a checkpoint.\nRoad closed,\n\nuntil dusk."


def test_blank_lines_and_crlf_keep_physical_line_numbers(tmp_path):
    lines = [HEADER, WADDAN_IED, "", HUN_CLASH.replace("29.13", "x"), "   ", SOKNA_ARREST]
    text = "\r\n".join(lines) + "\r\n"
    result = read_acled_csv(write(tmp_path, "crlf.csv", text))
    assert result.line_numbers == [2, 6]
    assert [error.line for error in result.errors] == [4]


def test_missing_required_columns_raise_naming_them(tmp_path):
    header = HEADER.replace("latitude,longitude,", "").replace(",source", "")
    path = csv_file(tmp_path, "2026-11-16,Battles,Armed clash,Militia,1,0,notes", header=header)
    with pytest.raises(InputFileError) as caught:
        read_acled_csv(path)
    message = str(caught.value)
    assert str(path) in message
    assert all(name in message for name in ("latitude", "longitude", "source"))
    assert "notes" not in message.split(":")[-1]


def test_unreadable_and_empty_files_raise(tmp_path):
    with pytest.raises(InputFileError, match="nowhere.csv"):
        read_acled_csv(tmp_path / "nowhere.csv")
    with pytest.raises(InputFileError, match="no header"):
        read_acled_csv(write(tmp_path, "empty.csv", "\n\n"))


@pytest.mark.parametrize("label", sorted(LEGACY_EVENT_TYPES))
def test_older_acled_labels_map_to_the_current_six(tmp_path, label):
    row = f"12 March 2015,{label.upper()},,Militia,29.16,16.14,1,0,,X"
    (incident,) = read_acled_csv(csv_file(tmp_path, row)).incidents
    event_type, sub_event_type = LEGACY_EVENT_TYPES[label]
    assert (incident.event_type, incident.sub_event_type) == (event_type, sub_event_type)


def test_legacy_table_covers_the_documented_labels():
    assert LEGACY_EVENT_TYPES["battle-no change of territory"] == ("Battles", "Armed clash")
    assert LEGACY_EVENT_TYPES["remote violence"][0] == "Explosions/Remote violence"
    assert LEGACY_EVENT_TYPES["riots/protests"][0] == "Protests"
    rows = ["1 Jan 2016,Battle - No change of territory,,A,29.16,16.14,1,0,,X",
            "2 Jan 2016,Headquarters or base established,,A,29.16,16.14,1,0,,X"]
    first, second = read_acled_csv("old.csv", text="\n".join([HEADER, *rows])).incidents
    assert (first.event_type, first.sub_event_type) == ("Battles", "Armed clash")
    assert (second.event_type, second.sub_event_type) == ("Strategic developments",
                                                          "Headquarters or base established")


def test_extra_columns_are_ignored_in_any_order(tmp_path):
    columns = HEADER.split(",")
    values = next(csv.reader([WADDAN_IED]))
    header = ",".join(["iso", *reversed(columns), "admin1"])
    row = ",".join(["434", *(f'"{value}"' for value in reversed(values)), "Al Jufra"])
    result = read_acled_csv(csv_file(tmp_path, row, header=header))
    assert result.errors == []
    assert result.incidents[0].lat == 29.16 and result.incidents[0].source == "Libya Observer"


def test_row_with_too_many_fields_is_an_error(tmp_path):
    result = read_acled_csv(csv_file(tmp_path, WADDAN_IED + ",surplus", HUN_CLASH + ","))
    assert [(error.line, "11 fields" in error.problem) for error in result.errors] == [(2, True)]
    assert result.line_numbers == [3]


@settings(max_examples=150, deadline=None)
@given(garbage=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_garbage_latitude_never_raises(garbage):
    row = next(csv.reader([HUN_CLASH]))
    row[4] = garbage
    buffer = io.StringIO()  # the default "\r\n" terminator makes csv quote fields holding "\r" or "\n"
    csv.writer(buffer).writerows([HEADER.split(","), row, next(csv.reader([WADDAN_IED]))])
    result = read_acled_csv("garbage.csv", text=buffer.getvalue())
    assert len(result.incidents) + len(result.errors) == 2
    assert result.incidents[-1].lat == 29.16
    assert all(error.line == 2 for error in result.errors)


def jsonl_line(**changes) -> str:
    record = {"event_type": "Battles", "sub_event_type": "Armed clash", "date": "2026-11-16",
              "lat": 29.13, "lon": 15.95, "actors": ["Militia (Hun)"], "evidence": "Clashes in Hun."}
    record.update(changes)
    return json.dumps(record)


def test_jsonl_reads_incidents_and_reports_bad_lines(tmp_path):
    lines = [jsonl_line(), "", "{not json", jsonl_line(lat=129.0), jsonl_line(event_type="Skirmish"),
             "   ", jsonl_line(date="2026-11-18", lat=29.16, lon=16.14)]
    path = write(tmp_path, "incidents.jsonl", "\n".join(lines) + "\n")
    result = read_incident_jsonl(path)
    assert result.line_numbers == [1, 7]
    assert result.incidents[0].actors == ["Militia (Hun)"]
    assert result.incidents[1].date == dt.date(2026, 11, 18)
    assert [error.line for error in result.errors] == [3, 4, 5]
    assert result.errors[0].problem.startswith("not JSON")
    assert result.errors[1].problem.startswith("lat: ")
    assert result.errors[2].problem.startswith("event_type: ") and "\n" not in result.errors[2].problem
    assert all(error.source == str(path) for error in result.errors)


def test_jsonl_model_level_problem_is_short():
    result = read_incident_jsonl("x.jsonl", text=json.dumps({"event_type": "Riots", "date": "2026-11-16"}))
    assert result.incidents == []
    assert result.errors[0].problem == "an incident needs lat/lon, segments or geometry_wkt"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("events.csv", "anything", "acled"),
        ("incidents.jsonl", "", "jsonl"),
        ("incidents.NDJSON", "", "jsonl"),
        ("incidents.json", '\n  {"event_type": "Battles"}', "jsonl"),
        ("list.json", "[1, 2]", "text"),
        ("feed.xml", "", "rss"),
        ("feed.atom", "", "rss"),
        ("feed.rss", "", "rss"),
        ("feed", "<?xml version='1.0'?><rss></rss>", "rss"),
        ("atom", "\ufeff<feed xmlns='http://www.w3.org/2005/Atom'></feed>", "rss"),
        ("report.txt", "Gunmen stopped a convoy near Waddan.", "text"),
    ],
)
def test_sniff_format(tmp_path, name, content, expected):
    assert sniff_format(write(tmp_path, name, content)) == expected


def test_sniff_format_of_a_missing_file_is_text(tmp_path):
    assert sniff_format(tmp_path / "missing.txt") == "text"
