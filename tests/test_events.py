"""Events, not articles: several reports of one event are one event, counted once, believed more
when independent sources agree; distinct events close together stay apart (real SQLite store)."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.incident import Incident
from riskengine.store import ReportIn

PUBLISHED = dt.date(2026, 11, 17)  # a Tuesday
NOW = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)

# our own wordings of one ambush at Brak, as a wire service and a local outlet might tell it
WIRE = "Gunmen ambushed a bus carrying oil workers near Brak on Monday, wounding three passengers."
LOCAL = ("Three passengers were hurt when armed men opened fire on a bus of oil workers on the road outside Brak "
         "on Monday, local sources said.")
# a different event the same day in the same town: a kidnapping, not the ambush
KIDNAP = "Armed men abducted two truck drivers at a fake checkpoint in Brak on Monday."


def _segment_score(engine, segment_id: str) -> float:
    return float(engine.assess(AT).segments.loc[segment_id, "score"])


def test_two_wordings_from_two_sources_are_one_event_counted_once(engine):
    engine.ingest_text(WIRE, source="wire", published=PUBLISHED, now=NOW, source_reliability="B")
    alone = engine.route("Tripoli", "Sebha", AT)
    engine.ingest_text(LOCAL, source="local-outlet", published=PUBLISHED, now=NOW, source_reliability="C")

    assert engine.store.incident_count() == 2  # both reports are kept
    assert engine.store.event_count() == 1  # ... as one event
    both = engine.route("Tripoli", "Sebha", AT)
    [event] = both["incidents"]
    assert event["reports"] == 2 and event["sources"] == ["local-outlet", "wire"]
    # counted once: the second report raises the confidence (corroboration), not the count
    assert both["score"] > alone["score"]
    assert event["confidence"] > alone["incidents"][0]["confidence"]
    assert event["confidence"] <= engine.rules.identity.corroboration.max_confidence
    explained = engine.explain(event["segment"], AT)
    assert explained["incidents"][0]["sources"] == ["local-outlet", "wire"]


def test_the_same_source_again_is_not_corroboration(engine):
    engine.ingest_text(WIRE, source="channel", published=PUBLISHED, now=NOW, source_reliability="D")
    before = engine.route("Tripoli", "Sebha", AT)["score"]
    engine.ingest_text(LOCAL, source="channel", published=PUBLISHED, now=NOW, source_reliability="D")
    assert engine.store.event_count() == 1
    assert engine.route("Tripoli", "Sebha", AT)["score"] <= before + 0.05  # only a more confident wording


def test_different_events_in_one_town_on_one_day_stay_apart(engine):
    engine.ingest_text(WIRE, source="wire", published=PUBLISHED, now=NOW, source_reliability="B")
    engine.ingest_text(KIDNAP, source="local-outlet", published=PUBLISHED, now=NOW, source_reliability="C")
    assert engine.store.event_count() == 2


def test_far_apart_or_days_apart_are_two_events(engine):
    engine.ingest_text(WIRE, source="wire", published=PUBLISHED, now=NOW)
    engine.ingest_text(WIRE.replace("Brak", "Sokna"), source="outlet", published=PUBLISHED, now=NOW)
    engine.ingest_text(WIRE.replace("on Monday", "on 10 November"), source="channel", published=PUBLISHED, now=NOW)
    assert engine.store.event_count() == 3


def test_rows_of_one_dataset_are_never_merged_with_each_other(engine):
    row = Incident(event_type="Battles", sub_event_type="Armed clash", tags=["clashes"], date=PUBLISHED,
                   lat=32.75, lon=12.73, geo_precision=1, source="acled-like", evidence="row 1")
    engine.ingest_incidents(ReportIn("data.csv", "acled", "file"), [row, row.model_copy(update={"evidence": "row 2"})],
                            now=NOW)
    assert engine.store.event_count() == 2
    # the same clash told by a news report joins one of them
    other = row.model_copy(update={"source": "wire", "evidence": "a wire report"})
    engine.ingest_incidents(ReportIn("wire", "jsonl", "wire item"), [other], now=NOW)
    assert engine.store.event_count() == 2 and engine.store.incident_count() == 3


GRADES = st.sampled_from("ABCDEF")
CONFIDENCE = st.one_of(st.none(), st.floats(min_value=0.05, max_value=1.0))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first_grade=GRADES, second_grade=GRADES, first_conf=CONFIDENCE, second_conf=CONFIDENCE,
       precision=st.integers(1, 3), tag=st.sampled_from(["ambush", "ied_landmine", "kidnapping", "banditry"]))
def test_another_source_never_raises_a_score_beyond_what_corroboration_allows(
        engine, first_grade, second_grade, first_conf, second_conf, precision, tag):
    """Property: the same event again from another source raises its weight at most to the
    corroborated confidence (1 - (1-c1)(1-c2), capped), and never lowers the score."""
    rules, segment = engine.rules, "fezzan-brak-sebha"
    with engine.store.engine.begin() as conn:  # the store is shared by the examples: start empty
        for table in ("event_audit", "events", "incident_segments", "incidents", "reports"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    base = Incident(event_type="Violence against civilians", sub_event_type="Attack", tags=[tag], date=PUBLISHED,
                    lat=27.3, lon=14.3, geo_precision=precision, confidence=first_conf,
                    source_reliability=first_grade, source="first", evidence="first telling")
    engine.ingest_incidents(ReportIn("first", "jsonl", "first"), [base], now=NOW)
    before = _segment_score(engine, segment)
    again = base.model_copy(update={"confidence": second_conf, "source_reliability": second_grade,
                                    "source": "second", "evidence": "second telling"})
    engine.ingest_incidents(ReportIn("second", "jsonl", "second"), [again], now=NOW)
    after = _segment_score(engine, segment)
    assert engine.store.event_count() == 1

    def believed(conf, grade):
        return (conf if conf is not None else rules.precision_factor(precision)) * rules.reliability_factor(grade)

    c1, c2 = believed(first_conf, first_grade), believed(second_conf, second_grade)
    bound = max(c1, c2, min(rules.identity.corroboration.max_confidence, 1 - (1 - c1) * (1 - c2)))
    weight_before = -rules.scoring.saturation * math.log1p(-before / 100)
    allowed = float(rules.score_from_weight(weight_before * bound / c1))
    assert before - 1e-9 <= after <= allowed + 1e-9
