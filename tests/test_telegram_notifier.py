"""The Telegram notifier against a small fake Bot API server of ours, over real HTTP.

The bot is a real python-telegram-bot ``ExtBot`` (made by ``build_bot``, with its rate limiter) whose
``base_url`` points at the fake server; its coroutines run on an event loop in a background thread,
as in the bot application, while ``send`` is called from the test's thread, as the outbox does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import logging
import re
import time

import pytest
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.notifier import MAX_MESSAGE_LENGTH, TelegramNotifier, build_bot, render_html
from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.notify import DeliveryError, OutboxAlert, PermanentDeliveryError
from riskengine.outbox import Outbox
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from .fake_bot_api import FakeBotAPI

# python-telegram-bot's own RetryAfter constructor reads its deprecated ``retry_after``; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*`retry_after`")

TOKEN = "7012345678:AAHfakeTokenForTests-0123456789abcXYZ"
HTTP_TIMEOUT = 1.0  # the client's read timeout, shorter than the fake server's slow answers
# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def api():
    server = FakeBotAPI(TOKEN).start()
    yield server
    server.stop()




def on(loop, coroutine, timeout: float = 10):
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


@pytest.fixture
def bot(api, loop):
    request = HTTPXRequest(connect_timeout=HTTP_TIMEOUT, read_timeout=HTTP_TIMEOUT, write_timeout=HTTP_TIMEOUT,
                           pool_timeout=HTTP_TIMEOUT)
    the_bot = build_bot(TOKEN, api.url, request=request)
    on(loop, the_bot.initialize())
    yield the_bot
    on(loop, the_bot.shutdown())


@pytest.fixture
def notifier(bot, loop):
    return TelegramNotifier(bot, loop, per_chat_interval=0.5, timeout=5)


def alert(chat_id: int | str, text: str = "Sirte - Waddan: level 4\nAmbush near Abugrein", n: int = 1) -> OutboxAlert:
    return OutboxAlert(id=n, key=f"k{chat_id}-{n}", chat_id=str(chat_id), channel="telegram", kind="level", text=text)


def failure(notifier: TelegramNotifier, item: OutboxAlert) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        notifier.send(item)
    assert TOKEN not in str(caught.value) and TOKEN.split(":")[1] not in str(caught.value)
    return caught.value


# ---- a message as Telegram gets it ---------------------------------------------------------------


def test_an_alert_arrives_as_escaped_html_with_a_bold_first_line(api, notifier):
    notifier.send(alert(1001, "Level 4 on Sirte - Waddan <script>alert(1)</script>\nAmbush & kidnapping, <b>x</b>"))
    (call,) = api.sent(1001)
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"] == ("<b>Level 4 on Sirte - Waddan &lt;script&gt;alert(1)&lt;/script&gt;</b>\n"
                                   "Ambush &amp; kidnapping, &lt;b&gt;x&lt;/b&gt;")
    assert json.loads(call.params["link_preview_options"]) == {"is_disabled": True}
    assert int(call.params["chat_id"]) == 1001


def test_long_alerts_are_cut_under_telegrams_limit_without_breaking_an_entity():
    text = "Daily digest\n" + "Sirte & Waddan: level 3 🟠\n" * 400
    rendered = render_html(text)
    assert len(rendered.encode("utf-16-le")) // 2 <= MAX_MESSAGE_LENGTH
    assert rendered.startswith("<b>Daily digest</b>\n") and rendered.endswith("…")
    assert re.search(r"&[a-z]*…$", rendered) is None  # no half entity before the ellipsis
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).rstrip("…") in text
    assert render_html("  one line only  ") == "<b>one line only</b>"


def test_a_custom_render_is_sent_as_is(api, bot, loop):
    notifier = TelegramNotifier(bot, loop, render=lambda a: f"<i>{html.escape(a.kind)}</i>")
    notifier.send(alert(1002))
    assert api.sent(1002)[0].params["text"] == "<i>level</i>"


# ---- what Telegram answers -----------------------------------------------------------------------


def test_flood_control_is_a_delivery_error_with_telegrams_retry_after(api, notifier):
    api.modes[1003] = "429"
    error = failure(notifier, alert(1003))
    assert type(error) is DeliveryError and error.retry_after == 3
    # until the wait is over that chat is not asked again; other chats go on
    again = failure(notifier, alert(1003, n=2))
    assert 2 < again.retry_after <= 3 and len(api.sent(1003)) == 1
    notifier.send(alert(1004))
    assert len(api.sent(1004)) == 1


def test_a_user_who_blocked_the_bot_is_a_permanent_failure(api, notifier):
    api.modes[1005] = "403"
    error = failure(notifier, alert(1005))
    assert isinstance(error, PermanentDeliveryError) and "blocked" in str(error)


def test_chat_not_found_is_a_permanent_failure(api, notifier):
    api.modes[1006] = "chat-not-found"
    assert isinstance(failure(notifier, alert(1006)), PermanentDeliveryError)


def test_other_bad_requests_are_retried_and_never_pause_the_chat(api, notifier):
    api.modes[1007] = "bad-entities"
    error = failure(notifier, alert(1007))
    assert type(error) is DeliveryError and "parse entities" in str(error)


def test_a_chat_id_telegram_cannot_have_is_permanent(api, notifier):
    assert isinstance(failure(notifier, alert("desk")), PermanentDeliveryError)
    assert api.sent() == []


def test_an_http_timeout_is_a_delivery_error_within_about_the_timeout(api, notifier):
    api.modes[1008] = "slow"
    started = time.monotonic()
    error = failure(notifier, alert(1008))
    assert type(error) is DeliveryError and "timed out" in str(error)
    assert HTTP_TIMEOUT * 0.8 <= time.monotonic() - started < HTTP_TIMEOUT + 1.0


def test_no_answer_within_the_notifiers_timeout_is_a_delivery_error(api, bot, loop):
    api.modes[1009] = "slow"
    notifier = TelegramNotifier(bot, loop, timeout=0.3)
    started = time.monotonic()
    error = failure(notifier, alert(1009))
    assert type(error) is DeliveryError and "no answer within 0.3 s" in str(error)
    assert time.monotonic() - started < 0.9


def test_a_bad_gateway_is_a_delivery_error_without_the_token(api, notifier):
    api.modes[1010] = "502"
    error = failure(notifier, alert(1010))
    assert type(error) is DeliveryError and "502" in str(error) and "<token>" in str(error)


def test_an_unreachable_api_is_a_delivery_error(loop):
    request = HTTPXRequest(connect_timeout=HTTP_TIMEOUT, read_timeout=HTTP_TIMEOUT)
    bot = build_bot(TOKEN, "http://127.0.0.1:9", request=request)  # nothing listens there (no getMe either)
    try:
        error = failure(TelegramNotifier(bot, loop), alert(1011))
        assert type(error) is DeliveryError and "network error" in str(error)
    finally:
        on(loop, request.shutdown())


def test_no_error_message_nor_http_log_line_contains_the_token(api, notifier, caplog):
    caplog.set_level(logging.INFO, logger="httpx")
    api.modes.update({2001: "429", 2002: "403", 2003: "chat-not-found", 2004: "bad-entities", 2005: "502"})
    messages = [str(failure(notifier, alert(chat))) for chat in api.modes]
    notifier.send(alert(2006))
    assert len(messages) == 5 and all(TOKEN not in m for m in messages)
    logged = [f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records]
    assert any("HTTP Request: POST" in line for line in logged)  # httpx logged the request URLs ...
    assert any("502 Bad Gateway" in line for line in logged)  # ... python-telegram-bot the proxy's page ...
    assert all(TOKEN not in line for line in logged)  # ... without the token


# ---- pacing --------------------------------------------------------------------------------------


def test_one_chat_is_paced_and_other_chats_are_not_delayed(api, notifier):
    for n in range(3):
        notifier.send(alert(3001, n=n))
    times = [c.at for c in api.sent(3001)]
    assert all(later - earlier >= 0.45 for earlier, later in zip(times, times[1:], strict=False))
    assert times[-1] - times[0] >= 0.95
    notifier.send(alert(3002))
    notifier.send(alert(3003))
    other = [api.sent(3002)[0].at, api.sent(3003)[0].at]
    assert other[1] - other[0] < 0.3  # a different chat does not wait for 3002's turn
    assert other[0] - times[-1] < 0.3  # nor for 3001's


def test_the_pace_waits_in_the_calling_thread_by_the_injected_clock(api, bot, loop):
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    notifier = TelegramNotifier(bot, loop, per_chat_interval=1.0, clock=lambda: now[0], sleep=sleep)
    notifier.send(alert(4001))
    now[0] += 0.25
    notifier.send(alert(4001, n=2))
    notifier.send(alert(4002))
    now[0] += 5
    notifier.send(alert(4001, n=3))
    assert slept == [pytest.approx(0.75)]


# ---- misuse --------------------------------------------------------------------------------------


def test_send_from_the_bots_own_loop_is_refused_not_deadlocked(notifier, loop):
    async def from_the_loop():
        notifier.send(alert(5001))

    with pytest.raises(RuntimeError, match="worker thread"):
        on(loop, from_the_loop())


def test_a_stopped_loop_is_a_delivery_error_at_once(bot):
    stopped = asyncio.new_event_loop()
    try:
        error = failure(TelegramNotifier(bot, stopped), alert(5002))
        assert "not running" in str(error)
    finally:
        stopped.close()


def test_build_bot_points_at_the_given_api_with_a_rate_limiter():
    bot = build_bot(TOKEN, "http://127.0.0.1:8081/")
    assert isinstance(bot, ExtBot) and isinstance(bot.rate_limiter, AIORateLimiter)
    assert bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert bot.base_file_url == f"http://127.0.0.1:8081/file/bot{TOKEN}"
    plain = build_bot(TOKEN, rate_limited=False)
    assert plain.rate_limiter is None and plain.base_url == f"https://api.telegram.org/bot{TOKEN}"
    with pytest.raises(ValueError):
        build_bot("")


# ---- with the real outbox ------------------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite keeps no zone


@pytest.fixture
def outbox(tmp_path):
    store = Store.open(tmp_path / "x.db")
    return Outbox(store, AlertPolicy.load(DEFAULT_RULES_DIR)), Subscriptions(store)


def _enqueue(box: Outbox, subs: Subscriptions, chats: list[int], now: dt.datetime) -> None:
    for chat in chats:
        subs.add(chat_id=str(chat), channel="telegram", kind="place", target="Sirte", radius_km=50, min_level=3,
                 now=now)
    box.enqueue([AlertIn(key=f"a{chat}", subscription_id=None, chat_id=str(chat), channel="telegram", kind="level",
                         text=f"Sirte: level 4\nfor chat {chat}") for chat in chats], now)


def test_end_to_end_with_the_outbox_one_sent_one_retrying_one_dead_and_paused(api, notifier, outbox):
    box, subs = outbox
    api.modes.update({6001: "429", 6002: "403"})
    now = dt.datetime.now(dt.UTC)
    _enqueue(box, subs, [6001, 6002, 6003], now)
    paused = []

    def on_permanent(item: OutboxAlert, error: PermanentDeliveryError) -> None:  # what the pipeline does
        paused.append((item.chat_id, subs.pause_chat(item.chat_id), str(error)))

    report = box.dispatch({"telegram": notifier}, now, on_permanent=on_permanent)
    assert [a.chat_id for a in report.sent] == ["6003"]
    assert [a.chat_id for a in report.retrying] == ["6001"]
    assert [a.chat_id for a in report.dead] == ["6002"]
    rows = {r["chat_id"]: r for r in box.rows()}
    assert rows["6003"]["status"] == "sent"
    assert rows["6001"]["status"] == "pending"
    assert _utc(rows["6001"]["next_attempt_at"]) >= now + dt.timedelta(seconds=3)
    assert rows["6002"]["status"] == "dead" and "blocked" in rows["6002"]["last_error"]
    assert all(TOKEN not in (r["last_error"] or "") for r in rows.values())
    assert [(chat, n) for chat, n, _ in paused] == [("6002", 1)]
    assert [s.paused for s in subs.all(chat_id="6002", include_paused=True)] == [True]
    assert [s.paused for s in subs.all(chat_id="6001", include_paused=True)] == [False]
    assert len(api.sent(6003)) == 1


def test_the_outbox_honours_a_long_retry_after(api, notifier, outbox):
    box, subs = outbox
    api.modes[6004] = "429:120"  # longer than the outbox's own first back-off (20 s)
    now = dt.datetime.now(dt.UTC)
    _enqueue(box, subs, [6004], now)
    box.dispatch({"telegram": notifier}, now)
    (row,) = box.rows()
    assert row["status"] == "pending"
    assert _utc(row["next_attempt_at"]) - now == dt.timedelta(seconds=120)
