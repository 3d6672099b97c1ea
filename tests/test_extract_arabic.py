"""Arabic reports and posts, read like English ones (our own sentences)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.arabic import english_dates, is_arabic, normalize_arabic, without_proclitic
from riskengine.geo import geodesic_km

PUBLISHED = dt.date(2026, 11, 20)  # a Friday


def _found(engine, text):
    return [i for i in engine.extract_text(text, PUBLISHED) if i.acled_event]


def _near(engine, inc, name, km=25.0):
    place = engine.gazetteer.resolve(name)
    return geodesic_km((inc.lat, inc.lon), (place.lat, place.lon)) <= km


def test_the_language_is_told_from_the_script():
    assert is_arabic("كمين لمسلحين قرب هون")
    assert not is_arabic("An ambush near Hun, قرب هون")
    assert is_arabic("كمين لمسلحين قرب هون مساء أمس on the road")


def test_orthography_is_folded():
    assert normalize_arabic("إغلاقُ الطريقِ الرابطِ بين مدينتي زليتن ومصراتة") == \
        "اغلاق الطريق الرابط بين مدينتي زليتن ومصراته"
    assert normalize_arabic("قُتِل ٣ أشخاص") == "قتل 3 اشخاص"
    assert "الزاويه" in without_proclitic("بالزاويه")


def test_arabic_weekdays_count_back_from_publication_but_souq_al_jumaa_is_not_friday():
    assert "tuesday" in english_dates("وقع الهجوم مساء الثلاثاء")
    assert "friday" not in english_dates("اشتباكات في منطقة سوق الجمعه")


def test_an_ambush_on_the_road_between_two_towns(engine):
    text = "نصب مسلحون كمينا لشاحنة وقود على الطريق بين سبها وبراك مساء الثلاثاء، ما أدى إلى مقتل سائقها."
    inc = _found(engine, text)[0]
    assert inc.event_type == "Violence against civilians"
    assert "ambush" in inc.tags
    assert inc.segments == ["fezzan-brak-sebha"]
    assert inc.date == dt.date(2026, 11, 17)
    assert inc.fatalities == 1
    assert inc.actors == ["Unidentified armed group"]
    assert "fuel tanker" in inc.targets


def test_a_point_south_of_a_town_on_the_road(engine):
    inc = _found(engine, "انفجرت عبوة ناسفة جنوب سرت بنحو 50 كم على الطريق الرابط بين سرت وودان يوم الأحد.")[0]
    assert inc.sub_event_type == "Remote explosive/landmine/IED"
    sirte = engine.gazetteer.resolve("Sirte")
    assert 35 <= geodesic_km((inc.lat, inc.lon), (sirte.lat, sirte.lon)) <= 60
    assert "jufra-sirte-waddan" in engine.touched_segments([inc])[0]


@pytest.mark.parametrize("text, event_type, place", [
    ("اندلعت اشتباكات مسلحة في مدينة الزاوية فجر اليوم بين مجموعتين مسلحتين.", "Battles", "Zawiya"),
    ("خطف مسلحون مجهولون طبيبا بالقرب من الكفرة يوم الخميس الماضي.", "Violence against civilians", "Kufra"),
    ("استهدفت غارة جوية بطائرة مسيرة سيارة قرب مرزق صباح السبت.", "Explosions/Remote violence", "Murzuq"),
    ("أغلق محتجون الطريق الساحلي عند مدخل زليتن بالإطارات المشتعلة.", "Protests", "Zliten"),
])
def test_event_types_and_places(engine, text, event_type, place):
    inc = _found(engine, text)[0]
    assert inc.event_type == event_type
    assert _near(engine, inc, place)


@pytest.mark.parametrize("text", [
    "قتل ثلاثة أشخاص في اشتباكات بمدينة طرابلس اللبنانية يوم الجمعة.",
    "غمرت السيول شوارع مدينة غات بعد أمطار غزيرة يوم الأربعاء.",
    "فاز فريق الأهلي على الاتحاد في مباراة كرة القدم بملعب طرابلس.",
])
def test_decoys_give_no_incident(engine, text):
    assert _found(engine, text) == []


def test_mixed_arabic_and_english(engine):
    inc = _found(engine, "Armed men stopped a bus near سبها on Monday and abducted two passengers.")[0]
    assert inc.event_type == "Violence against civilians"
    assert _near(engine, inc, "Sebha")


def test_an_attack_that_kills_soldiers_is_a_battle(engine):
    inc = _found(engine, "قتل أربعة جنود في هجوم شنه مسلحون على بوابة أمنية قرب هون فجر الخميس.")[0]
    assert inc.event_type == "Battles"
    assert _near(engine, inc, "Hun")


def test_marches_are_not_drones(engine):
    inc = _found(engine, "خرجت مسيرات احتجاجية في شوارع مصراتة مساء السبت للمطالبة بتحسين الخدمات.")[0]
    assert inc.event_type == "Protests"


def test_what_a_protest_denounces_is_not_an_event(engine):
    text = "نظم أهالي غريان وقفة احتجاجية يوم الأحد تنديدا بعمليات الخطف والقتل على الطريق."
    inc = _found(engine, text)[0]
    assert inc.event_type == "Protests"


def test_a_report_set_abroad_never_names_a_libyan_village(engine):
    text = "هاجم مسلحون حاجزا عسكريا جنوب مدينة العريش في شمال سيناء فجر الأحد."
    assert _found(engine, text) == []


def test_shelling_told_within_a_battle_is_the_battle(engine):
    text = ("اندلعت اشتباكات عنيفة بين مجموعتين مسلحتين في تاجوراء مساء الجمعة. "
            "وسمع دوي قصف مدفعي طوال الليل.")
    inc = _found(engine, text)[0]
    assert inc.event_type == "Battles"


def test_a_name_several_places_share_is_the_one_near_the_others(engine):
    """Hawari is a district of Benghazi and a village near Kufra: beside Benghazi, it is the district."""
    inc = _found(engine, "انفجرت عبوة ناسفة في منطقة الهواري جنوب بنغازي مساء الأحد.")[0]
    assert _near(engine, inc, "Benghazi", 20)


def test_numbers_and_buildings_are_not_villages(engine):
    inc = _found(engine, "قتل سبعة جنود في هجوم على بوابة أمنية داخل مبنى قرب هون يوم السبت.")[0]
    assert _near(engine, inc, "Hun", 20)


def test_arson_by_protesters_is_a_riot(engine):
    inc = _found(engine, "أحرق متظاهرون غاضبون مقر المجلس البلدي في درنة مساء الخميس.")[0]
    assert inc.event_type == "Riots"


def test_chadian_rebels_in_libya_are_not_a_report_from_chad(engine):
    inc = _found(engine, "On 2 November 2026, LNA forces clashed with Chadian rebels near Tmassah (Murzuq).")[0]
    assert _near(engine, inc, "Tmassah", 10)
