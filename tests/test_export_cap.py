"""CAP 1.2 export: every alert valid against the OASIS schema, areas in CAP's lat,lon order, the
lifecycle (Alert, Update, AllClear, Cancel) chained by references, a well-formed Atom feed.

The incidents are our own, written for these tests, on the Sirte - Waddan road of the real network,
stored in a real SQLite store and scored by the real engine and rules.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import feedparser
import pytest
import xmlschema
from shapely.geometry import Point, Polygon

from riskengine.corrections import Corrections
from riskengine.exports.cap import CAP_NS, CAP_SCHEMA, cap_alert, cap_feed, cap_messages
from riskengine.incident import Incident
from riskengine.store import ReportIn

ATOM = "http://www.w3.org/2005/Atom"
NS = {"cap": CAP_NS, "atom": ATOM}
SEGMENT = "jufra-sirte-waddan"
#: The first incident's day (09:00 UTC); the feed is read long after, when all has calmed down.
DAY = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
LATER = DAY + dt.timedelta(days=45)
SINCE = DAY - dt.timedelta(days=1)
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(CAP_SCHEMA)


def grenade(engine, when: dt.datetime, n: int, *, source: str = "desk-a", north_km: float = 0.0) -> None:
    """A grenade thrown at a checkpoint halfway along Sirte - Waddan (``north_km`` off it), told by ``source``."""
    middle = engine.network.segment(SEGMENT).geometry.interpolate(0.5, normalized=True)
    inc = Incident(event_type="Explosions/Remote violence", sub_event_type="Grenade", tags=[], date=when.date(),
                   lat=middle.y + north_km / 111.0, lon=middle.x, geo_precision=1, source_reliability="B",
                   summary=f"Grenade thrown at a checkpoint on the Sirte - Waddan road ({n})",
                   evidence=f"Our own test report {n} from {source}: a grenade hit a checkpoint hut.")
    engine.ingest_incidents(ReportIn(source=source, format="jsonl", text=f"test report {n} by {source} {when}"),
                            [inc], now=when)


def escalate(engine) -> None:
    """One grenade (Medium), two more two days later, one from another desk (High)."""
    grenade(engine, DAY, 1)
    grenade(engine, DAY + dt.timedelta(days=2), 2, source="desk-b", north_km=11)
    grenade(engine, DAY + dt.timedelta(days=2), 3, north_km=-11)


def on_segment(messages):
    return [m for m in messages if m.segment.id == SEGMENT]


def alerts_of(feed: str) -> list[ET.Element]:
    return ET.fromstring(feed).findall("atom:entry/atom:content/cap:alert", NS)


def kind(alert: ET.Element) -> str:
    """Alert, Update, Cancel, or AllClear (an Update whose response is AllClear)."""
    msg_type = alert.findtext("cap:msgType", namespaces=NS)
    response = alert.findtext("cap:info/cap:responseType", namespaces=NS)
    return "AllClear" if (msg_type, response) == ("Update", "AllClear") else msg_type


def test_the_schema_is_oasis_cap_1_2(schema):
    text = CAP_SCHEMA.read_text(encoding="utf-8")
    assert "Copyright OASIS Open 2010 All Rights Reserved" in text
    assert schema.target_namespace == "urn:oasis:names:tc:emergency:cap:1.2"
    assert {"alert", "valueName", "value"} <= {e.local_name for e in schema.elements.values()}


def test_every_alert_of_the_feed_is_valid_cap(engine, schema):
    escalate(engine)
    alerts = alerts_of(cap_feed(engine, LATER, since=SINCE))
    assert len(alerts) >= 4
    for alert in alerts:
        schema.validate(alert)  # raises, naming the element, on the first error
        sent = alert.findtext("cap:sent", namespaces=NS)
        assert CAP_TIME.match(sent), sent
        for info in alert.findall("cap:info", NS):
            assert info.findtext("cap:category", namespaces=NS) == "Security"
    # the validator does catch a broken message (so the loop above can fail)
    broken = alerts[0]
    broken.find("cap:msgType", NS).text = "Warning"
    assert not schema.is_valid(broken)


def test_areas_are_closed_lat_lon_polygons_around_the_road(engine):
    escalate(engine)
    alerts = alerts_of(cap_feed(engine, LATER, since=SINCE))
    road = engine.network.segment(SEGMENT).geometry
    polygons = [p.text for a in alerts for p in a.findall("cap:info/cap:area/cap:polygon", NS)]
    assert polygons
    for text in polygons:
        pairs = [tuple(map(float, pair.split(","))) for pair in text.split()]
        assert len(pairs) >= 4 and pairs[0] == pairs[-1]
        assert all(19 <= lat <= 34 and 9 <= lon <= 26 for lat, lon in pairs)
    mine = [a for a in alerts if a.findtext("cap:info/cap:parameter[cap:valueName='segment_id']/cap:value",
                                            namespaces=NS) == SEGMENT]
    area = Polygon([(lon, lat) for lat, lon in
                    (map(float, pair.split(",")) for pair in mine[0].findtext(
                        "cap:info/cap:area/cap:polygon", namespaces=NS).split())])
    assert area.is_valid and area.contains(road)  # the road and a margin, in the right order
    assert not area.contains(Point(road.coords[0][0] + 0.2, road.coords[0][1]))  # a few km, not a region


def test_an_escalation_that_calms_down_is_alert_update_all_clear_chained(engine):
    escalate(engine)
    messages = on_segment(cap_messages(engine, LATER, since=SINCE))
    kinds = [(m.msg_type, m.response, m.level) for m in messages]
    assert kinds[0] == ("Alert", "Monitor", 3)
    assert ("Update", "Avoid", 4) in kinds  # the escalation two days later
    assert kinds[-1][:2] == ("Update", "AllClear") and kinds[-1][2] < 3
    assert [m.msg_type for m in messages[1:-1]] == ["Update"] * (len(messages) - 2)
    for i, m in enumerate(messages):  # each refers to every earlier message of the episode
        assert m.references == tuple(earlier.reference for earlier in messages[:i])
    assert messages[0].sent == dt.datetime.combine(DAY.date(), dt.time(), dt.UTC)
    assert len({m.identifier for m in messages}) == len(messages)
    # the chain as written in the feed
    alerts = {a.findtext("cap:identifier", namespaces=NS): a for a in alerts_of(cap_feed(engine, LATER, since=SINCE))}
    last = alerts[messages[-1].identifier]
    assert kind(last) == "AllClear"
    assert last.findtext("cap:references", namespaces=NS).split() == [
        f"riskengine,{m.identifier},{m.sent:%Y-%m-%dT%H:%M:%S+00:00}" for m in messages[:-1]]


def test_identifiers_are_the_same_when_exported_again(engine):
    escalate(engine)
    first = cap_messages(engine, LATER, since=SINCE)
    again = cap_messages(engine, LATER + dt.timedelta(days=3, hours=5), since=SINCE)
    assert [m.identifier for m in first] == [m.identifier for m in again if m.sent <= LATER]
    assert cap_alert(first[0]) == cap_alert(again[0])


def test_retracting_the_event_behind_an_alert_cancels_it(engine):
    grenade(engine, DAY, 1)
    retracted_at = DAY + dt.timedelta(days=3, hours=1)
    event_id = engine.store.events_frame().index[0]
    Corrections(engine).retract(event_id, "analyst", "the report was a hoax", retracted_at)
    messages = on_segment(cap_messages(engine, LATER, since=SINCE))
    assert [m.msg_type for m in messages] == ["Alert", "Cancel"]
    alert, cancel = messages
    assert alert.level >= 3 and event_id in alert.event_ids  # told while it was believed
    assert cancel.sent == retracted_at and cancel.references == (alert.reference,)
    assert cancel.event_ids == (event_id,) and "hoax" in cancel.note
    xml = ET.fromstring(cap_alert(cancel))
    assert xml.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert xml.findtext("cap:references", namespaces=NS) == (
        f"riskengine,{alert.identifier},{alert.sent:%Y-%m-%dT%H:%M:%S+00:00}")


def test_without_the_retraction_the_same_alert_ends_all_clear(engine):
    grenade(engine, DAY, 1)
    messages = on_segment(cap_messages(engine, LATER, since=SINCE))
    assert [(m.msg_type, m.response) for m in messages] == [("Alert", "Monitor"), ("Update", "AllClear")]


def test_retracting_one_of_several_events_updates_the_alert(engine):
    escalate(engine)
    second = engine.store.events_frame().sort_values("date").index[-1]
    retracted_at = DAY + dt.timedelta(days=4, hours=2)
    Corrections(engine).retract(second, "analyst", "duplicate of another report", retracted_at)
    messages = on_segment(cap_messages(engine, LATER, since=SINCE))
    at_retraction = [m for m in messages if m.sent == retracted_at]
    assert [m.msg_type for m in at_retraction] == ["Update"]  # still at 3 or more: not cancelled
    assert second not in at_retraction[0].event_ids and "duplicate" in at_retraction[0].note
    assert "Cancel" not in [m.msg_type for m in messages]


def test_certainty_follows_corroboration(engine):
    grenade(engine, DAY, 1)
    alone = on_segment(cap_messages(engine, DAY, since=SINCE))[0]
    assert (alone.sources, alone.certainty) == (("desk-a",), "Possible")
    grenade(engine, DAY, 2, source="desk-b")  # the same grenade told by another desk
    grenade(engine, DAY, 3, source="desk-c")
    assert engine.store.events_frame()["reports"].tolist() == [3]  # one event, three reports
    told = on_segment(cap_messages(engine, DAY, since=SINCE))[0]
    assert len(told.sources) == 3 and told.certainty == "Observed"


def test_severity_urgency_and_response_follow_the_level(engine):
    escalate(engine)
    alerts = alerts_of(cap_feed(engine, LATER, since=SINCE, arabic=False))
    seen = set()
    for alert in alerts:
        info = alert.find("cap:info", NS)
        level = int(info.findtext("cap:parameter[cap:valueName='level']/cap:value", namespaces=NS))
        row = (kind(alert), level, info.findtext("cap:severity", namespaces=NS),
               info.findtext("cap:urgency", namespaces=NS), info.findtext("cap:responseType", namespaces=NS))
        seen.add(row)
    assert ("Update", 4, "Severe", "Immediate", "Avoid") in seen
    assert ("Alert", 3, "Moderate", "Expected", "Monitor") in seen
    assert ("AllClear", 2, "Minor", "Past", "AllClear") in seen


def test_each_alert_says_it_in_english_and_arabic(engine):
    grenade(engine, DAY, 1)
    alert = alerts_of(cap_feed(engine, DAY, since=SINCE))[0]
    infos = {i.findtext("cap:language", namespaces=NS): i for i in alert.findall("cap:info", NS)}
    assert set(infos) == {"en", "ar"}
    assert infos["en"].findtext("cap:event", namespaces=NS) == "Road risk: Sirte - Waddan"
    assert "Grenade thrown at a checkpoint" in infos["en"].findtext("cap:description", namespaces=NS)
    arabic = infos["ar"]
    assert "متوسط" in arabic.findtext("cap:headline", namespaces=NS)  # Medium, from the bot's catalogue
    assert re.search("[\u0621-\u064A]", arabic.findtext("cap:area/cap:areaDesc", namespaces=NS))
    assert arabic.findtext("cap:area/cap:polygon", namespaces=NS) == infos["en"].findtext(
        "cap:area/cap:polygon", namespaces=NS)


def test_the_feed_is_atom(engine):
    escalate(engine)
    text = cap_feed(engine, LATER, since=SINCE)
    root = ET.fromstring(text)
    assert root.tag == f"{{{ATOM}}}feed"
    assert root.findtext("atom:id", namespaces=NS).startswith("urn:uuid:")
    entries = root.findall("atom:entry", NS)
    assert len(entries) == len(cap_messages(engine, LATER, since=SINCE)) >= 4
    newest = max(e.findtext("atom:updated", namespaces=NS) for e in entries)
    assert root.findtext("atom:updated", namespaces=NS) == newest
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert entry.findtext(f"atom:{name}", namespaces=NS), name
        content = entry.find("atom:content", NS)
        assert content.get("type") == "application/cap+xml" and [c.tag for c in content] == [f"{{{CAP_NS}}}alert"]
    assert len({e.findtext("atom:id", namespaces=NS) for e in entries}) == len(entries)
    parsed = feedparser.parse(text)  # a feed reader's view
    assert not parsed.bozo and parsed.version == "atom10" and len(parsed.entries) == len(entries)
    assert all(e.id.startswith("urn:uuid:") and e.updated_parsed for e in parsed.entries)


def test_a_quiet_store_gives_an_empty_feed(engine):
    root = ET.fromstring(cap_feed(engine, LATER))
    assert root.findall("atom:entry", NS) == [] and root.findtext("atom:updated", namespaces=NS) == (
        f"{LATER:%Y-%m-%dT%H:%M:%S+00:00}")
