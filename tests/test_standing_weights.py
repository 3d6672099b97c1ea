"""Answers from the stored standing weights are the answers of the previous scoring path.

The previous path read every active event of the horizon from the store and weighed it at the
question's time; now each event's time-independent weight is stored when it changes and a question
reads only its segments' rows. On a generated store (points, stretches and areas of every kind, over
more than a year, several sources telling some events), after analysts' corrections, after a report
written by a store without rules, and after the rules change, every route, segment and explanation
must come out exactly as the previous path gives it (real SQLite file, real ingest).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import text

from riskengine.corrections import Corrections
from riskengine.engine import RiskEngine
from riskengine.incident import Incident
from riskengine.rules import RuleBook
from riskengine.scoring import assess
from riskengine.store import ReportIn, Store
from riskengine.weights import rules_fingerprint

AT = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
TIMES = [AT, AT + dt.timedelta(days=3, hours=5), AT + dt.timedelta(days=120)]
PAIRS = [("Tripoli", "Sebha"), ("Misrata", "Sirte"), ("Sirte", "Sebha"), ("Benghazi", "Tobruk"),
         ("Zawiya", "Ghadames"), ("Ajdabiya", "Kufra")]
SOURCES = [("wire", "B"), ("local-outlet", "C"), ("channel", "D"), ("ngo-desk", "A")]
# (event type, sub-type, tags): threats, a status-setting closure, a reopening that eases the risk
KINDS = [
    ("Battles", "Armed clash", ["clashes"]),
    ("Violence against civilians", "Attack", ["ambush"]),
    ("Violence against civilians", "Abduction/forced disappearance", ["kidnapping"]),
    ("Explosions/Remote violence", "Air/drone strike", ["air_drone_strike"]),
    ("Explosions/Remote violence", "Remote explosive/landmine/IED", ["ied_landmine"]),
    ("Strategic developments", None, ["road_closure"]),
    ("Strategic developments", None, ["illegal_checkpoint"]),
    ("Protests", "Peaceful protest", []),
]


def _generated(engine: RiskEngine, n: int, seed: int) -> None:
    """Ingest ``n`` made-up incidents in reports of ten, as a feed would bring them; one in five is
    told again by another source (so it joins an event and corroborates it)."""
    rng = random.Random(seed)
    towns = [p for p in engine.gazetteer.places if p.kind in ("city", "town")] or list(engine.gazetteer.places)
    segments = [s.id for s in engine.network.segments]
    told: list[Incident] = []
    batch: list[Incident] = []
    for i in range(n):
        if told and rng.random() < 0.2:  # another source retells an earlier incident
            old = rng.choice(told)
            source, grade = rng.choice(SOURCES)
            inc = old.model_copy(update={"source": source, "source_reliability": grade,
                                         "evidence": f"{old.evidence} (retold by {source})",
                                         "confidence": round(rng.uniform(0.4, 0.9), 2)})
        else:
            event_type, sub_type, tags = rng.choice(KINDS)
            town = rng.choice(towns)
            source, grade = rng.choice(SOURCES)
            where = rng.random()
            place: dict = {"lat": town.lat + rng.uniform(-0.3, 0.3), "lon": town.lon + rng.uniform(-0.3, 0.3),
                           "geo_precision": rng.choice([1, 1, 2, 3])}
            if where < 0.1:
                place = {"location_kind": "stretch", "segments": [rng.choice(segments)], "geo_precision": 2}
            elif where < 0.15:
                lon, lat = town.lon, town.lat
                place = {"location_kind": "area", "geo_precision": 3, "geometry_wkt":
                         f"POLYGON(({lon - .4} {lat - .4}, {lon + .4} {lat - .4}, {lon + .4} {lat + .4}, "
                         f"{lon - .4} {lat + .4}, {lon - .4} {lat - .4}))"}
            inc = Incident(event_type=event_type, sub_event_type=sub_type, tags=tags,
                           date=AT.date() - dt.timedelta(days=rng.randint(-2, 420)),
                           fatalities=rng.choice([0, 0, 0, 1, 3, 12]), source=source, source_reliability=grade,
                           confidence=rng.choice([None, 0.5, 0.8]), evidence=f"made-up report {i} near {town.name}",
                           summary=f"{event_type} near {town.name}", **place)
            told.append(inc)
        batch.append(inc)
        if len(batch) == 10 or i == n - 1:
            engine.ingest_incidents(ReportIn(source=batch[0].source or "feed", format="jsonl",
                                             text=f"generated batch {seed}-{i}"), batch, now=AT)
            batch = []


def _previous_path(store_path: str, rules: RuleBook, gazetteer, network) -> RiskEngine:
    """An engine that weighs every event in memory, as scoring did before weights were stored
    (what a reader does whose rules are not the ones the store was weighed with)."""
    engine = RiskEngine(Store.open(store_path), rules, gazetteer, network)
    engine.weigher.fingerprint = "the rules the store was not weighed with"
    return engine


def _answers(engine: RiskEngine, at: dt.datetime) -> dict:
    return {
        "segments": engine.segments(at),
        "routes": [engine.route(a, b, at) for a, b in PAIRS],
        "explain": [engine.explain(s.id, at) for s in engine.network.segments],
    }


def _assert_day_sums_true(store: Store) -> None:
    """The stored day sums (``segment_days``) are the sums of the stored rows that weigh."""
    rows = store.event_weights_frame()
    rows = rows[rows["weighs_until"].notna()]
    expected = rows.groupby(["segment_id", "date", "half_life_days"]).agg(
        weight=("base_weight", "sum"), events=("incident_id", "size")).reset_index()
    with store.engine.connect() as conn:  # every day sum, of days past weighing too
        stored = pd.DataFrame(conn.execute(text("SELECT segment_id, date, half_life_days, weight, events "
                                                "FROM segment_days")).all(),
                              columns=["segment_id", "date", "half_life_days", "weight", "events"])
    key = ["segment_id", "date", "half_life_days"]
    expected = expected.astype({"date": str}).sort_values(key, ignore_index=True)
    stored = stored.astype({"date": str}).sort_values(key, ignore_index=True)
    assert len(expected) > 0
    assert stored[key + ["events"]].values.tolist() == expected[key + ["events"]].values.tolist()
    np.testing.assert_allclose(stored["weight"].to_numpy(), expected["weight"].to_numpy(), rtol=1e-12)


def _assert_same_answers(stored: RiskEngine, previous: RiskEngine) -> None:
    _assert_day_sums_true(stored.store)
    for at in TIMES:
        fresh = RiskEngine(Store.open(stored.store.url), stored.rules, stored.gazetteer, stored.network)
        # a fresh engine (routes first: it reads only their segments) and the one that has answered before
        for engine in (fresh, stored):
            assert _answers(engine, at) == _answers(previous, at)


@pytest.fixture
def generated(fresh_db, rules, gazetteer, network) -> RiskEngine:
    engine = RiskEngine(Store.open(fresh_db), rules, gazetteer, network)
    _generated(engine, 400, seed=20261202)
    return engine


def test_answers_from_stored_weights_are_the_previous_paths(db_url, rules, gazetteer, network):
    stored = RiskEngine(Store.open(db_url), rules, gazetteer, network)  # SQLite, and PostgreSQL when given
    _generated(stored, 400, seed=20261202)
    fresh_db = db_url
    assert stored.store.weights_state(rules_fingerprint(rules)) == (True, [])  # all weighed, none pending
    assert stored.store.event_count() < stored.store.incident_count()  # retellings joined their events
    previous = _previous_path(fresh_db, rules, gazetteer, network)
    _assert_same_answers(stored, previous)
    # and the segment scores are those of the previous composition: events, matches, weighed at `at`
    until = AT.date()
    since = until - dt.timedelta(days=rules.horizon_days)
    before = assess(rules, network.segments, stored.scoring_frame(until, since),
                    stored.store.event_matches_frame(until, since=since), AT)
    got = stored.assess(AT)
    assert len(got.contributions) == len(before.contributions) > 100
    np.testing.assert_allclose(got.segments["score"].to_numpy(), before.segments["score"].to_numpy(),
                               rtol=1e-12, atol=1e-12)
    assert got.segments["level"].tolist() == before.segments["level"].tolist()
    assert (got.segments["level"] >= 3).any()  # the generated store puts some roads at risk
    # another process stores more reports: the engine that read the whole network reads again only the
    # changed events' rows, and still answers as the previous path does
    other = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    _generated(other, 60, seed=7)
    _assert_same_answers(stored, _previous_path(fresh_db, rules, gazetteer, network))


def test_corrections_and_edits_keep_the_stored_weights_true(generated, fresh_db, rules, gazetteer, network):
    stored = generated
    fixes = Corrections(stored)
    weighing = stored.assess(AT).contributions.sort_values("weight", ascending=False)["incident_id"]
    first, second, third, fourth = list(dict.fromkeys(weighing))[:4]
    fixes.retract(first, "desk", "a rumour, denied by two sources", AT)
    kidnapping = ("Violence against civilians", "Abduction/forced disappearance", ["kidnapping"])
    was = set(stored.store.event_weights_frame().query("incident_id == @second")["rule_id"])
    fixes.retype(second, *kidnapping, "desk", "drivers were taken, not shot at", AT)
    fixes.move(third, "Sebha", who="desk", why="the report misplaced it", now=AT)
    fixes.merge(fourth, [list(dict.fromkeys(weighing))[5]], "desk", "the same convoy attack", AT)
    rows = stored.store.event_weights_frame()
    assert first not in set(rows["incident_id"])  # a retracted event weighs nothing
    now_rule = {rules.resolve(kidnapping[0], kidnapping[1], tuple(kidnapping[2])).id}
    assert set(rows.loc[rows["incident_id"] == second, "rule_id"]) == now_rule != was  # the new kind's rule
    _assert_same_answers(stored, _previous_path(fresh_db, rules, gazetteer, network))


def test_events_written_without_rules_are_weighed_by_the_reader(generated, fresh_db, rules, gazetteer, network):
    stored = generated
    before = stored.route("Tripoli", "Sebha", AT)
    # a Store used alone (another tool) stores a report: its event is left unweighed
    bare = Store.open(fresh_db)
    place = gazetteer.resolve(before["via"][1])  # a town on the route
    ambush = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                      date=AT.date(), lat=place.lat, lon=place.lon, source="tool", evidence="made-up ambush")
    bare.add_report(ReportIn(source="tool", format="jsonl", text="written by another tool"), [ambush],
                    [stored.index.match([ambush], rules.max_reach_km)[0]], now=AT)
    current, stale = stored.store.weights_state(rules_fingerprint(rules))
    assert current and stale == [ambush.fingerprint()]
    after = stored.route("Tripoli", "Sebha", AT)
    assert ambush.fingerprint() in {row["id"] for row in after["incidents"]} and after["score"] > before["score"]
    _assert_same_answers(stored, _previous_path(fresh_db, rules, gazetteer, network))
    # the next writer weighs it for everyone
    stored.ingest_incidents(ReportIn(source="wire", format="jsonl", text="one more"), [], now=AT)
    assert stored.store.weights_state(rules_fingerprint(rules)) == (True, [])


def test_a_writer_with_other_rules_weighs_every_event_again(generated, fresh_db, rules_copy, gazetteer, network):
    taxonomy = rules_copy / "taxonomy.yaml"
    changed = yaml.safe_load(taxonomy.read_text(encoding="utf-8"))
    [ambush] = [tag for tag in changed["tags"] if tag["id"] == "ambush"]
    ambush["half_life_days"] = 45  # ambushes are remembered longer
    taxonomy.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    other = RuleBook.load(rules_copy)
    assert rules_fingerprint(other) != generated.weigher.fingerprint
    reader = RiskEngine(Store.open(fresh_db), other, gazetteer, network)
    assert reader.store.weights_state(rules_fingerprint(other))[0] is False  # it weighs in memory meanwhile
    in_memory = reader.standing_weights(AT.date(), AT.date() - dt.timedelta(days=other.horizon_days))
    reader.ingest_incidents(ReportIn(source="wire", format="jsonl", text="a writer with other rules"), [], now=AT)
    assert reader.store.weights_state(rules_fingerprint(other)) == (True, [])
    stored = reader.store.event_weights_frame(AT.date(), since=AT.date() - dt.timedelta(days=other.horizon_days))
    assert len(stored) > 100
    days = ["date", "weighs_until", "counts_until"]  # dates: read back from the store as their ISO text
    pd.testing.assert_frame_equal(stored.drop(columns=days).reset_index(drop=True),
                                  in_memory.drop(columns=days).reset_index(drop=True), check_dtype=False)
    def iso(frame: pd.DataFrame) -> list:
        return [[None if pd.isna(v) else str(v) for v in row] for row in frame.to_numpy()]

    assert iso(stored[days]) == iso(in_memory[days])
    # the rows follow the new rules: a longer half-life where it changed
    assert set(stored.loc[stored["rule_id"] == "tag:ambush", "half_life_days"]) == {45.0}
    _assert_same_answers(reader, _previous_path(fresh_db, other, gazetteer, network))


def test_a_store_without_events_is_read_as_weighed_by_any_rules(db_url, rules, gazetteer, network):
    """A new store has nothing to weigh: its first question reads the (empty) stored weights and
    statuses rather than weighing in memory, and answers as the previous path does; once it holds
    an event weighed by no rules, it is weighed in memory again."""
    engine = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    assert engine.store.weights_state(rules_fingerprint(rules)) == (True, [])
    assert engine.stored_statuses_current()
    answer = engine.route("Tripoli", "Sebha", AT)
    assert answer == _previous_path(db_url, rules, gazetteer, network).route("Tripoli", "Sebha", AT)
    assert answer["level_name"] == "No recent reports" and answer["incidents"] == []
    # another tool (a Store used alone, without rules) stores the store's first event: unweighed,
    # under no rules' fingerprint, so a reader weighs it in memory and shows it
    bare = Store.open(db_url)
    place = gazetteer.resolve(answer["via"][1])  # a town on the route
    ambush = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                      date=AT.date(), lat=place.lat, lon=place.lon, source="tool", evidence="made-up ambush")
    bare.add_report(ReportIn(source="tool", format="jsonl", text="the first report"), [ambush],
                    [engine.index.match([ambush], rules.max_reach_km)[0]], now=AT)
    reader = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    assert reader.store.weights_state(rules_fingerprint(rules)) == (False, [])
    assert not reader.stored_statuses_current()
    after = reader.route("Tripoli", "Sebha", AT)
    assert [row["id"] for row in after["incidents"]] == [ambush.fingerprint()] and after["score"] > 0


def test_a_batch_of_reports_is_weighed_once_at_its_end(fresh_db, rules, gazetteer, network):
    engine = RiskEngine(Store.open(fresh_db), rules, gazetteer, network)
    previous = _previous_path(fresh_db, rules, gazetteer, network)
    _generated(engine, 10, seed=4)  # outside a batch: weighed at once
    assert engine.store.weights_state(rules_fingerprint(rules)) == (True, [])
    weighed = engine.store.event_count()
    with engine.store.weighing_deferred():
        _generated(engine, 30, seed=3)
        current, stale = engine.store.weights_state(rules_fingerprint(rules))
        assert current and len(stale) == engine.store.event_count() - weighed > 0  # the batch's: not yet
        # a question meanwhile weighs them in memory: the same answer as the previous path
        assert engine.route("Tripoli", "Sebha", AT) == previous.route("Tripoli", "Sebha", AT)
    assert engine.store.weights_state(rules_fingerprint(rules)) == (True, [])
    assert engine.route("Tripoli", "Sebha", AT) == previous.route("Tripoli", "Sebha", AT)


def test_writers_at_once_keep_the_day_sums_true(db_url, rules, gazetteer, network):
    """Two writers (two connections, at once on PostgreSQL) store ambushes on the same segments and
    days: each day sum both touch still counts every row (no writer fails on the other's sum), and
    scores equal the previous path's."""
    engines = [RiskEngine(Store.open(db_url), rules, gazetteer, network) for _ in range(2)]
    town = engines[0].gazetteer.resolve("Sirte")

    def write(k: int) -> None:
        for i in range(30):
            engines[k].ingest_incidents(
                ReportIn(source=f"writer-{k}", format="jsonl", text=f"writer {k} report {i}"),
                [Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=["ambush"],
                          date=AT.date() - dt.timedelta(days=i % 2), lat=town.lat + 0.02 * (i + 20 * k),
                          lon=town.lon + 0.05, geo_precision=1, source=f"writer-{k}",
                          evidence=f"Writer {k} tells of gunmen stopping a lorry, number {i}.")], now=AT)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))
    _assert_day_sums_true(engines[0].store)
    previous = _previous_path(db_url, rules, gazetteer, network)
    fresh = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    assert fresh.segments(AT) == previous.segments(AT)
    assert fresh.store.incident_count() == 60
    assert sum(s["incidents"] for s in fresh.segments(AT)["segments"]) > 0


def _printed(answer: dict) -> str:
    """An answer as ``--json`` prints it: key order, number types and NaN all show."""
    return json.dumps(answer, ensure_ascii=False, indent=2)


def test_a_first_answer_prints_byte_for_byte_as_every_other_path(db_url, rules, gazetteer, network):
    """A new engine's first answer reads only its route's rows (kept whole, split by segment only
    when a later question needs some, scored and listed as the whole network's would be): each route,
    and a segment explained next by the same engine, prints exactly as the previous path's answer and
    as the answer of an engine that read the whole network first (SQLite, and PostgreSQL when given)."""
    stored = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    _generated(stored, 400, seed=20261203)
    previous = _previous_path(db_url, rules, gazetteer, network)
    service = RiskEngine(Store.open(db_url), rules, gazetteer, network)
    service.segments(AT)  # the whole network read, every answer row made at once
    listed = []
    for start, end in PAIRS:
        first = RiskEngine(Store.open(db_url), rules, gazetteer, network)
        answer = first.route(start, end, AT)
        printed = _printed(answer)
        assert printed == _printed(previous.route(start, end, AT))
        assert printed == _printed(service.route(start, end, AT))
        # the segments it read, split apart now: the worst one explained, and then another route
        # over some of them (the whole network read this time)
        worst = answer["worst_segment"] or answer["segments"][0]["id"]
        assert _printed(first.explain(worst, AT)) == _printed(previous.explain(worst, AT))
        assert _printed(first.route(end, start, AT)) == _printed(previous.route(end, start, AT))
        listed.append(len(answer["incidents"]))
    assert max(listed) > 20  # routes that list many events, of several kinds, some of them retold
