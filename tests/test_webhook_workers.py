"""Webhook mode: N stateless bot workers behind a proxy, one leading scheduler and a standby, one store.

Real processes against a real PostgreSQL on loopback (skipped without ``RISKENGINE_TEST_PG``), the Bot API
emulator delivering updates to the webhook as Telegram does (with the secret token), and a round-robin
balancer of ours in front of two ``riskengine serve --webhook`` workers, so consecutive updates reach
different workers. Also a question and its answer (``/risk`` without places) with the ordinary polling
bot on SQLite: dialogs live in the store in single-process mode too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

from bot.service import build
from bot.settings import BotSettings
from riskengine.alerts import AlertPolicy
from riskengine.config import RunConfig
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.pipeline import Pipeline
from riskengine.schema import chat_settings, handled_updates
from riskengine.store import Store

from .balancer import Balancer
from .conftest import PROJECT
from .tg_emulator import (
    BotThread,
    TestUser,
    deliveries,
    free_port,
    redeliver_last,
    running_emulator,
    text_of,
    webhook_info,
)

TOKEN = "123456789:riskengine-webhook-TEST-token"
PATH = "/telegram/webhook"
ASK = "Which route? Send two places, e.g. Misrata Sebha"
ASK_AR = "أي طريق؟ أرسل مكانين، مثلًا مصراتة سبها"
#: Two reports of our own on Sirte -> Sebha: the first makes the route Medium, the second High.
AMBUSH = ("Gunmen ambushed a convoy of lorries on the road between Sirte and Waddan today, killing two drivers "
          "and kidnapping a third.")
BOMB_AR = "انفجرت عبوة ناسفة بحافلة ركاب على الطريق بين سوكنة وسبها اليوم، ما أدى إلى مقتل أربعة ركاب."
_user_ids = itertools.count(970_001)


class Process:
    """A ``riskengine`` process of the test, its output read as it comes."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name, self.out = name, ""
        self.proc = subprocess.Popen([sys.executable, "-m", "riskengine.cli", *args], cwd=PROJECT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.out += line

    def wait_for(self, text: str, timeout: float) -> float:
        """Wait until the output says ``text``; the seconds it took."""
        start = time.monotonic()
        while text not in self.out:
            assert self.proc.poll() is None or text in self.out, f"{self.name} exited:\n{self.out}"
            assert time.monotonic() - start < timeout, f"{self.name} never said {text!r}:\n{self.out}"
            time.sleep(0.05)
        return time.monotonic() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ask(user: TestUser, text: str, command: bool = True) -> str:
    (user.command if command else user.say)(text)
    return text_of(user.reply(timeout=20))


def which_worker(balancer: Balancer, update_id: int) -> int:
    """The worker that took an update first (its first delivery)."""
    return next(f.backend for f in balancer.log if f.update_id == update_id)


def test_two_workers_and_two_schedulers_share_one_store(tmp_path, pg_url):
    secret = "webhook_" + secrets.token_hex(12)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"sources": [], "notifiers": {"console": False}, "board": [["Sirte", "Sebha"]],
                                  "intervals": {"evaluate": "1h", "dispatch": "1h"}}))
    ports = [free_port(), free_port()]
    processes: list[Process] = []
    with running_emulator(tmp_path) as api, httpx.Client(base_url=api, timeout=30) as client, \
            Balancer([f"http://127.0.0.1:{p}" for p in ports]) as balancer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api,
               "TELEGRAM_WEBHOOK_SECRET": secret}
        Store(pg_url).engine.dispose()  # the schema, made once before four processes open it
        common = ["--db", pg_url, "-v"]
        try:
            started = time.monotonic()
            workers = [Process(f"worker {n}", [*common, "serve", "--webhook", "--port", str(port), "--config",
                                               str(config), "--webhook-url", balancer.url + PATH], env)
                       for n, port in enumerate(ports)]
            schedulers = [Process(f"scheduler {n}", [*common, "run", "--config", str(config)], env) for n in (1, 2)]
            processes += workers + schedulers
            for worker, port in zip(workers, ports, strict=True):
                worker.wait_for("serving the Telegram webhook", 60)
                wait_until(lambda p=port: _healthy(p), 60, f"{worker.name} to connect:\n{worker.out}")
            for scheduler in schedulers:
                scheduler.wait_for("Telegram bot connected", 60)
            wait_until(lambda: all("leading the scheduler" in s.out or "standing by" in s.out for s in schedulers),
                       30, "one scheduler to lead, the other to stand by")
            [leader] = [s for s in schedulers if "leading the scheduler" in s.out]
            [standby] = [s for s in schedulers if s is not leader]
            standby.wait_for("standing by", 10)
            print(f"four processes ready in {time.monotonic() - started:.1f} s")
            # the schedulers never poll: getUpdates would have deleted the webhook the workers set
            assert webhook_info(client, TOKEN)["url"] == balancer.url + PATH

            user = TestUser(client, TOKEN, next(_user_ids), "Amal")
            # a question on one worker, its answer on the other
            assert ask(user, "/risk") == ASK
            assert "<b>Sirte → Sebha</b>" in ask(user, "Sirte Sebha", command=False)
            asked, answered = (d["update_id"] for d in deliveries(client, TOKEN)[-2:])
            assert which_worker(balancer, asked) != which_worker(balancer, answered)
            assert ask(user, "/subscribe") == ASK
            assert ask(user, "Sirte - Sebha", command=False).startswith("Subscribed: <b>")
            assert ask(user, "/language ar").startswith("من الآن أجيبك بالعربية")

            # updates without the secret, or with a wrong one: 403, nothing handled
            store = create_engine(pg_url)
            try:
                def handled_ids():
                    with store.connect() as conn:
                        return {r[0] for r in conn.execute(select(handled_updates.c.update_id))}

                def language():
                    with store.connect() as conn:
                        return conn.execute(select(chat_settings.c.language).where(
                            chat_settings.c.chat_id == str(user.id))).scalar()

                before = handled_ids()
                for n, headers in enumerate([{}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"},
                                             {"X-Telegram-Bot-Api-Secret-Token": secret + "x"}]):
                    forged = _command_update(9_000_000 + n, user, "/language en")
                    assert httpx.post(balancer.url + PATH, json=forged, headers=headers).status_code == 403
                user.silence(1.0)
                assert handled_ids() == before and language() == "ar"
                assert {f.backend for f in balancer.log if f.status == 403} == {0, 1}

                # a redelivered update is handled once
                assert ask(user, "/routes").startswith("<b>الطرق الرئيسية</b>")
                again = redeliver_last(client, TOKEN)
                assert again["status"] == 200
                user.silence(1.0)
                assert [d["update_id"] for d in deliveries(client, TOKEN)].count(again["update_id"]) == 2
            finally:
                store.dispose()

            # a worker's /selftest alert goes into the outbox; the leader's store watch sends it at once (its
            # dispatch job runs hourly here), and the worker that waited for it says it was delivered
            user.command("/selftest")
            test_alert, verdict = user.replies(2, timeout=20)
            assert "🔔 تنبيه تجريبي" in text_of(test_alert) and text_of(verdict).startswith("وصل التنبيه التجريبي خلال")
            delay_ms = float(re.search(r"(\d+)\u2069? ملّي ثانية", text_of(verdict)).group(1))
            print(f"/selftest through a worker and the leader: {delay_ms:.0f} ms queued -> delivered")
            assert delay_ms < 5000

            # a report stored by another process reaches the subscriber once, through the leader
            _ingest(common, tmp_path / "ambush.txt", AMBUSH, env)
            [alert] = user.replies(1, timeout=30, settle=1.0)
            assert "سرت" in text_of(alert) and "سبها" in text_of(alert)

            # the leader dies; the standby leads, and the next alert still comes once
            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait(10)
            took = standby.wait_for("leading the scheduler after standing by", 30)
            print(f"the standby led {took:.1f} s after the leader was killed")
            assert took < 30
            _ingest(common, tmp_path / "bomb.txt", BOMB_AR, env)
            [second] = user.replies(1, timeout=30, settle=1.0)
            assert "سبها" in text_of(second) and text_of(second) != text_of(alert)
            user.silence(1.0)
            for process in processes:  # neither the token nor the secret is in any log
                assert secret not in process.out and TOKEN.split(":")[1] not in process.out, process.name
        finally:
            for process in processes:
                process.stop()
                print(f"---- {process.name}\n{process.out}")  # shown when the test fails
    for worker in workers:
        assert worker.proc.returncode == 0, worker.out


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _command_update(update_id: int, user: TestUser, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": user.chat, "from": user.user, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


def _ingest(common: list[str], report: Path, text: str, env: dict[str, str]) -> None:
    """Store ``text`` as the report file ``report`` with `riskengine ingest`, in a process of its own."""
    report.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "riskengine.cli", *common, "ingest", str(report), "--published",
                           dt.datetime.now(dt.UTC).date().isoformat()], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and re.search(r"\b1 incidents? added", done.stdout), done.stdout + done.stderr


# ---- single process: the polling bot keeps its questions in the store too -------------------------------


def test_the_polling_bot_asks_which_route_and_takes_the_next_message_as_the_answer(tmp_path, rules, gazetteer,
                                                                                     network):
    engine = RiskEngine(Store.open(tmp_path / "risk.db"), rules, gazetteer, network)
    now = [dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)]
    config = RunConfig.model_validate({"notifiers": {"console": False}, "board": [["Sirte", "Sebha"]],
                                       "intervals": {"evaluate": "1h", "dispatch": "1h", "watch": "1h"}})
    with running_emulator(tmp_path) as api, httpx.Client(base_url=api, timeout=30) as client, httpx.Client() as http:
        settings = BotSettings(token=TOKEN, api_base_url=api, commands_per_minute=60)
        pipeline = Pipeline(engine, config, Path("."), AlertPolicy.load(DEFAULT_RULES_DIR), client=http, notifiers={})
        runner = BotThread(build(pipeline, settings, clock=lambda: now[0]))
        runner.start()
        try:
            user = TestUser(client, TOKEN, next(_user_ids), "Salem")
            assert ask(user, "/risk") == ASK
            assert "<b>Misrata → Sebha</b>" in ask(user, "Misrata Sebha", command=False)
            pointer = ask(user, "Misrata Sebha", command=False)  # answered already: no question open
            assert pointer.startswith("I answer commands")

            assert ask(user, "/subscribe") == ASK
            assert ask(user, "/routes").startswith("<b>Main routes</b>")  # a command changes the subject
            assert ask(user, "Sirte Sebha", command=False).startswith("I answer commands")
            assert pipeline.subscriptions.all(chat_id=str(user.id)) == []

            assert ask(user, "/risk") == ASK
            now[0] += dt.timedelta(minutes=11)  # too late: the question expired
            assert ask(user, "Misrata Sebha", command=False).startswith("I answer commands")

            ask(user, "/language ar")
            assert ask(user, "/subscribe") == ASK_AR
            subscribed = ask(user, "مصراتة سبها", command=False)
            assert "مصراتة" in subscribed and "سبها" in subscribed
            assert [s.target for s in pipeline.subscriptions.all(chat_id=str(user.id))] == ["Misrata|Sebha"]
        finally:
            runner.stop()


def test_a_worker_without_a_secret_token_refuses_to_start(tmp_path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9"}
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    done = subprocess.run([sys.executable, "-m", "riskengine.cli", "--db", str(tmp_path / "risk.db"), "--create",
                           "serve", "--webhook", "--port", "0"], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "no webhook secret token" in line and "TELEGRAM_WEBHOOK_SECRET" in line
    assert TOKEN.split(":")[1] not in done.stderr + done.stdout
    env["TELEGRAM_WEBHOOK_SECRET"] = "has spaces, not allowed"
    done = subprocess.run([sys.executable, "-m", "riskengine.cli", "--db", str(tmp_path / "risk.db"), "serve",
                           "--webhook", "--port", "0"], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "webhook_secret" in done.stderr and "has spaces" not in done.stderr
