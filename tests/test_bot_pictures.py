"""Route pictures and /selftest end to end: the service's bot (its outbox, dispatcher and Telegram notifier)
against the Bot API emulator, whose launcher adds ``sendPhoto`` (multipart uploads; the photos kept apart
from the text messages and read back through ``/getPhotos``).

The module has its own engine (a new SQLite store with the sample incidents) and its own bot tokens, so
that its subscriptions and alerts touch no other module's; the clock is fixed (20 November 2026, 08:00 UTC).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import logging
import re
import struct
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from bot.app import build_application
from bot.i18n import FSI, PDI
from bot.pictures import RoutePictures
from bot.service import build
from bot.settings import BotSettings
from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.config import RunConfig
from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.pipeline import Pipeline
from riskengine.schema import outbox
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from .test_bot_e2e import client, emulator  # noqa: F401 - fixtures
from .tg_emulator import BotThread, TestUser, text_of

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
TOKEN = "123456789:riskengine-pictures-TEST-token"
PLAIN_TOKEN = "123456789:riskengine-no-pictures-TEST-token"  # a bot whose pictures cannot be drawn
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ARABIC_LEVELS = {1: "ضئيل", 2: "منخفض", 3: "متوسط", 4: "مرتفع", 5: "شديد"}
POLICY = AlertPolicy.load(DEFAULT_RULES_DIR)
MARKS = POLICY.level_marks
_user_ids = itertools.count(950_001)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rules, gazetteer, network) -> RiskEngine:
    engine = RiskEngine(Store.open(tmp_path_factory.mktemp("pictures-db") / "risk.db"), rules, gazetteer, network)
    result = engine.ingest_file(DEFAULT_SEEDS_DIR / "sample_incidents.csv", now=NOW)
    assert result.incidents_added and not result.errors
    return engine


@pytest.fixture(scope="module")
def pipeline(emulator, engine):  # noqa: F811
    """The service's bot (jobs on its JobQueue, the Telegram notifier with alert pictures), polling the emulator."""
    config = RunConfig.model_validate({"notifiers": {"console": False}, "intervals": {
        "evaluate": "1h", "dispatch": "1h", "watch": "1h"}})  # the plain bot's self-test must find no dispatcher
    settings = BotSettings(token=TOKEN, api_base_url=emulator, analysts=set(), commands_per_minute=60)
    with httpx.Client() as http:
        pipeline = Pipeline(engine, config, Path("."), POLICY, client=http, notifiers={})
        runner = BotThread(build(pipeline, settings, clock=lambda: NOW))
        runner.start()
        try:
            yield pipeline
        finally:
            runner.stop()


@pytest.fixture(scope="module")
def plain_bot(emulator, engine):  # noqa: F811
    """A bot with no dispatcher of its own whose picture maker cannot draw (matplotlib refuses a 0 dpi)."""
    settings = BotSettings(token=PLAIN_TOKEN, api_base_url=emulator, analysts=set(), commands_per_minute=60)
    app = build_application(engine, settings, subscriptions=Subscriptions(engine.store), policy=POLICY, board_routes=[],
                            clock=lambda: NOW, pictures=RoutePictures(engine, dpi=0))
    app.bot_data["riskengine"].selftest_timeout = 1.0
    runner = BotThread(app)
    runner.start()
    yield app
    runner.stop()


def new_user(client, token: str = TOKEN, language_code: str | None = None) -> TestUser:  # noqa: F811
    user = TestUser(client, token, next(_user_ids))
    if language_code:
        user.user["language_code"] = language_code
    return user


def photos_of(user: TestUser, count: int = 1, timeout: float = 20.0) -> list[dict]:
    """The photos the bot sent to the user's chat (as the emulator stored them): wait for ``count``."""
    deadline = time.monotonic() + timeout
    while True:
        got = user._post("/getPhotos", {"token": user.token, "chatId": user.id})["result"]
        if len(got) >= count or time.monotonic() > deadline:
            assert len(got) >= count, f"expected {count} photo(s), got {len(got)}"
            return got
        time.sleep(0.1)


def assert_route_png(photo: dict) -> None:
    """The upload is a whole PNG of 1080 x 1350 pixels (from its header, and decoded)."""
    head, data = base64.b64decode(photo["head"]), base64.b64decode(photo["data"])
    assert head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR"
    assert struct.unpack(">II", head[16:24]) == (1080, 1350)
    assert photo["size"] == len(data) > 20_000 and data.startswith(head)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.size == (1080, 1350)
        image.load()  # the whole image decodes


def expected_caption(doc: dict, route: str, level_name: str, score: str) -> str:
    return f"{MARKS[doc['level']]} {route} · {level_name} · {score}"


# ---- /risk ----------------------------------------------------------------------------------------------


def test_risk_answers_with_its_text_then_the_route_picture(pipeline, client, engine):  # noqa: F811
    user = new_user(client)
    doc = engine.route("Sirte", "Sebha", NOW)
    user.command("/risk Sirte Sebha")
    answer = user.reply()  # the answer is one text message; the picture comes apart from it
    assert "<b>Sirte → Sebha</b>" in text_of(answer) and "<b>Segments</b>" in text_of(answer)
    [photo] = photos_of(user)
    assert_route_png(photo)
    assert photo["caption"] == expected_caption(doc, "Sirte → Sebha", doc["level_name"],
                                                f"score {doc['score']:.0f}/100")
    assert photo["time"] >= answer["time"], "the text goes first, the picture after it"


def test_risk_in_arabic_has_an_arabic_caption(pipeline, client, engine):  # noqa: F811
    user = new_user(client, language_code="ar")
    doc = engine.route("Sirte", "Sebha", NOW)
    user.command("/risk سرت سبها")
    assert "<b>سرت ← سبها</b>" in text_of(user.reply())
    [photo] = photos_of(user)
    assert_route_png(photo)
    assert photo["caption"] == expected_caption(doc, "سرت ← سبها", ARABIC_LEVELS[doc["level"]],
                                                f"الدرجة {FSI}{doc['score']:.0f}/100{PDI}")


def test_a_picture_that_cannot_be_drawn_still_leaves_the_whole_answer(plain_bot, pipeline, client,  # noqa: F811
                                                                      caplog):
    with_pictures, without = new_user(client), new_user(client, PLAIN_TOKEN)
    with_pictures.command("/risk Sirte Sebha")
    expected = text_of(with_pictures.reply())
    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        without.command("/risk Sirte Sebha")
        assert text_of(without.reply()) == expected
        deadline = time.monotonic() + 10
        while not any("picture of Sirte -> Sebha" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the failed picture was not logged"
            time.sleep(0.05)
    failure = next(r for r in caplog.records if "picture of Sirte -> Sebha" in r.getMessage())
    assert "dpi must be positive" in str(failure.exc_info[1])
    assert without._post("/getPhotos", {"token": PLAIN_TOKEN, "chatId": without.id})["result"] == []
    without.silence(0.5)


# ---- alerts ------------------------------------------------------------------------------------------------


def test_a_level_alert_about_a_subscribed_route_comes_with_its_picture(pipeline, client, engine):  # noqa: F811
    english, arabic = new_user(client), new_user(client, language_code="ar")
    english.command("/subscribe Misrata Sebha 1")
    assert text_of(english.reply()).startswith("Subscribed: <b>Misrata → Sebha</b>")
    arabic.command("/subscribe مصراتة سبها 1")
    assert text_of(arabic.reply()).startswith("تم الاشتراك: <b>مصراتة ← سبها</b>")
    assert pipeline.evaluate(NOW)
    report = pipeline.dispatch(NOW)
    levels = [a for a in report.sent if a.kind == "level" and a.chat_id in {str(english.id), str(arabic.id)}]
    assert len(levels) == 2 and not report.dead
    doc = engine.route("Misrata", "Sebha", NOW)

    texts = [text_of(m) for m in english.replies(1)]
    assert any(t.startswith(f"<b>{MARKS[doc['level']]} Misrata -&gt; Sebha: now {doc['level']}") for t in texts)
    [photo] = photos_of(english)
    assert_route_png(photo)
    assert photo["caption"] == expected_caption(doc, "Misrata → Sebha", doc["level_name"],
                                                f"score {doc['score']:.0f}/100")

    assert any("مصراتة ← سبها: الآن" in text_of(m) for m in arabic.replies(1))
    [photo] = photos_of(arabic)
    assert_route_png(photo)
    assert photo["caption"] == expected_caption(doc, "مصراتة ← سبها", ARABIC_LEVELS[doc["level"]],
                                                f"الدرجة {FSI}{doc['score']:.0f}/100{PDI}")


def test_an_alert_whose_route_cannot_be_drawn_is_delivered_without_a_picture(pipeline, client, caplog):  # noqa: F811
    user = new_user(client)
    # a level alert stored about a route the gazetteer no longer knows (a place renamed since it was decided)
    stored = AlertIn(key=f"test:undrawable:{user.id}", subscription_id=None, chat_id=str(user.id),
                     channel="telegram", kind="level",
                     text="🔴 Misrata -> Qasr Zallaf: now 4 High (score 66; was 1 Insignificant)\n"
                          "Assessed 20 Nov 10:00",
                     payload={"target": "Misrata -> Qasr Zallaf", "level": 4, "level_name": "High", "score": 66.0,
                              "previous_level": 1, "worst_segment": None, "incident_ids": [],
                              "at": NOW.isoformat()})
    assert pipeline.outbox.enqueue([stored], NOW)
    with caplog.at_level(logging.WARNING, logger="riskengine.bot.notifier"):
        report = pipeline.dispatch(NOW)
    assert [a.key for a in report.sent if a.chat_id == str(user.id)] == [stored.key]
    assert text_of(user.reply()).startswith("<b>🔴 Misrata -&gt; Qasr Zallaf: now 4 High")
    assert any(f"alert {stored.key} to chat {user.id} went without its picture" in r.getMessage()
               and "Qasr Zallaf" in r.getMessage() for r in caplog.records)
    assert user._post("/getPhotos", {"token": TOKEN, "chatId": user.id})["result"] == []


# ---- /selftest ---------------------------------------------------------------------------------------------


def outbox_rows(engine: RiskEngine, chat_id: int) -> list[dict]:
    with engine.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(outbox).where(outbox.c.chat_id == str(chat_id))).mappings()]


def test_selftest_sends_a_test_alert_through_the_outbox_and_reports_the_delay(pipeline, client, engine):  # noqa: F811
    user = new_user(client)
    user.command("/selftest")
    alert, answer = (text_of(m) for m in user.replies(2))
    assert alert.startswith("<b>🔔 Test alert</b>\nThis is a test, sent the way real alerts are")
    delay = re.fullmatch(r"Test alert delivered in (\d+) ms \(queued → delivered\), by the path real alerts take\. "
                         r"When I am silent, none of your routes has reached your level\.", answer)
    assert delay and 0 <= int(delay.group(1)) < 30_000, answer
    [row] = outbox_rows(engine, user.id)
    assert row["kind"] == "selftest" and row["channel"] == "telegram" and row["status"] == "sent"
    assert row["key"].startswith(f"selftest:{user.id}:") and row["attempts"] == 1
    user.command("/selftest")  # each test is an alert of its own
    user.replies(2)
    assert len({r["key"] for r in outbox_rows(engine, user.id)}) == 2


def test_selftest_in_arabic(pipeline, client, engine):  # noqa: F811
    user = new_user(client, language_code="ar")
    user.command("/selftest")
    alert, answer = (text_of(m) for m in user.replies(2))
    assert alert.startswith("<b>🔔 تنبيه تجريبي</b>\nهذا اختبار")
    delay = re.match(f"وصل التنبيه التجريبي خلال {FSI}(\\d+){PDI} ملّي ثانية", answer)
    assert delay and int(delay.group(1)) < 30_000, answer
    assert [r["status"] for r in outbox_rows(engine, user.id)] == ["sent"]


def test_selftest_says_so_when_no_dispatcher_delivers(plain_bot, client, engine):  # noqa: F811
    user = new_user(client, PLAIN_TOKEN)
    user.command("/selftest")
    assert text_of(user.reply(timeout=15)) == ("The test alert is queued but was not delivered within 1 s: alerts "
                                               "are held up right now. It will come when the sender is back.")
    [row] = outbox_rows(engine, user.id)
    assert row["kind"] == "selftest" and row["status"] == "pending"
