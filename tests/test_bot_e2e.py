"""The Telegram bot end to end: the real bot polls a Bot API emulator on loopback, users talk to it.

One emulator (Node, ``telegram-test-api``; ``npm ci`` installs it) and one bot serve the whole
session: the bot runs on its own event loop in a thread, on a real SQLite store in a temp dir with
the project's rules, seeds and sample incidents, and a fixed clock (20 November 2026, 08:00 UTC).
Each test is a fresh user (so a private chat of its own), acting through the emulator's client
API and reading what the bot sent. Every message is checked to be HTML that Telegram accepts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import httpx
import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.render import split_message, tg_len
from bot.settings import BotSettings, SettingsError
from riskengine.alerts import AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.schema import reports
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from .tg_emulator import BotThread, TestUser, button_data, running_emulator, text_of

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
TOKEN = "123456789:riskengine-e2e-TEST-token"
ANALYST = 424242
PER_MINUTE = 20
BOARD = [("Tripoli", "Sebha"), ("Misrata", "Sebha"), ("Sirte", "Sebha")]
REPORT = ("Gunmen ambushed a fuel tanker 40 km south of Sirte on the road to Waddan on Monday, killing the driver. "
          "Separately, armed men set up an illegal checkpoint near Sokna late on Saturday.")
_user_ids = itertools.count(910_001)


# ---- the session: emulator, engine, bot -------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("tg-emu")) as url:
        yield url


@pytest.fixture(scope="session")
def bot_engine(tmp_path_factory, rules, gazetteer, network) -> RiskEngine:
    """The real rules and seeds on a new SQLite file, with the sample incidents stored."""
    engine = RiskEngine(Store.open(tmp_path_factory.mktemp("bot-db") / "risk.db"), rules, gazetteer, network)
    for name in ("sample_incidents.csv", "sample_incidents.jsonl"):
        result = engine.ingest_file(DEFAULT_SEEDS_DIR / name, now=NOW)
        assert result.incidents_added and not result.errors
    return engine


@pytest.fixture(scope="session")
def bot(emulator, bot_engine):
    settings = BotSettings(token=TOKEN, api_base_url=emulator, analysts={ANALYST}, commands_per_minute=PER_MINUTE)
    app = build_application(bot_engine, settings, subscriptions=Subscriptions(bot_engine.store),
                            policy=AlertPolicy.load(DEFAULT_RULES_DIR), board_routes=BOARD, clock=lambda: NOW)
    runner = BotThread(app)
    runner.start()
    yield app
    runner.stop()


@pytest.fixture
def client(emulator):
    with httpx.Client(base_url=emulator, timeout=10) as http:
        yield http


@pytest.fixture
def user(bot, client) -> TestUser:
    """A new user, in a private chat with the bot."""
    return TestUser(client, TOKEN, next(_user_ids))


@pytest.fixture
def analyst(bot, client) -> TestUser:
    return TestUser(client, TOKEN, ANALYST, "Analyst")


def ask(user: TestUser, command: str, count: int = 1) -> str:
    """Send a command; the bot's answer (all its messages, joined)."""
    user.command(command)
    return "\n".join(text_of(m) for m in user.replies(count))


# ---- asking -------------------------------------------------------------------------------------------


def test_start_and_help_say_what_the_bot_does_with_examples(user):
    for command in ("/start", "/help"):
        text = ask(user, command)
        assert "Road risk in Libya" in text
        assert "/risk Sirte Sebha" in text and "/subscribe Misrata Sebha 3" in text
        assert "🟢🟡🟠🔴🟣" in text


def test_risk_answers_level_score_segments_incidents_alternative_and_time(user, bot_engine):
    doc = bot_engine.route("Sirte", "Sebha", NOW)  # what the engine says, to compare the answer with
    marks = AlertPolicy.load(DEFAULT_RULES_DIR).level_marks
    text = ask(user, "/risk Sirte Sebha")
    assert text.startswith(f"{marks[doc['level']]} <b>{doc['level_name']}</b> · <b>Sirte → Sebha</b>")
    assert (f"Score {doc['score']:.1f}/100 · {doc['distance_km']:.1f} km · via "
            + ", ".join(doc["via"])) in text
    for seg in doc["segments"]:
        assert f"{marks[seg['level']]} {seg['from']} - {seg['to']}: {seg['level_name']} ({seg['score']:.1f})" in text
    weighs = text.split("<b>What weighs most</b>\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(weighs) == 3
    assert weighs[0].startswith(f"• {doc['incidents'][0]['date']} · ")
    alternative = doc["alternative"]
    if alternative:
        assert "<b>Safer alternative</b>" in text and f"{alternative['distance_km']:.1f} km" in text
    assert text.endswith("<i>Assessed 20 Nov 2026 08:00 UTC</i>")
    assert ask(user, "/risk Sirte - Sebha") == text


def test_risk_with_multi_word_places(user):
    assert "<b>Bani Walid → Sebha</b>" in ask(user, "/risk Bani Walid Sebha")
    assert "<b>Bani Walid → Sebha</b>" in ask(user, "/risk Bani Walid - Sebha")
    text = ask(user, "/risk Tripoli Bani Walid")
    assert "<b>Tripoli → Bani Walid</b>" in text and "Safer alternative" not in text


def test_unknown_place_offers_did_you_mean_buttons_that_answer_like_risk(user):
    user.command("/risk Sirte Sebhaa")
    question = user.reply()
    assert "I don't know the place “Sebhaa”. Did you mean:" in text_of(question)
    assert button_data(question)[0] == "risk|Sirte|Sebha"
    user.press(question, "risk|Sirte|Sebha")
    answer = text_of(user.reply())
    assert answer.startswith("🟣 <b>Extreme</b> · <b>Sirte → Sebha</b>")
    # both places unknown: asked one after the other
    user.command("/risk Bani Wallid Sebhaa")
    first = user.reply()
    assert "“Bani Wallid”" in text_of(first) and "risk|Bani Walid|Sebhaa" in button_data(first)
    user.press(first, "risk|Bani Walid|Sebhaa")
    second = user.reply()
    assert "“Sebhaa”" in text_of(second) and "risk|Bani Walid|Sebha" in button_data(second)
    user.press(second, "risk|Bani Walid|Sebha")
    assert "<b>Bani Walid → Sebha</b>" in text_of(user.reply())


def test_ambiguous_place_asks_which_one(user):
    user.command("/risk Bombah Benghazi")
    question = user.reply()
    assert "“Bombah” may mean several places. Which one?" in text_of(question)
    assert button_data(question) == ["risk|Al Bomba|Benghazi", "risk|Al Bumbah|Benghazi"]
    user.press(question, "risk|Al Bumbah|Benghazi")
    assert "<b>Al Bumbah → Benghazi</b>" in text_of(user.reply())


def test_routes_offers_the_board_as_buttons(user):
    user.command("/routes")
    board = user.reply()
    assert "Main routes" in text_of(board)
    assert button_data(board) == ["risk|Tripoli|Sebha", "risk|Misrata|Sebha", "risk|Sirte|Sebha"]
    assert all(len(d.encode()) <= 64 for d in button_data(board))
    user.press(board, "risk|Misrata|Sebha")
    assert "<b>Misrata → Sebha</b>" in text_of(user.reply())


def test_incidents_near_a_place_newest_first(user):
    text = ask(user, "/incidents Sokna 10")
    assert text.startswith("<b>Incidents within 50 km of Sokna, last 10 days</b>")
    lines = [line for line in text.splitlines() if line.startswith("•")]
    assert [line.split(" · ")[0] for line in lines] == ["• 2026-11-15", "• 2026-11-12"]
    assert "<b>Abduction/forced disappearance</b> · 8 km away" in lines[1]
    week = ask(user, "/incidents Sokna")
    assert "last 7 days" in week and "2026-11-12" not in week
    assert "None recorded." in ask(user, "/incidents Ghadames 3")
    user.command("/incidents Sokana")
    question = user.reply()
    assert "Did you mean" in text_of(question) and "inc|Sokna|7" in button_data(question)
    user.press(question, "inc|Sokna|7")
    assert "Incidents within 50 km of Sokna, last 7 days" in text_of(user.reply())


def test_shared_location_lists_the_segments_near_it(user, bot_engine):
    user.share_location(29.16, 16.14)  # near Waddan
    text = text_of(user.reply())
    assert text.startswith("<b>Roads within 50 km of 29.1600, 16.1400</b>")
    waddan = next(seg for seg in bot_engine.segments(NOW)["segments"] if seg["id"] == "jufra-sirte-waddan")
    assert f"Sirte - Waddan: {waddan['level_name']} ({waddan['score']:.1f}) · 0 km away" in text
    assert "Sokna - Sebha" in text and "Tripoli" not in text
    user.share_location(34.5, 20.0)  # the open sea
    assert "No road segment I follow comes that close." in text_of(user.reply())


# ---- subscriptions ----------------------------------------------------------------------------------------


def test_subscribe_list_remove_quiet_and_unsubscribe(user, bot_engine):
    subs = Subscriptions(bot_engine.store)
    mine = lambda: subs.all(chat_id=str(user.id), include_paused=True)  # noqa: E731
    text = ask(user, "/subscribe Misrata Sebha")
    assert "Subscribed: <b>Misrata → Sebha</b>" in text and "level 3 🟠 Medium" in text
    assert "Now: 🔴 High (58.8)" in text
    assert "level 4 🔴 High" in ask(user, "/subscribe Sirte - Sebha 4")
    [a, b] = mine()
    assert (a.channel, a.kind, a.target, a.min_level) == ("telegram", "route", "Misrata|Sebha", 3)
    assert (b.target, b.min_level) == ("Sirte|Sebha", 4)

    user.command("/subscriptions")
    listing = user.reply()
    assert "1. Misrata → Sebha: from level 3" in text_of(listing)
    assert button_data(listing) == [f"set|{a.id}", f"unsub|{a.id}", f"set|{b.id}", f"unsub|{b.id}"]
    user.press(listing, f"unsub|{a.id}")
    assert text_of(user.reply()) == "Removed: Misrata → Sebha."
    assert [s.id for s in mine()] == [b.id]
    edited = next(m for m in user.history() if m["messageId"] == listing["messageId"])
    assert button_data(edited) == [f"set|{b.id}", f"unsub|{b.id}"]
    user.press(listing, f"unsub|{a.id}")  # pressed again on the stale message
    assert "already gone" in text_of(user.reply())

    assert "Quiet hours 22:00-06:00 (Libya time) for your 1 subscription(s)" in ask(user, "/quiet 22:00-06:00")
    assert (mine()[0].quiet_start, mine()[0].quiet_end) == ("22:00", "06:00")
    ask(user, "/subscribe Tripoli Sebha 2")
    assert all(s.quiet_start == "22:00" for s in mine()), "a new subscription keeps the chat's quiet hours"
    assert "is not HH:MM" in ask(user, "/quiet 25:00-06:00")
    assert "Quiet hours off" in ask(user, "/quiet off")
    assert all(s.quiet_start is None for s in mine())

    user.command("/unsubscribe")
    prompt = user.reply()
    assert "Which one?" in text_of(prompt) and len(button_data(prompt)) == 2
    assert "Usage: /unsubscribe N" in ask(user, "/unsubscribe 7")
    assert ask(user, "/unsubscribe 1") == "Removed: Sirte → Sebha."
    assert [s.target for s in mine()] == ["Tripoli|Sebha"]
    assert ask(user, "/unsubscribe all") == "Removed: Tripoli → Sebha."
    assert mine() == [] and "no subscriptions" in ask(user, "/subscriptions")
    assert "no subscriptions yet" in ask(user, "/quiet 22:00-06:00")


def test_subscribe_did_you_mean_and_bad_level(user, bot_engine):
    user.command("/subscribe Sirte Sebhaa 4")
    question = user.reply()
    assert "sub|Sirte|Sebha|4" in button_data(question)
    user.press(question, "sub|Sirte|Sebha|4")
    assert "Subscribed: <b>Sirte → Sebha</b>" in text_of(user.reply())
    assert [s.min_level for s in Subscriptions(bot_engine.store).all(chat_id=str(user.id))] == [4]
    assert "LEVEL is 1 to 5" in ask(user, "/subscribe Sirte Sebha 9")


def test_a_button_cannot_remove_someone_elses_subscription(user, bot, client, bot_engine):
    other = TestUser(client, TOKEN, next(_user_ids))
    ask(other, "/subscribe Sirte Sebha")
    [theirs] = Subscriptions(bot_engine.store).all(chat_id=str(other.id))
    user.press_raw(f"unsub|{theirs.id}")
    assert "already gone" in text_of(user.reply())
    assert Subscriptions(bot_engine.store).get(theirs.id) is not None


# ---- reports ----------------------------------------------------------------------------------------------


def test_report_from_an_analyst_is_extracted_and_stored(analyst, bot_engine):
    before = bot_engine.store.incident_count()
    text = ask(analyst, f"/report {REPORT}")
    assert text.startswith("<b>Report stored</b>: 2 new incidents")
    expected = bot_engine.extract_text(REPORT, NOW.date())[0]  # what the engine reads, to compare with
    assert (f"1. <b>Violence against civilians (Attack)</b> · ambush · Sirte, Waddan · {expected.date} · "
            f"confidence {expected.confidence:.2f}") in text
    assert "2. <b>Strategic developments (Other)</b> · illegal_checkpoint · Sokna" in text
    assert bot_engine.store.incident_count() == before + 2
    with bot_engine.store.engine.connect() as conn:
        stored = conn.execute(select(reports.c.source, reports.c.published).where(
            reports.c.source == f"telegram:{ANALYST}")).all()
    assert stored == [(f"telegram:{ANALYST}", NOW.date())]
    assert "filed before" in ask(analyst, f"/report {REPORT}")
    assert "Usage: /report TEXT" in ask(analyst, "/report")


def test_report_from_anyone_else_is_politely_refused(user, bot_engine):
    before = bot_engine.store.report_count()
    assert "Sorry, only the analysts' chats may file reports" in ask(user, f"/report {REPORT} Again.")
    assert bot_engine.store.report_count() == before


# ---- abuse and bad input ------------------------------------------------------------------------------


def test_missing_or_garbage_arguments_get_a_usage_line(user):
    assert ask(user, "/risk") == "Which route? Send two places, e.g. Misrata Sebha"  # the next message answers
    assert ask(user, "/risk Sirte").startswith("Usage: /risk FROM TO")
    assert ask(user, "/incidents").startswith("Usage: /incidents PLACE")
    assert "DAYS is 1 to 365" in ask(user, "/incidents Sirte 999")
    assert ask(user, "/quiet").startswith("Usage: /quiet")
    assert "give two different places" in ask(user, "/risk Sirte Sirte")
    assert "nor any close to it" in ask(user, "/risk Sirte ???")


def test_html_and_markdown_in_arguments_are_escaped(user):
    text = ask(user, "/risk <b>x</b> Sebha")
    assert "“&lt;b&gt;x&lt;/b&gt;”" in text and "<b>x</b>" not in text
    text = ask(user, '/incidents <a href="http://evil.example">click</a>')
    assert "&lt;a href=" in text and "<a " not in text
    text = ask(user, "/risk *bold* _it_ [l](http://x) Sebha")
    assert "*bold* _it_ [l](http://x)" in text
    user.press_raw("risk|<script>|Sebha")
    assert "&lt;script&gt;" in text_of(user.reply())
    for data in ("bogus", "risk|only-one", "inc|Sirte|-5", "sub|Sirte|Sebha|9", "unsub|x"):
        user.press_raw(data)
        assert "no longer valid" in text_of(user.reply())


def test_ten_thousand_character_messages(user):
    assert ask(user, "/risk " + "A" * 10_000).startswith("That is too long for two place names.")
    assert ask(user, "/subscribe " + "Sirte " * 1_700).startswith("That is too long")
    assert ask(user, "/incidents " + "x" * 10_000).startswith("Usage: /incidents")
    user.say(("<b>" * 3_334)[:10_000])
    assert "I answer commands" in text_of(user.reply())


def test_unknown_commands_point_to_help(user):
    assert ask(user, "/frobnicate now") == "I don't know /frobnicate. Send /help to see what I can do."
    assert "&lt;b&gt;" in ask(user, "/x<b>y")


def test_an_error_is_logged_and_the_user_told(user, bot_engine, monkeypatch, caplog):
    def broken(at):
        raise RuntimeError("the store is on fire")

    monkeypatch.setattr(bot_engine, "segments", broken)
    user.share_location(29.16, 16.14)
    text = text_of(user.reply())
    assert text.startswith("Sorry, something went wrong on my side") and "fire" not in text
    assert any("the store is on fire" in str(r.exc_info) for r in caplog.records if r.name == "bot.handlers")


def test_rate_limit_one_slow_down_then_silence(user):
    for _ in range(PER_MINUTE + 5):
        user.command("/help")
    got = [text_of(m) for m in user.replies(PER_MINUTE + 1, timeout=20, settle=1.0)]
    assert sum("Road risk in Libya" in t for t in got) == PER_MINUTE
    assert [t for t in got if "Road risk" not in t] == [f"Slow down, please: at most {PER_MINUTE} commands a minute."]
    user.command("/risk Sirte Sebha")
    user.silence(1.0)


# ---- the pieces, offline ----------------------------------------------------------------------------


def test_settings_from_environment_and_config_never_show_the_token():
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/", "TELEGRAM_ANALYSTS": "7, 8"}
    settings = BotSettings.load({"analysts": [5, "6"], "commands_per_minute": 12}, environ=env)
    assert (settings.api_base_url, settings.analysts, settings.commands_per_minute) == (
        "http://127.0.0.1:8081", {5, 6, 7, 8}, 12)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings) and "<hidden>" in repr(settings)
    assert BotSettings.load({"token": TOKEN}, environ={}).commands_per_minute == 20
    for section, environ, problem in [
        ({}, {}, "TELEGRAM_BOT_TOKEN"), ({"token": "nope"}, {}, "not a bot token"),
        ({"token": TOKEN, "chats": 1}, {}, "unknown setting"), ({"token": TOKEN, "analysts": ["bob"]}, {}, "'bob'"),
        ({"token": TOKEN, "commands_per_minute": 0}, {}, "commands_per_minute"),
        ({"token": TOKEN, "api_base_url": "ftp://x"}, {}, "api_base_url"),
    ]:
        with pytest.raises(SettingsError, match=problem) as err:
            BotSettings.load(section, environ=environ)
        assert TOKEN not in str(err.value)


def test_split_message_keeps_each_message_well_formed():
    from .tg_emulator import html_problems

    lines = [f"<b>{n}</b> · <i>line {n} with &amp; and 🟣</i>" for n in range(600)]
    text = "<blockquote>" + "\n".join(lines) + "</blockquote>"
    parts = split_message(text, limit=1000)
    assert len(parts) > 5 and all(tg_len(p) <= 1000 and not html_problems(p) for p in parts)
    unwrapped = "\n".join(re.sub(r"</?blockquote>", "", p) for p in parts)
    assert unwrapped == "\n".join(lines)
    long_line = "<b>" + "word " * 3000 + "</b>"
    parts = split_message(long_line, limit=500)
    assert all(tg_len(p) <= 500 and not html_problems(p) for p in parts)
    assert "".join(re.sub(r"</?b>", "", p) for p in parts).split() == ["word"] * 3000



# ---- events: analysts see and correct them ----------------------------------------------------------------


def test_risk_answers_say_what_they_rest_on_and_who_told_each_event(user):
    text = ask(user, "/risk Sirte Sebha")
    assert "Rests on " in text and " sources in the last 30 days (newest: " in text
    assert "riskengine sample" in text  # the source of an event that weighs


def test_an_analyst_sees_an_event_and_retracts_it_and_the_route_follows(analyst, user, bot_engine):
    from riskengine.corrections import Corrections

    events = Corrections(bot_engine).list(place="Sokna", limit=5)
    event_id = events[0]["id"]
    assert "only analysts may see and correct stored events" in ask(user, f"/incident {event_id}")
    assert "only analysts may see and correct stored events" in ask(user, f"/retract {event_id} a rumour")
    shown = ask(analyst, f"/incident {event_id}")
    assert event_id in shown and "<b>Reports</b> (1)" in shown and "engine · created" in shown
    assert "unknown event 'nosuchid'" in ask(analyst, "/incident nosuchid")
    assert "Usage: /retract ID REASON" in ask(analyst, f"/retract {event_id}")
    before = bot_engine.route("Sirte", "Sebha", NOW)
    try:
        assert f"Event {event_id} retracted" in ask(analyst, f"/retract {event_id} the report was a rumour")
        after = bot_engine.route("Sirte", "Sebha", NOW)
        assert event_id not in [i["id"] for i in after["incidents"]] and after["score"] < before["score"]
        history = ask(analyst, f"/incident {event_id}")
        assert "retracted" in history and "retract · the report was a rumour" in history
        assert "cannot retract" in ask(analyst, f"/retract {event_id} again")
    finally:  # the engine is shared by the session's tests
        Corrections(bot_engine).restore(event_id, "test", "put back for the other tests", NOW)
    assert bot_engine.route("Sirte", "Sebha", NOW)["score"] == before["score"]
