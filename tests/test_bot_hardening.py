"""Hardening of the bot, with real parts: the token never leaks (logs, tracebacks, stderr, the outbox),
an unreachable or refusing Bot API does not stop the service, analysts are users (not chats), and a
chat's subscriptions are capped.

Faults the Telegram emulator cannot make (a 401 whose HTML page echoes the URL, a 400 whose description
holds the token lower-cased, a closed port) come from small loopback HTTP servers of our own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import socket
import time
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, select

from bot.i18n import translator
from bot.notifier import TelegramNotifier, build_bot
from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import guard_secret, scrub
from riskengine.outbox import Outbox
from riskengine.schema import outbox, reports
from riskengine.store import Store
from riskengine.subscriptions import SubscriptionLimitError, Subscriptions

from .conftest import start_service, stop_service
from .fake_bot_api import FakeBotAPI
from .test_bot_channels import AMBUSH, WATCH, _chat, running_bot, wait_for

TOKEN = "1234567890:AAHhardeningSECRETtokenXyZ0123456789ab"
BOT_ID, SECRET = TOKEN.split(":")
CAP_MSGID = ("You already have {n} subscriptions, the most a chat may have. Remove one with /unsubscribe before "
             "adding another.")


def leaks(text: str) -> list[str]:
    """The forms of the token found in ``text`` (case-insensitively)."""
    low = text.lower()
    forms = {TOKEN, SECRET, quote(TOKEN, safe=""), f"{BOT_ID}%3a{SECRET}"}
    return [f for f in forms if f.lower() in low]


# ---- one scrubber on every log path ----------------------------------------------------------------------


def test_the_scrubber_hides_the_token_in_any_case_form_and_part_in_messages_args_and_tracebacks():
    guard_secret(TOKEN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # added after the guard: still clean
    logger = logging.getLogger("hardening.probe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.warning("url %s and %s", f"https://api.telegram.org/bot{TOKEN}/getMe", TOKEN.lower())
        logger.warning(f"encoded {quote(TOKEN, safe='')} and secret part {SECRET.upper()}")
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
        except RuntimeError:
            logger.exception("start-up failed for %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "<token>" in out and "RuntimeError" in out and "start-up failed" in out
    assert leaks(out) == [], out
    assert leaks(scrub(f"x {TOKEN.upper()} y {BOT_ID}%3A{SECRET}")) == []


# ---- a 400 whose description holds the token lower-cased never reaches outbox.last_error ----------------


def test_a_lower_cased_token_in_a_400_never_reaches_outbox_last_error_nor_the_log(tmp_path, loop, caplog):
    api = FakeBotAPI(TOKEN).start()
    api.modes[42] = "400-token"
    store = Store.open(tmp_path / "risk.db")
    box = Outbox(store, AlertPolicy.load(DEFAULT_RULES_DIR))
    now = dt.datetime.now(dt.UTC)
    box.enqueue([AlertIn(key="k1", subscription_id=None, chat_id="42", channel="telegram", kind="level",
                         text="Sirte - Sebha: level 4")], now)
    bot = build_bot(TOKEN, api.url, rate_limited=False)
    asyncio.run_coroutine_threadsafe(bot.initialize(), loop).result(10)
    try:
        with caplog.at_level(logging.DEBUG):
            report = box.dispatch({"telegram": TelegramNotifier(bot, loop, timeout=10)}, now)
    finally:
        asyncio.run_coroutine_threadsafe(bot.shutdown(), loop).result(10)
        api.stop()
    assert report.retrying or report.dead
    with store.engine.connect() as conn:
        [error] = conn.execute(select(outbox.c.last_error)).scalars().all()
    assert error and "Token <token> in /bot<token>/sendmessage" in error
    assert leaks(error) == [], error
    assert leaks(caplog.text) == [], caplog.text


# ---- the service keeps running when the Bot API is down or refuses the token -------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: connections are refused


def run_service_against(tmp_path, api_url: str) -> tuple[str, list]:
    """``riskengine run`` with the bot pointed at ``api_url``; drop a report in its inbox; return its output
    and the report titles stored."""
    out_path = tmp_path / "service.log"
    with open(out_path, "w", encoding="utf-8") as out:
        proc, inbox, db = start_service(tmp_path, token=TOKEN, api_url=api_url, console=True, stdout=out)
    titles: list = []
    try:
        wait_for(lambda: proc.poll() is not None or out_path.read_text().count("Telegram bot not connected") >= 1,
                 timeout=60)
        assert proc.poll() is None, out_path.read_text()[-3000:]
        today = dt.datetime.now(dt.UTC).date()
        (inbox / "ambush.json").write_text(json.dumps({
            "title": "Ambush near Waddan", "published": today.isoformat(),
            "text": "Gunmen ambushed two lorries near Waddan today, wounding a driver and stealing the cargo."}))
        engine = create_engine(f"sqlite:///{db}")

        def stored():
            with engine.connect() as conn:
                return conn.execute(select(reports.c.title)).scalars().all()

        titles = wait_for(stored, timeout=30) or []
        engine.dispose()
        # it keeps trying, one line per attempt
        wait_for(lambda: out_path.read_text().count("Telegram bot not connected") >= 2, timeout=30)
        assert proc.poll() is None, out_path.read_text()[-3000:]
    finally:
        code = stop_service(proc)
    output = out_path.read_text()
    assert code == 0, output[-3000:]
    return output, titles


@pytest.mark.parametrize("fault", ["connection refused", "401 with the token in its HTML page"])
def test_the_service_runs_feeds_without_the_bot_and_never_prints_the_token(tmp_path, fault):
    api = FakeBotAPI(TOKEN, refuse=401).start() if fault.startswith("401") else None
    try:
        url = api.url if api else f"http://127.0.0.1:{closed_port()}"
        output, titles = run_service_against(tmp_path, url)
    finally:
        if api:
            api.stop()
    assert titles == ["Ambush near Waddan"], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if "Telegram bot not connected (attempt" in line]
    assert len(lines) >= 2 and "next attempt in" in lines[0]
    assert ("refused the bot's token" if api else "cannot reach the Bot API") in lines[0], lines[0]
    if api:
        assert api.calls, "the bot did ask the 401 server"
    assert leaks(output) == [], output[-3000:]


# ---- analysts are users, not chats ------------------------------------------------------------------------

GROUP = -100777
MEMBER, ANALYST_USER, SUBSCRIBER = 7001, 7002, 7003
REPORT = "Gunmen ambushed a convoy on the road near Waddan this morning, killing two drivers, witnesses said."


def _group_command(user_id: int, message_id: int, text: str, chat_id: int = GROUP) -> dict:
    chat = ({"id": chat_id, "type": "group", "title": "Road watchers"} if chat_id < 0
            else {"id": chat_id, "type": "private", "first_name": "X"})
    command = text.split()[0]
    return {"message": {"message_id": message_id, "date": int(time.time()), "text": text, "chat": chat,
                        "from": {"id": user_id, "is_bot": False, "first_name": "Member", "language_code": "en"},
                        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}]}}


def test_a_listed_group_chat_gives_its_members_no_right_to_report_but_a_listed_user_may(tmp_path, rules, gazetteer,
                                                                                        network):
    # the group's chat id is listed (what the old check trusted); its member is not an analyst
    with running_bot(tmp_path / "risk.db", rules, gazetteer, network, SUBSCRIBER,
                     analysts=[GROUP, ANALYST_USER]) as (api, engine):
        api.push(**_group_command(MEMBER, 1, f"/report {REPORT}"))
        [answer] = wait_for(lambda: api.sent_to(GROUP))
        assert "Sorry, only the analysts" in answer
        assert engine.store.report_count() == 0
        api.push(**_group_command(ANALYST_USER, 2, f"/report {REPORT}"))  # a listed user, in the same group
        wait_for(lambda: len(api.sent_to(GROUP)) >= 2)
        assert "Sorry" not in api.sent_to(GROUP)[1]
        assert engine.store.report_count() == 1


def test_a_forward_is_taken_from_a_listed_user_only(tmp_path, rules, gazetteer, network):
    def forward(user_id: int, chat_id: int, message_id: int) -> dict:
        return {"message": {"message_id": message_id, "date": int(time.time()), "text": AMBUSH,
                            "from": {"id": user_id, "is_bot": False, "first_name": "F"},
                            "chat": {"id": chat_id, "type": "private", "first_name": "F"},
                            "forward_origin": {"type": "channel", "chat": _chat(WATCH), "message_id": 90 + message_id,
                                               "date": int(time.time()) - 900}}}

    listed_chat = 7100
    with running_bot(tmp_path / "risk.db", rules, gazetteer, network, SUBSCRIBER,
                     analysts=[listed_chat, ANALYST_USER]) as (api, engine):
        api.push(**forward(MEMBER, listed_chat, 1))  # the chat is listed, the sender is not
        [answer] = wait_for(lambda: api.sent_to(listed_chat))
        assert "only the analysts" in answer and engine.store.report_count() == 0
        api.push(**forward(ANALYST_USER, ANALYST_USER, 2))
        [answer] = wait_for(lambda: api.sent_to(ANALYST_USER))
        assert "Stored as a report" in answer and engine.store.report_count() == 1


# ---- a cap on a chat's subscriptions ----------------------------------------------------------------------


def test_subscriptions_refuse_a_new_one_past_the_cap_but_change_an_existing_one(tmp_path):
    subs = Subscriptions(Store.open(tmp_path / "risk.db"))
    now = dt.datetime.now(dt.UTC)
    for i in range(3):
        subs.add(chat_id="9", channel="telegram", kind="route", target=f"A{i}|B", min_level=3, now=now,
                 max_per_chat=3)
    with pytest.raises(SubscriptionLimitError, match="already has 3"):
        subs.add(chat_id="9", channel="telegram", kind="route", target="C|D", min_level=3, now=now, max_per_chat=3)
    assert subs.add(chat_id="9", channel="telegram", kind="route", target="A0|B", min_level=4, now=now,
                    max_per_chat=3).min_level == 4
    subs.add(chat_id="10", channel="telegram", kind="route", target="C|D", min_level=3, now=now, max_per_chat=3)


def test_the_bot_refuses_a_subscription_past_the_cap_with_a_clear_message(tmp_path, rules, gazetteer, network):
    from bot.settings import BotSettings  # noqa: PLC0415

    assert BotSettings(token=TOKEN).max_subscriptions_per_chat == 20
    assert BotSettings.load({"max_subscriptions_per_chat": 5}, {"TELEGRAM_BOT_TOKEN": TOKEN}
                            ).max_subscriptions_per_chat == 5
    assert translator("ar")._(CAP_MSGID) != CAP_MSGID  # translated
    with running_bot(tmp_path / "risk.db", rules, gazetteer, network, SUBSCRIBER) as (api, engine):
        subs = Subscriptions(engine.store)
        chat = 7200
        now = dt.datetime.now(dt.UTC)
        for i in range(20):
            subs.add(chat_id=str(chat), channel="telegram", kind="route", target=f"Town{i}|Sebha", min_level=3,
                     now=now)
        api.push(**_group_command(chat, 1, "/subscribe Misrata Sebha 3", chat_id=chat))
        [answer] = wait_for(lambda: api.sent_to(chat))
        assert "You already have 20 subscriptions, the most a chat may have" in answer, answer
        assert len(subs.all(chat_id=str(chat), include_paused=True)) == 20


def test_a_post_longer_than_any_telegram_sends_is_ignored_not_stored(caplog):
    from telegram import Chat, Message

    from bot.channels import MAX_POST_CHARS, post_text

    chat = Chat(id=-100123, type="channel", username="desk")
    when = dt.datetime(2026, 11, 17, tzinfo=dt.UTC)
    assert post_text(Message(1, when, chat, text="Gunmen ambushed a lorry near Waddan.")).startswith("Gunmen")
    with caplog.at_level(logging.WARNING):
        assert post_text(Message(2, when, chat, text="x" * (MAX_POST_CHARS + 1))) == ""
    assert "over the limit" in caplog.text
