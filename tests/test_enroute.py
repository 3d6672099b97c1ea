"""En route: a traveller sharing a live location is told of risky segments ahead, never of those behind.

The unit tests check the "ahead within a horizon" computation on the real road network. The end-to-end
tests run the real bot against the Bot API emulator on a real SQLite store holding incidents written
here (Extreme on Misrata - Abu Grein, behind the traveller, and on Sokna - Sebha, ahead). The live
location and its edits (new positions, and the last one without ``live_period``) go through the
emulator (its launcher adds ``edited_message`` updates), and everything the bot says is read from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

import httpx
import pytest
from telegram.ext import CallbackContext

from bot import enroute
from bot.app import build_application
from bot.settings import BotSettings
from riskengine.alerts import AlertPolicy
from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
from riskengine.enroute import Course, Journeys, road_course
from riskengine.geo import to_lonlat, to_metric
from riskengine.incident import Incident
from riskengine.mapping import SegmentIndex
from riskengine.store import ReportIn, Store
from riskengine.subscriptions import Subscriptions

from .tg_emulator import BotThread, TestUser, running_emulator, text_of

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
TOKEN = "123456789:riskengine-enroute-TEST-token"
BEHIND, AHEAD = "coastal-misrata-abu-grein", "jufra-sokna-sebha"
_user_ids = itertools.count(930_001)


# ---- positions on the real road ----------------------------------------------------------------------


def misrata_sebha(network) -> Course:
    return Course.of_path(network, network.path("Misrata", "Sebha"))


def point_at(course: Course, km: float) -> tuple[float, float]:
    """The (lat, lon) ``km`` along a course, on the road's geometry."""
    start = 0.0
    for seg_id, forward in course.legs:
        seg = course.network.segment(seg_id)
        if km <= start + seg.length_km:
            line = to_metric(seg.geometry)
            line = line if forward else line.reverse()
            where = to_lonlat(line.interpolate((km - start) / seg.length_km, normalized=True))
            return where.y, where.x
        start += seg.length_km
    raise ValueError(f"{km} km is past the course's end")


def km_to(course: Course, seg_id: str) -> float:
    """Where a segment begins on a course (km from its start)."""
    start = 0.0
    for leg, _ in course.legs:
        if leg == seg_id:
            return start
        start += course.network.segment(leg).length_km
    raise KeyError(seg_id)


# ---- ahead within a horizon --------------------------------------------------------------------------


def test_a_point_on_the_road_is_located_where_it_is(network):
    course = misrata_sebha(network)
    for km in (5.0, 150.0, 400.0, 650.0):
        where = course.locate(*point_at(course, km))
        assert where.km_along == pytest.approx(km, abs=1.5) and where.km_off < 0.05


def test_ahead_is_the_road_in_front_within_the_horizon_never_behind(network):
    course = misrata_sebha(network)
    km = 250.0  # on Abu Grein - Waddan, 134 km before Waddan
    ahead = course.ahead(km, horizon_km=150.0)
    assert [a.segment_id for a in ahead] == ["grein-abu-grein-waddan", "jufra-waddan-hun"]
    assert ahead[0].km_to_go == 0.0  # the one driven now
    assert ahead[1].km_to_go == pytest.approx(km_to(course, "jufra-waddan-hun") - km, abs=0.1)
    assert BEHIND not in [a.segment_id for a in course.ahead(km, horizon_km=10_000)]
    wider = course.ahead(km, horizon_km=250.0)
    assert [a.segment_id for a in wider][-1] == AHEAD
    assert wider[-1].km_to_go == pytest.approx(km_to(course, AHEAD) - km, abs=0.1)
    assert course.ahead(course.length_km + 1, horizon_km=150.0) == []


def test_the_same_road_the_other_way_has_the_other_segments_ahead(network):
    back = Course.of_path(network, network.path("Sebha", "Misrata"))
    lat, lon = point_at(misrata_sebha(network), 200.0)
    ahead = back.ahead(back.locate(lat, lon).km_along, horizon_km=150.0)
    assert [a.segment_id for a in ahead] == ["grein-abu-grein-waddan", BEHIND]


def test_the_nearest_road_is_followed_the_way_two_positions_go(network):
    course = misrata_sebha(network)
    on_waddan_hun = km_to(course, "jufra-waddan-hun")
    first, then = point_at(course, on_waddan_hun + 5), point_at(course, on_waddan_hun + 12)
    index = SegmentIndex(network.segments)
    assert index.nearest(*then)[0] == "jufra-waddan-hun"
    south = road_course(network, index, first, then)
    assert [leg for leg, _ in south.legs][:3] == ["jufra-waddan-hun", "jufra-hun-sokna", AHEAD]
    assert all(forward for _, forward in south.legs)
    north = road_course(network, index, then, first)
    assert north.legs[0] == ("jufra-waddan-hun", False)
    assert AHEAD not in [leg for leg, _ in north.legs]
    assert AHEAD in [a.segment_id for a in south.ahead(south.locate(*then).km_along, 150.0)]


def test_a_journey_claims_each_segment_once_and_lives_in_the_store(tmp_path):
    path = str(tmp_path / "j.db")
    journeys = Journeys(Store.open(path))
    journeys.remember_route(7, "Misrata", "Sebha", NOW)
    journeys.start(7, 11, lat=31.0, lon=15.0, live_until=NOW + dt.timedelta(hours=1), route=("Misrata", "Sebha"),
                   course=None, min_level=3, now=NOW)
    assert journeys.claim(7, 11, ["a", "b"]) == ["a", "b"]
    again = Journeys(Store.open(path))  # another worker, or the bot after a restart
    assert again.claim(7, 11, ["b", "c"]) == ["c"]
    assert again.claim(7, 12, ["d"]) == []  # not the live location followed
    journey = again.get("7")
    assert (journey.asked_from, journey.route_to, journey.alerted) == ("Misrata", "Sebha", ["a", "b", "c"])
    assert again.expired(NOW) == [] and again.expired(NOW + dt.timedelta(hours=1)) == [("7", 11)]
    assert again.stop(7, 11) and not journeys.stop(7, 11)  # ended once
    assert not again.get("7").following and again.claim(7, 11, ["e"]) == []


# ---- end to end ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("tg-emu-enroute")) as url:
        yield url


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rules, gazetteer, network) -> RiskEngine:
    """A new store with three ambushes on each of two segments: one behind the traveller, one ahead."""
    engine = RiskEngine(Store.open(tmp_path_factory.mktemp("enroute-db") / "risk.db"), rules, gazetteer, network)
    found = []
    for seg_id in (BEHIND, AHEAD):
        share = 0.2 if seg_id == BEHIND else 0.5
        where = network.segment(seg_id).geometry.interpolate(share, normalized=True)
        for day in range(1, 4):
            found.append(Incident(
                event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                date=NOW.date() - dt.timedelta(days=day), lat=where.y, lon=where.x, geo_precision=1, source="desk",
                fatalities=1, evidence=f"Gunmen ambushed a lorry on the {seg_id} road, {day} day(s) ago."))
    engine.ingest_incidents(ReportIn(source="desk", format="jsonl", text="en route test reports"), found, now=NOW)
    levels = {row["id"]: row["level"] for row in engine.segments(NOW)["segments"]}
    assert levels[BEHIND] >= 3 and levels[AHEAD] >= 3  # risky both: only where they lie tells them apart
    assert all(levels[s] < 3 for s in ("grein-abu-grein-waddan", "jufra-waddan-hun", "jufra-hun-sokna"))
    return engine


class Bot:
    """The bot under test, on the emulator, with a clock of the test's."""

    def __init__(self, emulator: str, engine: RiskEngine):
        settings = BotSettings(token=TOKEN, api_base_url=emulator, commands_per_minute=100)
        self.now = NOW
        self.app = build_application(engine, settings, subscriptions=Subscriptions(engine.store),
                                     policy=AlertPolicy.load(DEFAULT_RULES_DIR), board_routes=[],
                                     clock=lambda: self.now)
        self.runner = BotThread(self.app)
        self.runner.start()

    def run(self, job) -> None:
        """Run a job of the bot's (as its JobQueue would) on its event loop."""
        context = CallbackContext(self.app)
        asyncio.run_coroutine_threadsafe(job(context), self.runner._loop).result(10)

    def stop(self) -> None:
        self.runner.stop()


@pytest.fixture
def bot(emulator, engine):
    running = Bot(emulator, engine)
    yield running
    running.stop()


@pytest.fixture
def client(emulator):
    with httpx.Client(base_url=emulator, timeout=10) as http:
        yield http


class Traveller(TestUser):
    """A user who shares a live location and moves it along a course."""

    __test__ = False

    def share_live(self, lat: float, lon: float, seconds: int = 3600) -> None:
        self._post("/sendMessage", self._message(location={"latitude": lat, "longitude": lon,
                                                           "live_period": seconds}))

    def move(self, bot: Bot, message_id: int, lat: float, lon: float, live: bool = True) -> None:
        """The live location's next position (``live`` False: the sharing stopped), as Telegram sends
        it: an edit of the first message, through the emulator."""
        location = {"latitude": lat, "longitude": lon, **({"live_period": 3600} if live else {})}
        self._post("/sendEditedMessage", {"botToken": self.token, "message_id": message_id,
                                          "date": int(time.time()) - 60, "edit_date": int(time.time()),
                                          "chat": self.chat, "from": self.user, "location": location})


def followed_message(engine: RiskEngine, user: TestUser, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journey = Journeys(engine.store).get(user.id)
        if journey is not None and journey.following:
            return journey.message_id
        time.sleep(0.05)
    raise AssertionError("the live location is not followed")


def everything_said(user: TestUser) -> str:
    return "\n".join(text_of(m) for m in user.history())


def test_a_live_location_along_misrata_sebha_is_told_of_the_segment_ahead_once_and_never_of_one_behind(
        bot, client, engine, network):
    course = misrata_sebha(network)
    user = Traveller(client, TOKEN, next(_user_ids))
    user.command("/risk Misrata Sebha")
    user.replies(1)
    user.share_live(*point_at(course, 150.0))  # 42 km past Misrata - Abu Grein, Extreme, behind
    started = text_of(user.reply())
    assert started.startswith("Following you along <b>Misrata → Sebha</b>") and "150 km ahead" in started
    message_id = followed_message(engine, user)
    user.move(bot, message_id, *point_at(course, 200.0))
    user.silence(0.8)  # Sokna - Sebha is 225 km on: beyond the horizon
    user.move(bot, message_id, *point_at(course, 290.0))
    [alert] = user.replies(1)
    to_go = km_to(course, AHEAD) - 290.0
    row = next(r for r in engine.segments(NOW)["segments"] if r["id"] == AHEAD)
    assert text_of(alert) == (f"🟣 <b>{to_go:.0f} km ahead</b>: Sokna - Sebha (Sirte - al-Jufra - Sebha Road), "
                              f"level {row['level']} {row['level_name']}, score {row['score']:.1f}.")
    for km in (330.0, 380.0, 430.0):  # on it at last: told once per journey
        user.move(bot, message_id, *point_at(course, km))
    user.silence(0.8)
    user.move(bot, message_id, *point_at(course, 440.0), live=False)  # Telegram's last edit: sharing stopped
    assert text_of(user.reply()) == "Your live location has ended: I stopped following you."
    user.move(bot, message_id, *point_at(course, 290.0))  # a late position: no longer followed
    user.silence(0.8)
    said = everything_said(user)
    assert "Misrata - Abu Grein" not in said.split("Following you along", 1)[1]  # the segment behind: never
    assert said.count("Sokna - Sebha (") == 1


def test_without_an_asked_route_the_nearest_road_is_followed_the_way_the_traveller_goes(bot, client, engine,
                                                                                         network):
    course = misrata_sebha(network)
    on = km_to(course, "jufra-waddan-hun")
    south, north = (Traveller(client, TOKEN, next(_user_ids)) for _ in range(2))
    for user, first, then in ((south, on + 5, on + 12), (north, on + 12, on + 5)):
        user.share_live(*point_at(course, first))
        assert text_of(user.reply()).startswith("Following you on the nearest road, <b>Sirte - al-Jufra - Sebha "
                                                "Road</b>")
        user.move(bot, followed_message(engine, user), *point_at(course, then))
    [alert] = south.replies(1)
    assert "Sokna - Sebha" in text_of(alert) and f"<b>{km_to(course, AHEAD) - on - 12:.0f} km ahead</b>" in text_of(
        alert)
    north.silence(0.8)  # Sokna - Sebha is behind the one driving north


def test_far_from_any_road_nothing_is_followed_until_a_road_is_near(bot, client, engine):
    user = Traveller(client, TOKEN, next(_user_ids))
    user.share_live(34.5, 20.0)  # the open sea
    assert text_of(user.reply()).startswith("No road I follow is within 30 km of you")
    user.move(bot, followed_message(engine, user), 34.0, 19.0)
    user.silence(0.8)
    assert Journeys(engine.store).get(user.id).course is None


def test_the_journey_survives_a_restart_of_the_bot(emulator, client, engine, network):
    course = misrata_sebha(network)
    user = Traveller(client, TOKEN, next(_user_ids))
    first = Bot(emulator, engine)
    try:
        user.command("/risk Misrata - Sebha")
        user.replies(1)
        user.share_live(*point_at(course, 150.0))
        user.reply()
        message_id = followed_message(engine, user)
        user.move(first, message_id, *point_at(course, 290.0))
        assert "Sokna - Sebha" in text_of(user.reply())
    finally:
        first.stop()
    second = Bot(emulator, engine)  # nothing in memory: the journey is in the store
    try:
        user.move(second, message_id, *point_at(course, 300.0))
        user.silence(0.8)  # told already in this journey
        user.move(second, message_id, *point_at(course, 310.0), live=False)
        assert text_of(user.reply()) == "Your live location has ended: I stopped following you."
    finally:
        second.stop()


def test_a_live_period_that_runs_out_ends_the_following(bot, client, engine, network):
    course = misrata_sebha(network)
    late, quiet = (Traveller(client, TOKEN, next(_user_ids)) for _ in range(2))
    for user in (late, quiet):
        user.command("/risk Misrata Sebha")
        user.replies(1)
        user.share_live(*point_at(course, 150.0), seconds=900)
        user.reply()
    late_id, quiet_id = followed_message(engine, late), followed_message(engine, quiet)
    bot.now = NOW + dt.timedelta(minutes=16)  # past the 15 minutes shared
    late.move(bot, late_id, *point_at(course, 290.0))  # Sokna - Sebha ahead, but the sharing is over
    assert text_of(late.reply()) == "Your live location has ended: I stopped following you."
    late.silence(0.5)
    bot.run(enroute.end_expired)  # no last update at all: the periodic check ends it
    assert text_of(quiet.reply()) == "Your live location has ended: I stopped following you."
    bot.run(enroute.end_expired)
    quiet.move(bot, quiet_id, *point_at(course, 290.0))
    quiet.silence(0.8)  # said once, and no alert after the end
    late.silence(0.1)
    assert not Journeys(engine.store).get(quiet.id).following


def test_an_arabic_chat_is_followed_in_arabic(bot, client, engine, network):
    course = misrata_sebha(network)
    user = Traveller(client, TOKEN, next(_user_ids))
    user.command("/language ar")
    user.reply()
    user.command("/risk Misrata Sebha")
    user.replies(1)
    user.share_live(*point_at(course, 290.0))
    started, alert = (text_of(m) for m in user.replies(2))
    assert started.startswith("أتابعك على طريق <b>")
    assert "<b>بعد" in alert and "كم أمامك</b>" in alert and "Sokna" not in alert
    user.move(bot, followed_message(engine, user), *point_at(course, 300.0), live=False)
    assert text_of(user.reply()) == "انتهت مشاركة موقعك المباشر: توقّفت عن متابعتك."
