"""A Telegram Bot API emulator for the bot's end-to-end tests, and test users that talk through it.

The emulator is the npm package ``telegram-test-api`` (pinned in the repository's ``package.json``;
``npm ci`` at the repository root installs it) started by ``tg-emu.js`` beside this file on a free
127.0.0.1 port. The bot under test polls it as if it were api.telegram.org; a :class:`TestUser`
posts commands, messages, locations and button presses through the emulator's client API and reads
what the bot sent back. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html.parser
import itertools
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from telegram.ext import Application

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("tg-emu.js")
PACKAGE = ROOT / "node_modules" / "telegram-test-api" / "package.json"
#: The tags Telegram's HTML parse mode accepts.
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                 "pre", "blockquote", "tg-emoji"}
_TAG = re.compile(r"</?[a-z][a-z-]*(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def node_or_fail() -> str:
    """The ``node`` executable; fails the test run (never skips) when Node or the package is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("the Telegram end-to-end tests need Node.js (node >= 18 on PATH) and the emulator package: "
                    "install Node, then run `npm ci` at the repository root", pytrace=False)
    if not PACKAGE.is_file():
        pytest.fail(f"the Telegram Bot API emulator is not installed ({PACKAGE.parent} is missing): run `npm ci` "
                    f"at the repository root ({ROOT})", pytrace=False)
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_emulator(log_dir: Path, timeout: float = 30.0) -> Iterator[str]:
    """Start the emulator on a free loopback port; yield its base URL; stop it afterwards."""
    node = node_or_fail()
    port = free_port()
    log_path = log_dir / "tg-emu.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([node, str(LAUNCHER), str(port), "--exit-on-stdin-eof"], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while "READY" not in log_path.read_text(encoding="utf-8"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Telegram emulator did not start:\n{log_path.read_text(encoding='utf-8')}",
                            pytrace=False)
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdin:
            proc.stdin.close()


class BotThread:
    """Runs a python-telegram-bot ``Application`` polling the emulator, on its own event loop in a thread."""

    def __init__(self, app: Application):
        self.app = app
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="bot-under-test", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = self.app
        await app.initialize()
        if app.post_init:
            await app.post_init(app)
        await app.start()
        await app.updater.start_polling(poll_interval=0.05)
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self.ready.wait(timeout) or self.failure is not None:
            raise RuntimeError(f"the bot did not start: {self.failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)


class _TagChecker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}> is not Telegram HTML")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def html_problems(text: str) -> list[str]:
    """Why Telegram's HTML parser would refuse a message: unknown or unbalanced tags, a bare '<', '>' or '&'."""
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    problems = checker.problems + [f"<{t}> is never closed" for t in checker.stack]
    bare = _ENTITY.sub("", _TAG.sub("", text))
    problems += [f"a bare {c!r}" for c in "<>&" if c in bare]
    return problems


class TestUser:
    """A Telegram user in a private chat with the bot, acting through the emulator's client API."""

    __test__ = False  # not a pytest test class

    def __init__(self, client: httpx.Client, token: str, user_id: int, first_name: str = "Tester"):
        self.client, self.token, self.id = client, token, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "username": f"user{user_id}"}
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}

    def _post(self, path: str, body: dict) -> dict:
        response = self.client.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def _message(self, **fields) -> dict:
        return {"botToken": self.token, "from": self.user, "chat": self.chat, "date": int(time.time()), **fields}

    def command(self, text: str) -> None:
        """Send a command (text starting with /), as Telegram marks it: a bot_command entity."""
        length = len(text.split(" ", 1)[0])
        self._post("/sendCommand", self._message(
            text=text, entities=[{"type": "bot_command", "offset": 0, "length": length}]))

    def say(self, text: str) -> None:
        """Send a plain text message."""
        self._post("/sendMessage", self._message(text=text))

    def share_location(self, lat: float, lon: float) -> None:
        """Share a location (Telegram's paper-clip -> Location)."""
        self._post("/sendMessage", self._message(location={"latitude": lat, "longitude": lon}))

    def press(self, message: dict, data: str) -> None:
        """Press the inline button with callback ``data`` under a message the bot sent."""
        datas = [b.get("callback_data") for row in buttons_of(message) for b in row]
        assert data in datas, f"no button {data!r} under the message; buttons: {datas}"
        shown = {"message_id": message["messageId"], "date": int(message["time"] / 1000),
                 "chat": self.chat, "text": message["message"].get("text", "")}
        if message["message"].get("reply_markup"):
            shown["reply_markup"] = message["message"]["reply_markup"]
        self._post("/sendCallback", {"botToken": self.token, "from": self.user, "message": shown, "data": data})

    def press_raw(self, data: str) -> None:
        """Send a callback with any data, as a tampering client could."""
        shown = {"message_id": 1, "date": int(time.time()), "chat": self.chat, "text": "…"}
        self._post("/sendCallback", {"botToken": self.token, "from": self.user, "message": shown, "data": data})

    def replies(self, count: int = 1, timeout: float = 10.0, settle: float = 0.15) -> list[dict]:
        """The bot's next messages to this chat: wait for ``count``, then ``settle`` seconds for more.

        Each is the emulator's record (``message`` holds ``text``, ``parse_mode``, ``reply_markup``);
        every text is checked to be HTML that Telegram accepts.
        """
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        quiet_until = None
        while True:
            batch = self._post("/getUpdates", {"token": self.token, "chatId": self.id})["result"]
            got.extend(batch)
            now = time.monotonic()
            if batch and len(got) >= count:
                quiet_until = now + settle
            if len(got) >= count and quiet_until is not None and now >= quiet_until:
                break
            if now > deadline:
                if len(got) >= count:
                    break
                raise AssertionError(f"expected {count} message(s) from the bot, got {len(got)}: "
                                     f"{[m['message'].get('text') for m in got]}")
            time.sleep(0.05)
        for m in got:
            assert m["message"].get("parse_mode") == "HTML", m["message"]
            problems = html_problems(m["message"]["text"])
            assert not problems, f"{problems} in {m['message']['text']!r}"
        return got

    def reply(self, timeout: float = 10.0) -> dict:
        """Exactly one next message of the bot."""
        [message] = self.replies(1, timeout)
        return message

    def silence(self, seconds: float = 1.0) -> None:
        """Assert the bot sends nothing to this chat for ``seconds``."""
        time.sleep(seconds)
        unread = self._post("/getUpdates", {"token": self.token, "chatId": self.id})["result"]
        assert not unread, f"expected silence, the bot sent {[m['message'].get('text') for m in unread]}"

    def history(self) -> list[dict]:
        """Every bot message to this chat so far, as it is now (edits applied)."""
        everything = self._post("/getUpdatesHistory", {"token": self.token})["result"]
        return [u for u in everything if "message" in u and str(u["message"].get("chat_id")) == str(self.id)]


def text_of(message: dict) -> str:
    return message["message"]["text"]


def buttons_of(message: dict) -> list[list[dict]]:
    markup = message["message"].get("reply_markup") or {}
    return markup.get("inline_keyboard") or []


def button_data(message: dict) -> list[str]:
    return [b["callback_data"] for row in buttons_of(message) for b in row]


# ---- webhook mode: what the emulator delivered, and delivering again ------------------------------------


def webhook_info(client: httpx.Client, token: str) -> dict:
    """The bot's webhook as the emulator knows it (Bot API getWebhookInfo): ``url`` is "" when none is set."""
    response = client.post(f"/bot{token}/getWebhookInfo")
    response.raise_for_status()
    return response.json()["result"]


def deliveries(client: httpx.Client, token: str) -> list[dict]:
    """Every update the emulator posted to the bot's webhook: ``update_id``, the HTTP ``status`` it got
    (None while in flight), and ``redelivery`` (posted again by :func:`redeliver_last`), oldest first."""
    response = client.post("/getDeliveries", json={"botToken": token})
    response.raise_for_status()
    return response.json()["result"]


def redeliver_last(client: httpx.Client, token: str) -> dict:
    """Post the last delivered update to the webhook again, as Telegram does when a worker answered late;
    its ``update_id`` and the ``status`` the webhook answered."""
    response = client.post("/redeliverLast", json={"botToken": token})
    response.raise_for_status()
    return response.json()["result"]


class Clock:
    """The bot's and the service's time, moved by the test."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@contextmanager
def service_bot(engine, api_url: str, token: str, clock: Callable[[], dt.datetime], *,
                commands_per_minute: int = 60) -> Iterator:
    """The service's bot (its outbox, dispatcher and Telegram notifier) polling the emulator on
    ``clock``, its own timers an hour apart so that the test decides when to evaluate and dispatch;
    yields the pipeline (``pipeline.evaluate(at)``, ``pipeline.dispatch(at)``)."""
    from bot.service import build  # noqa: PLC0415 - the bot tests' helpers only
    from bot.settings import BotSettings  # noqa: PLC0415
    from riskengine.alerts import AlertPolicy  # noqa: PLC0415
    from riskengine.config import RunConfig  # noqa: PLC0415
    from riskengine.engine import DEFAULT_RULES_DIR  # noqa: PLC0415
    from riskengine.pipeline import Pipeline  # noqa: PLC0415

    config = RunConfig.model_validate({"notifiers": {"console": False},
                                       "intervals": {"evaluate": "1h", "dispatch": "1h", "watch": "1h"}})
    settings = BotSettings(token=token, api_base_url=api_url, analysts=set(), commands_per_minute=commands_per_minute)
    with httpx.Client() as http:
        pipeline = Pipeline(engine, config, Path("."), AlertPolicy.load(DEFAULT_RULES_DIR), client=http, notifiers={})
        runner = BotThread(build(pipeline, settings, clock=clock))
        runner.start()
        try:
            yield pipeline
        finally:
            runner.stop()


@contextmanager
def bot_world(store_path: Path, api_url: str, token: str, start: dt.datetime, rules, gazetteer, network, *,
              commands_per_minute: int = 60) -> Iterator[tuple]:
    """A fresh store at ``store_path`` and the service's bot polling the emulator on a clock (a
    :class:`Clock` from ``start``) the test moves: yields (engine, pipeline, clock)."""
    from riskengine.engine import RiskEngine  # noqa: PLC0415
    from riskengine.store import Store  # noqa: PLC0415

    engine = RiskEngine(Store.open(store_path), rules, gazetteer, network)
    clock = Clock(start)
    with service_bot(engine, api_url, token, clock, commands_per_minute=commands_per_minute) as pipeline:
        yield engine, pipeline, clock


class Users:
    """New Telegram users of one bot, each with an id of its own (from ``first_id`` on)."""

    def __init__(self, token: str, first_id: int):
        self.token, self._ids = token, itertools.count(first_id)

    def new(self, client: httpx.Client, language_code: str | None = None) -> TestUser:
        user = TestUser(client, self.token, next(self._ids))
        if language_code:
            user.user["language_code"] = language_code
        return user


def step(pipeline, clock: Clock, at: dt.datetime):
    """Move the clock to ``at``, then evaluate and dispatch there, as the scheduler does; the dispatch report."""
    clock.now = at
    pipeline.evaluate(at)
    return pipeline.dispatch(at)
