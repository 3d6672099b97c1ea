"""One process, bot and scheduler together: `riskengine run` with a Telegram token, against the Bot API
emulator on loopback. A user asks a route's risk and subscribes; a report about an ambush near Waddan
arrives in the watched folder; the alert reaches the user once; quiet hours hold a second user's back.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, select

from riskengine.schema import outbox

from .conftest import start_service, stop_service
from .tg_emulator import TestUser, running_emulator, text_of

TOKEN = "987654321:riskengine-service-TEST-token"


@pytest.fixture
def emulator(tmp_path):
    (tmp_path / "emu").mkdir()
    with running_emulator(tmp_path / "emu") as url:
        yield url


def quiet_hours_covering(now: dt.datetime) -> str:
    """Quiet hours, in Tripoli time, that contain ``now``."""
    local = now.astimezone(ZoneInfo("Africa/Tripoli"))
    start, end = local - dt.timedelta(hours=1), local + dt.timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_ask_subscribe_and_get_one_alert_when_an_ambush_near_waddan_is_reported(tmp_path, emulator):
    proc, inbox, db = start_service(tmp_path, token=TOKEN, api_url=emulator, console=False,
                                    stdout=subprocess.PIPE, board=[["Misrata", "Sebha"], ["Sirte", "Sebha"]])
    try:
        with httpx.Client(base_url=emulator, timeout=10) as client:
            user = TestUser(client, TOKEN, 5550001, "Officer")
            sleeper = TestUser(client, TOKEN, 5550002, "Night")
            user.command("/risk Misrata Sebha")
            answer = text_of(user.reply(timeout=60))  # the process needs a few seconds to start
            assert "Misrata → Sebha" in answer and "No recent reports" in answer  # an empty store is not safe

            user.command("/subscribe Sirte Sebha 2")
            assert "Sirte → Sebha" in text_of(user.reply())
            sleeper.command("/subscribe Sirte Sebha 2")
            sleeper.reply()
            sleeper.command(f"/quiet {quiet_hours_covering(dt.datetime.now(dt.UTC))}")
            sleeper.reply()

            today = dt.datetime.now(dt.UTC).date()
            (inbox / "ambush.json").write_text(json.dumps({
                "title": "Ambush near Waddan", "published": today.isoformat(),
                "text": "Gunmen ambushed two lorries near Waddan today, wounding a driver and stealing the cargo."}))

            [alert] = user.replies(1, timeout=60, settle=3.0)  # one message, not several
            text = text_of(alert)
            assert "Sirte" in text and "Sebha" in text and "Waddan" in text
            user.silence(3.0)  # and never again
            sleeper.silence(0.5)  # held back by quiet hours
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            rows = conn.execute(select(outbox.c.chat_id, outbox.c.status)).all()
        engine.dispose()
        held = [status for chat, status in rows if chat == str(sleeper.id)]
        assert held and set(held) <= {"pending", "merged"}
    finally:
        code = stop_service(proc)
    output = proc.stdout.read()
    assert code == 0, output[-2000:]
    assert TOKEN not in output and TOKEN.split(":")[1] not in output  # the token never reaches a log
