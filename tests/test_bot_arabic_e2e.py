"""The bot in Arabic, end to end: users whose Telegram speaks Arabic (or who ask for it) against the Bot API emulator.

Its own emulator, engine and bot (the fixtures of ``test_bot_e2e`` made again for this module), so that
the bot's event loop is at hand for the Telegram notifier that sends alerts.
"""

from __future__ import annotations

import itertools

import pytest

from bot.alert_i18n import localized_render
from bot.app import build_application
from bot.i18n import FSI, PDI, arabic_names, translator
from bot.notifier import TelegramNotifier
from bot.settings import BotSettings
from riskengine.alerts import AlertDecider, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import OutboxAlert
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from .test_bot_e2e import BOARD, NOW, TOKEN, ask, bot_engine, client, emulator  # noqa: F401 - fixtures
from .tg_emulator import BotThread, TestUser, button_data, text_of

_user_ids = itertools.count(930_001)
ARABIC_LEVELS = {1: "ضئيل", 2: "منخفض", 3: "متوسط", 4: "مرتفع", 5: "شديد"}


@pytest.fixture(scope="module")
def running(emulator, bot_engine):  # noqa: F811 - the imported fixtures
    settings = BotSettings(token=TOKEN, api_base_url=emulator, analysts=set(), commands_per_minute=60)
    app = build_application(bot_engine, settings, subscriptions=Subscriptions(bot_engine.store),
                            policy=AlertPolicy.load(DEFAULT_RULES_DIR), board_routes=BOARD, clock=lambda: NOW)
    runner = BotThread(app)
    runner.start()
    yield runner
    runner.stop()


def arabic_user(client, language_code: str | None = "ar") -> TestUser:  # noqa: F811
    user = TestUser(client, TOKEN, next(_user_ids), "مستخدم")
    if language_code:
        user.user["language_code"] = language_code  # as Telegram tells the bot the user's app language
    return user


def test_an_arabic_speaker_asks_in_arabic_and_gets_arabic(running, client, bot_engine):  # noqa: F811
    user = arabic_user(client)
    assert ask(user, "/start").startswith("<b>مخاطر الطرق في ليبيا</b>")
    doc = bot_engine.route("Misrata", "Sebha", NOW)
    text = ask(user, "/risk مصراتة سبها")
    marks = AlertPolicy.load(DEFAULT_RULES_DIR).level_marks
    assert text.startswith(f"{marks[doc['level']]} <b>{ARABIC_LEVELS[doc['level']]}</b> · <b>مصراتة ← سبها</b>\n"
                           f"الدرجة {FSI}{doc['score']:g}/100{PDI} · ")
    assert "<b>المقاطع</b>" in text and "<b>أكثر ما يؤثر</b>" in text and "قُيّم في 20 نوفمبر 2026" in text
    assert "Score" not in text and "Segments" not in text
    assert ask(user, "/risk مصراتة - سبها") == text == ask(user, "/risk Misrata Sebha")


def test_language_en_switches_back_and_the_choice_is_kept(running, client, bot_engine):  # noqa: F811
    user = arabic_user(client)
    assert "<b>المقاطع</b>" in ask(user, "/risk سرت سبها")
    assert ask(user, "/language en") == "From now on I answer you in English. /language ar for Arabic."
    assert bot_engine.store.chat_language(user.id) == "en"
    english = ask(user, "/risk سرت سبها")
    assert "<b>Sirte → Sebha</b>" in english and "<b>Segments</b>" in english
    assert ask(user, "/language ar").startswith("من الآن أجيبك بالعربية.")
    assert "<b>سرت ← سبها</b>" in ask(user, "/risk Sirte Sebha")
    assert ask(user, "/language fr").startswith("الاستخدام: ")


def test_an_english_user_chooses_arabic(running, client, bot_engine):  # noqa: F811
    user = arabic_user(client, language_code="en")
    assert "Road risk in Libya" in ask(user, "/help")
    ask(user, "/language ar")
    assert bot_engine.store.chat_language(user.id) == "ar"
    assert ask(user, "/help").startswith("<b>مخاطر الطرق في ليبيا</b>")


def test_did_you_mean_routes_and_errors_in_arabic(running, client):  # noqa: F811
    user = arabic_user(client)
    user.command("/risk سرت سبهاا")
    question = user.reply()
    assert text_of(question).startswith("لا أعرف المكان «")
    assert "هل تقصد:" in text_of(question)
    sebha = next(d for d in button_data(question) if d in {"risk|Sirte|Sebha", "risk|Sirte|سبها"})
    shown = [b["text"] for row in question["message"]["reply_markup"]["inline_keyboard"] for b in row]
    assert "سبها" in shown, "the buttons name the places in Arabic"
    user.press(question, sebha)
    assert "<b>سرت ← سبها</b>" in text_of(user.reply())
    user.command("/routes")
    routes = user.reply()
    assert text_of(routes).startswith("<b>الطرق الرئيسية</b>")
    assert [b["text"] for row in routes["message"]["reply_markup"]["inline_keyboard"] for b in row][0] == \
        "طرابلس ← سبها"
    assert ask(user, "/risk") == "أي طريق؟ أرسل مكانين، مثلًا مصراتة سبها"
    assert ask(user, "/nonsense").startswith("لا أعرف الأمر")
    assert "عدد الأيام من 1 إلى 365." in ask(user, "/incidents سوكنة 999")
    assert ask(user, "/incidents سوكنة 14").startswith("<b>الحوادث ضمن")


def test_subscribe_quiet_and_an_alert_in_arabic(running, client, bot_engine):  # noqa: F811
    user = arabic_user(client)
    text = ask(user, "/subscribe مصراتة سبها 1")
    assert text.startswith("تم الاشتراك: <b>مصراتة ← سبها</b>. سأخبرك عندما يبلغ المستوى")
    assert bot_engine.store.chat_language(user.id) == "ar", "the language asked in is kept for the alerts"
    assert "<b>اشتراكاتك</b>" in ask(user, "/subscriptions")
    assert ask(user, "/quiet 22:00-06:00").startswith("ساعات الهدوء")

    # the engine decides in English; the Telegram notifier renders in the chat's language
    policy = AlertPolicy.load(DEFAULT_RULES_DIR)
    decided = AlertDecider(bot_engine, policy, Subscriptions(bot_engine.store)).decide(NOW)
    mine = [a for a in decided if a.chat_id == str(user.id) and not a.merged_into]
    assert mine and all("Misrata -> Sebha" in a.text for a in mine)
    names = arabic_names(bot_engine.gazetteer)
    notifier = TelegramNotifier(running.app.bot, running._loop, per_chat_interval=0,
                                render=localized_render(bot_engine.store.chat_language,
                                                        lambda lang: translator(lang, names), policy.level_marks))
    for n, a in enumerate(mine, 1):
        notifier.send(OutboxAlert(n, a.key, a.chat_id, a.channel, a.kind, a.text, a.payload))
    got = [text_of(m) for m in user.replies(len(mine))]
    level = next(t for t in got if "مصراتة ← سبها: الآن" in t)
    assert level.startswith("<b>") and "(الدرجة" in level and "قُيّم في" in level
    assert any(name in level for name in ARABIC_LEVELS.values())
    assert "Assessed" not in level and "now" not in level

    # an English chat's alert stays as the engine wrote it
    english = arabic_user(client, language_code=None)
    ask(english, "/subscribe Sirte Sebha 1")
    decided = AlertDecider(bot_engine, policy, Subscriptions(bot_engine.store)).decide(NOW)
    theirs = next(a for a in decided if a.chat_id == str(english.id) and a.kind == "level")
    notifier.send(OutboxAlert(99, theirs.key, theirs.chat_id, "telegram", theirs.kind, theirs.text, theirs.payload))
    assert text_of(english.reply()).startswith("<b>" + theirs.text.split("\n")[0].replace(">", "&gt;"))


def test_the_language_survives_a_restart(tmp_path):
    path = tmp_path / "restart.db"
    Store.open(str(path)).set_chat_language(123, "ar")
    assert Store.open(str(path)).chat_language("123") == "ar"
