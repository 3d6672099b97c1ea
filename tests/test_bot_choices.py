"""A subscription's settings on buttons, end to end against the Bot API emulator: open them from
/subscriptions, choose the kinds of incident, go silent, snooze, and get the alerts as chosen.

The module has its own store, bot token and clock (the service's bot, as in test_bot_lifecycle); the
route's level comes from ambushes near Waddan on Sirte -> Sebha (one makes it High, nine Extreme).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from riskengine.alerts import AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.subscriptions import Subscriptions

from .conftest import ambushes
from .test_bot_e2e import client, emulator  # noqa: F401 - fixtures
from .tg_emulator import TestUser, Users, bot_world, button_data, buttons_of, step, text_of

TOKEN = "123456789:riskengine-choices-TEST-token"
START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
POLICY = AlertPolicy.load(DEFAULT_RULES_DIR)
KINDS = [k.id for k in POLICY.event_kinds]
USERS = Users(TOKEN, 970_001)


@pytest.fixture
def world(tmp_path, emulator, rules, gazetteer, network):  # noqa: F811
    """A fresh store, and the service's bot polling the emulator on a clock the test moves."""
    with bot_world(tmp_path / "risk.db", emulator, TOKEN, START, rules, gazetteer, network,
                   commands_per_minute=120) as made:
        yield made



def subscribed(user: TestUser, engine: RiskEngine):
    user.command("/subscribe Sirte Sebha 3")
    user.reply()
    [sub] = Subscriptions(engine.store).all(chat_id=str(user.id))
    return sub


def open_settings(user: TestUser, sub_id: int) -> dict:
    """/subscriptions, then its ⚙ button: the settings message."""
    user.command("/subscriptions")
    listing = user.reply()
    assert button_data(listing) == [f"set|{sub_id}", f"unsub|{sub_id}"]
    assert [b["text"] for row in buttons_of(listing) for b in row][0] == "⚙ Settings 1"
    user.press(listing, f"set|{sub_id}")
    return user.reply()


def as_shown(user: TestUser, message: dict) -> dict:
    """A message as the chat shows it now (edits applied)."""
    [now] = [m for m in user.history() if m["messageId"] == message["messageId"]]
    return now


def labels(message: dict) -> dict[str, str]:
    """callback data -> the label of its button."""
    return {b["callback_data"]: b["text"] for row in buttons_of(message) for b in row}


def press_and_look(user: TestUser, message: dict, data: str) -> dict:
    """Press a button of the message as it is now; the message as the press left it (no new message)."""
    shown = as_shown(user, message)
    before = text_of(shown), labels(shown)
    user.press(shown, data)
    deadline = time.monotonic() + 10
    while (text_of(shown), labels(shown)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
        shown = as_shown(user, message)
    user.silence(0.3)
    return shown


def rang(message: dict) -> bool:
    """Whether the bot sent the message with its sound (the emulator keeps sendMessage's fields as sent)."""
    return str(message["message"].get("disable_notification")).lower() != "true"


def test_settings_show_and_change_kinds_sound_and_snooze_in_place(world, client):  # noqa: F811
    engine, _, _ = world
    user = USERS.new(client)
    sub = subscribed(user, engine)
    store = Subscriptions(engine.store)

    settings = open_settings(user, sub.id)
    text = text_of(settings)
    assert text.startswith("⚙ <b>Settings: Sirte → Sebha</b>")
    assert "Incidents told: all kinds." in text and "Sound: 🔔 loud." in text and "Not snoozed." in text
    shown = labels(settings)
    assert shown[f"set|{sub.id}|k|kidnapping|0"] == "✓ Kidnapping"
    assert {f"set|{sub.id}|k|{k}|0" for k in KINDS} <= set(shown)  # every kind ticked
    assert shown[f"set|{sub.id}|s|0"] == "✓ 🔔 Loud" and shown[f"set|{sub.id}|s|1"] == "🔕 Silent"
    assert f"set|{sub.id}|z|1" in shown and f"set|{sub.id}|z|8" in shown and f"set|{sub.id}|z|0" not in shown
    assert all(len(data.encode()) <= 64 for data in shown)

    now = press_and_look(user, settings, f"set|{sub.id}|k|clashes|0")
    assert store.get(sub.id).event_kinds == tuple(k for k in KINDS if k != "clashes")
    assert labels(now)[f"set|{sub.id}|k|clashes|1"] == "☐ Clashes"
    assert "Incidents told: Ambush, Kidnapping, Strikes, Closures, and any that is of none" in text_of(now)

    now = press_and_look(user, settings, f"set|{sub.id}|s|1")
    assert store.get(sub.id).silent is True
    assert labels(now)[f"set|{sub.id}|s|1"] == "✓ 🔕 Silent" and "Sound: 🔕 silent" in text_of(now)

    now = press_and_look(user, settings, f"set|{sub.id}|z|1")
    assert store.get(sub.id).snoozed_until == START + dt.timedelta(hours=1)
    assert ("💤 Snoozed until 20 Nov 2026 09:00 UTC: alerts wait until then, but Extreme alerts still come "
            "through.") in text_of(now)
    assert labels(now)[f"set|{sub.id}|z|0"] == "⏰ Unsnooze"

    now = press_and_look(user, settings, f"set|{sub.id}|z|0")
    assert store.get(sub.id).snoozed_until is None and "Not snoozed." in text_of(now)
    assert f"set|{sub.id}|z|0" not in labels(now)
    # the kinds back to all: every kind ticked again, and the store says "all" (None)
    press_and_look(user, settings, f"set|{sub.id}|k|clashes|1")
    assert store.get(sub.id).event_kinds is None


def test_another_chat_cannot_see_or_change_the_settings(world, client):  # noqa: F811
    engine, _, _ = world
    owner, intruder = USERS.new(client), USERS.new(client)
    sub = subscribed(owner, engine)
    for data in (f"set|{sub.id}", f"set|{sub.id}|s|1", f"set|{sub.id}|z|8", f"set|{sub.id}|k|ambush|0"):
        intruder.press_raw(data)
        assert text_of(intruder.reply()) == "That subscription is not one of yours, or it is gone. See /subscriptions."
    assert Subscriptions(engine.store).get(sub.id) == sub
    owner.press_raw(f"set|{sub.id}|z|5")  # a snooze no button offers
    owner.silence(0.5)
    assert Subscriptions(engine.store).get(sub.id).snoozed_until is None


def test_snoozed_and_silent_alerts_arrive_as_chosen_but_extreme_never_waits(world, client):  # noqa: F811
    engine, pipeline, clock = world
    user = USERS.new(client)
    sub = subscribed(user, engine)
    settings = open_settings(user, sub.id)
    press_and_look(user, settings, f"set|{sub.id}|z|1")

    ambushes(engine, START, range(1, 2), label="choices")
    step(pipeline, clock, START + dt.timedelta(minutes=30))
    user.silence(0.5)  # snoozed: the High alert waits
    step(pipeline, clock, START + dt.timedelta(hours=1))
    [high] = user.replies(1)
    assert "Sirte -&gt; Sebha: now 4 High" in text_of(high) and rang(high)

    # the next day: silent, snoozed for eight hours; eight more ambushes make it Extreme, told at once, silently
    later = START + dt.timedelta(days=1)
    clock.now = later
    press_and_look(user, settings, f"set|{sub.id}|s|1")
    press_and_look(user, settings, f"set|{sub.id}|z|8")
    ambushes(engine, later, range(2, 10), label="choices")
    step(pipeline, clock, later)
    [extreme] = user.replies(1)
    assert "now 5 Extreme" in text_of(extreme) and not rang(extreme)


def test_settings_in_arabic(world, client):  # noqa: F811
    engine, _, _ = world
    user = USERS.new(client, "ar")
    sub = subscribed(user, engine)
    user.command("/subscriptions")
    listing = user.reply()
    user.press(listing, f"set|{sub.id}")
    settings = user.reply()
    assert "⚙ <b>إعدادات:" in text_of(settings) and "الحوادث التي أبلغك بها: كل الأنواع." in text_of(settings)
    assert labels(settings)[f"set|{sub.id}|k|kidnapping|0"] == "✓ خطف"
    now = press_and_look(user, settings, f"set|{sub.id}|z|8")
    assert "💤 مؤجَّل حتى" in text_of(now) and "تصلك رغم ذلك" in text_of(now)
    assert json.dumps(labels(now), ensure_ascii=False).count("إلغاء التأجيل") == 1
