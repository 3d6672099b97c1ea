"""Broadcast channels per region: rules/regions.yaml, ``broadcast:`` in the run configuration, and one
message per region change to a Telegram channel however many read it (fixed clock; the last test runs
the service against the Bot API emulator)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.alert_i18n import localized_render
from bot.i18n import translator
from bot.notifier import is_quiet
from riskengine.alerts import AlertPolicy
from riskengine.config import ConfigError, RunConfig, load_config
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.errors import RuleFileError
from riskengine.pipeline import Pipeline
from riskengine.regions import REGIONS_FILE, Regions, regions_of
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from .conftest import PROJECT, Recorder, stop_service
from .tg_emulator import TestUser, running_emulator, text_of

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)  # 10:00 in Tripoli
WEST_CHANNEL, EAST_CHANNEL = "@libya_west_roads", "-1001234567890"
# our own sentences: an ambush on the coastal road west of Tripoli, and one on the road to Tobruk
ZAWIYA_AMBUSH = ("Gunmen ambushed a fuel tanker on the coastal road near Zawiya this morning; "
                 "the driver was wounded and the tanker was taken.")
ZAWIYA_AMBUSH_AR = "نصب مسلحون كمينا لشاحنتين على الطريق الساحلي قرب الزاوية اليوم وأصابوا أحد السائقين."
TOBRUK_AMBUSH = "Armed men ambushed two lorries near Derna on the road to Tobruk today, wounding both drivers."


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def pipeline_with(engine, http, broadcast: dict, recorder: Recorder | None = None) -> Pipeline:
    config = RunConfig.model_validate({"notifiers": {"console": False}, "broadcast": broadcast})
    return Pipeline(engine, config, Path("."), AlertPolicy.load(DEFAULT_RULES_DIR), client=http,
                    notifiers={"telegram": recorder or Recorder("telegram")})


def report(engine, text: str, when: dt.datetime) -> None:
    """Store a report written by a desk officer (reliability B), as the folder source would."""
    assert engine.ingest_text(text, source="desk", published=when.date(), now=when,
                              source_reliability="B").incidents_added


def send_everything(pipeline: Pipeline, now: dt.datetime) -> None:
    """Decide, then dispatch batch after batch until nothing due is left."""
    pipeline.evaluate(now)
    while pipeline.dispatch(now).sent:
        pass


# ---- the regions ----------------------------------------------------------------------------------


def test_regions_load_with_both_names_and_every_segment_of_the_network_is_in_one(engine):
    regions = regions_of(engine)
    assert {"west", "east", "south"} <= set(regions.ids)
    for region in regions:
        assert region.name_en and region.name_ar and region.segment_ids
        assert any("\u0600" <= ch <= "\u06ff" for ch in region.name_ar)  # the Arabic name is in Arabic script
    assert engine.network.segments
    orphans = [s.id for s in engine.network.segments if not regions.of_segment(s.id)]
    assert orphans == []
    # roads users know, where they belong: the historical provinces do not overlap
    tripoli_zuwara = [s.id for s in engine.network.path("Tripoli", "Zuwara").segments]
    assert all(regions.of_segment(s)[0] == "west" for s in tripoli_zuwara)
    assert all("west" in regions.of_segment(s.id) for s in engine.network.path("Tripoli", "Misrata").segments)
    assert all("east" in regions.of_segment(s.id) for s in engine.network.path("Benghazi", "Tobruk").segments)
    assert all("south" in regions.of_segment(s.id) for s in engine.network.path("Sebha", "Ghat").segments)
    provinces = [set(regions.get(r).segment_ids) for r in ("west", "east", "south")]
    assert not (provinces[0] & provinces[1] or provinces[0] & provinces[2] or provinces[1] & provinces[2])


def test_a_polygon_takes_a_segment_by_its_midpoint_or_most_of_its_length(tmp_path, network):
    """A region drawn as a polygon holds a segment added later; one that only clips a segment's end
    does not take it."""
    sirte_waddan = network.segment("jufra-sirte-waddan")  # from the coast south to the Jufra oases
    x0, y0, x1, y1 = sirte_waddan.geometry.bounds
    mid_y = (y0 + y1) / 2
    path = tmp_path / REGIONS_FILE
    path.write_text(json.dumps({"regions": [
        {"id": "lower-half", "name": {"en": "Lower half", "ar": "النصف الأسفل"},
         "polygon": [[x0 - 0.5, y0 - 0.5], [x1 + 0.5, y0 - 0.5], [x1 + 0.5, mid_y + 0.3], [x0 - 0.5, mid_y + 0.3]]},
        {"id": "tip", "name": {"en": "The tip", "ar": "الطرف"},
         "polygon": [[x0 - 0.5, y1 - 0.2], [x1 + 0.5, y1 - 0.2], [x1 + 0.5, y1 + 0.5], [x0 - 0.5, y1 + 0.5]]},
    ]}), encoding="utf-8")
    regions = Regions.load(path, network)
    assert "jufra-sirte-waddan" in regions.get("lower-half").segment_ids
    assert "jufra-sirte-waddan" not in regions.get("tip").segment_ids


BOW_TIE = [[12.0, 32.0], [14.0, 30.0], [14.0, 32.0], [12.0, 30.0]]  # its edges cross


@pytest.mark.parametrize(("region", "problem"), [
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "polygon": BOW_TIE}, "crosses itself"),
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "polygon": [[12.0, 32.0], [14.0, 30.0]]},
     "at least 3"),
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "polygon": [[13.0, 32.0], [14.0, 95.0], [15.0, 32.0]]},
     "is not [lon, lat]"),
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "segments": ["coastal-tripoli-zawiyah"]},
     "unknown segment 'coastal-tripoli-zawiyah'"),
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "roads": ["coast-road"]}, "unknown road 'coast-road'"),
    ({"id": "west", "name": {"en": "West", "ar": "الغرب"}, "polygon": [[-30, 0], [-20, 0], [-20, 10]]},
     "holds no segment"),
    ({"id": "west", "name": {"en": "West"}, "roads": ["coastal"]}, "ar"),
])
def test_a_bad_regions_file_is_one_error_naming_the_file_the_region_and_the_problem(rules_copy, network, region,
                                                                                   problem):
    path = rules_copy / REGIONS_FILE
    good = {"id": "east", "name": {"en": "East", "ar": "الشرق"}, "polygon": [[18.7, 34], [25.5, 34], [25.5, 19]]}
    path.write_text(json.dumps({"regions": [good, region]}), encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        Regions.load(path, network)
    message = str(caught.value)
    assert str(path) in message and "'west'" in message and problem in message
    assert "'east'" not in message  # the good region is not blamed


# ---- broadcast channels in the run configuration ----------------------------------------------------


def test_a_broadcast_for_an_unknown_region_names_it_and_the_known_ones(engine, http):
    pipeline = pipeline_with(engine, http, {"north": {"chat": WEST_CHANNEL}})
    with pytest.raises(ConfigError) as caught:
        pipeline.seed_subscriptions(NOW)
    message = str(caught.value)
    assert "'north'" in message and all(r in message for r in regions_of(engine).ids)


def test_a_broadcast_chat_that_is_not_a_channel_is_refused_with_the_field(tmp_path):
    config = tmp_path / "riskengine.yaml"
    config.write_text("broadcast:\n  west: {chat: libya west roads, min_level: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broadcast\.west\.chat: 'libya west roads' is neither"):
        load_config(config)


def test_the_sample_configuration_documents_broadcast_channels():
    text = (PROJECT / "seeds" / "riskengine.yaml").read_text(encoding="utf-8")
    assert "# broadcast:" in text and "@libya_west_roads" in text
    assert load_config(PROJECT / "seeds" / "riskengine.yaml")[0].broadcast == {}  # commented out: none by default


def test_a_rise_in_the_west_is_one_message_to_the_west_channel_besides_the_users_own(db_url, rules, gazetteer,
                                                                                    network, http):
    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)  # on SQLite and on PostgreSQL
    told = Recorder("telegram")
    pipeline = pipeline_with(engine, http, {"west": {"chat": WEST_CHANNEL, "min_level": 3},
                                            "east": {"chat": EAST_CHANNEL, "min_level": 3}}, told)
    assert pipeline.seed_subscriptions(NOW) == 2
    subs = Subscriptions(engine.store)
    # 100 users of the bot follow western roads: half the coastal road to Zuwara, half the road inland
    on_coast = [f"{7000 + i}" for i in range(50)]
    inland = [f"{8000 + i}" for i in range(50)]
    for chat in on_coast:
        subs.add(chat_id=chat, channel="telegram", kind="route", target="Tripoli|Zuwara", min_level=3, now=NOW)
    for chat in inland:
        subs.add(chat_id=chat, channel="telegram", kind="route", target="Tripoli|Bani Walid", min_level=3, now=NOW)
    send_everything(pipeline, NOW)
    assert told.got == []  # nothing happened yet

    report(engine, ZAWIYA_AMBUSH, NOW)
    send_everything(pipeline, NOW)
    [broadcast] = told.to(WEST_CHANNEL)  # one message for all the channel's readers
    assert broadcast.kind == "level" and not is_quiet(broadcast)
    assert "West (Tripolitania)" in broadcast.text and "Zawiya" in broadcast.text
    assert broadcast.payload["level"] >= 3
    assert told.to(EAST_CHANNEL) == []
    assert all(len(told.to(chat)) == 1 for chat in on_coast)  # the users' own alerts still go
    assert all(told.to(chat) == [] for chat in inland)
    assert len(told.got) == 1 + len(on_coast)

    told.got.clear()
    send_everything(pipeline, NOW + dt.timedelta(minutes=5))
    assert told.got == []  # the same level is not news again

    quiet = NOW + dt.timedelta(days=200)  # everything has decayed
    send_everything(pipeline, quiet)
    [clear] = told.to(WEST_CHANNEL)
    assert clear.kind == "allclear" and is_quiet(clear)  # sent without sound
    assert clear.thread == broadcast.thread  # it answers the channel's rise
    assert "West (Tripolitania)" in clear.text and "back to" in clear.text
    assert told.to(EAST_CHANNEL) == []


def test_a_broadcast_removed_from_the_configuration_stops_and_a_listed_one_is_made_once(engine, http):
    told = Recorder("telegram")
    both = {"west": {"chat": WEST_CHANNEL}, "east": {"chat": EAST_CHANNEL, "min_level": 2}}
    pipeline_with(engine, http, both, told).seed_subscriptions(NOW)
    pipeline_with(engine, http, both, told).seed_subscriptions(NOW)  # a restart: nothing twice
    subs = Subscriptions(engine.store)
    assert sorted((s.chat_id, s.target) for s in subs.all()) == [(EAST_CHANNEL, "east"), (WEST_CHANNEL, "west")]

    west_only = pipeline_with(engine, http, {"west": {"chat": WEST_CHANNEL}}, told)
    west_only.seed_subscriptions(NOW)  # the east entry was deleted from the file
    assert [(s.chat_id, s.target) for s in subs.all(include_paused=True)] == [(WEST_CHANNEL, "west")]
    report(engine, TOBRUK_AMBUSH, NOW)
    send_everything(west_only, NOW)
    assert told.to(EAST_CHANNEL) == []


def test_a_channel_in_arabic_reads_the_region_by_its_arabic_name(engine, http):
    told = Recorder("telegram")
    pipeline = pipeline_with(engine, http, {"west": {"chat": WEST_CHANNEL, "language": "ar"}}, told)
    pipeline.seed_subscriptions(NOW)
    assert engine.store.chat_language(WEST_CHANNEL) == "ar"
    report(engine, ZAWIYA_AMBUSH_AR, NOW)
    send_everything(pipeline, NOW)
    [broadcast] = told.to(WEST_CHANNEL)
    shown = localized_render(engine.store.chat_language, lambda lang: translator(lang))(broadcast)
    region = regions_of(engine).get("west")
    assert region.name_ar in shown and region.name_en not in shown


# ---- end to end: the service, its bot, and the Bot API emulator -------------------------------------

TOKEN = "987654321:riskengine-broadcast-TEST-token"
WEST_ID, EAST_ID = -1001000000001, -1001000000002  # the emulator knows channels by numeric id only


def test_the_service_broadcasts_a_western_ambush_to_the_west_channel_once(tmp_path):
    (tmp_path / "emu").mkdir()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "sources": [{"type": "folder", "name": "inbox", "path": "inbox", "interval": "1s"}],
        "notifiers": {"console": False}, "intervals": {"evaluate": "1h", "dispatch": "1s"},
        "broadcast": {"west": {"chat": str(WEST_ID), "min_level": 3, "language": "ar"},
                      "east": {"chat": str(EAST_ID), "min_level": 3}},
    }), encoding="utf-8")
    with running_emulator(tmp_path / "emu") as url:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": url, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "riskengine.cli", "--db", str(tmp_path / "risk.db"), "-v",
                                 "run", "--config", str(config)], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            with httpx.Client(base_url=url, timeout=10) as client:
                user = TestUser(client, TOKEN, 5550101, "Driver")
                west, east = TestUser(client, TOKEN, WEST_ID), TestUser(client, TOKEN, EAST_ID)
                user.command("/subscribe Tripoli Zuwara 3")
                assert "Zuwara" in text_of(user.reply(timeout=60))  # the process needs a few seconds to start

                today = dt.datetime.now(dt.UTC).date()
                (inbox / "zawiya.json").write_text(json.dumps({
                    "title": "كمين قرب الزاوية", "published": today.isoformat(), "text": ZAWIYA_AMBUSH_AR}),
                    encoding="utf-8")

                [broadcast] = west.replies(1, timeout=60, settle=3.0)  # one message for the whole channel
                assert "الغرب (طرابلس)" in text_of(broadcast)  # the channel reads Arabic
                loud = str(broadcast["message"].get("disable_notification", False)).lower() == "false"
                assert loud  # a rise rings (the emulator keeps the Bot API's form fields as text)
                [own] = user.replies(1, timeout=30)  # the subscriber still gets their own, in English
                assert "Tripoli" in text_of(own) and "Zuwara" in text_of(own)
                east.silence(1.0)
                west.silence(1.0)
        finally:
            code = stop_service(proc)
    output = proc.stdout.read()
    assert code == 0, output[-2000:]


def test_the_broadcast_bench_shows_one_message_against_one_per_subscriber(capsys):
    from .test_bench_smoke import load_script

    bench = load_script("broadcast")
    assert bench.main(["--subscribers", "12", "--send"]) == 0
    rows = {line[:20].strip(): line[20:].split() for line in capsys.readouterr().out.splitlines()}
    assert rows["per subscriber"][0] == "12" and rows["broadcast channel"][0] == "1"
    assert float(rows["per subscriber"][2]) == pytest.approx(12 / 30)  # the time at Telegram's 30 messages/s
