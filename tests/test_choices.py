"""A subscriber's choices in the alerts they get: event kinds, silence, snooze (real store, rules and engine).

The incidents are put near Waddan on Sirte -> Sebha at a fixed time; one ambush there makes the route
High, nine make it Extreme.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.notifier import is_quiet
from riskengine.alerts import AlertPolicy
from riskengine.choices import kinds_of
from riskengine.engine import DEFAULT_RULES_DIR
from riskengine.errors import RuleFileError
from riskengine.incident import Incident
from riskengine.outbox import Outbox
from riskengine.store import ReportIn
from riskengine.subscriptions import SubscriptionError, Subscriptions

from .conftest import Recorder

# 10:00 in Tripoli (UTC+2)
NOON = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
KIDNAPPING = ("Violence against civilians", "Abduction/forced disappearance", ["kidnapping"])
CLASH = ("Battles", "Armed clash", ["clashes"])
AMBUSH = ("Violence against civilians", "Attack", ["ambush"])
BANDITRY = ("Violence against civilians", "Attack", ["banditry"])


@pytest.fixture
def setup(alerting):
    return alerting


def near_waddan(engine, when: dt.datetime, what: tuple, summary: str, n: int = 0) -> None:
    event_type, sub_event_type, tags = what
    incident = Incident(event_type=event_type, sub_event_type=sub_event_type, tags=tags, date=when.date(),
                        lat=29.20 + n * 0.01, lon=16.15, geo_precision=1, source_reliability="B",
                        summary=summary, evidence=f"choices test: {summary}")
    engine.ingest_incidents(ReportIn(source=f"choices-{summary}", format="jsonl", text=f"{summary} {when}"),
                            [incident], now=when)


def decide(decider, outbox, now):
    """The messages newly owed at ``now`` (decided and stored, as the pipeline does)."""
    return [a for a in outbox.enqueue(decider.decide(now), now) if not a.merged_into]


def follow(subs, chat: str, min_level: int):
    return subs.add(chat_id=chat, channel="console", kind="route", target="Sirte|Sebha", min_level=min_level,
                    now=NOON - HOUR)


def for_chat(alerts, chat: str):
    return [a for a in alerts if a.chat_id == chat]


def test_a_kidnapping_only_subscriber_is_told_of_kidnappings_not_clashes(setup):
    engine, policy, subs, decider, outbox = setup
    picky = follow(subs, "picky", 5)
    follow(subs, "everything", 5)
    known = [k.id for k in policy.event_kinds]
    assert subs.set_event_kinds(picky.id, ["kidnapping"], chat_id="picky", known=known).event_kinds == ("kidnapping",)

    near_waddan(engine, NOON, CLASH, "Rival brigades fight at the Waddan gate")
    alerts = decide(decider, outbox, NOON)
    [clash] = for_chat(alerts, "everything")  # the clash is news (the control subscriber hears of it)
    assert clash.kind == "incident" and "Rival brigades" in clash.text
    assert for_chat(alerts, "picky") == []

    later = NOON + HOUR
    near_waddan(engine, later, KIDNAPPING, "Two lorry drivers abducted outside Waddan", 1)
    [told] = for_chat(decide(decider, outbox, later), "picky")
    assert told.kind == "incident" and "lorry drivers abducted" in told.text and "Rival brigades" not in told.text

    # all kinds again: told of everything, the clash still weighing included
    assert subs.set_event_kinds(picky.id, None, chat_id="picky", known=known).event_kinds is None
    again = for_chat(decide(decider, outbox, later + HOUR), "picky")
    assert [a.payload["summary"] for a in again] == ["Rival brigades fight at the Waddan gate"]


def test_an_incident_of_no_kind_is_always_told(setup):
    engine, policy, subs, decider, outbox = setup
    sub = follow(subs, "picky", 5)
    subs.set_event_kinds(sub.id, ["closures"], chat_id="picky", known=[k.id for k in policy.event_kinds])
    near_waddan(engine, NOON, BANDITRY, "A minibus robbed by armed men near Waddan")
    assert kinds_of({"event_type": BANDITRY[0], "sub_event_type": BANDITRY[1], "tags": BANDITRY[2]},
                    policy.event_kinds) == set()
    [told] = decide(decider, outbox, NOON)
    assert told.kind == "incident" and "minibus robbed" in told.text


def test_the_level_of_the_road_is_told_whatever_the_kinds(setup):
    engine, policy, subs, decider, outbox = setup
    sub = follow(subs, "picky", 3)
    subs.set_event_kinds(sub.id, ["kidnapping"], chat_id="picky", known=[k.id for k in policy.event_kinds])
    near_waddan(engine, NOON, AMBUSH, "A fuel tanker ambushed south of Waddan")
    [rise] = decide(decider, outbox, NOON)
    assert rise.kind == "level" and rise.payload["level"] >= 3
    assert "New:" not in rise.text  # the ambush raised the level, but is not told as news to them


def test_silent_alerts_come_without_sound(setup):
    engine, _, subs, decider, outbox = setup
    hush = follow(subs, "hush", 3)
    follow(subs, "loud", 3)
    assert subs.set_silent(hush.id, True, chat_id="hush").silent
    near_waddan(engine, NOON, AMBUSH, "A fuel tanker ambushed south of Waddan")
    recorder = Recorder()
    decide(decider, outbox, NOON)
    outbox.dispatch({"console": recorder}, NOON)
    sound = {a.chat_id: not is_quiet(a) for a in recorder.got if a.kind == "level"}
    assert sound == {"hush": False, "loud": True}

    assert not subs.set_silent(hush.id, False, chat_id="hush").silent  # loud again
    near_waddan(engine, NOON + HOUR, KIDNAPPING, "A doctor abducted at Waddan", 1)
    before = len(recorder.got)
    decide(decider, outbox, NOON + HOUR)
    outbox.dispatch({"console": recorder}, NOON + HOUR)
    [news] = [a for a in recorder.got[before:] if a.chat_id == "hush"]
    assert "doctor abducted" in news.text and not is_quiet(news)


def test_a_snooze_holds_a_high_alert_until_it_ends_but_never_an_extreme_one(setup):
    engine, _, subs, decider, outbox = setup
    sub = follow(subs, "sleepy", 3)
    subs.snooze(sub.id, NOON + HOUR, chat_id="sleepy", now=NOON)
    near_waddan(engine, NOON, AMBUSH, "A fuel tanker ambushed south of Waddan")
    [high] = decide(decider, outbox, NOON)
    assert high.kind == "level" and high.payload["level"] == 4
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, NOON + dt.timedelta(minutes=59))
    assert recorder.got == []
    outbox.dispatch({"console": recorder}, NOON + HOUR)
    assert [a.key for a in recorder.got] == [high.key]

    # snoozed again the next day, for eight hours: eight more ambushes make it Extreme, which comes at once, loud
    later = NOON + dt.timedelta(days=1)
    subs.snooze(sub.id, later + 8 * HOUR, chat_id="sleepy", now=later)
    for n in range(1, 9):
        near_waddan(engine, later, AMBUSH, f"Convoy ambushed near Waddan #{n}", n)
    extreme = [a for a in decide(decider, outbox, later) if a.kind == "level"]
    assert [a.payload["level"] for a in extreme] == [5]
    outbox.dispatch({"console": recorder}, later)
    assert recorder.got[-1].key == extreme[0].key and not is_quiet(recorder.got[-1])


def test_unsnoozing_releases_what_the_snooze_held(setup):
    engine, _, subs, decider, outbox = setup
    sub = follow(subs, "sleepy", 3)
    subs.snooze(sub.id, NOON + 8 * HOUR, chat_id="sleepy", now=NOON)
    near_waddan(engine, NOON, AMBUSH, "A fuel tanker ambushed south of Waddan")
    [held] = decide(decider, outbox, NOON)
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, NOON + HOUR)
    assert recorder.got == []
    assert subs.snooze(sub.id, None, chat_id="sleepy", now=NOON + HOUR).snoozed_until is None
    outbox.dispatch({"console": recorder}, NOON + HOUR)
    assert [a.key for a in recorder.got] == [held.key]


def test_only_the_chats_own_subscription_changes_and_bad_choices_are_refused(setup):
    _, policy, subs, _, _ = setup
    known = [k.id for k in policy.event_kinds]
    sub = follow(subs, "owner", 3)
    assert subs.set_event_kinds(sub.id, ["clashes"], chat_id="intruder", known=known) is None
    assert subs.set_silent(sub.id, True, chat_id="intruder") is None
    assert subs.snooze(sub.id, NOON + HOUR, chat_id="intruder", now=NOON) is None
    assert subs.get(sub.id) == sub  # untouched
    with pytest.raises(SubscriptionError, match="event kind 'robbery' is not one of ambush, kidnapping"):
        subs.set_event_kinds(sub.id, ["kidnapping", "robbery"], chat_id="owner", known=known)
    with pytest.raises(SubscriptionError, match="snooze end .* is not a time .* after"):
        subs.snooze(sub.id, NOON - HOUR, chat_id="owner", now=NOON)
    # every kind chosen is "all": a kind added to the rules later is told too
    assert subs.set_event_kinds(sub.id, reversed(known), chat_id="owner", known=known).event_kinds is None
    assert subs.set_event_kinds(sub.id, [], chat_id="owner", known=known).event_kinds == ()


@pytest.mark.parametrize(("text", "kind"), [
    ("Gunmen kidnapped two lorry drivers on the road between Sirte and Waddan on Tuesday.", "kidnapping"),
    ("Rival brigades fought heavy clashes near Sirte on Monday, killing four fighters.", "clashes"),
    ("A drone strike hit a convoy on the road from Sokna to Waddan on Sunday.", "strikes"),
    ("Armed men closed the road between Sebha and Ubari on Monday and turned back all traffic.", "closures"),
    ("Gunmen ambushed a bus 30 km south of Sirte on the road to Waddan on Monday.", "ambush"),
    ("اختطف مسلحون سائقي شاحنتين على الطريق بين سرت وودان يوم الثلاثاء.", "kidnapping"),
    ("اندلعت اشتباكات عنيفة بين كتيبتين مسلحتين قرب سرت يوم الاثنين.", "clashes"),
    ("أغلق مسلحون الطريق بين سبها وأوباري يوم الاثنين.", "closures"),
])
def test_the_kinds_fit_the_events_the_engine_reads_from_reports(engine, text, kind):
    policy = AlertPolicy.load(DEFAULT_RULES_DIR)
    [incident] = engine.extract_text(text, NOON.date())
    assert kinds_of(incident.model_dump(), policy.event_kinds) == {kind}


def test_an_event_kind_naming_an_unknown_tag_or_type_is_refused_while_loading(rules_copy):
    path = rules_copy / "alerts.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("tags: [kidnapping]", "tags: [kidnaping]"), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"alerts\.yaml: rule 'kidnapping': field 'tags': unknown tag 'kidnaping'"):
        AlertPolicy.load(rules_copy)
    path.write_text(good.replace("event_types: [Battles]", "event_types: [Battle]"), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"rule 'clashes'.*'Battle' is not an ACLED event type"):
        AlertPolicy.load(rules_copy)
    path.write_text(good.replace("hours: [1, 8]", "hours: [1, 800]"), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"snooze hours \[1, 800\] must be distinct, each 1 to 72"):
        AlertPolicy.load(rules_copy)


def test_choices_are_kept_and_held_alerts_follow_the_snooze_on_both_backends(db_url):
    from riskengine.alerts import AlertIn  # noqa: PLC0415
    from riskengine.store import Store  # noqa: PLC0415

    store = Store.open(db_url)
    subs, policy = Subscriptions(store), AlertPolicy.load(DEFAULT_RULES_DIR)
    outbox = Outbox(store, policy)
    known = [k.id for k in policy.event_kinds]
    sub = subs.add(chat_id="c", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    subs.set_event_kinds(sub.id, ["strikes", "ambush"], chat_id="c", known=known)
    subs.set_silent(sub.id, True, chat_id="c")
    until = NOON + 8 * HOUR
    subs.snooze(sub.id, until, chat_id="c", now=NOON)
    kept = Subscriptions(store).get(sub.id)
    assert (kept.event_kinds, kept.silent, kept.snoozed_until) == (("ambush", "strikes"), True, until)

    held = AlertIn(key="held", subscription_id=sub.id, chat_id="c", channel="console", kind="incident",
                   text="An ambush near Waddan", payload={"level": 4}, not_before=until)
    outbox.enqueue([held], NOON)
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, NOON + HOUR)
    assert recorder.got == []
    subs.snooze(sub.id, NOON + 2 * HOUR, chat_id="c", now=NOON + HOUR)  # shortened: what waited follows
    outbox.dispatch({"console": recorder}, NOON + 2 * HOUR)
    assert [a.key for a in recorder.got] == ["held"]
    assert subs.set_event_kinds(sub.id, None, chat_id="c", known=known).event_kinds is None
