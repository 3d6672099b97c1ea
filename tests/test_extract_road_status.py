"""Road status from text: closed, reopened, restricted (our own example sentences, English and Arabic)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.engine import RiskEngine
from riskengine.store import Store

PUBLISHED = dt.date(2026, 11, 18)  # a Wednesday


@pytest.fixture(scope="module")
def reader(rules, gazetteer, network, tmp_path_factory):
    """An engine used only to read text (its store stays empty)."""
    return RiskEngine(Store.open(str(tmp_path_factory.mktemp("rs") / "rs.db")), rules, gazetteer, network)


def read(engine, text):
    return engine.extract_text(text, PUBLISHED)


def one(engine, text):
    found = read(engine, text)
    assert len(found) == 1, [(i.event_type, i.tags, i.summary) for i in found]
    return found[0]


# ---- the tag ------------------------------------------------------------------------------------

def test_a_restriction_is_a_modest_road_threat(rules):
    rule = rules.resolve("Strategic developments", "Other", ("road_restriction",))
    assert rule.id == "tag:road_restriction"
    assert rule.road_threat and 0 < rule.severity < rules.resolve("Strategic developments", "Other",
                                                                  ("road_closure",)).severity
    assert rules.tag_label("road_restriction") == "Road restricted"


# ---- restricted ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, segment", [
    # vehicles or hours banned
    ("Lorries have been banned from the road between Sirte and Waddan since Monday.", "jufra-sirte-waddan"),
    ("The military council barred fuel convoys from the highway between Sebha and Brak.", "fezzan-brak-sebha"),
    ("A ban on night-time driving now applies on the road between Hun and Sokna.", "jufra-hun-sokna"),
    ("Driving after dark is prohibited on the road between Sirte and Waddan, the municipality said.",
     "jufra-sirte-waddan"),
    ("The road between Sebha and Ubari is closed at night until the security plan ends.",
     "wadi-hayat-sebha-ubari"),
    ("The desert road between Shwayrif and Brak was closed to heavy trucks on Tuesday.", "fezzan-shwayrif-brak"),
    # permits and escorts
    ("Motorists using the road between Shwayrif and Brak must now obtain a permit from the army.",
     "fezzan-shwayrif-brak"),
    ("A permit is required to travel on the road between Hun and Sokna after Tuesday's decision.",
     "jufra-hun-sokna"),
    ("Cars on the road between Sirte and Waddan may only move under military escort this week.",
     "jufra-sirte-waddan"),
    ("Travel between Sebha and Brak is allowed only in escorted convoys, officials said.", "fezzan-brak-sebha"),
    # part of the road
    ("The road between Sebha and Ubari was partially closed after a bridge was damaged on Monday.",
     "wadi-hayat-sebha-ubari"),
    ("Only one lane of the road between Hun and Sokna is open after the army placed concrete blocks.",
     "jufra-hun-sokna"),
])
def test_english_restrictions_lie_on_their_stretch(reader, text, segment):
    inc = one(reader, text)
    assert "road_restriction" in inc.tags
    assert "road_closure" not in inc.tags and "reopening" not in inc.tags
    assert inc.event_type == "Strategic developments" and inc.sub_event_type == "Other"
    assert inc.acled_event
    assert inc.location_kind == "stretch"
    assert inc.segments == [segment]


@pytest.mark.parametrize("text, segment", [
    ("قررت السلطات منع مرور الشاحنات على الطريق الرابط بين سرت وودان اعتبارا من الأحد.", "jufra-sirte-waddan"),
    ("أعلنت البلدية حظر التنقل ليلاً على الطريق بين هون وسوكنة حتى إشعار آخر.", "jufra-hun-sokna"),
    ("يشترط الحصول على تصريح من الغرفة الأمنية لعبور الطريق بين الشويرف وبراك.", "fezzan-shwayrif-brak"),
    ("لا يسمح للشاحنات بسلوك الطريق بين سبها وبراك إلا بمرافقة أمنية.", "fezzan-brak-sebha"),
    ("إغلاق جزئي للطريق الرابط بين سبها وأوباري بسبب أعمال حفر قامت بها مجموعة مسلحة.",
     "wadi-hayat-sebha-ubari"),
    ("أغلقت قوة عسكرية الطريق بين سرت وودان جزئياً صباح الثلاثاء.", "jufra-sirte-waddan"),
    ("الطريق بين هون وسوكنة مغلق أمام الشاحنات منذ ثلاثة أيام.", "jufra-hun-sokna"),
    ("أعيد فتح الطريق بين سبها وأوباري أمام السيارات الصغيرة فقط.", "wadi-hayat-sebha-ubari"),
])
def test_arabic_restrictions_lie_on_their_stretch(reader, text, segment):
    inc = one(reader, text)
    assert "road_restriction" in inc.tags
    assert "road_closure" not in inc.tags and "reopening" not in inc.tags
    assert inc.event_type == "Strategic developments"
    assert inc.segments == [segment]


def test_a_restriction_after_an_attack_keeps_the_attack_and_adds_the_tag(reader):
    inc = one(reader, "After gunmen ambushed a lorry near Waddan on Monday, trucks were barred from the road to Sirte.")
    assert inc.event_type == "Violence against civilians"
    assert {"ambush", "road_restriction"} <= set(inc.tags)


# ---- closed -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, segment", [
    ("Militiamen sealed off the road between Sirte and Waddan on Monday.", "jufra-sirte-waddan"),
    ("The highway between Sebha and Brak has been cordoned off by the army since Tuesday.", "fezzan-brak-sebha"),
    ("Armed men shut down the road between Hun and Sokna overnight.", "jufra-hun-sokna"),
    ("The road between Sebha and Ubari remains completely blocked.", "wadi-hayat-sebha-ubari"),
    ("Traffic was suspended on the road between Shwayrif and Brak after the army moved in.", "fezzan-shwayrif-brak"),
    ("Gunmen cut off the road between Sirte and Waddan with two pick-ups.", "jufra-sirte-waddan"),
    ("الطريق بين سبها وبراك مغلق منذ صباح الاثنين.", "fezzan-brak-sebha"),
    ("الطريق الرابط بين هون وسوكنة مقفل أمام حركة السير.", "jufra-hun-sokna"),
    ("قطع مسلحون الطريق بين سرت وودان بسواتر ترابية.", "jufra-sirte-waddan"),
    ("توقفت حركة السير على الطريق بين سبها وأوباري بعد انتشار مسلحين.", "wadi-hayat-sebha-ubari"),
])
def test_closures_in_both_languages(reader, text, segment):
    found = [i for i in read(reader, text) if "road_closure" in i.tags]
    assert found, [(i.event_type, i.tags) for i in read(reader, text)]
    assert all("road_restriction" not in i.tags for i in found)
    assert segment in found[0].segments


def test_protesters_closing_a_road_in_arabic_is_a_protest_that_closes_it(reader):
    inc = one(reader, "أقفل محتجون الطريق بين سبها وبراك بالإطارات المشتعلة مساء الثلاثاء.")
    assert inc.event_type == "Protests"
    assert "road_closure" in inc.tags


# ---- reopened -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, segment", [
    ("Traffic has resumed on the road between Sirte and Waddan.", "jufra-sirte-waddan"),
    ("The road between Sebha and Brak is open again after elders met on Sunday.", "fezzan-brak-sebha"),
    ("The army reopened the highway between Hun and Sokna on Tuesday.", "jufra-hun-sokna"),
    ("Traffic returned to normal on the road between Sebha and Ubari on Monday.", "wadi-hayat-sebha-ubari"),
    ("عادت حركة السير إلى طبيعتها على الطريق بين سرت وودان.", "jufra-sirte-waddan"),
    ("استؤنفت حركة المرور على الطريق الرابط بين هون وسوكنة صباح الأحد.", "jufra-hun-sokna"),
    ("أصبح الطريق بين سبها وبراك مفتوحاً من جديد.", "fezzan-brak-sebha"),
    ("أزال الأهالي السواتر الترابية عن الطريق بين سبها وأوباري.", "wadi-hayat-sebha-ubari"),
])
def test_reopenings_in_both_languages(reader, rules, text, segment):
    inc = one(reader, text)
    assert inc.tags == ["reopening"]
    assert not inc.acled_event
    assert inc.segments == [segment]
    assert rules.resolve(inc.event_type, inc.sub_event_type, tuple(inc.tags)).relief > 0


# ---- not a restriction --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "The ministry discussed a permit system for traders at a meeting in Misrata.",
    "A school in Sebha was closed for two days because of a teachers' strike.",
    "The municipality of Sirte said a building permit is required before new shops open.",
    "The minister arrived in Sirte under armed escort for talks with the council.",
    "The ministry banned imports of used trucks through the port of Misrata.",
    "Banks in Tripoli closed their branches early on Thursday.",
    "ناقشت الوزارة نظام تصاريح للتجار خلال اجتماع في مصراتة.",
    "وصل الوزير إلى سرت بمرافقة أمنية لحضور اجتماع المجلس البلدي.",
    "قال المتحدث في تصريح صحفي إن الوضع في سبها هادئ.",
    "أغلقت مدرسة في سبها أبوابها بسبب نقص المعلمين.",
])
def test_decoys_give_no_restriction(reader, text):
    assert all("road_restriction" not in i.tags for i in read(reader, text))


def test_partially_destroyed_is_not_partially_closed(reader):
    inc = one(reader, "دمر القصف منزلا جزئيا في سرت مساء الاثنين.")
    assert "road_restriction" not in inc.tags
