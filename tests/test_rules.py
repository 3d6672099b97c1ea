"""Rule files: the taxonomy is ACLED's, the worked examples hold, bad files fail clearly."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml

from riskengine.errors import RuleFileError
from riskengine.incident import Incident
from riskengine.rules import ACLED_SUB_EVENT_TYPES, RuleBook
from riskengine.scoring import contributions, incident_frame

from .conftest import NOW


def test_taxonomy_has_acleds_six_types_and_25_sub_types(rules):
    assert sorted(e.id for e in rules.taxonomy.event_types) == sorted(ACLED_SUB_EVENT_TYPES)
    assert sum(len(e.sub_types) for e in rules.taxonomy.event_types) == 25


def test_a_rule_book_is_read_only_and_changed_only_by_copy(rules):
    """What a book holds (copied out of the validated files) cannot be changed by a slip; another
    corroboration cap, say, is a copy that leaves the book as it was."""
    with pytest.raises(AttributeError, match="read-only"):
        rules.scoring.saturation = 1.0
    capped = rules.identity.replaced(corroboration=rules.identity.corroboration.replaced(max_confidence=0.5))
    assert capped.corroboration.max_confidence == 0.5 != rules.identity.corroboration.max_confidence
    assert capped.same_event == rules.identity.same_event


def test_a_relief_is_named_by_the_rule_it_comes_from(rules, rules_copy):
    """The strongest relief of an incident's tags and sub-type names the answer's rule: a tag as a tag,
    a sub-type under its event type."""
    assert rules.resolve("Strategic developments", "Agreement", ("truce", "reopening")).id == "tag:reopening"
    taxonomy = rules_copy / "taxonomy.yaml"
    changed = yaml.safe_load(taxonomy.read_text(encoding="utf-8"))
    [strategic] = [e for e in changed["event_types"] if e["id"] == "Strategic developments"]
    [agreement] = [s for s in strategic["sub_types"] if s["id"] == "Agreement"]
    agreement.update(severity=0.0, road_threat=False, relief=0.8)  # an agreement eases more than a reopening
    taxonomy.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    eased = RuleBook.load(rules_copy).resolve("Strategic developments", "Agreement", ("truce", "reopening"))
    assert (eased.id, eased.relief) == ("Strategic developments/Agreement", 0.8)


def test_road_threat_tags_are_defined(rules):
    for tag in ["ambush", "illegal_checkpoint", "kidnapping", "ied_landmine", "banditry", "armed_presence",
                "road_closure", "air_drone_strike"]:
        assert tag in rules.tag_ids


def test_the_most_severe_rule_governs(rules):
    plain = rules.resolve("Violence against civilians", "Attack")
    ambush = rules.resolve("Violence against civilians", "Attack", ("ambush",))
    assert ambush.id == "tag:ambush" and ambush.severity > plain.severity
    assert rules.resolve("Strategic developments", "Agreement", ("road_closure",)).severity == 0.5


def _example_score(rules: RuleBook, example) -> float:
    data = {"lat": 30.0, "lon": 16.0, **example.incident, "date": (NOW - dt.timedelta(days=example.age_days)).date()}
    inc = Incident.model_validate(data)
    # the age in the example is counted from the incident's midnight
    now = dt.datetime.combine(inc.date, dt.time(), dt.UTC) + dt.timedelta(days=example.age_days)
    frame = incident_frame([inc], ["x"])
    matches = pd.DataFrame({"incident_id": ["x"], "segment_id": ["s"], "distance_km": [example.distance_km]})
    weight = contributions(rules, frame, matches, now)["weight"].sum()
    return float(rules.score_from_weight(weight))


def test_worked_examples_in_scoring_yaml_hold(rules):
    assert len(rules.scoring.examples) >= 3
    for example in rules.scoring.examples:
        score = _example_score(rules, example)
        expect = example.expect
        if expect.level is not None:
            assert int(rules.level_for(score)) == expect.level, (example.id, score)
        if expect.min_score is not None:
            assert score >= expect.min_score, (example.id, score)
        if expect.max_score is not None:
            assert score <= expect.max_score, (example.id, score)


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_severity_out_of_range_names_file_rule_and_field(rules_copy):
    def bump(data):
        data["event_types"][0]["sub_types"][2]["severity"] = 1.5
    _edit(rules_copy / "taxonomy.yaml", bump)
    with pytest.raises(RuleFileError) as err:
        RuleBook.load(rules_copy)
    message = str(err.value)
    assert "taxonomy.yaml" in message and "'Armed clash'" in message and "'severity'" in message


def test_unknown_sub_type_is_rejected_at_load(rules_copy):
    def rename(data):
        data["event_types"][1]["sub_types"][0]["id"] = "Chemical weapons attack"
    _edit(rules_copy / "taxonomy.yaml", rename)
    with pytest.raises(RuleFileError, match="unknown sub-type.*Chemical weapons attack"):
        RuleBook.load(rules_copy)


def test_tag_missing_a_field_names_the_tag(rules_copy):
    def drop(data):
        del data["tags"][0]["half_life_days"]
    _edit(rules_copy / "taxonomy.yaml", drop)
    with pytest.raises(RuleFileError) as err:
        RuleBook.load(rules_copy)
    assert err.value.rule_id == "ambush" and err.value.field == "half_life_days"


def test_levels_must_rise(rules_copy):
    def swap(data):
        data["levels"][2]["min_score"] = 1
    _edit(rules_copy / "scoring.yaml", swap)
    with pytest.raises(RuleFileError, match="scoring.yaml.*min_score must start at 0 and rise"):
        RuleBook.load(rules_copy)


def test_broken_yaml_names_the_file(rules_copy):
    (rules_copy / "scoring.yaml").write_text("levels: [unclosed\n")
    with pytest.raises(RuleFileError, match="scoring.yaml: not valid YAML"):
        RuleBook.load(rules_copy)


def test_example_with_unknown_tag_is_rejected(rules_copy):
    def tag(data):
        data["examples"][0]["incident"]["tags"] = ["ambushh"]
    _edit(rules_copy / "scoring.yaml", tag)
    with pytest.raises(RuleFileError, match="fresh-ambush-on-the-road.*unknown tag"):
        RuleBook.load(rules_copy)
