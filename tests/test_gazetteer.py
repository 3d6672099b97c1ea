"""Tests of the gazetteer against the real seed data in ``seeds/``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from shapely.geometry import Point

from riskengine.errors import SeedDataError, UnknownPlaceError
from riskengine.gazetteer import Gazetteer, normalize_name
from riskengine.geo import geodesic_km
from riskengine.models import Place

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load(SEEDS)


ALIAS_GROUPS = [
    ("Sebha", ["Sabha", "Sabhā", "سبها", "SEBHA", "sebha"]),
    ("Misrata", ["Misurata", "Misratah", "مصراتة"]),
    ("Sirte", ["Surt"]),
    ("Brega", ["Marsa al-Brega", "Al Burayqah", "Marsa Brega"]),
    ("Hun", ["Houn", "Hūn"]),
    ("Sokna", ["Suknah"]),
    ("Shwayrif", ["al-Shuwairif", "Shuwairif", "Al Shuwairif", "Ash Shurayf"]),
    ("Abu Grein", ["Abugrein", "Abu Qurayn"]),
    ("Kufra", ["Al Kufrah", "Al Jawf", "Kufrah"]),
    ("Ajdabiya", ["Ajdabia"]),
    ("Derna", ["Darnah"]),
    ("Khoms", ["Al Khums"]),
    ("Zawiya", ["Az Zawiyah"]),
    ("Zuwara", ["Zuwarah"]),
    ("Mizda", ["Mizdah"]),
    ("Ubari", ["Awbari"]),
    ("al-Marj", ["Marj", "Al Marj"]),
    ("al-Bayda", ["Bayda"]),
]


@pytest.mark.parametrize(("canonical", "aliases"), ALIAS_GROUPS, ids=[g[0] for g in ALIAS_GROUPS])
def test_alias_groups_resolve_to_one_place(gaz, canonical, aliases):
    place = gaz.resolve(canonical)
    assert place.name == canonical
    for alias in aliases:
        assert gaz.resolve(alias) == place, alias
        assert alias in gaz


KEY_TOWNS = [
    "Tripoli", "Misrata", "Sirte", "Sebha", "Brega", "Ras Lanuf", "Bin Jawad", "Ajdabiya", "Benghazi",
    "al-Marj", "al-Bayda", "Derna", "Tobruk", "Bani Walid", "Tarhuna", "Khoms", "Zliten", "Zawiya",
    "Zuwara", "Ras Ajdir", "Gharyan", "Mizda", "Shwayrif", "Brak", "Waddan", "Hun", "Sokna",
    "Abu Grein", "Ubari", "Ghat", "Murzuq", "Jalu", "Kufra", "Zintan", "Sabratha", "Ghadames",
    "Nalut", "Yafran",
]  # fmt: skip


def test_every_key_town_is_a_canonical_row(gaz):
    names = {p.name for p in gaz.places}
    assert set(KEY_TOWNS) <= names


EXPECTED_COORDS = {  # from key_coords.tsv
    "Sebha": (27.0377, 14.4283),
    "Tripoli": (32.8874, 13.1873),
    "Misrata": (32.3754, 15.0925),
    "Hun": (29.1268, 15.9477),
    "Waddan": (29.1614, 16.1390),
    "Sokna": (29.0694, 15.7827),
    "Ras Lanuf": (30.5869, 18.4178),
    "Shwayrif": (29.9824, 14.2595),
    "Abu Grein": (31.4497, 15.2550),
    "Kufra": (24.1800, 23.2759),
    "Ras Ajdir": (33.1495, 11.5679),
    "Brega": (30.4062, 19.5739),
}


@pytest.mark.parametrize("town", sorted(EXPECTED_COORDS))
def test_key_town_coordinates(gaz, town):
    place = gaz.resolve(town)
    assert geodesic_km((place.lat, place.lon), EXPECTED_COORDS[town]) < 5


def test_jufra_is_an_area_of_hun_waddan_sokna(gaz):
    jufra = gaz.resolve("al-Jufra")
    assert jufra.is_area
    assert set(jufra.members) == {"Hun", "Waddan", "Sokna"}
    for alias in ("Jufra", "Al Jufrah", "الجفرة"):
        assert gaz.resolve(alias) == jufra
    polygon = gaz.area_geometry(jufra)
    assert polygon.geom_type == "Polygon"
    for town in jufra.members:
        place = gaz.resolve(town)
        assert polygon.contains(Point(place.lon, place.lat))
    assert gaz.area_geometry(jufra) is polygon  # cached
    assert 28.5 < jufra.lat < 29.5 and 15.5 < jufra.lon < 16.5


@pytest.mark.parametrize("area", ["oil crescent", "Jabal Nafusa", "Fezzan"])
def test_other_areas_contain_their_members(gaz, area):
    place = gaz.resolve(area)
    assert place.is_area and len(place.members) >= 3
    polygon = gaz.area_geometry(place)
    for member in place.members:
        town = gaz.resolve(member)
        assert polygon.contains(Point(town.lon, town.lat))


@pytest.mark.parametrize(
    ("typo", "town"), [("Sebhaa", "Sebha"), ("Misratta", "Misrata"), ("Ajdabya", "Ajdabiya")]
)
def test_unknown_name_raises_with_suggestions(gaz, typo, town):
    assert typo not in gaz
    assert gaz.lookup(typo) == []
    with pytest.raises(UnknownPlaceError) as info:
        gaz.resolve(typo)
    assert town in info.value.suggestions
    assert len(info.value.suggestions) == len(set(info.value.suggestions)) <= 5


def test_lookup_prefers_canonical_then_bigger_places():
    small = Place("Hamlet", 30.0, 15.0, kind="hamlet", aliases=("Qasr",))
    big = Place("Big Town", 31.0, 16.0, kind="city", population=100_000, aliases=("Qasr",))
    named = Place("Qasr", 29.0, 14.0, kind="village")
    gaz = Gazetteer([small, big, named])
    assert gaz.lookup("qasr") == [named, big, small]
    assert gaz.resolve("al-Qasr") is named


def test_normalize_name():
    assert normalize_name("Sabhā") == normalize_name("sabha")
    assert normalize_name("al-Shuwairif") == normalize_name("Shuwairif")
    assert normalize_name("Marsa al-Brega") == normalize_name("Marsa Brega") == "marsa brega"
    assert normalize_name("El  Beida") == normalize_name("Beida")
    assert normalize_name("Bi`r Bin Ghunaymah") == "bir bin ghunaymah"
    assert normalize_name("سَبْهَا") == normalize_name("سبها")
    assert normalize_name("الجفرة") == normalize_name("جفرة")


def test_aliases_and_places(gaz):
    pairs = list(gaz.aliases())
    assert ("Houn", gaz.resolve("Hun")) in pairs
    assert len(gaz.places) == len(gaz) > 800
    assert sum(p.is_area for p in gaz.places) >= 4


def test_no_brackets_in_place_names():
    with open(SEEDS / "places.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows
    bad = [r["name"] for r in rows if "(" in r["name"] or ")" in r["name"]]
    assert bad == []
    assert {r["kind"] for r in rows} <= {"city", "town", "village", "hamlet", "locality"}


def _write_seeds(tmp_path: Path, places: str, areas: str = "[]\n") -> Path:
    (tmp_path / "places.tsv").write_text(places, encoding="utf-8")
    (tmp_path / "areas.yaml").write_text(areas, encoding="utf-8")
    return tmp_path


HEADER = "name\tlat\tlon\tkind\tpopulation\tadmin1\taliases\tgeonameid\tosm_id\n"


def test_bad_latitude_names_file_and_line(tmp_path):
    places = HEADER + "Hun\t29.1\t15.9\ttown\t\t\tHoun\t\t\n" + "Waddan\tnorth\t16.1\ttown\t\t\t\t\t\n"
    seeds = _write_seeds(tmp_path, places)
    with pytest.raises(SeedDataError, match=r"places\.tsv:3"):
        Gazetteer.load(seeds)


def test_missing_files_and_unknown_members(tmp_path):
    with pytest.raises(SeedDataError, match="places.tsv"):
        Gazetteer.load(tmp_path)
    places = HEADER + "Hun\t29.1\t15.9\ttown\t\t\t\t\t\n"
    seeds = _write_seeds(tmp_path, places, "- name: X\n  members: [Hun]\n- name: Y\n  members: [Nowhere]\n")
    with pytest.raises(SeedDataError, match=r"areas\.yaml:3.*Nowhere"):
        Gazetteer.load(seeds)
