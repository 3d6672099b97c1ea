"""Extraction: report text becomes located, typed incidents (our own example sentences)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.engine import RiskEngine
from riskengine.geo import geodesic_km
from riskengine.store import Store

PUBLISHED = dt.date(2026, 11, 18)  # a Wednesday


@pytest.fixture(scope="module")
def reader(rules, gazetteer, network, tmp_path_factory):
    """An engine used only to read text (its store stays empty)."""
    return RiskEngine(Store.open(str(tmp_path_factory.mktemp("x") / "x.db")), rules, gazetteer, network)


def read(engine, text, published=PUBLISHED):
    return engine.extract_text(text, published)


def one(engine, text, published=PUBLISHED):
    found = read(engine, text, published)
    assert len(found) == 1, [(i.event_type, i.summary) for i in found]
    return found[0]


def near(incident, lat, lon, km):
    return geodesic_km((incident.lat, incident.lon), (lat, lon)) <= km


# ---- places -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling, town", [
    ("Sabhā", "Sebha"), ("Misurata", "Misrata"), ("Houn", "Hun"), ("Abugrein", "Abu Grein"), ("Surt", "Sirte"),
    ("Ras Lanouf", "Ras Lanuf"), ("Marsa al-Brega", "Brega"), ("سبها", "Sebha"), ("Ajdabia", "Ajdabiya"),
])
def test_any_spelling_of_a_town_locates_the_incident(reader, spelling, town):
    inc = one(reader, f"Gunmen fired on a lorry near {spelling} on Monday.")
    assert town in [p.name for p in inc.places]


@pytest.mark.parametrize("text", [
    "Tripoli, Lebanon: a gunman opened fire on a taxi near the port late on Thursday.",
    "Clashes broke out in Tripoli in northern Lebanon overnight, leaving two dead.",
    "A car bomb exploded in the Lebanese city of Tripoli on Sunday.",
    "Police in Homs said a bus was ambushed on the road to Damascus, in Syria, killing four.",
])
def test_reports_about_other_countries_give_no_libyan_incident(reader, text):
    assert read(reader, text) == []


def test_an_unknown_name_does_not_empty_the_rest(reader):
    inc = one(reader, "Bandits robbed two lorries between Zzyzx Springs and Sokna, then fled towards Wadi Nowhere.")
    assert "Sokna" in [p.name for p in inc.places]


# ---- where exactly ------------------------------------------------------------------------------

def test_distance_along_a_named_road(reader, network):
    inc = one(reader, "Masked men ambushed a fuel tanker 40 km south of Sirte on the road to Waddan on Sunday.")
    assert inc.location_kind == "point" and inc.geo_precision == 2
    road = network.segment("jufra-sirte-waddan")
    from riskengine.geo import lonlat_point, to_metric  # noqa: PLC0415
    gap_km = to_metric(road.geometry).distance(to_metric(lonlat_point(inc.lat, inc.lon))) / 1000
    assert gap_km < 1.0
    assert 30 <= geodesic_km((inc.lat, inc.lon), (31.209, 16.589)) <= 42


@pytest.mark.parametrize("text, segments", [
    ("Armed robbers stopped a bus between Shwayrif and Brak late on Saturday.", ["fezzan-shwayrif-brak"]),
    ("A truck was hijacked on the road from Bani Walid to Shwayrif.", ["shwayrif-bani-walid-shwayrif"]),
    ("Gunmen fired on a bus travelling to Ubari from Sebha.", ["wadi-hayat-sebha-ubari"]),
    ("Drivers were kidnapped on the Hun-Sokna road last week.", ["jufra-hun-sokna"]),
])
def test_stretches_of_road(reader, text, segments):
    inc = one(reader, text)
    assert inc.location_kind == "stretch"
    assert inc.segments == segments


def test_roads_from_the_coast_towards_a_town(reader):
    inc = one(reader, "Armed gangs have been robbing lorry drivers on the highway linking the coast with Sokna.")
    assert inc.location_kind == "stretch"
    assert {"jufra-sirte-waddan", "jufra-hun-sokna"} <= set(inc.segments)
    assert not any(s.startswith("coastal-") for s in inc.segments)


@pytest.mark.parametrize("phrase, precision, max_radius", [
    ("in Zliten", 1, 5), ("near Zliten", 2, 15), ("on the outskirts of Zliten", 2, 8),
    ("at the entrance of Zliten", 2, 8), ("on the western edge of Zliten", 2, 8),
])
def test_proximity_words_set_precision(reader, phrase, precision, max_radius):
    inc = one(reader, f"Two brigades clashed {phrase} on Tuesday.")
    assert inc.geo_precision == precision
    assert near(inc, 32.47, 14.57, 5)
    assert (inc.radius_km or 0) <= max_radius


def test_an_area_name_gives_an_area(reader):
    inc = one(reader, "Militants were seen camping in the al-Jufra area this week.")
    assert inc.location_kind == "area" and inc.geometry_wkt
    assert inc.tags == ["armed_presence"]


def test_a_belt_of_territory_over_several_towns_is_one_area(reader, gazetteer):
    inc = one(reader, "Tribal fighters now hold a belt of territory from Yafran to Zintan, and south to Mizda.")
    assert inc.location_kind == "area" and inc.geo_precision == 3
    from shapely import from_wkt  # noqa: PLC0415
    area = from_wkt(inc.geometry_wkt)
    for town in ("Yafran", "Zintan", "Mizda"):
        place = gazetteer.resolve(town)
        assert area.buffer(0.05).contains(from_wkt(f"POINT ({place.lon} {place.lat})")), town


def test_the_city_refers_to_the_town_named_before(reader):
    inc = one(reader, "Shepherds from Nalut said armed men had set up camp in the hills south of the town.")
    assert "Nalut" in [p.name for p in inc.places]
    assert inc.geo_precision >= 2


# ---- what happened ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, event_type, tag", [
    ("Gunmen ambushed a lorry near Waddan.", "Violence against civilians", "ambush"),
    ("A family's car was stopped and robbed at gunpoint outside Brak.", "Violence against civilians", "banditry"),
    ("Two engineers were abducted at a fake checkpoint near Ubari.", "Violence against civilians", "kidnapping"),
    ("A roadside bomb hit a patrol on the outskirts of Derna.", "Explosions/Remote violence", "ied_landmine"),
    ("A drone strike hit a pickup near Murzuq.", "Explosions/Remote violence", "air_drone_strike"),
    ("Rival militias exchanged fire in central Zawiya.", "Battles", "clashes"),
    ("Armed men set up an unofficial checkpoint near Gharyan and took fees from drivers.",
     "Strategic developments", "illegal_checkpoint"),
    # tyres burnt on a road are a protest, not a riot (ACLED), but they close the road all the same
    ("Tribesmen blocked the road between Sebha and Brak with burning tyres.", "Protests", "road_closure"),
    ("Youths hurled stones at police and set fire to a police station in Brak.", "Riots", None),
])
def test_event_types_and_road_threat_tags(reader, text, event_type, tag):
    inc = one(reader, text)
    assert inc.event_type == event_type
    assert tag is None or tag in inc.tags


def test_actors_targets_and_deaths(reader):
    inc = one(reader, "Daesh fighters ambushed three fuel tankers near Hun late on Saturday, killing two drivers.")
    assert inc.actors == ["Islamic State (Libya)"]
    assert "fuel tanker" in inc.targets
    assert inc.fatalities == 2
    assert inc.date == dt.date(2026, 11, 14)


def test_vague_numbers_are_read_conservatively(reader):
    inc = one(reader, "Dozens were killed when Haftar's forces shelled the outskirts of Murzuq.")
    assert inc.fatalities == 12
    assert "LNA: Libyan National Army" in inc.actors


def test_a_report_with_two_incidents_gives_two(reader):
    found = read(reader, "Gunmen ambushed a bus near Zliten on Monday. "
                         "Separately, a tanker struck a landmine near Murzuq on Tuesday.")
    assert [i.event_type for i in found] == ["Violence against civilians", "Explosions/Remote violence"]
    assert [i.date for i in found] == [dt.date(2026, 11, 16), dt.date(2026, 11, 17)]


def test_details_in_a_later_sentence_join_the_incident(reader):
    found = read(reader, "A convoy of lorries was attacked near Sokna on Monday. Three drivers were killed.")
    assert len(found) == 1 and found[0].fatalities == 3


# ---- what is not an incident --------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "The roads agency opened a tender for widening the coast road through Khoms, which will be closed to traffic "
    "for a month.",
    "Hundreds of runners took part in the Benghazi marathon on Friday.",
    "The coast guard arrested twelve fishermen at sea off Zuwara.",
    "Ten years after the siege of Sirte, the city's port is busy again.",
    "The interior ministry denied reports that gunmen had attacked a bus near Gharyan.",
    "Floodwater from a night of storms closed the road between Khoms and Zliten.",
    "In 2011, rebels fought government troops for weeks around Brega.",
])
def test_non_incidents_give_nothing(reader, text):
    assert read(reader, text) == []


@pytest.mark.parametrize("text", [
    "Sirte saw heavy fighting during the 2011 uprising.",
    "Militias clashed for weeks in Sirte during the 2019 offensive.",
    "In the 2016 campaign against Islamic State, fighters clashed for months around Sirte.",
    "Troops fought street by street in Sirte during the war against Islamic State in 2016.",
    "The council met in Misrata on Tuesday. The city saw heavy shelling throughout the 2011 war.",
    "Sirte saw heavy fighting during the February revolution.",
    "Misrata was shelled for weeks during the uprising against Gaddafi.",
    "Benghazi saw months of street battles during Operation Dignity.",
    "شهدت سرت معارك عنيفة خلال ثورة 17 فبراير.",
    "اشتبكت كتائب مسلحة في بنغازي لشهور إبان عملية الكرامة.",
    "Sirte saw heavy fighting in the final days of Gaddafi's rule.",
    "شهدت سرت اشتباكات عنيفة إبان حكم القذافي.",
    "Under Gaddafi's rule, gunmen rarely attacked lorries near Sebha.",
])
def test_a_sentence_set_in_a_past_war_is_history(reader, text):
    """"During the 2011 uprising", "during the February revolution" date what the sentence tells:
    fighting then, not today."""
    assert read(reader, text) == []


def test_a_war_is_past_only_once_it_is_over(reader):
    """The same sentence in a report of the war's own time tells fighting of that day."""
    found = one(reader, "Militias clashed for weeks in Sirte during the 2019 offensive.", dt.date(2019, 6, 5))
    assert (found.sub_event_type, found.date) == ("Armed clash", dt.date(2019, 6, 5))
    battle = "The battle for Tripoli left the airport road near Qasr bin Ghashir in ruins."
    assert read(reader, battle) == []  # the name of a war over, not a battle of today
    assert one(reader, battle, dt.date(2019, 6, 5)).sub_event_type == "Armed clash"


GHARYAN, SIRTE = (32.17, 13.02), (31.21, 16.59)


@pytest.mark.parametrize("text, kind, town", [
    ("A landmine laid during the 2019 offensive exploded under a lorry near Gharyan.", "Remote explosive/landmine/IED",
     GHARYAN),
    ("A mine left in the 2011 war exploded under a lorry near Gharyan.", "Remote explosive/landmine/IED", GHARYAN),
    ("A lorry hit a mine laid during the 2019 offensive near Gharyan.", "Remote explosive/landmine/IED", GHARYAN),
    ("Fighters who took part in the 2011 uprising attacked a convoy near Sirte.", "Attack", SIRTE),
    ("A brigade formed during the February revolution attacked a convoy near Sirte.", "Attack", SIRTE),
    ("Gunmen attacked a convoy near Sirte, as rebels had during the 2011 fighting.", "Attack", SIRTE),
])
def test_an_event_of_today_beside_a_past_war_is_read(reader, text, kind, town):
    """A past war that tells when a mine was laid or who the attackers are, or that is told beyond a
    comma, dates nothing of today: a war dates what is told before it in its clause."""
    found = one(reader, text)
    assert (found.sub_event_type, found.date) == (kind, PUBLISHED)
    assert near(found, *town, 40)


def test_a_wars_name_is_not_a_date(reader):
    """"The 17 February revolution" names a war: the incident is dated by its own day."""
    english = one(reader, "Gunmen attacked a checkpoint near Sirte beside a mural of the 17 February revolution.")
    arabic = one(reader, "هاجم مسلحون بوابة أمنية قرب سرت بجانب جدارية ثورة 17 فبراير.")
    assert english.date == arabic.date == PUBLISHED
    assert not english.date_stated and not arabic.date_stated


def test_what_happened_in_a_past_war_adds_nothing_to_todays_incident(reader):
    """A background clause about a past war ("..., when rival brigades fought over the town") and a
    comparison with it ("as rebels had during the 2011 fighting") tell no event of today."""
    ambush = one(reader, "Gunmen ambushed a fuel lorry near Sirte on Tuesday. The coastal road has been tense "
                         "since the 2011 uprising, when rival brigades fought over the town.")
    assert ambush.tags == ["ambush"] and ambush.evidence == "Gunmen ambushed a fuel lorry near Sirte on Tuesday."
    again = one(reader, "On Monday gunmen ambushed a convoy near Sirte, as rebels had during the 2011 fighting.")
    assert again.tags == ["ambush"] and again.date == dt.date(2026, 11, 16)
    clash = one(reader, "On Monday militiamen clashed in Sirte, where rival brigades fought during the 2011 uprising.")
    assert (clash.sub_event_type, clash.date) == ("Armed clash", dt.date(2026, 11, 16))


@pytest.mark.parametrize("text", [
    "The road between Sebha and Ubari reopened to traffic on Sunday.",
    "Elders from Zintan and Gharyan agreed a truce and lifted the closure of the road.",
    "Students marched peacefully through central Misrata demanding better universities.",
])
def test_zero_threat_incidents_weigh_nothing(reader, rules, text):
    for inc in read(reader, text):
        assert rules.resolve(inc.event_type, inc.sub_event_type, tuple(inc.tags)).severity == 0.0


# ---- confidence and evidence --------------------------------------------------------------------

def test_confidence_and_evidence(reader):
    sure = one(reader, "Gunmen ambushed a lorry in Waddan on Monday.")
    hedged = one(reader, "Gunmen reportedly ambushed a lorry in Waddan on Monday.")
    vague = one(reader, "Gunmen ambushed a lorry somewhere in the al-Jufra area on Monday.")
    for inc in (sure, hedged, vague):
        assert 0 < inc.confidence <= 1
    assert sure.confidence > hedged.confidence
    assert sure.confidence > vague.confidence
    assert sure.evidence == "Gunmen ambushed a lorry in Waddan on Monday."


# ---- the seed document --------------------------------------------------------------------------

def test_the_seed_document_raises_the_roads_it_describes_and_no_others(engine):
    from .conftest import PROJECT  # noqa: PLC0415

    seed = (PROJECT.parent / "shared" / "seeds" / "000_4d0a028ec47dc7a6.txt")
    if not seed.exists():
        pytest.skip("shared/ seed document not beside the project")
    published = dt.date(2017, 8, 1)
    at = dt.datetime(2017, 8, 2, tzinfo=dt.UTC)
    routes = [("Sirte", "Sebha"), ("Bani Walid", "Waddan"), ("Sirte", "Ras Lanuf"),
              ("Tripoli", "Zuwara"), ("Benghazi", "Tobruk")]
    before = {r: engine.route(*r, at)["score"] for r in routes}
    engine.ingest_text(seed.read_text(), source="seed", published=published, now=at)
    after = {r: engine.route(*r, at)["score"] for r in routes}
    for r in routes[:3]:
        assert after[r] >= before[r] + 1, r
    for r in routes[3:]:
        assert after[r] == before[r], r


def test_a_reopening_is_read_as_relief_and_a_broken_truce_as_fighting(reader, rules):
    reopened = one(reader, "The road between Sebha and Ubari reopened to traffic on Sunday.")
    assert "reopening" in reopened.tags
    assert rules.resolve(reopened.event_type, reopened.sub_event_type, tuple(reopened.tags)).relief > 0
    truce = one(reader, "Militias in Zawiya agreed a truce and a halt to the fighting on Monday.")
    assert truce.event_type == "Strategic developments" and "clashes" not in truce.tags
    broken = one(reader, "Despite the truce, militias in Zawiya exchanged fire on Monday.")
    assert broken.event_type == "Battles"
