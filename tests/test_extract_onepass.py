"""Extraction reads a report's lexicon words in one pass: the answers are those of reading each
lexicon on its own, whatever the report's length and however many of its sentences say nothing
(our own English and Arabic sentences)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.arabic import normalize_arabic
from riskengine.engine import RiskEngine
from riskengine.store import Store

PUBLISHED = dt.date(2026, 11, 18)  # a Wednesday

INCIDENT = ("Gunmen stopped a fuel lorry on the road between Sirte and Hun on Monday and kidnapped its driver. "
            "Two days later a roadside bomb hit a minibus near Zliten, killing three passengers.")
#: Sentences that name no place and report nothing: most of a long feed item.
QUIET = [
    "The weather stayed mild and the wind dropped in the evening.",
    "Shopkeepers said the price of tomatoes and onions had hardly changed.",
    "Teachers prepared the new timetable for the coming term.",
    "A local choir rehearsed songs for the wedding season.",
]
AR_INCIDENT = "خطف مسلحون سائق شاحنة على الطريق بين سرت وهون يوم الاثنين."
AR_QUIET = ["وكان الطقس معتدلا طوال اليوم.", "وقال أصحاب المحلات إن الأسعار لم تتغير كثيرا."]


@pytest.fixture(scope="module")
def reader(rules, gazetteer, network, tmp_path_factory):
    """An engine used only to read text (its store stays empty)."""
    return RiskEngine(Store.open(str(tmp_path_factory.mktemp("x") / "x.db")), rules, gazetteer, network)


def dumped(engine, text, published=PUBLISHED):
    return [incident.model_dump() for incident in engine.extract_text(text, published)]


def test_quiet_sentences_after_the_story_change_nothing(reader):
    alone = dumped(reader, INCIDENT)
    assert len(alone) == 2
    padded = INCIDENT + " " + " ".join(QUIET * 100)
    assert dumped(reader, padded) == alone


def test_quiet_paragraphs_in_arabic_change_nothing(reader):
    alone = dumped(reader, AR_INCIDENT)
    assert len(alone) == 1
    padded = AR_INCIDENT + "\n\n" + "\n\n".join(" ".join(AR_QUIET) for _ in range(100))
    assert dumped(reader, padded) == alone


def test_a_long_report_gives_every_copy_of_its_story(reader):
    """A file dump: the same dispatch about different towns, many times, with quiet lines between."""
    towns = ["Sirte", "Hun", "Zliten", "Gharyan", "Sebha", "Brak"]
    dispatches = [f"Gunmen kidnapped a driver near {town} on Monday. " + " ".join(QUIET) for town in towns]
    found = reader.extract_text("\n\n".join(dispatches * 20), PUBLISHED)
    assert {p.name for incident in found for p in incident.places} >= set(towns)


def test_a_report_with_no_event_gives_nothing_even_with_places(reader):
    assert reader.extract_text("Sirte, Hun and Zliten held their council elections. " * 50, PUBLISHED) == []


def test_history_alone_is_not_an_event(reader):
    past = "In 2011 rebels and loyalists fought for months around Sirte."
    assert reader.extract_text(past, PUBLISHED) == []
    now = past + " On Monday gunmen ambushed a convoy near Sirte."
    assert [i.event_type for i in reader.extract_text(now, PUBLISHED)]


def test_characters_that_lower_case_to_two_do_not_shift_the_incident(reader):
    """"İ" lower-cases to two characters: the report is then read the plain way, with the same answer."""
    odd = INCIDENT + " The sign over the shop read İYİ in large letters."
    plain = INCIDENT + " The sign over the shop read IYI in large letters."
    found = dumped(reader, odd)
    assert found == dumped(reader, plain)
    assert len(found) == 2


@pytest.mark.parametrize("category", ["history", "past_events", "triggers", "cues", "actors", "targets"])
def test_one_pass_finds_what_each_lexicon_finds_alone(reader, category):
    extractor = reader.extractor
    texts = [INCIDENT, " ".join(QUIET), normalize_arabic(AR_INCIDENT),
             "Since the 2019 offensive, militiamen have closed the coastal road near Misrata every week; "
             "residents blocked it with burning tyres, and police said nobody was hurt."]
    lexicon = extractor._categories[category]
    for text in texts:
        words = extractor._words(text)
        assert list(lexicon.finditer(text, *words.of(category))) == list(lexicon.finditer(text))


def test_arabic_letters_fold_to_one_spelling():
    assert normalize_arabic("أإآٱ ة ى ؤ ئ ،؛؟٪ ٠١٢٣ ۴۵۶") == "اااا ه ي و ي ,;?% 0123 456"


def test_spatial_patterns_find_what_a_plain_scan_finds(reader):
    """Spatial patterns are tried only where a match can start: the same phrases come out."""
    spatial = reader.extractor.spatial
    scanners = [value for value in vars(spatial).values() if hasattr(value, "starts")]
    scanners += [s for value in (spatial.stretches, spatial.ar_offsets) for s in value]
    scanners += [pattern for _, pattern, _ in spatial.proximity]
    templates = ["Gunmen robbed a lorry 40 km south of ⟦0⟧ on the road to ⟦1⟧, near the town of ⟦2⟧.",
                 "Fighting broke out between ⟦0⟧ and ⟦1⟧ in the desert west of the city; ⟦0⟧'s outskirts.",
                 "militiamen closed the coastal road from ⟦0⟧ to ⟦1⟧ and the ⟦2⟧ area",
                 normalize_arabic("اشتباكات على الطريق بين ⟦0⟧ و⟦1⟧ جنوب ⟦2⟧ بنحو 30 كم")]
    assert len(scanners) > 20
    for scanner in scanners:
        for template in templates:
            plain = [(m.span(), m.groups()) for m in scanner.regex.finditer(template)]
            assert [(m.span(), m.groups()) for m in scanner.finditer(template)] == plain
