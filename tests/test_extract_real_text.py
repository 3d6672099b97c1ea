"""Reports written the way wire services and Libyan outlets write them (our own sentences).

Each test names one habit of real reports: places named by their role or by their people, towns
inside unit names, ACLED's typing by who was hit, background clauses, strong events at a match,
accidents, and towns changing hands without a fight.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from riskengine.extract.lexicon import Lexicon
from riskengine.extract.places import PlaceFinder
from riskengine.gazetteer import Gazetteer
from riskengine.geo import geodesic_km
from riskengine.models import Place

PROJECT_RULES = Path(__file__).resolve().parents[1] / "rules"

PUBLISHED = dt.date(2026, 11, 20)


def _near(engine, incident, name: str, km: float = 25.0) -> bool:
    place = engine.gazetteer.resolve(name)
    return geodesic_km((incident.lat, incident.lon), (place.lat, place.lon)) <= km


def _only(engine, text: str):
    found = [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]
    assert found, f"no incident in {text!r}"
    return found[0]


# ---- references that are not names ---------------------------------------------------------------

def test_the_libyan_capital_is_tripoli(engine):
    inc = _only(engine, "Gunmen opened fire on a minibus at a checkpoint south of the Libyan capital on Monday.")
    assert _near(engine, inc, "Tripoli", 40)


def test_the_capital_of_another_country_is_not_tripoli(engine):
    text = "Protesters clashed with riot police in the capital of Tunisia on Monday; several were hurt."
    assert engine.extract_text(text, PUBLISHED) == []


def test_a_town_inside_a_unit_name_is_not_where_it_happened(engine):
    text = "Fighters of the Sirte Protection Force clashed with smugglers near Waddan on Sunday."
    inc = _only(engine, text)
    assert inc.event_type == "Battles"
    assert _near(engine, inc, "Waddan", 20)
    mentions = {m.surface: m.kind for m in engine.extractor.libyan_mentions(text)}
    assert mentions["Sirte"] == "unit"


def test_a_demonym_says_who_and_places_only_when_nothing_else_does(engine):
    beside_a_place = _only(engine, "Misratan forces exchanged fire with a rival brigade outside Bani Walid on Friday.")
    assert _near(engine, beside_a_place, "Bani Walid", 20)
    alone = _only(engine, "Dernawi fighters clashed with a rival militia on Friday night, residents said.")
    assert _near(engine, alone, "Derna", 30)
    assert alone.confidence < beside_a_place.confidence


# ---- ACLED's conventions ----------------------------------------------------------------------------

def test_an_ambush_that_kills_soldiers_is_a_battle(engine):
    inc = _only(engine, "Militants ambushed an army patrol near Hun on Tuesday; four soldiers were killed.")
    assert (inc.event_type, inc.sub_event_type) == ("Battles", "Armed clash")


def test_an_ambush_of_travellers_stays_violence_against_civilians(engine):
    inc = _only(engine, "Bandits ambushed a family's car near Hun on Tuesday and shot the driver.")
    assert inc.event_type == "Violence against civilians"


def test_rockets_fired_in_a_fight_between_militias_are_the_battle(engine):
    inc = _only(engine, "Rival militias fired rockets at each other in fighting between two brigades in Zawiya "
                        "on Monday.")
    assert inc.event_type == "Battles"


def test_protesters_who_storm_a_building_riot(engine):
    inc = _only(engine, "Angry residents stormed the municipal offices in Gharyan on Sunday, smashing windows "
                        "and throwing a grenade into the courtyard.")
    assert inc.event_type == "Riots"


def test_a_town_taken_without_a_fight_is_a_transfer_not_a_battle(engine):
    inc = _only(engine, "Government troops took control of Shwayrif on Saturday without any fighting after the "
                        "armed group holding it withdrew south.")
    assert (inc.event_type, inc.sub_event_type) == ("Strategic developments", "Non-violent transfer of territory")


def test_a_car_bomb_driven_into_a_checkpoint_is_a_suicide_bombing(engine):
    inc = _only(engine, "A bomber drove a booby-trapped truck into the army gate on the eastern edge of Zliten "
                        "on Saturday.")
    assert inc.sub_event_type == "Suicide bomb"
    assert _near(engine, inc, "Zliten", 10)


# ---- what is not an incident, and what is ---------------------------------------------------------

def test_shells_falling_on_a_stadium_are_an_attack_despite_the_football(engine):
    inc = _only(engine, "Two rockets struck the car park of the stadium in Zliten during a league game on Saturday.")
    assert inc.event_type == "Explosions/Remote violence"


def test_a_road_accident_is_not_a_conflict_event(engine):
    text = "Six workers were killed near Brega on Monday when their minibus overturned after a tyre burst."
    assert [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event] == []


def test_a_background_clause_adds_no_deaths(engine):
    text = ("Gunmen ambushed a lorry near Mizda on Wednesday, wounding its driver, in a region still scarred by "
            "the 2011 revolt that ended with the killing of Gaddafi.")
    inc = _only(engine, text)
    assert inc.fatalities == 0


def test_background_fighting_elsewhere_does_not_place_the_event(engine):
    text = ("Gunmen shot dead two shepherds at a well near Nalut on Tuesday, amid clashes over control of the "
            "capital that have gone on for weeks.")
    inc = _only(engine, text)
    assert inc.event_type == "Violence against civilians"
    assert _near(engine, inc, "Nalut", 15)


def test_bodies_found_are_a_killing(engine):
    inc = _only(engine, "The bodies of three truck drivers were found beside the road near Shwayrif on Sunday.")
    assert inc.event_type == "Violence against civilians"
    assert _near(engine, inc, "Shwayrif", 20)


# ---- the shape of a report ------------------------------------------------------------------------

def test_a_dateline_dates_the_report_not_the_event(engine):
    text = ("Brak, 19 November - Gunmen attacked a lorry carrying flour on the road south of Brak on Tuesday, "
            "stealing the load.")
    inc = _only(engine, text)
    assert inc.date == dt.date(2026, 11, 17)  # the Tuesday before the dateline's Thursday, not the 19th


def test_an_agency_dateline_is_not_read_as_a_sentence(engine):
    text = "SIRTE (Libya Wire) — Armed men kidnapped two engineers near Waddan late on Monday."
    inc = _only(engine, text)
    assert _near(engine, inc, "Waddan", 20)


def test_a_dateline_town_places_a_story_that_names_no_place(engine):
    text = "Ubari, 18 November - A roadside bomb hit a water tanker on the edge of town on Wednesday."
    inc = _only(engine, text)
    assert inc.sub_event_type == "Remote explosive/landmine/IED"
    assert _near(engine, inc, "Ubari", 20)


def test_the_story_place_in_a_nearby_sentence_locates_an_event(engine):
    text = ("Gunmen shot dead three fishermen at a harbour in western Libya on Friday. "
            "Their boat had been moored at a jetty near Zuwara for a week.")
    inc = _only(engine, text)
    assert _near(engine, inc, "Zuwara", 20)
    assert inc.confidence < 0.7  # inferred, not read from the sentence itself


# ---- roads where reports put events ---------------------------------------------------------------

def test_a_point_west_of_a_town_on_the_coastal_road_lies_on_that_road(engine):
    inc = _only(engine, "Gunmen ambushed a lorry 40 km west of Ajdabiya on the coastal road on Monday.")
    segments = engine.touched_segments([inc])[0]
    assert segments and segments[0].startswith("coastal-")


def test_a_distance_with_an_aside_in_brackets_is_still_read(engine):
    inc = _only(engine, "Masked men robbed a lorry 70 kilometres (43 miles) north of Waddan on the road to Sirte "
                        "on Monday.")
    assert "jufra-sirte-waddan" in engine.touched_segments([inc])[0]
    assert not _near(engine, inc, "Waddan", 30)


def test_a_prothetic_vowel_still_finds_the_town(engine):
    inc = _only(engine, "Bandits robbed a bus at a fuel station near Ezliten on Tuesday.")
    assert _near(engine, inc, "Zliten", 20)


def test_a_tribe_sharing_a_village_name_is_not_that_village(engine):
    text = "Zuwayya tribesmen exchanged fire with smugglers outside Jalu on Wednesday morning."
    inc = _only(engine, text)
    assert _near(engine, inc, "Jalu", 15)


# ---- one event, told several times ---------------------------------------------------------------

def test_an_event_told_again_is_one_incident_at_its_more_precise_place(engine):
    text = ("A roadside bomb hit an army patrol outside Zliten on Monday, police said. "
            "The explosion, 20 kilometres east of Zliten on the road to Misrata, wounded four soldiers.")
    found = [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]
    assert len(found) == 1
    zliten = engine.gazetteer.resolve("Zliten")
    assert 12 <= geodesic_km((found[0].lat, found[0].lon), (zliten.lat, zliten.lon)) <= 28


def test_the_seat_of_a_government_is_not_where_it_happened(engine):
    text = ("Gunmen killed three farmers on Monday, the government in Tripoli said. "
            "The farmers were shot on their land in Mizda.")
    found = [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]
    assert len(found) == 1 and _near(engine, found[0], "Mizda", 15)


def test_the_lead_says_what_happened(engine):
    text = ("Gunmen killed a shopkeeper in a hill town on Thursday, his family said. "
            "A feud between two families in Yafran had turned into an exchange of fire on Wednesday.")
    inc = _only(engine, text)
    assert inc.event_type == "Violence against civilians"
    assert _near(engine, inc, "Yafran", 15)


def test_tyres_burnt_on_a_road_are_a_protest_that_closes_it(engine):
    inc = _only(engine, "Fishermen burned tyres and blocked the coastal road at Khoms on Wednesday to protest "
                        "a ban on night fishing.")
    assert inc.event_type == "Protests"
    assert "road_closure" in inc.tags


def test_speculation_about_why_is_not_an_event(engine):
    text = ("Farmers closed the main road in Gharyan on Thursday after a cooperative manager failed to come home. "
            "It is not yet known whether he was abducted or detained.")
    inc = _only(engine, text)
    assert inc.event_type == "Protests"


def test_a_road_between_the_southern_towns_of_a_and_b(engine):
    inc = _only(engine, "Gunmen robbed a bus on the road between the southern towns of Sebha and Ubari on Tuesday.")
    assert inc.segments == ["wadi-hayat-sebha-ubari"]


def test_the_city_a_highway_leaves_is_where_the_distance_counts_from(engine):
    inc = _only(engine, "A mine blew up a pick-up on the highway out of Sirte towards Waddan, some 50 km from "
                        "the city, on Saturday.")
    sirte = engine.gazetteer.resolve("Sirte")
    assert 35 <= geodesic_km((inc.lat, inc.lon), (sirte.lat, sirte.lon)) <= 60


def test_an_accident_explains_the_deaths_told_before_it(engine):
    text = ("Four farm workers died and nine were hurt on the road near Shwayrif on Sunday, police said. "
            "The pick-up carrying them rolled over after a tyre burst.")
    assert [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event] == []


def test_an_accident_does_not_explain_away_killers(engine):
    text = ("Gunmen killed two drivers near Shwayrif on Sunday, police said. "
            "Their lorry overturned as they tried to flee.")
    assert _only(engine, text).event_type == "Violence against civilians"


def test_a_landmark_named_in_another_town_is_that_towns_namesake(engine):
    inc = _only(engine, "Residents gathered in Green Square in Sabratha on Thursday and blocked the coastal road.")
    assert _near(engine, inc, "Sabratha", 10)


# ---- districts and landmarks ------------------------------------------------------------------------

def test_a_district_of_a_city_is_where_it_happened(engine):
    inc = _only(engine, "A car bomb exploded in Benghazi's Ganfouda district on Friday, killing two.")
    ganfouda = engine.gazetteer.resolve("Ganfouda")
    assert geodesic_km((inc.lat, inc.lon), (ganfouda.lat, ganfouda.lon)) < 3
    assert ganfouda.parent == "Benghazi"


def test_a_numbered_landmark_is_found(gazetteer):
    """Numbers inside names ("Gate 40", "Kilometre 12 bridge"): a gazetteer of our own, so the test
    does not lean on any report's landmarks."""
    zliten = gazetteer.resolve("Zliten")
    ours = Gazetteer([zliten, Place("Gate 40", zliten.lat - 0.05, zliten.lon, kind="checkpoint", parent="Zliten")])
    finder = PlaceFinder(ours, Lexicon.load(PROJECT_RULES).geography)
    found = finder.find("Gunmen fired on a lorry at Gate 40 outside Zliten on Saturday.")
    assert [(m.surface, m.place.name) for m in found] == [("Gate 40", "Gate 40"), ("Zliten", "Zliten")]


def test_a_town_taken_from_militants_is_regained(engine):
    inc = _only(engine, "Bin Jawad was taken from militants by the army on Sunday after a week of fighting.")
    assert inc.sub_event_type == "Government regains territory"
    assert _near(engine, inc, "Bin Jawad", 10)


def test_a_strike_by_workers_is_a_protest(engine):
    inc = _only(engine, "Dock workers at the port of Khoms went on strike on Monday over unpaid wages.")
    assert inc.event_type == "Protests"


def test_a_whole_wire_report_headline_byline_dateline_quote_background_credits(engine):
    text = ("Gunmen kill two drivers on desert road near Sokna\n"
            "By Omar Haddad and Lina Farouk\n\n"
            "SEBHA, Libya, Nov 18 (Wire) - Gunmen killed two lorry drivers on the road north of Sokna late on "
            "Monday, a local official said.\n\n"
            "\"They were waiting behind a dune,\" the official told reporters.\n\n"
            "Libya has had little stability since the 2011 uprising that toppled Muammar Gaddafi, and rival "
            "factions have fought over the south for years.\n\n"
            "(Reporting by Omar Haddad in Sebha; Editing by Paul Grant in Tunis)")
    found = [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]
    assert len(found) == 1
    inc = found[0]
    assert inc.event_type == "Violence against civilians"  # not the background's fighting
    assert inc.date == dt.date(2026, 11, 16)  # the Monday before the dateline's Wednesday
    assert inc.fatalities == 2
    assert _near(engine, inc, "Sokna", 40)


def test_a_town_described_by_its_distance_from_another_is_the_place(engine):
    inc = _only(engine, "Smugglers shot four migrants at a farm outside Mizda, a market town about 160 km south "
                        "of Tripoli, on Sunday.")
    assert _near(engine, inc, "Mizda", 15)


def test_a_precise_point_told_next_pins_the_stretch(engine):
    text = ("Armed men robbed drivers on the highway between Shwayrif and Brak on Friday night. "
            "The gang had blocked the road with a pick-up some 40 kilometres south of Shwayrif.")
    found = [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]
    assert len(found) == 1
    shwayrif = engine.gazetteer.resolve("Shwayrif")
    assert 25 <= geodesic_km((found[0].lat, found[0].lon), (shwayrif.lat, shwayrif.lon)) <= 55


def test_a_football_clash_is_not_a_battle(engine):
    text = ("Al-Nasr beat Al-Akhdar 3-2 in a bruising clash in Benghazi on Saturday, their striker firing the "
            "winner in stoppage time.")
    assert [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event] == []


def test_a_commemoration_of_old_fighting_is_not_fighting(engine):
    text = ("Residents of Zawiya gathered on Sunday to mark ten years since the battle for the city, and veterans "
            "of the fighting laid wreaths at the cemetery.")
    assert [i for i in engine.extract_text(text, PUBLISHED) if i.event_type == "Battles"] == []


def test_nationalities_are_not_places(engine):
    inc = _only(engine, "Traffickers held Eritrean and Somali migrants for ransom in a warehouse in Kufra, "
                        "survivors said on Monday.")
    assert _near(engine, inc, "Kufra", 15)
