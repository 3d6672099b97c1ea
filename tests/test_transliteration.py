"""Spelling variants of Arabic-origin names find their place; look-alike words do not."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.geo import geodesic_km
from riskengine.transliteration import skeleton, vowel_form

PUBLISHED = dt.date(2026, 11, 20)


@pytest.mark.parametrize("variants", [
    ["Qasr Bin Ghashir", "Gasr Ben Ghasir", "Kasr ibn Ghachir", "Qasr bin Gashir"],
    ["Sokna", "Sawknah", "Souknah", "Sukna"],
    ["Ajdabiya", "Ejdabia", "Ajdabya", "Ajdabeya"],
    ["Zuwara", "Zwara", "Zuwarah"],
    ["Tajoura", "Tajura", "Tadjoura"],
    ["Gharyan", "Ghariyan", "Garyan"],
    ["Bani Walid", "Beni Walid", "Bani Waleed"],
])
def test_spellings_of_one_name_share_a_key(variants):
    keys = {skeleton(v) for v in variants}
    assert len(keys) == 1, {v: skeleton(v) for v in variants}


@pytest.mark.parametrize("a, b", [("Sabri", "Sabratha"), ("Ubari", "Bari"), ("Derna", "Dirj"),
                                  ("Hun", "Hon Kong"), ("Zawiya", "Zuwara")])
def test_look_alike_names_keep_apart(a, b):
    assert skeleton(a) != skeleton(b)


def test_vowel_form_folds_spelling_habits():
    assert vowel_form("Souknah") == vowel_form("Sawknah") == vowel_form("Sokna")
    assert vowel_form("سبها") == "سبها"  # Arabic script keeps its own normalised form


@pytest.mark.parametrize("surface, expected", [
    ("Gasr Ben Ghasir", "Qasr Bin Ghashir"),
    ("Sawknah", "Sokna"),
    ("Ejdabia", "Ajdabiya"),
    ("Ghariyan", "Gharyan"),
])
def test_finder_reads_a_variant_in_a_sentence(engine, surface, expected):
    text = f"Armed men stopped two lorries at a roadblock in {surface} late on Tuesday."
    mentions = engine.extractor.libyan_mentions(text)
    assert [m.surface for m in mentions] == [surface]
    truth = engine.gazetteer.resolve(expected)
    assert geodesic_km((mentions[0].place.lat, mentions[0].place.lon), (truth.lat, truth.lon)) < 5


@pytest.mark.parametrize("text", [
    "Truck drivers said the Lock on the depot gate was broken. Bread prices rose again.",
    "QUOTE OF THE DAY: TABLE talks resume in a week.",
])
def test_common_words_and_capitals_are_not_places(engine, text):
    assert engine.extractor.libyan_mentions(text) == []


def test_a_district_named_like_a_town_is_not_that_town(engine):
    """Sabri (a Benghazi district) must not be read as Sabratha, 800 km to the west."""
    text = "A mortar round fell on a house in the Sabri district of Benghazi on Monday, wounding a boy."
    found = engine.extract_text(text, PUBLISHED)
    assert found, "no incident"
    benghazi = engine.gazetteer.resolve("Benghazi")
    assert geodesic_km((found[0].lat, found[0].lon), (benghazi.lat, benghazi.lon)) < 15
    assert all(p.name != "Sabratha" for p in found[0].places)


def test_an_incident_spelled_in_the_wild_raises_its_road(engine):
    text = "Gunmen ambushed a fuel tanker on the outskirts of Sawknah on Sunday and kidnapped its driver."
    found = engine.extract_text(text, PUBLISHED)
    assert found and found[0].event_type == "Violence against civilians"
    sokna = engine.gazetteer.resolve("Sokna")
    assert geodesic_km((found[0].lat, found[0].lon), (sokna.lat, sokna.lon)) < 5
    assert any("jufra" in s for s in engine.touched_segments(found)[0])
