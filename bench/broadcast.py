"""Broadcast channels: how many messages one western ambush costs for N readers, with and without one.

Two runs of the real path, each on its own SQLite store in a temporary directory: the same report
(an ambush on the coastal road near Zawiya) is stored, then :meth:`Pipeline.evaluate` decides the
alerts and writes them to the outbox.

* ``per subscriber``: the N readers each follow a western route through Zawiya with the bot (four
  routes, N/4 subscribers each): one message per reader.
* ``broadcast channel``: the same N readers follow the west region's channel (``broadcast: {west:
  ...}`` in the run configuration, seeded by :meth:`Pipeline.seed_subscriptions`): one message,
  which Telegram fans out to every reader of the channel.

For each it prints the messages decided, the seconds deciding took, and the seconds sending them
takes at Telegram's documented limit of 30 messages per second for a bot. With ``--send`` the
messages are also sent, through the real :class:`~bot.notifier.TelegramNotifier` with
python-telegram-bot's ``AIORateLimiter``, to the Bot API emulator of the end-to-end tests on 127.0.0.1
(``npm ci`` at the repository root), and the time measured is printed too.

Run: ``python bench/broadcast.py [--subscribers N] [--send]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python bench/broadcast.py``
    sys.path.insert(0, str(ROOT))

from riskengine.alerts import AlertPolicy  # noqa: E402
from riskengine.config import RunConfig  # noqa: E402
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine  # noqa: E402
from riskengine.pipeline import Pipeline  # noqa: E402
from riskengine.subscriptions import Subscriptions  # noqa: E402

#: Telegram's documented limit for a bot: about 30 messages per second overall.
TELEGRAM_MESSAGES_PER_SECOND = 30.0
#: Western routes through Zawiya that readers follow on their own.
ROUTES = ("Tripoli|Zuwara", "Tripoli|Ras Ajdir", "Zawiya|Zuwara", "Misrata|Zuwara")
WEST_CHANNEL = "-1001000000001"
FIRST_CHAT = 600_000_001
REPORT = ("Gunmen stopped a bus on the coastal road west of Zawiya at dawn and robbed the passengers; "
          "one passenger was shot and wounded.")


def _fanout():
    """``bench/fanout.py`` (its event-loop thread and dispatch loop), loaded from beside this file."""
    spec = importlib.util.spec_from_file_location("bench_fanout_for_broadcast", Path(__file__).with_name("fanout.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Run:
    """One way of telling N readers: the messages it decided and how long each step took."""

    def __init__(self, label: str):
        self.label, self.messages, self.decide_seconds, self.send_seconds = label, 0, 0.0, None
        self.sent = 0

    @property
    def at_limit_seconds(self) -> float:
        return self.messages / TELEGRAM_MESSAGES_PER_SECOND


def tell(readers: int, broadcast: bool, workdir: Path, now: dt.datetime, send_to: str | None) -> Run:
    """Store the report and decide (and, with ``send_to``, send) what ``readers`` readers are owed."""
    run = Run("broadcast channel" if broadcast else "per subscriber")
    engine = RiskEngine.open(db=f"sqlite:///{workdir / ('broadcast.db' if broadcast else 'each.db')}")
    config = RunConfig.model_validate({"notifiers": {"console": False},
                                       "broadcast": {"west": {"chat": WEST_CHANNEL}} if broadcast else {}})
    with httpx.Client() as client:
        pipeline = Pipeline(engine, config, workdir, AlertPolicy.load(DEFAULT_RULES_DIR), client=client, notifiers={})
        pipeline.seed_subscriptions(now)
        if not broadcast:
            subs = Subscriptions(engine.store)
            for i in range(readers):
                subs.add(chat_id=str(FIRST_CHAT + i), channel="telegram", kind="route", target=ROUTES[i % len(ROUTES)],
                         min_level=3, now=now)
        engine.ingest_text(REPORT, source="bench", published=now.date(), now=now, source_reliability="B")
        started = time.perf_counter()
        pipeline.evaluate(now)
        run.decide_seconds = time.perf_counter() - started
        run.messages = pipeline.outbox.counts().get("pending", 0)  # an incident told inside a level alert is no message
        if send_to:
            run.send_seconds, run.sent = send(pipeline, send_to)
    engine.store.engine.dispose()
    return run


def send(pipeline: Pipeline, api_url: str) -> tuple[float, int]:
    """Dispatch everything pending through a rate-limited bot to the emulator: seconds taken, messages sent."""
    from bot.notifier import TelegramNotifier, build_bot  # noqa: PLC0415 - only --send needs the bot

    fanout = _fanout()
    bot = build_bot(fanout.TOKEN, api_url, rate_limited=True)
    with fanout.LoopThread() as loop:
        loop.run(bot.initialize())
        try:
            notifier = TelegramNotifier(bot, loop.loop, per_chat_interval=1.0, timeout=30.0)
            done = fanout.dispatch_all(pipeline.outbox, notifier, 1, timeout=600 + pipeline.outbox.counts().get(
                "pending", 0) / 10)
        finally:
            loop.run(bot.shutdown())
    return done.seconds, done.sent


def run(readers: int, send_them: bool, out=None) -> int:
    out = out or sys.stdout
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="broadcast-") as tmp:
        if send_them:
            emulator = _fanout()._emulator_module()
            with emulator.running_emulator(Path(tmp)) as api_url:
                runs = [tell(readers, broadcast, Path(tmp), now, api_url) for broadcast in (False, True)]
        else:
            runs = [tell(readers, broadcast, Path(tmp), now, None) for broadcast in (False, True)]
    print(f"readers                {readers} (of the west region's roads: an ambush near Zawiya)", file=out)
    print(f"telegram limit         ~{TELEGRAM_MESSAGES_PER_SECOND:g} messages/s per bot", file=out)
    header = f"{'':<20}{'messages':>10}{'decide s':>10}{'send s at limit':>17}"
    print(header + (f"{'sent s (measured)':>19}" if send_them else ""), file=out)
    for r in runs:
        line = f"{r.label:<20}{r.messages:>10}{r.decide_seconds:>10.2f}{r.at_limit_seconds:>17.2f}"
        print(line + (f"{r.send_seconds:>19.2f}" if send_them else ""), file=out)
    each, channel = runs
    if channel.messages:
        print(f"messages saved         {each.messages - channel.messages} "
              f"({each.messages / channel.messages:.0f} times fewer)", file=out)
    problems = []
    if each.messages != readers:
        problems.append(f"{each.messages} messages decided for {readers} subscribers, not one each")
    if channel.messages != 1:
        problems.append(f"{channel.messages} messages decided for the channel, not one")
    if send_them and (each.sent, channel.sent) != (each.messages, channel.messages):
        problems.append(f"sent {each.sent} and {channel.sent}, not {each.messages} and {channel.messages}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="readers of the west region (1000)")
    parser.add_argument("--send", action="store_true",
                        help="also send the messages to the Bot API emulator at 30 messages/s and time it")
    args = parser.parse_args(argv)
    if args.subscribers < 1:
        parser.error("--subscribers must be at least 1")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    import pytest  # the emulator's launcher reports a missing Node or package with pytest.fail

    try:
        return run(args.subscribers, args.send)
    except pytest.fail.Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
