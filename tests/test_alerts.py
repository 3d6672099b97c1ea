"""Alert policy: level rises, new severe incidents, no repeats, quiet hours, digests (fixed clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.incident import Incident
from riskengine.store import ReportIn
from riskengine.subscriptions import SubscriptionError, parse_quiet_hours

from .conftest import Recorder

# 10:00 in Tripoli (UTC+2)
NOON = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(alerting):
    return alerting


def incident_near_waddan(engine, when: dt.datetime, n: int = 0, tag: str = "ambush", precision: int = 1):
    inc = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=[tag],
                   date=when.date(), lat=29.20 + n * 0.01, lon=16.15, geo_precision=precision,
                   source_reliability="B", summary=f"Ambush near Waddan #{n}", evidence=f"test incident {n}")
    engine.ingest_incidents(ReportIn(source="test", format="jsonl", text=f"report {n} {when}"), [inc], now=when)


def decide(decider, outbox, now):
    """The messages newly owed at ``now`` (decided and stored, as the pipeline does)."""
    return [a for a in outbox.enqueue(decider.decide(now), now) if not a.merged_into]


def test_level_rise_alerts_once_per_level_and_again_after_falling_back(setup):
    engine, _, subs, decider, outbox = setup
    sub = subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    assert decide(decider, outbox, NOON) == []  # nothing happened yet

    incident_near_waddan(engine, NOON, 1)
    first = decide(decider, outbox, NOON)
    assert [a.kind for a in first] == ["level"]  # one message: the rise and the incident behind it
    assert first[0].payload["level"] >= 3 and "Sirte -> Sebha" in first[0].text
    assert "Ambush near Waddan #1" in first[0].text
    assert decide(decider, outbox, NOON + dt.timedelta(minutes=5)) == []  # same level, same incident: silence

    later = NOON + dt.timedelta(hours=1)
    incident_near_waddan(engine, later, 2)
    incident_near_waddan(engine, later, 3)
    rise = decide(decider, outbox, later)
    new_lines = "\n".join(a.text.split("New:")[-1] for a in rise)
    assert "#2" in new_lines and "#3" in new_lines and "#1" not in new_lines  # each incident told once
    assert subs.get(sub.id).alerted_level >= first[0].payload["level"]

    told = Recorder()
    outbox.dispatch({"console": told}, later)
    quiet = NOON + dt.timedelta(days=200)  # everything has decayed
    [clear] = decide(decider, outbox, quiet)  # fell back below the minimum: an all-clear for what was told
    assert clear.kind == "allclear" and clear.payload["level"] < 3 and "below your alert level 3" in clear.text
    assert subs.get(sub.id).alerted_level == 0
    outbox.dispatch({"console": told}, quiet)
    assert told.got[-1].kind == "allclear"
    assert decide(decider, outbox, quiet + dt.timedelta(hours=1)) == []  # told once

    incident_near_waddan(engine, quiet, 4)
    again = decide(decider, outbox, quiet)
    assert [a.kind for a in again] == ["level"] and "#4" in again[0].text
    assert again[0].key != first[0].key


def test_incidents_known_before_subscribing_are_not_news(setup):
    engine, _, subs, decider, outbox = setup
    incident_near_waddan(engine, NOON, 1)
    subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3,
             now=NOON + dt.timedelta(minutes=1))
    alerts = decide(decider, outbox, NOON + dt.timedelta(minutes=2))
    assert [a.kind for a in alerts] == ["level"]  # the level is news to them, the old incident is not


def test_a_weak_incident_raises_no_incident_alert(setup):
    engine, _, subs, decider, outbox = setup
    subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=5, now=NOON)
    inc = Incident(event_type="Strategic developments", sub_event_type="Arrests", date=NOON.date(), lat=29.2,
                   lon=16.15, summary="Two men arrested in Waddan")
    engine.ingest_incidents(ReportIn(source="t", format="jsonl", text="arrests"), [inc], now=NOON)
    assert decide(decider, outbox, NOON) == []


def test_quiet_hours_hold_alerts_below_extreme_until_they_end(setup):
    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 21, 30, tzinfo=dt.UTC)  # 23:30 in Tripoli
    subs.add(chat_id="sleeper", channel="console", kind="route", target="Sirte|Sebha", min_level=2, now=NOON,
             quiet=parse_quiet_hours("22:00-06:00"))
    incident_near_waddan(engine, night, 1, precision=2)
    alerts = decide(decider, outbox, night)
    assert alerts and all(a.payload["level"] < 5 for a in alerts)
    recorder = Recorder()
    report = outbox.dispatch({"console": recorder}, night)
    assert recorder.got == [] and report.held == len(alerts)
    outbox.dispatch({"console": recorder}, dt.datetime(2026, 11, 21, 3, 59, tzinfo=dt.UTC))  # 05:59 local
    assert recorder.got == []
    outbox.dispatch({"console": recorder}, dt.datetime(2026, 11, 21, 4, 0, tzinfo=dt.UTC))  # 06:00 local
    assert sorted(a.key for a in recorder.got) == sorted(a.key for a in alerts)


def test_extreme_goes_out_even_in_quiet_hours(setup):
    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 23, 0, tzinfo=dt.UTC)
    subs.add(chat_id="sleeper", channel="console", kind="place", target="Waddan", radius_km=30, min_level=2,
             now=NOON, quiet=parse_quiet_hours("22:00-06:00"))
    for n in range(6):
        incident_near_waddan(engine, night, n)
    alerts = decide(decider, outbox, night)
    assert any(a.kind == "level" and a.payload["level"] == 5 for a in alerts)
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, night)
    assert {a.key for a in recorder.got} == {a.key for a in alerts}


def test_deciding_twice_stores_each_alert_once(setup):
    engine, _, subs, decider, outbox = setup
    subs.add(chat_id="c1", channel="console", kind="segment", target="jufra-sirte-waddan", min_level=2, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    alerts = decider.decide(NOON)
    assert len(outbox.enqueue(alerts, NOON)) == len(alerts) > 0
    assert outbox.enqueue(alerts, NOON) == []
    assert outbox.counts() == {"pending": 1, "merged": len(alerts) - 1}


def test_daily_digest_once_per_local_day(setup):
    engine, _, subs, decider, outbox = setup
    subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=4, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    morning = dt.datetime(2026, 11, 21, 5, 0, tzinfo=dt.UTC)  # 07:00 local
    digest = decider.digest(morning)
    assert len(digest) == 1 and "Daily digest 21 Nov 2026" in digest[0].text
    assert len(outbox.enqueue(digest, morning)) == 1
    assert outbox.enqueue(decider.digest(morning + dt.timedelta(minutes=30)), morning) == []


def test_bad_subscriptions_are_refused_clearly(setup):
    _, _, subs, _, _ = setup
    with pytest.raises(SubscriptionError, match="minimum level 7"):
        subs.add(chat_id="c", channel="console", kind="route", target="Sirte|Sebha", min_level=7, now=NOON)
    with pytest.raises(SubscriptionError, match="time zone 'Mars/Olympus'"):
        subs.add(chat_id="c", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON,
                 timezone="Mars/Olympus")
    with pytest.raises(SubscriptionError, match="'25:00'"):
        parse_quiet_hours("25:00-06:00")


def test_a_retracted_event_sends_a_correction_to_those_told_and_cancels_what_was_not_sent(setup):
    from riskengine.corrections import Corrections

    engine, _, subs, decider, outbox = setup
    told = subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    first = decide(decider, outbox, NOON)
    assert [a.kind for a in first] == ["level"]
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, NOON)
    assert len(recorder.got) == 1
    # a second subscriber whose alert is still held (quiet hours) when the event is retracted
    later = NOON + dt.timedelta(minutes=30)
    held = subs.add(chat_id="c2", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=later)
    assert [a.kind for a in decide(decider, outbox, later)] == ["level"]

    [event_id] = first[0].payload["incident_ids"]
    Corrections(engine).retract(event_id, "desk", "the ambush never happened", later)
    corrections = [a for a in decide(decider, outbox, later + dt.timedelta(minutes=5)) if a.kind == "correction"]
    assert [(a.kind, a.subscription_id) for a in corrections] == [("correction", told.id)]
    assert "retracted by an analyst (the ambush never happened)" in corrections[0].text
    assert "Ambush near Waddan #1" in corrections[0].text
    assert decide(decider, outbox, later + dt.timedelta(minutes=10)) == []  # corrected once
    report = outbox.dispatch({"console": recorder}, later + dt.timedelta(minutes=10))
    # the one told gets the correction and, quietly, the all-clear; the held alert about it was
    # cancelled, and with it its all-clear (nothing was told to clear)
    assert sorted(a.kind for a in report.sent) == ["allclear", "correction"]
    assert {a.chat_id for a in report.sent} == {"c1"} and held.chat_id == "c2"


def test_a_held_alert_is_superseded_by_a_newer_state_not_delivered_stale(setup):
    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)  # 23:00 in Tripoli
    subs.add(chat_id="sleeper", channel="console", kind="place", target="Waddan", radius_km=30, min_level=2,
             now=NOON, quiet=parse_quiet_hours("22:00-06:00"))
    incident_near_waddan(engine, night, 1, precision=2)
    held = decide(decider, outbox, night)
    assert [a.kind for a in held] == ["level"] and held[0].payload["level"] < 5
    later = night + dt.timedelta(minutes=35)  # 23:35: it became Extreme, told at once
    for n in range(2, 8):
        incident_near_waddan(engine, later, n)
    extreme = decide(decider, outbox, later)
    assert [a.payload["level"] for a in extreme if a.kind == "level"] == [5]
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, later)
    morning = dt.datetime(2026, 11, 21, 4, 5, tzinfo=dt.UTC)  # 06:05: the held "now High" must not follow
    outbox.dispatch({"console": recorder}, morning)
    assert [a.payload["level"] for a in recorder.got if a.kind == "level"] == [5]
    assert outbox.counts().get("superseded") == 1


def test_a_held_alert_whose_rise_has_passed_is_not_delivered(setup):
    from riskengine.corrections import Corrections

    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)
    subs.add(chat_id="sleeper", channel="console", kind="place", target="Waddan", radius_km=30, min_level=2,
             now=NOON, quiet=parse_quiet_hours("22:00-06:00"))
    incident_near_waddan(engine, night, 1, precision=2)
    [held] = decide(decider, outbox, night)
    # before morning the only incident behind it is withdrawn: the level falls back
    Corrections(engine).retract(held.payload["incident_ids"][0], "desk", "a false report", night)
    decide(decider, outbox, night + dt.timedelta(hours=1))
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, dt.datetime(2026, 11, 21, 4, 5, tzinfo=dt.UTC))
    assert [a.kind for a in recorder.got] == []


def test_a_level_is_recorded_only_with_its_alert(setup):
    """Deciding writes nothing; storing the alerts and the levels is one transaction: if storing
    fails, neither is kept, and the alert is owed again (not lost for ever)."""
    engine, _, subs, decider, outbox = setup
    sub = subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    decided = decider.decide(NOON)
    assert [a.kind for a in decided if not a.merged_into] == ["level"]
    assert subs.get(sub.id).alerted_level == 0  # deciding wrote nothing
    broken = type(decided)([*decided, decided[0].__class__(
        key="poison", subscription_id=sub.id, chat_id="c1", channel="console", kind="level", text="x",
        payload={"unstorable": object()})], decided.levels)
    with pytest.raises(Exception):  # noqa: B017 - any storage failure (here: a payload that is not JSON)
        outbox.enqueue(broken, NOON)
    assert subs.get(sub.id).alerted_level == 0 and outbox.counts() == {}
    again = decide(decider, outbox, NOON)
    assert [a.kind for a in again] == ["level"] and subs.get(sub.id).alerted_level >= 3


def test_a_process_killed_while_storing_alerts_loses_no_alert(setup, fresh_db):
    """The evaluating process dies (os._exit, as under kill -9) after the alert and the level are
    written but before the transaction commits: neither is kept, and the next evaluation owes the
    alert again. (Before, the level was committed on its own first, and the alert was lost for ever.)"""
    import subprocess
    import sys
    import textwrap

    from .conftest import PROJECT

    engine, _, subs, decider, outbox = setup
    sub = subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    script = textwrap.dedent(f"""
        import datetime as dt, os
        from riskengine.alerts import AlertDecider, AlertPolicy
        from riskengine.engine import DEFAULT_RULES_DIR, RiskEngine
        from riskengine.outbox import Outbox
        from riskengine.subscriptions import Subscriptions

        engine = RiskEngine.open({fresh_db!r})
        policy = AlertPolicy.load(DEFAULT_RULES_DIR)
        outbox = Outbox(engine.store, policy)
        Outbox._supersede = staticmethod(lambda *args: os._exit(9))  # die inside the transaction
        decider = AlertDecider(engine, policy, Subscriptions(engine.store), known=outbox.existing_keys)
        now = dt.datetime.fromisoformat({NOON.isoformat()!r})
        outbox.enqueue(decider.decide(now), now)
    """)
    died = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    assert outbox.counts() == {} and subs.get(sub.id).alerted_level == 0
    assert [a.kind for a in decide(decider, outbox, NOON)] == ["level"]


def test_no_all_clear_for_a_rise_that_was_never_told(setup):
    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)  # 23:00 in Tripoli: alerts below Extreme wait
    subs.add(chat_id="sleeper", channel="console", kind="place", target="Waddan", radius_km=30, min_level=2,
             now=NOON, quiet=parse_quiet_hours("22:00-06:00"))
    incident_near_waddan(engine, night, 1, precision=2)
    decide(decider, outbox, night)
    far_later = night + dt.timedelta(days=200)  # it decayed before anyone was told of the rise
    decide(decider, outbox, far_later)
    recorder = Recorder()
    outbox.dispatch({"console": recorder}, far_later + dt.timedelta(days=1))
    assert recorder.got == []  # neither the stale rise nor an all-clear of it
    assert outbox.counts().get("superseded") == 2


def test_a_level_change_in_a_told_situation_is_an_update_of_its_thread(setup):
    engine, _, subs, decider, outbox = setup
    sub = subs.add(chat_id="c1", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON)
    incident_near_waddan(engine, NOON, 1)
    [first] = decide(decider, outbox, NOON)
    outbox.dispatch({"console": Recorder()}, NOON)
    eased = NOON + dt.timedelta(days=20)  # the ambush has aged: lower, still above 3
    [update] = decide(decider, outbox, eased)
    assert update.kind == "update" and update.thread == first.thread == f"sub:{sub.id}:ep:0"
    assert first.payload["level"] > update.payload["level"] >= 3 and update.text.splitlines()[-1].startswith("Updated")
    assert decide(decider, outbox, eased + dt.timedelta(minutes=5)) == []  # unchanged: nothing
    got = Recorder()
    outbox.dispatch({"console": got}, eased)
    assert [a.kind for a in got.got] == ["update"]
    [clear] = decide(decider, outbox, NOON + dt.timedelta(days=200))
    assert clear.kind == "allclear" and clear.thread == first.thread
    incident_near_waddan(engine, NOON + dt.timedelta(days=200), 2)
    assert {a.thread for a in decide(decider, outbox, NOON + dt.timedelta(days=200))} <= {None, f"sub:{sub.id}:ep:1"}


def test_an_update_of_a_situation_never_told_is_its_first_message(setup):
    engine, _, subs, decider, outbox = setup
    night = dt.datetime(2026, 11, 20, 21, 30, tzinfo=dt.UTC)  # 23:30 in Tripoli, inside the quiet hours
    subs.add(chat_id="sleeper", channel="console", kind="route", target="Sirte|Sebha", min_level=3, now=NOON,
             quiet=parse_quiet_hours("22:00-06:00"))
    incident_near_waddan(engine, night, 1)
    [held] = decide(decider, outbox, night)
    assert held.kind == "level" and held.not_before > night
    later = night + dt.timedelta(days=20)  # still at night, lower but above 3, and the first alert never sent
    [news] = decide(decider, outbox, later)
    assert news.kind == "level" and news.payload["level"] < held.payload["level"] and "update" not in news.payload
    statuses = {row["key"]: row["status"] for row in outbox.rows()}
    assert statuses[held.key] == "superseded" and statuses[news.key] == "pending"
    morning = later + dt.timedelta(hours=7)
    assert [a.key for a in outbox.dispatch({"console": Recorder()}, morning).sent] == [news.key]
    # told by that first message, the situation's end is news too: the all-clear is kept, not superseded
    [clear] = decide(decider, outbox, night + dt.timedelta(days=200))
    assert clear.kind == "allclear" and clear.thread == news.thread
    assert {row["key"]: row["status"] for row in outbox.rows()}[clear.key] == "pending"
