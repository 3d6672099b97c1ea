"""An alert's lifecycle end to end, through the service's outbox, dispatcher and Telegram notifier, against
the Bot API emulator: the situation's first alert; a rise that edits it and answers it loudly; a fall that
only edits it, silently; the all-clear that edits it and answers it quietly; a correction that answers the
alert it corrects; and all of it in Arabic for a chat that speaks Arabic.

The module has its own store, bot token and clock; the roads' levels come from incidents near Waddan on
Sirte -> Sebha ingested at fixed times (the first one alone makes the route High, eight more Extreme).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from riskengine.alerts import AlertPolicy
from riskengine.corrections import Corrections
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.outbox import Outbox
from riskengine.subscriptions import Subscriptions

from .conftest import ambushes
from .test_bot_e2e import client, emulator  # noqa: F401 - fixtures
from .tg_emulator import TestUser, Users, bot_world, button_data, step, text_of

TOKEN = "123456789:riskengine-lifecycle-TEST-token"
START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
POLICY = AlertPolicy.load(DEFAULT_RULES_DIR)
USERS = Users(TOKEN, 960_001)


@pytest.fixture
def world(tmp_path, emulator, rules, gazetteer, network):  # noqa: F811
    """A fresh store, and the service's bot polling the emulator on a clock the test moves."""
    with bot_world(tmp_path / "risk.db", emulator, TOKEN, START, rules, gazetteer, network) as made:
        yield made



def sent_with(message: dict) -> dict:
    """What the bot asked of sendMessage besides the text (the emulator keeps the form's fields as sent)."""
    fields = message["message"]
    reply = fields.get("reply_parameters")
    return {"quiet": str(fields.get("disable_notification")).lower() == "true",
            "answers": json.loads(reply)["message_id"] if isinstance(reply, str) else (reply or {}).get("message_id")}


def as_shown(user: TestUser, message: dict) -> str:
    """A message's text as the chat shows it now (edits applied)."""
    [now] = [m for m in user.history() if m["messageId"] == message["messageId"]]
    return text_of(now)


def test_rise_update_and_all_clear_follow_the_first_alert(world, client):  # noqa: F811
    engine, pipeline, clock = world
    user = USERS.new(client)
    user.command("/subscribe Sirte Sebha 3")
    assert text_of(user.reply()).startswith("Subscribed: <b>Sirte → Sebha</b>")

    ambushes(engine, START, range(1, 2), label="lifecycle")
    report = step(pipeline, clock, START)
    assert [a.kind for a in report.sent] == ["level"]
    [first] = user.replies(1)
    assert "Sirte -&gt; Sebha: now 4 High" in text_of(first)
    assert sent_with(first) == {"quiet": False, "answers": None}  # a rise rings
    [sub] = Subscriptions(engine.store).all(chat_id=str(user.id))
    assert button_data(first) == [f"set|{sub.id}"]  # the subscription's settings, under each alert

    # eight more ambushes the next day: Extreme. The first message now says so, and a loud answer tells it
    later = START + dt.timedelta(days=1)
    ambushes(engine, later, range(2, 10), killed=5, label="lifecycle")
    report = step(pipeline, clock, later)
    assert [a.kind for a in report.sent] == ["level"] and report.sent[0].follows == first["messageId"]
    [rise] = user.replies(1)
    assert "now 5 Extreme" in text_of(rise) and "was 4 High" in text_of(rise)
    assert sent_with(rise) == {"quiet": False, "answers": first["messageId"]}
    assert "now 5 Extreme" in as_shown(user, first)  # edited in place

    # a fortnight on the ambushes have aged: back to High, still above the subscriber's 3. Only an edit
    eased = later + dt.timedelta(days=15)
    report = step(pipeline, clock, eased)
    assert [a.kind for a in report.sent] == ["update"]
    user.silence(0.5)  # no new message, no sound
    shown = as_shown(user, first)
    assert "now 4 High" in shown and "was 5 Extreme" in shown and "Updated" in shown
    assert step(pipeline, clock, eased + dt.timedelta(hours=1)).sent == []  # the same level: nothing more

    # months later the road is quiet again: the all-clear edits the first message and answers it quietly
    calm = later + dt.timedelta(days=200)
    report = step(pipeline, clock, calm)
    assert [a.kind for a in report.sent] == ["allclear"]
    [clear] = user.replies(1)
    assert "back to 1" in text_of(clear) and "below your alert level 3" in text_of(clear)
    assert sent_with(clear) == {"quiet": True, "answers": first["messageId"]}
    assert "back to 1" in as_shown(user, first)
    [shown] = [m for m in user.history() if m["messageId"] == first["messageId"]]
    assert button_data(shown) == [f"set|{sub.id}"]  # edits keep the button

    # what happens next is news of its own, not an answer to the situation that ended
    ambushes(engine, calm, range(20, 21), label="lifecycle")
    step(pipeline, clock, calm)
    [again] = user.replies(1)
    assert "#20" in text_of(again) and sent_with(again) == {"quiet": False, "answers": None}
    assert Outbox(engine.store, POLICY).counts()["sent"] == 5  # 4 messages and 1 edit


def test_a_correction_answers_the_alert_that_told_of_the_retracted_event(world, client):  # noqa: F811
    engine, pipeline, clock = world
    user = USERS.new(client)
    user.command("/subscribe Sirte Sebha 3")
    user.reply()
    ambushes(engine, START, range(1, 2), label="lifecycle")
    step(pipeline, clock, START)
    [first] = user.replies(1)
    told = Outbox(engine.store, POLICY).rows("sent")[0]
    [event_id] = told["payload"]["incident_ids"]
    Corrections(engine).retract(event_id, who="analyst", why="the convoy was not attacked", now=START)
    report = step(pipeline, clock, START + dt.timedelta(minutes=5))
    kinds = sorted(a.kind for a in report.sent)
    assert "correction" in kinds
    replies = user.replies(len(kinds))
    [correction] = [m for m in replies if "Correction" in text_of(m)]
    assert "the convoy was not attacked" in text_of(correction)
    assert sent_with(correction)["answers"] == first["messageId"]


def test_an_arabic_chat_gets_its_updates_in_arabic(world, client):  # noqa: F811
    engine, pipeline, clock = world
    user = USERS.new(client, language_code="ar")
    user.command("/subscribe سرت سبها 3")
    user.reply()
    ambushes(engine, START, range(1, 2), label="lifecycle")
    step(pipeline, clock, START)
    [first] = user.replies(1)
    later = START + dt.timedelta(days=1)
    ambushes(engine, later, range(2, 10), killed=5, label="lifecycle")
    step(pipeline, clock, later)
    user.replies(1)
    step(pipeline, clock, later + dt.timedelta(days=15))
    user.silence(0.5)
    shown = as_shown(user, first)
    assert "حُدّث في" in shown and "Updated" not in shown and "سرت" in shown


def test_a_retyped_or_moved_event_is_corrected_once_each_in_the_chats_language(world, client):  # noqa: F811
    engine, pipeline, clock = world
    english, arabic = USERS.new(client), USERS.new(client, language_code="ar")
    english.command("/subscribe Sirte Sebha 3")
    english.reply()
    arabic.command("/subscribe سرت سبها 3")
    arabic.reply()
    ambushes(engine, START, range(1, 2), label="lifecycle")
    step(pipeline, clock, START)
    [first] = english.replies(1)
    [first_ar] = arabic.replies(1)
    [event_id] = Outbox(engine.store, POLICY).rows("sent")[0]["payload"]["incident_ids"]
    fixes = Corrections(engine)
    later = START + dt.timedelta(minutes=10)
    fixes.retype(event_id, "Battles", "Armed clash", [], who="analyst", why="two armed groups, not an ambush",
                 now=later)
    step(pipeline, clock, later)
    [retyped] = [m for m in english.replies(1, settle=1.0) if "Correction" in text_of(m)]
    assert "two armed groups, not an ambush" in text_of(retyped) and "It is now Battles / Armed clash" in text_of(
        retyped)
    assert sent_with(retyped)["answers"] == first["messageId"]
    [retyped_ar] = [m for m in arabic.replies(1, settle=1.0) if "تصحيح" in text_of(m)]
    assert "غيّر محلّل نوع الحادث" in text_of(retyped_ar) and sent_with(retyped_ar)["answers"] == first_ar["messageId"]

    moved_at = later + dt.timedelta(minutes=10)
    fixes.move(event_id, "Hun", who="analyst", why="it was at the Hun junction", now=moved_at)
    step(pipeline, clock, moved_at)
    moved = [m for m in english.replies(1, settle=1.0) if "Correction" in text_of(m)]
    assert len(moved) == 1 and "moved the incident" in text_of(moved[0]) and "placed at Hun" in text_of(moved[0])
    step(pipeline, clock, moved_at + dt.timedelta(minutes=5))
    assert not [m for m in english.history() if "Correction" in text_of(m)][2:]  # each change told once
