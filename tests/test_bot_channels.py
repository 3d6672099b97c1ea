"""Telegram posts as a source: channel posts and analysts' forwards become reports, edits replace them.

The mapping from a post to a report and the storing are tested directly; end to end, the real bot
(the service's application: bot, alert jobs and Telegram notifier) polls a small fake Bot API server
of ours on loopback that serves ``channel_post``, ``edited_channel_post`` and forwarded messages
(the emulator the other bot tests use cannot make channel posts).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import select
from telegram import Chat, Message, MessageOriginChannel, MessageOriginUser, User

from bot.channels import ChannelSources, Post, post_from_channel, post_from_forward, store_post
from bot.service import build
from bot.settings import BotSettings, SettingsError
from riskengine.alerts import AlertPolicy
from riskengine.config import ConfigError, RunConfig, load_config
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.pipeline import Pipeline
from riskengine.schema import incident_segments, incidents, reports
from riskengine.store import ReportIn, Store

from .fake_bot_api import LoopbackAPI
from .tg_emulator import BotThread

WHEN = dt.datetime(2026, 11, 20, 6, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
WATCH = Chat(id=-1001234567890, type=Chat.CHANNEL, title="Libya Roads Watch", username="Roads_Watch")
NAMELESS = Chat(id=-1009876543210, type=Chat.CHANNEL, title="Southern news")
SOURCES = ChannelSources.load({"channels": {"@roads_watch": {"reliability": "C"}, -1005550000: {"reliability": "B"}},
                               "default_channel_reliability": "E"})
AMBUSH = "Gunmen ambushed a convoy on the road near Waddan this morning, killing two drivers, witnesses said."
CHECKPOINT = "Armed men set up an illegal checkpoint near Sokna late on Saturday, drivers said."


def channel_message(chat: Chat, message_id: int, text: str | None = None, caption: str | None = None,
                    date: dt.datetime = WHEN) -> Message:
    return Message(message_id=message_id, date=date, chat=chat, text=text, caption=caption)


# ---- from a post to a report ------------------------------------------------------------------------


def test_a_listed_channels_post_is_a_report_of_the_channel_with_its_grade_date_and_key():
    post = post_from_channel(channel_message(WATCH, 7, AMBUSH), SOURCES.reliability(WATCH.id, WATCH.username))
    assert post == Post(text=AMBUSH, source="telegram:@Roads_Watch", reliability="C", published=WHEN.date(),
                        key="tg:-1001234567890:7", link="https://t.me/Roads_Watch/7", title="Libya Roads Watch")


def test_a_channel_is_known_by_username_in_any_case_or_by_id_and_unlisted_ones_only_when_accepted():
    assert SOURCES.reliability(-1005550000, None) == "B"
    assert SOURCES.reliability(-1, "ROADS_WATCH") == "C"
    assert SOURCES.reliability(NAMELESS.id, None) is None
    accepting = ChannelSources.load({"accept_unlisted_channels": True, "default_channel_reliability": "E"})
    assert accepting.reliability(NAMELESS.id, None) == "E"


def test_a_channel_without_username_is_named_by_its_id_and_the_date_is_the_posts_in_utc():
    late = dt.datetime(2026, 11, 19, 23, 50, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    post = post_from_channel(channel_message(NAMELESS, 12, AMBUSH, date=late), "D")
    assert (post.source, post.key, post.link, post.published) == (
        "telegram:-1009876543210", "tg:-1009876543210:12", None, dt.date(2026, 11, 20))


def test_a_media_caption_is_the_text_and_a_post_without_text_is_ignored():
    assert post_from_channel(channel_message(WATCH, 8, caption=f"  {AMBUSH} "), "C").text == AMBUSH
    assert post_from_channel(channel_message(WATCH, 9), "C") is None
    assert post_from_channel(channel_message(WATCH, 10, text="   "), "C") is None


def test_a_forward_of_a_channel_post_is_the_channels_report_under_the_original_key():
    analyst = Chat(id=424242, type=Chat.PRIVATE)
    origin = MessageOriginChannel(date=WHEN, chat=WATCH, message_id=7)
    message = Message(message_id=99, date=NOW, chat=analyst, text=AMBUSH, forward_origin=origin)
    post = post_from_forward(message, SOURCES, analyst.id)
    assert (post.source, post.reliability, post.key, post.published) == (
        "telegram:@Roads_Watch", "C", "tg:-1001234567890:7", WHEN.date())
    unlisted = MessageOriginChannel(date=WHEN, chat=NAMELESS, message_id=3)
    post = post_from_forward(Message(message_id=100, date=NOW, chat=analyst, text=AMBUSH, forward_origin=unlisted),
                             SOURCES, analyst.id)
    assert (post.source, post.reliability) == ("telegram:-1009876543210", "E")  # an analyst chose it


def test_a_forward_of_a_persons_message_is_the_analysts_report_with_the_default_grade():
    analyst = Chat(id=424242, type=Chat.PRIVATE)
    origin = MessageOriginUser(date=WHEN, sender_user=User(id=5, first_name="Driver", is_bot=False))
    message = Message(message_id=101, date=NOW, chat=analyst, caption=AMBUSH, forward_origin=origin)
    post = post_from_forward(message, SOURCES, analyst.id)
    assert (post.source, post.reliability, post.key, post.published) == (
        "telegram:424242", "E", "tg:424242:101", WHEN.date())


# ---- the configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "field"), [
    ({"channels": {"@roads_watch": {"reliability": "G"}}}, "telegram.channels.@roads_watch.reliability"),
    ({"channels": {"roads watch": {"reliability": "C"}}}, "telegram.channels"),
    ({"channels": {"@roads_watch": {"grade": "C"}}}, "telegram.channels.@roads_watch.reliability: Field required"),
    ({"default_channel_reliability": "Z"}, "telegram.default_channel_reliability"),
    ({"accept_unlisted_channels": "perhaps"}, "telegram.accept_unlisted_channels"),
])
def test_a_bad_channel_setting_is_refused_naming_the_field(tmp_path, section, field):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({"telegram": section}), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {field}")):
        load_config(path)
    with pytest.raises(SettingsError, match=re.escape(field)):
        BotSettings.load(section, {"TELEGRAM_BOT_TOKEN": "1:abc"})


def test_the_sample_configuration_and_channel_settings_load():
    config = RunConfig.model_validate({"telegram": {"analysts": [1], "channels": {-100123: {"reliability": "A"}}}})
    settings = BotSettings.load(config.telegram, {"TELEGRAM_BOT_TOKEN": "1:abc"})
    assert settings.channels.reliability(-100123, None) == "A"
    assert settings.channels.reliability(-100124, None) is None  # unlisted channels are not taken by default
    load_config(Path(__file__).resolve().parents[1] / "seeds" / "riskengine.yaml")


# ---- storing: idempotent, and an edit replaces --------------------------------------------------------


def _post(message_id: int, text: str, edited: bool = False, chat: Chat = WATCH) -> Post:
    return post_from_channel(channel_message(chat, message_id, text), "C", edited=edited)


def _report_rows(engine: RiskEngine) -> list[dict]:
    with engine.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(reports).order_by(reports.c.id)).mappings()]


def test_the_same_post_twice_is_one_report(engine):
    first = store_post(engine, _post(7, AMBUSH), NOW)
    again = store_post(engine, _post(7, AMBUSH), NOW)
    assert first.new_report and first.incidents_added == 1
    assert not again.new_report and again.incidents_added == 0
    [row] = _report_rows(engine)
    assert (row["source"], row["source_key"], row["published"]) == ("telegram:@Roads_Watch", "tg:-1001234567890:7",
                                                                    WHEN.date())
    frame = engine.store.incidents_frame()
    assert frame["source_reliability"].tolist() == ["C"]
    assert engine.store.incident_count() == 1


def test_an_edit_replaces_the_reports_text_and_incidents_and_nothing_else(engine):
    store_post(engine, _post(7, AMBUSH), NOW)
    store_post(engine, _post(8, CHECKPOINT), NOW)  # another post: left alone
    other = engine.store.incidents_frame()
    other_ids = set(other[other["evidence"].str.contains("Sokna")]["id"])
    assert other_ids and engine.store.incident_count() == 2
    before, revision = _report_rows(engine)[0], engine.store.revision()
    engine.route("Sirte", "Sebha", NOW)  # the engine caches what it computed
    edit = "Correction: gunmen ambushed a convoy near Waddan this morning and kidnapped two drivers; no one was killed."
    later = NOW + dt.timedelta(hours=1)
    stored = store_post(engine, _post(7, edit, edited=True), later)
    assert stored.replaced and stored.incidents_removed == 1 and stored.incidents_added >= 1
    rows = {r["source_key"]: r for r in _report_rows(engine)}
    assert len(rows) == 2
    now_row = rows["tg:-1001234567890:7"]
    assert now_row["text"] == edit
    for kept in ("source", "source_ref", "published", "ingested_at", "title", "format"):
        assert now_row[kept] == before[kept]
    assert engine.store.revision() != revision
    frame = engine.store.incidents_frame()
    mine = frame[frame["report_id"] == now_row["id"]]
    assert mine["evidence"].str.contains("kidnapped").all() and len(mine) == stored.incidents_added
    assert not frame["evidence"].str.contains("killing two drivers").any()
    assert set(frame[frame["report_id"] == rows["tg:-1001234567890:8"]["id"]]["id"]) == other_ids
    with engine.store.engine.connect() as conn:
        linked = set(conn.execute(select(incident_segments.c.incident_id)).scalars())
    assert linked <= set(frame["id"])  # no segment match left behind
    assert {i["id"] for i in engine.route("Sirte", "Sebha", later)["incidents"]} <= set(frame["id"])
    # the same edit again changes nothing
    assert not store_post(engine, _post(7, edit, edited=True), later).replaced


def test_an_edit_of_a_post_never_stored_stores_it(engine):
    stored = store_post(engine, _post(21, AMBUSH, edited=True), NOW)
    assert stored.new_report and engine.store.report_count() == 1


def test_replace_report_keeps_incidents_the_edit_kept_with_the_time_they_were_learnt(engine):
    found = engine.extract_text(AMBUSH + " " + CHECKPOINT, WHEN.date(), source_reliability="C")
    assert len(found) == 2
    matches = engine.index.match(found, engine.rules.max_reach_km, engine.rules.area_margin_km)
    report = ReportIn(source="telegram:@x", format="text", text="v1", published=WHEN.date(), source_key="tg:1:1")
    engine.store.add_report(report, found, matches, now=NOW)
    later = NOW + dt.timedelta(hours=2)
    new = ReportIn(source="telegram:@x", format="text", text="v2", published=WHEN.date(), source_key="tg:1:1")
    outcome = engine.store.replace_report(new, found[:1], matches[:1], now=later)
    assert (outcome.changed, outcome.incidents_kept, outcome.incidents_removed, outcome.incidents_added) == (
        True, 1, 1, 0)
    with engine.store.engine.connect() as conn:
        [row] = conn.execute(select(incidents.c.id, incidents.c.ingested_at, incidents.c.report_id)).all()
    assert row.id == found[0].fingerprint() and row.ingested_at == NOW and row.report_id == outcome.report_id
    assert engine.store.replace_report(ReportIn(source="telegram:@x", format="text", text="v3", source_key="tg:9:9"),
                                       [], [], now=later) is None


def test_a_failed_replacement_leaves_the_report_as_it_was(engine, monkeypatch):
    store_post(engine, _post(7, AMBUSH), NOW)
    before, count = _report_rows(engine), engine.store.incident_count()
    found = engine.extract_text(CHECKPOINT, WHEN.date())
    with pytest.raises(ValueError, match="zip"):  # one match list short: fails after the old rows were touched
        engine.store.replace_report(ReportIn(source="telegram:@Roads_Watch", format="text", text=CHECKPOINT,
                                             source_key="tg:-1001234567890:7"), found, [], now=NOW)
    assert _report_rows(engine) == before and engine.store.incident_count() == count


def test_an_arabic_channel_post_is_extracted_in_its_language(engine):
    arabic = "مسلحون نصبوا كمينا لقافلة على الطريق قرب ودان صباح اليوم وقتلوا سائقين اثنين."
    stored = store_post(engine, _post(30, arabic), NOW)
    assert stored.incidents_added >= 1
    assert "Waddan" in engine.store.incidents_frame()["summary"].iloc[0]


# ---- end to end: the real bot polling a fake Bot API server -------------------------------------------

TOKEN = "7012345678:AAHfakeChannelsToken-0123456789abcXYZ"
BOT_USER = {"id": 7012345678, "is_bot": True, "first_name": "Road Risk", "username": "road_risk_test_bot"}
SUBSCRIBER = 5550001
ANALYST = 424242
STRANGER = 777001


class FakeBotAPI(LoopbackAPI):
    """Serves queued updates to ``getUpdates`` and records what the bot sends; every other method is ok."""

    def __init__(self, token: str):
        self.token = token
        self.updates: list[dict] = []
        self.sent: list[dict] = []
        self._next_update = 1
        self._message_id = 1000
        self._changed = threading.Condition()
        super().__init__()

    def push(self, **update) -> None:
        with self._changed:
            self.updates.append({"update_id": self._next_update, **update})
            self._next_update += 1
            self._changed.notify_all()

    def sent_to(self, chat_id: int) -> list[str]:
        with self._changed:
            return [m["text"] for m in self.sent if int(m["chat_id"]) == chat_id]

    def _reply(self, handler: BaseHTTPRequestHandler, result) -> None:
        data = json.dumps({"ok": True, "result": result}).encode()
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the bot stopped polling
            pass

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        if handler.headers.get("Content-Type", "").startswith("application/json"):
            params = json.loads(raw or "{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        token, _, method = handler.path.removeprefix("/bot").partition("/")
        if token != self.token:
            handler.send_error(404)
            return
        if method == "getMe":
            return self._reply(handler, BOT_USER)
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            with self._changed:
                self._changed.wait_for(lambda: any(u["update_id"] >= offset for u in self.updates), timeout=0.2)
                return self._reply(handler, [u for u in self.updates if u["update_id"] >= offset])
        if method == "sendMessage":
            message = dict(params)
            with self._changed:
                self.sent.append(message)
                self._message_id += 1
                message_id = self._message_id
            return self._reply(handler, {"message_id": message_id, "date": int(time.time()), "text": message["text"],
                                         "chat": {"id": int(message["chat_id"]), "type": "private"}})
        return self._reply(handler, True)


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@contextlib.contextmanager
def running_bot(db: Path, rules, gazetteer, network, subscriber: int, analysts=(), language: str | None = None):
    """The service's bot (alert jobs and Telegram notifier included) on an empty store, polling the fake
    API, for one subscriber of Sirte -> Sebha (whose chat language may be set)."""
    api = FakeBotAPI(TOKEN).start()
    engine = RiskEngine(Store.open(db), rules, gazetteer, network)
    if language:
        engine.store.set_chat_language(subscriber, language)
    config = RunConfig.model_validate({
        "notifiers": {"console": False},
        "subscriptions": [{"chat": str(subscriber), "channel": "telegram", "route": ["Sirte", "Sebha"]}],
        "telegram": {"channels": {"@roads_watch": {"reliability": "C"}}}})
    settings = BotSettings.load({**config.telegram, "analysts": list(analysts), "api_base_url": api.url},
                                {"TELEGRAM_BOT_TOKEN": TOKEN})
    with httpx.Client() as client:
        pipeline = Pipeline(engine, config, Path("."), AlertPolicy.load(DEFAULT_RULES_DIR), client=client,
                            notifiers={})
        runner = BotThread(build(pipeline, settings))
        runner.start()
        try:
            yield api, engine
        finally:
            runner.stop()
            api.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, rules, gazetteer, network):
    """The bot for an English subscriber, with an analyst allowed to forward posts."""
    with running_bot(tmp_path_factory.mktemp("channels-db") / "risk.db", rules, gazetteer, network, SUBSCRIBER,
                     analysts=[ANALYST]) as running:
        yield running


def _chat(chat: Chat) -> dict:
    return {k: v for k, v in chat.to_dict().items() if v is not None}


def _channel_post(message_id: int, text: str, chat: Chat = WATCH, edited: bool = False) -> dict:
    body = {"message_id": message_id, "date": int(time.time()) - 600, "chat": _chat(chat), "text": text}
    if edited:
        body["edit_date"] = int(time.time())
    return {"edited_channel_post" if edited else "channel_post": body}


def _forward(user_id: int, message_id: int, text: str, origin_message_id: int) -> dict:
    person = {"id": user_id, "is_bot": False, "first_name": "Someone"}
    return {"message": {"message_id": message_id, "date": int(time.time()), "from": person,
                        "chat": {"id": user_id, "type": "private", "first_name": "Someone"}, "text": text,
                        "forward_origin": {"type": "channel", "chat": _chat(WATCH), "message_id": origin_message_id,
                                           "date": int(time.time()) - 900}}}


def test_a_channel_post_about_an_ambush_near_waddan_reaches_a_sirte_sebha_subscriber_as_one_alert(live):
    api, engine = live
    api.push(**_channel_post(7, AMBUSH))
    [alert] = wait_for(lambda: api.sent_to(SUBSCRIBER))
    assert "Sirte -&gt; Sebha" in alert and "Ambush near Waddan" in alert
    api.push(**_channel_post(7, AMBUSH))  # the same post again (Telegram redelivers after a restart)
    api.push(**_channel_post(3, AMBUSH.replace("Waddan", "Sokna"), chat=NAMELESS))  # a channel not listed
    time.sleep(1.5)
    assert len(api.sent_to(SUBSCRIBER)) == 1
    rows = _report_rows(engine)
    assert [(r["source"], r["source_key"]) for r in rows] == [("telegram:@Roads_Watch", "tg:-1001234567890:7")]


def test_a_post_forwarded_by_a_stranger_is_refused_and_nothing_stored(live):
    api, engine = live
    count = engine.store.report_count()
    api.push(**_forward(STRANGER, 50, CHECKPOINT, origin_message_id=40))
    [answer] = wait_for(lambda: api.sent_to(STRANGER))
    assert "only the analysts" in answer
    assert engine.store.report_count() == count


def test_a_post_forwarded_by_an_analyst_is_stored_as_the_channels(live):
    api, engine = live
    api.push(**_forward(ANALYST, 51, CHECKPOINT, origin_message_id=41))
    [answer] = wait_for(lambda: api.sent_to(ANALYST))
    assert "Stored as a report of telegram:@Roads_Watch (reliability C)" in answer
    assert ("telegram:@Roads_Watch", "tg:-1001234567890:41") in {(r["source"], r["source_key"])
                                                                 for r in _report_rows(engine)}


def test_an_edited_channel_post_replaces_its_report(live):
    api, engine = live
    first = "Armed men set up an illegal checkpoint near Sokna on Sunday night, truck drivers said."
    api.push(**_channel_post(60, first))
    wait_for(lambda: any(r["source_key"] == "tg:-1001234567890:60" for r in _report_rows(engine)))
    edit = first.replace("Sokna", "Hun")
    api.push(**_channel_post(60, edit, edited=True))
    row = wait_for(lambda: next((r for r in _report_rows(engine) if r["source_key"] == "tg:-1001234567890:60"
                                 and r["text"] == edit), None))
    frame = engine.store.incidents_frame()
    assert frame[frame["report_id"] == row["id"]]["evidence"].str.contains("Hun").all()
    assert not frame["evidence"].str.contains("near Sokna on Sunday").any()


# ---- an Arabic post reaches an Arabic subscriber in Arabic ----------------------------------------------

ARABIC_SUBSCRIBER = 5550002
ARABIC_AMBUSH = "نصب مسلحون كمينا لقافلة شاحنات على الطريق قرب ودان فجر اليوم وقتلوا سائقين اثنين."


@pytest.fixture
def live_arabic(tmp_path, rules, gazetteer, network):
    """The bot for one Arabic-speaking subscriber of Sirte -> Sebha."""
    with running_bot(tmp_path / "risk.db", rules, gazetteer, network, ARABIC_SUBSCRIBER, language="ar") as running:
        yield running


def test_an_arabic_channel_post_reaches_an_arabic_subscriber_as_one_arabic_alert(live_arabic):
    api, engine = live_arabic
    api.push(**_channel_post(11, ARABIC_AMBUSH))
    [alert] = wait_for(lambda: api.sent_to(ARABIC_SUBSCRIBER))
    assert re.search(r"[\u0600-\u06ff]{3}", alert), alert  # written in Arabic
    assert "سرت" in alert and "سبها" in alert  # the route, by its Arabic names
    api.push(**_channel_post(11, ARABIC_AMBUSH))  # delivered again
    time.sleep(1.5)
    assert len(api.sent_to(ARABIC_SUBSCRIBER)) == 1
    assert "Waddan" in engine.store.incidents_frame()["summary"].iloc[0]
