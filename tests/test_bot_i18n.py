"""The bot in Arabic: a complete catalogue, level names, right-to-left isolation, alerts in the chat's language."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from bot import render
from bot.alert_i18n import alert_text, localized_render
from bot.app import COMMANDS
from bot.i18n import (
    ENGLISH,
    FSI,
    LEVEL_NAMES,
    PDI,
    arabic_names,
    arabic_plural,
    catalogue,
    pick_language,
    translator,
)
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import OutboxAlert
from riskengine.rules import RuleBook
from riskengine.store import Store

from .tg_emulator import html_problems

BOT_DIR = Path(__file__).resolve().parents[1] / "bot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
TAG = re.compile(r"</?[a-z-]+>")
AT = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def bot_msgids() -> list[str | tuple[str, str]]:
    """Every text the bot's code marks for translation, found as ``pybabel extract`` finds them."""
    found = [m[2] for m in extract_from_dir(str(BOT_DIR), method_map=[("**.py", "python")], keywords=KEYWORDS)]
    return list(dict.fromkeys(found))


def test_every_text_of_the_bot_has_an_arabic_translation():
    ar = catalogue("ar")
    msgids = bot_msgids()
    assert len(msgids) > 60  # the extraction does find the bot's texts
    assert {text for _, text in COMMANDS} <= set(msgids), "the command menu is in the catalogue too"
    missing = [m for m in msgids if (m[0] if isinstance(m, tuple) else m) not in ar]
    assert not missing, f"msgids without an Arabic translation (update bot/locale, see bot/i18n.py): {missing}"
    for msgid in msgids:
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        translations = ar[key] if isinstance(ar[key], tuple) else (ar[key],)
        if isinstance(msgid, tuple):
            assert len(translations) == 6, f"Arabic has six plural forms: {key!r}"
        allowed = set(PLACEHOLDER.findall(" ".join(msgid if isinstance(msgid, tuple) else [msgid])))
        for text in translations:
            assert set(PLACEHOLDER.findall(text)) <= allowed, f"a placeholder the code does not fill in {text!r}"
            assert sorted(TAG.findall(text)) == sorted(TAG.findall(key)), f"not the same HTML tags: {text!r}"
            assert re.search("[\u0621-\u064a]", text), f"not Arabic: {text!r}"
            assert text.count(FSI) == text.count(PDI)


def test_the_catalogue_has_nothing_the_code_no_longer_says():
    keys = {m[0] if isinstance(m, tuple) else m for m in bot_msgids()}
    assert set(catalogue("ar")) <= keys


def test_english_is_the_msgids_themselves():
    assert catalogue("en") == {}
    assert ENGLISH._("<b>Segments</b>") == "<b>Segments</b>"
    assert translator("fr").lang == "en"


def test_level_names_in_arabic_and_english_follow_the_rules():
    rules = RuleBook.load(DEFAULT_RULES_DIR)
    assert {n: rules.level_name(n) for n in range(1, 6)} == LEVEL_NAMES, "bot/i18n.py lists the rules' level names"
    ar = translator("ar")
    assert [ar.level(n) for n in range(1, 6)] == ["ضئيل", "منخفض", "متوسط", "مرتفع", "شديد"]
    assert [ENGLISH.level(n, rules.level_name(n)) for n in range(1, 6)] == [
        "Insignificant", "Low", "Medium", "High", "Extreme"]


@pytest.mark.parametrize(("n", "form"), [(0, 0), (1, 1), (2, 2), (3, 3), (10, 3), (11, 4), (99, 4), (100, 5),
                                         (102, 5), (103, 3), (111, 4)])
def test_arabic_plural_forms_match_the_catalogues_rule(n, form):
    assert arabic_plural(n) == form
    assert translator("ar").ngettext("<b>Report stored</b>: {n} new incident",
                                     "<b>Report stored</b>: {n} new incidents", n) == catalogue("ar")[
        "<b>Report stored</b>: {n} new incident"][form]


def test_the_stored_choice_wins_over_telegrams_language():
    assert pick_language(None, "ar-EG") == "ar" and pick_language(None, None) == "en"
    assert pick_language("en", "ar") == "en" and pick_language("ar", "de") == "ar"


def test_arabic_place_names_come_from_the_gazetteers_aliases(gazetteer):
    names = arabic_names(gazetteer)
    assert names("Misrata") == "مصراتة" and names("Sebha") == "سبها" and names("Tripoli") == "طرابلس"
    assert names("Nowhere at all") is None
    ar = translator("ar", names)
    assert ar.place("Sirte") == "سرت"
    assert ar.place("Nowhere at all") == f"{FSI}Nowhere at all{PDI}", "a Latin name keeps its order in Arabic"
    assert ar.segment("Misrata - Abu Grein") == "مصراتة - أبوقرين"
    assert ENGLISH.place("Sirte") == "Sirte"


def _route_doc() -> dict:
    seg = {"id": "s1", "name": "Misrata - Nowhere", "from": "Misrata", "to": "Nowhere", "level": 4,
           "level_name": "High", "score": 62.4, "length_km": 120.5}
    incident = {"date": "2026-11-18", "sub_event_type": "Attack", "summary": "Gunmen <stopped> a truck & fled",
                "weight": 1.0}
    return {"from": "Misrata", "to": "Sebha", "level": 4, "level_name": "High", "score": 62.4, "distance_km": 694.9,
            "via": ["Misrata", "Nowhere", "Sebha"], "segments": [seg], "incidents": [incident],
            "alternative": {"avoids": "s1", "level": 3, "level_name": "Medium", "score": 30.1, "distance_km": 736.8,
                            "via": ["Misrata", "Sebha"]}, "at": AT.isoformat()}


def test_an_arabic_route_answer_isolates_numbers_dates_and_latin_runs(gazetteer):
    ar = translator("ar", arabic_names(gazetteer))
    text = "\n\n".join(render.route_blocks(_route_doc(), tr=ar))
    assert text.startswith("🔴 <b>مرتفع</b> · <b>مصراتة ← سبها</b>\nالدرجة \u206862.4/100\u2069 · \u2068694.9\u2069 كم")
    assert "🔴 مصراتة - \u2068Nowhere\u2069: مرتفع (\u206862.4\u2069) · \u2068120.5\u2069 كم" in text
    assert ("• \u20682026-11-18\u2069 · <b>\u2068هجوم\u2069</b> · "  # ACLED's kind, in Arabic
            "\u2068Gunmen &lt;stopped&gt; a truck &amp; fled\u2069") in text
    assert "<b>بديل أكثر أمانًا</b>، يتجنب مصراتة - \u2068Nowhere\u2069:\n🟠 متوسط" in text
    assert text.endswith("<i>قُيّم في 20 نوفمبر 2026 \u206808:00 UTC\u2069</i>")
    assert text.count(FSI) == text.count(PDI) and not html_problems(text)
    for line in text.split("\n"):  # every isolate closes on its own line: splitting at lines keeps them whole
        assert line.count(FSI) == line.count(PDI), line


def test_the_english_route_answer_has_no_isolates():
    text = "\n\n".join(render.route_blocks(_route_doc()))
    assert FSI not in text and PDI not in text
    assert "Score 62.4/100 · 694.9 km · via Misrata, Nowhere, Sebha" in text
    assert ("<b>Safer alternative</b>, avoiding Misrata - Nowhere:\n"
            "🟠 Medium (30.1) · 736.8 km via Misrata, Sebha") in text


def test_a_long_arabic_answer_is_split_into_well_formed_messages(gazetteer):
    ar = translator("ar", arabic_names(gazetteer))
    rows = [{"date": f"2026-11-{d:02d}", "event_type": "Battles", "sub_event_type": "Armed clash",
             "summary": "اشتباك مسلح قرب البوابة <ليلاً> & فرار " * 3, "where": f"{d} km away"}
            for d in range(1, 29)] * 3
    messages = render.pack(render.incidents_blocks("Sokna", 30, 50, rows, AT, ar), limit=1000)
    assert len(messages) > 2
    for message in messages:
        assert render.tg_len(message) <= 1000 and not html_problems(message)
        assert message.count(FSI) == message.count(PDI)
    assert messages[0].startswith("<b>الحوادث ضمن \u206850\u2069 كم من سوكنة، آخر \u206830\u2069 يومًا</b>")
    assert "على بعد \u20683\u2069 كم" in messages[0]


def test_help_usage_and_did_you_mean_in_arabic():
    ar = translator("ar")
    assert render.help_text(tr=ar).startswith("<b>مخاطر الطرق في ليبيا</b>")
    assert "\u2068/risk سرت سبها\u2069" in render.help_text(tr=ar), "a command keeps its slash in front in RTL"
    assert render.did_you_mean("سبهاا", ["Sebha"], False, ar) == "لا أعرف المكان «\u2068سبهاا\u2069». هل تقصد:"
    assert "Road risk in Libya" in render.help_text()


# ---- alerts -----------------------------------------------------------------------------------------


def _alert(kind: str, text: str, payload: dict, chat: str = "555") -> OutboxAlert:
    return OutboxAlert(1, f"k:{kind}", chat, "telegram", kind, text, payload)


LEVEL_ALERT = _alert("level", "🔴 Misrata -> Sebha: now 4 High (score 62; was 2 Low)\nWorst stretch: Hun - Sokna\n"
                              "Assessed 20 Nov 10:00 (Africa/Tripoli)\nNew:\n- 2026-11-19 Gunmen stopped a truck",
                     {"target": "Misrata -> Sebha", "level": 4, "level_name": "High", "score": 62.4,
                      "previous_level": 2, "worst_segment": "Hun - Sokna", "incident_ids": ["x"],
                      "at": AT.isoformat()})
INCIDENT_ALERT = _alert("incident", "🔴 New incident on Misrata -> Sebha: 2026-11-19 Gunmen stopped a truck\n"
                                    "Violence against civilians / Attack, 2 killed\n"
                                    "Misrata -> Sebha is now 4 High (score 62).",
                        {"target": "Misrata -> Sebha", "incident_id": "x", "summary": "Gunmen stopped a truck",
                         "date": "2026-11-19", "event_type": "Violence against civilians", "level": 4,
                         "level_name": "High", "score": 62.4, "at": AT.isoformat()})
DIGEST_ALERT = _alert("digest", "Daily digest 20 Nov 2026: Misrata -> Sebha\n🔴 4 High (score 62)\n"
                                "New incidents in the last 24 h: 1\n- 2026-11-19 Gunmen stopped a truck",
                      {"target": "Misrata -> Sebha", "level": 4, "level_name": "High", "score": 62.4, "recent": 1,
                       "at": AT.isoformat()})


def test_alerts_in_arabic_from_their_payload(gazetteer):
    ar = translator("ar", arabic_names(gazetteer))
    level = alert_text(LEVEL_ALERT, ar)
    assert level.split("\n") == [
        "🔴 مصراتة ← سبها: الآن \u20684\u2069 مرتفع (الدرجة \u206862\u2069؛ كان \u20682\u2069 منخفض)",
        "أخطر مقطع: هون - سوكنة", "قُيّم في 20 نوفمبر \u206810:00\u2069 (بتوقيت ليبيا)", "جديد:",
        "- \u20682026-11-19 Gunmen stopped a truck\u2069"]
    incident = alert_text(INCIDENT_ALERT, ar)
    assert incident.split("\n") == [
        "🔴 حادث جديد على مصراتة ← سبها: \u20682026-11-19 Gunmen stopped a truck\u2069",
        "\u2068Violence against civilians / Attack\u2069، \u20682\u2069 قتلى",
        "مصراتة ← سبها الآن \u20684\u2069 مرتفع (الدرجة \u206862\u2069)."]
    digest = alert_text(DIGEST_ALERT, ar)
    assert digest.startswith("الملخص اليومي \u206820 Nov 2026\u2069: مصراتة ← سبها\n🔴 \u20684\u2069 مرتفع (الدرجة")


def test_the_telegram_render_follows_the_chats_stored_language(tmp_path, gazetteer):
    store = Store.open(str(tmp_path / "lang.db"))
    store.set_chat_language("555", "ar")
    names = arabic_names(gazetteer)
    render_alert = localized_render(store.chat_language, lambda lang: translator(lang, names))
    arabic = render_alert(LEVEL_ALERT)
    assert arabic.startswith("<b>🔴 مصراتة ← سبها: الآن") and not html_problems(arabic)
    english = render_alert(_alert("level", LEVEL_ALERT.text, LEVEL_ALERT.payload, chat="556"))
    assert english.startswith("<b>🔴 Misrata -&gt; Sebha: now 4 High (score 62; was 2 Low)</b>")
    store.set_chat_language("555", "en")
    assert render_alert(LEVEL_ALERT) == english
    broken = _alert("level", "Sirte: level 4", {"level": 4}, chat="557")
    store.set_chat_language("557", "ar")
    assert render_alert(broken) == "<b>Sirte: level 4</b>", "an alert that cannot be rebuilt goes out in English"
