"""Arabic place names everywhere: the command line resolves them as it does Latin ones."""

from __future__ import annotations

import json

from riskengine.cli import main
from riskengine.gazetteer import arabic_name


def run(capsys, db, *args):
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_places_finds_an_arabic_name(capsys, fresh_db):
    code, out, err = run(capsys, fresh_db, "places", "سبها", "--json")
    assert code == 0, err
    assert json.loads(out)["places"][0]["name"] == "Sebha"


def test_a_route_between_arabic_names_is_the_route_between_their_latin_names(capsys, fresh_db):
    code, arabic, err = run(capsys, fresh_db, "route", "مصراتة", "سبها", "--at", "2026-11-20", "--json")
    assert code == 0, err
    code, latin, err = run(capsys, fresh_db, "route", "Misrata", "Sebha", "--at", "2026-11-20", "--json")
    assert code == 0, err
    assert [s["id"] for s in json.loads(arabic)["segments"]] == [s["id"] for s in json.loads(latin)["segments"]]


def test_did_you_mean_answers_in_arabic_script(capsys, fresh_db):
    code, out, err = run(capsys, fresh_db, "route", "مصراتة", "سبهاا")
    assert code == 2
    assert "سبها" in err and "Sebha" not in err


def test_arabic_name_of_a_place(gazetteer):
    assert arabic_name(gazetteer.resolve("Zliten")) != "Zliten"
    assert all("\u0600" <= ch <= "\u06ff" or ch == " " for ch in arabic_name(gazetteer.resolve("Misrata")))
