"""Alert fan-out: how fast N subscribers (default 10,000) each get one alert through Telegram.

Everything on the way is the project's own: the alerts are enqueued in the real :class:`Outbox` (an
SQLite file in a temporary directory, the alert policy of ``rules/alerts.yaml``) and dispatched through
the real :class:`~bot.notifier.TelegramNotifier`, whose bot (:func:`~bot.notifier.build_bot`) has
python-telegram-bot's ``AIORateLimiter`` (30 messages per second overall, Telegram's documented limit
for a bot) and runs on an event loop in its own thread, as in the service. The Bot API is the emulator
of the bot's end-to-end tests (npm ``telegram-test-api``, ``npm ci`` at the repository root), on
127.0.0.1: nothing leaves the machine.

The outbox's dispatch is synchronous and sends one alert after the other; ``--workers K`` runs K
dispatch threads side by side, worker k dispatching only the alerts of shard ``(k, K)`` (alert id
modulo K), so no alert can be claimed by two workers. Dispatch goes on until nothing is pending.

Then the emulator's record of every message the bot sent (``POST /getUpdatesHistory``) is checked
against the subscribers: each chat must have got exactly one message, its own alert. The script prints
the figures and ``lost L, duplicated D``; it exits with 0 only when every alert went out exactly once.

Run: ``python bench/fanout.py [--subscribers N] [--workers K] [--no-rate-limit] [--timeout SECONDS]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import logging
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from telegram.request import HTTPXRequest

from bot.notifier import TelegramNotifier, build_bot
from riskengine.alerts import AlertIn, AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.outbox import Outbox
from riskengine.store import Store

ROOT = Path(__file__).resolve().parent.parent

#: Telegram's documented limits for a bot: about 30 messages per second overall, one per second in a chat.
TELEGRAM_MESSAGES_PER_SECOND = 30.0
TELEGRAM_PER_CHAT_PER_SECOND = 1.0

#: Any token will do for the emulator; this one has the shape of a real one.
TOKEN = "700000001:BenchFanoutTokenForTheEmulatorOnly0001"
#: The subscribers' chats: private chats (positive ids), as Telegram users are.
FIRST_CHAT = 500_000_001
#: Alerts each dispatch call takes from the outbox.
BATCH = 200
HTTP_TIMEOUT = 15.0


def chat_of(index: int) -> str:
    return str(FIRST_CHAT + index)


def make_alerts(subscribers: int, run: str) -> list[AlertIn]:
    """One level alert per subscriber, each with its own idempotency key and its chat in the text."""
    return [AlertIn(key=f"fanout-{run}-{i}", subscription_id=None, chat_id=chat_of(i), channel="telegram",
                    kind="level", text=f"Sirte - Waddan: level 4 (High)\nfanout-{run}-{i}: ambush reported near "
                                       f"Abugrein; subscriber {chat_of(i)}")
            for i in range(subscribers)]


# ---- the bot's event loop, in a thread of its own ------------------------------------------------


class LoopThread:
    """An asyncio event loop running forever in a daemon thread, like the bot application's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bot-loop", daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


# ---- dispatch --------------------------------------------------------------------------------------


class Dispatched:
    """What the dispatch workers did (a plain class: ``tests/test_bench_smoke.py`` loads this script
    without registering it in ``sys.modules``, which dataclasses need)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.sent = 0
        self.failures = 0  # sends that failed (retried later, or given up)
        self.timed_out = False
        self.crashes: list[str] = []


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dispatch_all(box: Outbox, notifier: TelegramNotifier, workers: int, timeout: float) -> Dispatched:
    """Dispatch with ``workers`` threads until nothing is pending (or ``timeout`` seconds have passed).

    One worker uses the plain dispatch of the service; with several, worker k owns shard (k, workers).
    """
    result, lock = Dispatched(), threading.Lock()
    deadline = time.monotonic() + timeout
    notifiers = {"telegram": notifier}

    def work(shard: tuple[int, int] | None) -> None:
        try:
            while True:
                if time.monotonic() > deadline:
                    with lock:
                        result.timed_out = True
                    return
                report = box.dispatch(notifiers, _utcnow(), limit=BATCH, shard=shard)
                with lock:
                    result.sent += len(report.sent)
                    result.failures += len(report.retrying) + len(report.dead)
                if report.sent or report.retrying or report.dead:
                    continue
                if not report.held:  # nothing due and nothing waiting for a retry: this shard is done
                    return
                time.sleep(0.2)
        except Exception:  # reported, and the figures show what is missing
            with lock:
                result.crashes.append(traceback.format_exc())

    shards = [None] if workers == 1 else [(k, workers) for k in range(workers)]
    threads = [threading.Thread(target=work, args=(shard,), name=f"dispatch-{i}") for i, shard in enumerate(shards)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


# ---- what Telegram got -----------------------------------------------------------------------------


class Delivery(NamedTuple):
    per_chat: Counter
    lost: list[str]
    duplicated: int  # messages beyond the first in a chat
    strangers: int  # messages to chats that are no subscriber's
    wrong_text: int  # messages whose text is not the alert of their chat


def check_delivery(api_url: str, alerts: list[AlertIn]) -> Delivery:
    """Compare the emulator's record of the bot's messages with the alerts: one per chat, its own."""
    with httpx.Client(base_url=api_url, timeout=120) as client:
        response = client.post("/getUpdatesHistory", json={"token": TOKEN})
        response.raise_for_status()
        history = response.json()["result"]
    expected = {alert.chat_id: alert.key for alert in alerts}
    per_chat: Counter = Counter()
    wrong_text = 0
    for item in history:
        message = item.get("message") or {}
        if "chat_id" not in message:  # not a message of the bot
            continue
        chat = str(message["chat_id"])
        per_chat[chat] += 1
        key = expected.get(chat)
        if key is not None and f"{key}:" not in str(message.get("text", "")):
            wrong_text += 1
    lost = [chat for chat in expected if per_chat[chat] == 0]
    duplicated = sum(n - 1 for chat, n in per_chat.items() if chat in expected and n > 1)
    strangers = sum(n for chat, n in per_chat.items() if chat not in expected)
    return Delivery(per_chat, lost, duplicated, strangers, wrong_text)


# ---- the run ---------------------------------------------------------------------------------------


def _emulator_module():
    """``tests.tg_emulator`` (the emulator launcher the bot's tests use), importable from a plain run too."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.tg_emulator")


def run(subscribers: int, workers: int, rate_limited: bool, timeout: float, out=None) -> int:
    out = out or sys.stdout
    emulator = _emulator_module()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp, emulator.running_emulator(Path(tmp)) as api_url:
        box = Outbox(Store.open(Path(tmp) / "fanout.db"), AlertPolicy.load(DEFAULT_RULES_DIR))
        alerts = make_alerts(subscribers, run=f"{time.time_ns():x}")
        started = time.perf_counter()
        added = box.enqueue(alerts, _utcnow())
        enqueue_seconds = time.perf_counter() - started
        if len(added) != subscribers:
            print(f"error: {len(added)} of {subscribers} alerts enqueued", file=sys.stderr)
            return 1

        request = HTTPXRequest(connection_pool_size=workers + 2, connect_timeout=HTTP_TIMEOUT,
                               read_timeout=HTTP_TIMEOUT, write_timeout=HTTP_TIMEOUT, pool_timeout=HTTP_TIMEOUT)
        bot = build_bot(TOKEN, api_url, rate_limited=rate_limited, request=request)
        with LoopThread() as loop:
            loop.run(bot.initialize())
            try:
                notifier = TelegramNotifier(bot, loop.loop, per_chat_interval=1 / TELEGRAM_PER_CHAT_PER_SECOND,
                                            timeout=HTTP_TIMEOUT * 2)
                dispatched = dispatch_all(box, notifier, workers, timeout)
            finally:
                loop.run(bot.shutdown())
        delivery = check_delivery(api_url, alerts)
        statuses = box.counts()

    rate = subscribers / dispatched.seconds if dispatched.seconds > 0 else float("inf")
    limiter = (f"on (AIORateLimiter, {TELEGRAM_MESSAGES_PER_SECOND:g} messages/s overall)" if rate_limited
               else "off (--no-rate-limit: raw speed)")
    most = max(delivery.per_chat.values(), default=0)
    rows = [
        ("subscribers", f"{subscribers}"),
        ("dispatch workers", f"{workers}"),
        ("rate limiter", limiter),
        ("enqueue seconds", f"{enqueue_seconds:.2f}"),
        ("seconds", f"{dispatched.seconds:.2f}"),
        ("messages/s", f"{rate:.1f}"),
        ("telegram limit", f"~{TELEGRAM_MESSAGES_PER_SECOND:g} messages/s per bot, "
                           f"{TELEGRAM_PER_CHAT_PER_SECOND:g} message/s per chat"),
        ("ratio to limit", f"{rate / TELEGRAM_MESSAGES_PER_SECOND:.2f}"),
        ("most messages in a chat", f"{most}"),
        ("failed sends", f"{dispatched.failures}"),
        ("outbox", ", ".join(f"{status} {n}" for status, n in sorted(statuses.items()))),
    ]
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        print(f"{label:<{width}}{value}", file=out)
    burst = int(TELEGRAM_MESSAGES_PER_SECOND)
    if rate_limited and subscribers <= 2 * burst:
        print(f"(the limiter lets a first burst of {burst} through at once: too few subscribers to measure "
              f"the sustained rate)", file=out)
    elif rate_limited and dispatched.seconds > 0:
        print(f"(the limiter lets a first burst of {burst} through at once; after it "
              f"{(subscribers - burst) / dispatched.seconds:.1f} messages/s)", file=out)
    print(f"lost {len(delivery.lost)}, duplicated {delivery.duplicated}", file=out)
    problems = []
    if delivery.lost:
        problems.append(f"no message in {len(delivery.lost)} chat(s), e.g. {', '.join(delivery.lost[:5])}")
    if delivery.strangers:
        problems.append(f"{delivery.strangers} message(s) to chats of no subscriber")
    if delivery.wrong_text:
        problems.append(f"{delivery.wrong_text} message(s) not the alert of their chat")
    if statuses != {"sent": subscribers}:
        problems.append(f"the outbox is not all sent: {statuses}")
    if dispatched.timed_out:
        problems.append(f"dispatch stopped after the {timeout:g} s timeout")
    problems += [f"a dispatch worker crashed:\n{crash}" for crash in dispatched.crashes]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if not problems and not delivery.duplicated else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000, help="subscribers, one alert each (10000)")
    parser.add_argument("--workers", type=int, default=1, help="dispatch threads, one outbox shard each (1)")
    parser.add_argument("--no-rate-limit", action="store_true", help="no AIORateLimiter: the raw speed")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up dispatching after this many seconds (default: 120 + N/10)")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.workers < 1:
        parser.error("--subscribers and --workers must be at least 1")
    timeout = args.timeout if args.timeout is not None else 120 + args.subscribers / 10
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    import pytest  # the emulator's launcher reports a missing Node or package with pytest.fail

    try:
        return run(args.subscribers, args.workers, not args.no_rate_limit, timeout)
    except pytest.fail.Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
