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


# --- landmarks.tsv: districts, oil fields, ports, airports, gates ... each with a parent -------------

LANDMARK_HEADER = "name\tlat\tlon\tkind\tparent\taliases\tsource\n"
TWO_TOWNS = HEADER + "Hun\t29.1\t15.9\ttown\t\t\tHoun\t\t\n" + "Waddan\t29.16\t16.14\ttown\t\t\t\t\t\n"


def _write_landmarks(tmp_path: Path, rows: str, places: str = TWO_TOWNS) -> Path:
    seeds = _write_seeds(tmp_path, places)
    (seeds / "landmarks.tsv").write_text(LANDMARK_HEADER + rows, encoding="utf-8")
    return seeds


def _landmark_rows() -> list[dict[str, str]]:
    with open(SEEDS / "landmarks.tsv", encoding="utf-8", newline="") as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t",
                              quoting=csv.QUOTE_NONE)
        return list(rows)


def test_landmarks_load_with_parents(gaz):
    rows = _landmark_rows()
    assert len(rows) >= 100
    for row in rows:
        place = gaz.resolve(row["name"])
        assert place.name == row["name"] and place.parent == row["parent"], row["name"]
        assert row["source"].strip(), row["name"]
    kinds = {gaz.resolve(r["name"]).kind for r in rows if r["lat"]}
    assert {"district", "oilfield", "port", "airport", "airbase", "checkpoint", "bridge"} <= kinds
    tripoli = [p.name for p in gaz.within("Tripoli")]
    assert {"Mitiga International Airport", "Abu Salim", "Dahra", "Port of Tripoli"} <= set(tripoli)
    assert gaz.within("Tarabulus") == gaz.within("Tripoli")  # any spelling of the parent
    assert gaz.within("Sokna") == []


@pytest.mark.parametrize(
    ("name", "canonical", "parent"),
    [
        ("Ganfouda", "Ghanfouda Village", "Benghazi"),
        ("Gwarsha", "Al Qawarishah", "Benghazi"),
        ("Sidi Akribesh", "Sidi Akribesh", "Benghazi"),
        ("Souq al-Jumaa", "Suq Aljumea", "Tripoli"),
        ("Gargaresh", "Gargarash", "Tripoli"),
        ("Mitiga", "Mitiga International Airport", "Tripoli"),
        ("جسر جوليانا", "Juliana Bridge", "Benghazi"),
        ("al-Watiya", "Al-Watiya Air Base", "Al Watya"),
        ("El Sharara", "Sharara Central Complex", "Ubari"),
        ("Al-Manshiya", "Al-Manshiya", "Sebha"),
        ("Qasr Ahmed", "Port of Misrata", "Misrata"),
    ],
)
def test_landmark_names_resolve_near_their_parent(gaz, name, canonical, parent):
    place = gaz.resolve(name)
    assert (place.name, place.parent) == (canonical, parent)
    home = gaz.resolve(parent)
    if place.kind not in ("oilfield",):
        assert geodesic_km((place.lat, place.lon), (home.lat, home.lon)) < 60


def test_ganfouda_is_a_district_of_benghazi(gaz):
    place = gaz.resolve("Ganfouda")
    benghazi = gaz.resolve("Benghazi")
    assert place.kind == "district" and place.parent == "Benghazi"
    assert geodesic_km((place.lat, place.lon), (benghazi.lat, benghazi.lon)) < 20
    assert place in gaz.within("Benghazi")


#: How far a landmark may lie from its parent, by kind: catches a typo in a coordinate. Oil fields
#: lie in the desert, often 100 km and more from any town: they are not checked.
MAX_KM_FROM_PARENT = {
    "district": 25, "landmark": 25, "bridge": 25, "gate": 30, "checkpoint": 30, "port": 30, "facility": 30,
    "airport": 40, "airbase": 75,
    # places of places.tsv given a parent (a satellite town or village of a big town)
    "city": 30, "town": 30, "village": 30, "hamlet": 30, "locality": 30,
}


def test_every_landmark_lies_near_its_parent(gaz):
    far = []
    for row in _landmark_rows():
        place, parent = gaz.resolve(row["name"]), gaz.resolve(row["parent"])
        assert parent.parent is None or parent.parent != place.name  # no cycles
        if place.kind == "oilfield":
            assert 19 < place.lat < 34 and 9 < place.lon < 26, place.name  # in Libya
            continue
        km = geodesic_km((place.lat, place.lon), (parent.lat, parent.lon))
        if km > MAX_KM_FROM_PARENT[place.kind]:
            far.append(f"{place.name} ({place.kind}) {km:.0f} km from {parent.name}")
    assert far == []


def test_no_landmark_alias_is_a_common_word_or_short(gaz):
    words = {"airport", "gate", "port", "castle", "bridge", "road", "square", "field", "base", "complex",
             "terminal", "district", "steel", "refinery", "checkpoint", "harbour", "fort"}
    for row in _landmark_rows():
        for alias in [row["name"], *row["aliases"].split("|")]:
            key = normalize_name(alias)
            if not alias:
                continue
            assert len(key) >= 4 and key not in words, (row["name"], alias)


def test_a_town_wins_over_a_landmark_of_the_same_name():
    town = Place("Sabri", 30.0, 15.0, kind="village")
    district = Place("Sabri", 32.12, 20.08, kind="district", parent="Benghazi")
    airport = Place("Sabri Airport", 32.1, 20.1, kind="airport", aliases=("Qasr",), parent="Benghazi")
    qasr = Place("Qasr Town", 29.0, 14.0, kind="hamlet", aliases=("Qasr",))
    gaz = Gazetteer([district, airport, town, qasr])
    assert gaz.lookup("sabri") == [town, district]
    assert gaz.resolve("Qasr") is qasr  # even an alias of a hamlet beats a landmark


def test_real_towns_keep_their_names(gaz):
    assert gaz.resolve("Zelten").kind == "town"  # not the Zelten oil field
    assert gaz.resolve("Es Sider").name == "Sidra"  # not its terminal
    assert gaz.resolve("Zelten oil field").kind == "oilfield"
    for town in KEY_TOWNS:
        assert gaz.resolve(town).name == town


def test_landmarks_tsv_is_optional(tmp_path):
    seeds = _write_seeds(tmp_path, TWO_TOWNS)
    assert all(p.parent is None for p in Gazetteer.load(seeds))


def test_landmark_referring_to_a_place_sets_its_parent(tmp_path):
    seeds = _write_landmarks(tmp_path, "Waddan\t\t\tdistrict\tHun\tWeddan district|ودان\tplaces.tsv\n"
                                       "Hun Gate\t29.12\t15.95\tgate\tHun\tBawabat Hun\tinvented for the test\n")
    gaz = Gazetteer.load(seeds)
    waddan = gaz.resolve("Weddan district")
    assert (waddan.name, waddan.kind, waddan.parent, waddan.lat) == ("Waddan", "district", "Hun", 29.16)
    assert len([p for p in gaz if p.name == "Waddan"]) == 1
    assert [p.name for p in gaz.within("Houn")] == ["Waddan", "Hun Gate"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("Hun Gate\t29.12\t15.95\tgate\tHun\t\tinvented\nX\t29.1\t15.9\tgate\tNowhere\t\tinvented\n",
         r"landmarks\.tsv:3: unknown parent 'Nowhere'"),
        ("X\t29.1\t15.9\tgate\tHoun\t\tinvented\n", r"landmarks\.tsv:2: unknown parent 'Houn'.*'Hun'"),
        ("X\t29.1\t15.9\tcastle\tHun\t\tinvented\n", r"landmarks\.tsv:2: unknown kind 'castle'"),
        ("X\t29.1\t15.9\ttown\tHun\t\tinvented\n", r"landmarks\.tsv:2: unknown kind 'town'"),
        ("X\t29.1\teast\tgate\tHun\t\tinvented\n", r"landmarks\.tsv:2: bad coordinate"),
        ("X\t29.1\t\tgate\tHun\t\tinvented\n", r"landmarks\.tsv:2: bad coordinate"),
        ("X\t129.1\t15.9\tgate\tHun\t\tinvented\n", r"landmarks\.tsv:2: coordinate out of range"),
        ("X\t29.1\t15.9\tgate\tHun\t\n", r"landmarks\.tsv:2: expected 7 fields"),
        ("X\t29.1\t15.9\tgate\tHun\t\t\n", r"landmarks\.tsv:2: 'X' has no source"),
        ("X\t29.1\t15.9\tgate\t\t\tinvented\n", r"landmarks\.tsv:2: 'X' has no parent"),
        ("Sokna\t\t\tdistrict\tHun\t\tinvented\n", r"landmarks\.tsv:2: 'Sokna' has no coordinates"),
        ("Houn\t29.1\t15.9\tdistrict\tWaddan\t\tinvented\n", r"landmarks\.tsv:2: 'Houn' repeats 'Hun'"),
        ("X\t29.1\t15.9\tgate\tHun\t\tinvented\nX\t29.5\t15.9\tgate\tHun\t\tinvented\n",
         r"landmarks\.tsv:3: 'X' is already on line 2"),
    ],
)
def test_bad_landmark_rows_name_file_and_line(tmp_path, rows, message):
    seeds = _write_landmarks(tmp_path, rows)
    with pytest.raises(SeedDataError, match=message):
        Gazetteer.load(seeds)
