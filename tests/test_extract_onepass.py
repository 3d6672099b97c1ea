"""Extraction reads a report's lexicon words in one pass: the answers are those of reading each
lexicon on its own, whatever the report's length and however many of its sentences say nothing
(our own English and Arabic sentences)."""

from __future__ import annotations

import datetime as dt

import pytest

from riskengine.arabic import normalize_arabic
from riskengine.engine import RiskEngine
from riskengine.extract.document import blank_furniture
from riskengine.extract.events import blank_spans, strip_history
from riskengine.store import Store

from .conftest import benchmark_reports

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


@pytest.mark.parametrize("category", ["history", "past_events", "past_wars", "triggers", "cues", "actors", "targets"])
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


def _where(incidents):
    return [(i.event_type, i.sub_event_type, i.lat, i.lon, [p.name for p in i.places]) for i in incidents]


def test_a_long_s_in_a_compass_word_or_a_unit_reads_as_the_plain_letter(reader):
    """"north-weſt", "kilometreſ ſouth": old typography (or OCR) matches the patterns as "s" does; the
    incident is put where the plain spelling puts it, instead of failing."""
    for odd, plain in [("30 km north-weſt of Sirte", "30 km north-west of Sirte"),
                       ("30 kilometreſ ſouth of Sirte", "30 kilometres south of Sirte")]:
        found = reader.extract_text(f"Gunmen ambushed a convoy {odd} on Monday.", PUBLISHED)
        expected = reader.extract_text(f"Gunmen ambushed a convoy {plain} on Monday.", PUBLISHED)
        assert len(found) == 1
        assert _where(found) == _where(expected)
        assert found[0].geo_precision == expected[0].geo_precision == 2


def test_a_phrase_is_read_wherever_all_its_words_are_and_nowhere_else(reader):
    """Phrases of several words, and the analysts' regexes, are tried only where the words they need
    are all near their anchor: what they find is unchanged."""
    banned = reader.extract_text("Heavy trucks are banned from the road between Sirte and Hun after dark, "
                                 "the council said on Monday.", PUBLISHED)
    assert [(i.sub_event_type, i.tags) for i in banned] == [("Other", ["road_restriction"])]
    assert {p.name for p in banned[0].places} == {"Sirte", "Hun"}
    # the words of the rule are there, but not together: nothing is restricted
    assert reader.extract_text("Trucks queued for hours near Sirte on Monday. The council banned nothing; "
                               "the road stayed open.", PUBLISHED) == []
    # "between" anchors phrases about fighting; a football match between two towns is none of them
    assert reader.extract_text("The football match between teams from Sirte and Hun ended in a draw on Monday.",
                               PUBLISHED) == []
    # a long s inside a phrase is matched as the regexes match it
    fire = reader.extract_text("Youths ſet fire to tyres on the road near Zliten on Monday.", PUBLISHED)
    assert _where(fire) == _where(reader.extract_text("Youths set fire to tyres on the road near Zliten on Monday.",
                                                      PUBLISHED))
    assert [i.event_type for i in fire] == ["Protests"]


def test_arabic_phrases_and_offsets_are_read_in_one_pass(reader):
    closed = reader.extract_text("أغلق محتجون الطريق الساحلي قرب زليتن يوم الاثنين بالإطارات المشتعلة.", PUBLISHED)
    assert [(i.event_type, i.tags, [p.name for p in i.places]) for i in closed] == [
        ("Protests", ["road_closure"], ["Zliten"])]
    ambush = reader.extract_text("نصب مسلحون كمينا لشاحنة شمال غرب سرت بنحو 30 كم يوم الاثنين.", PUBLISHED)
    english = reader.extract_text("Gunmen ambushed a lorry 30 km north-west of Sirte on Monday.", PUBLISHED)
    assert [i.summary for i in ambush] == ["Ambush 30 km north-west of Sirte"]
    assert (ambush[0].lat, ambush[0].lon) == (english[0].lat, english[0].lon)


def _benchmark_texts(engine, gazetteer, language: str, n: int) -> list[str]:
    """Reports the throughput benchmark times, as extraction reads them (Arabic letters folded, page
    furniture blanked)."""
    return [blank_furniture(normalize_arabic(text)) for text in benchmark_reports(engine, gazetteer, language, n)]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_benchmark_reports_are_read_in_one_pass_as_each_lexicon_reads_them_alone(reader, gazetteer, language):
    """The reports whose reading speed is measured: every lexicon finds with the one-pass words what
    it finds reading the text itself, and the triggers too once history is blanked out."""
    extractor = reader.extractor
    texts = _benchmark_texts(reader, gazetteer, language, 40)
    lexicon = extractor.lexicon
    found_triggers = 0
    for text in texts:
        words = extractor._words(text)
        assert words.low is not None  # the one-pass words are there to compare
        for name, category in extractor._categories.items():
            assert list(category.finditer(text, *words.of(name))) == list(category.finditer(text)), name
        cleaned = strip_history(text, lexicon, hits=words.of("history")[0], low=words.low)
        assert cleaned == strip_history(text, lexicon)
        blanked = list(lexicon.triggers.finditer(cleaned, *extractor._blanked(words, "triggers", text, cleaned)))
        assert blanked == list(lexicon.triggers.finditer(cleaned))
        found_triggers += bool(blanked)
    assert found_triggers >= len(texts) // 2  # the generated reports do tell incidents


def test_lexicon_matches_are_what_each_lexicon_finds_in_the_report_as_read(reader):
    """The stage the throughput benchmark times on its own (``--stages``): a report's dateline and
    furniture blanked, the triggers found once its history is blanked out, the rest in the text."""
    extractor, lexicon = reader.extractor, reader.extractor.lexicon
    report = ("SIRTE, Nov 17 (Libya Wire) - Since 2014 gunmen have ambushed lorries there, and militiamen have "
              "closed the coastal road near Misrata every week; on Monday residents reportedly blocked it with "
              "burning tyres by a bridge left from the 2011 war, and police said nobody was hurt.\n"
              "(Reporting by Sara Ali)")
    matches = extractor.lexicon_matches(report, PUBLISHED)
    text = matches.scan.text
    assert len(text) == len(report) and "SIRTE" not in text and "Sara Ali" not in text  # blanked, offsets kept
    cleaned = strip_history(text, lexicon)
    assert "ambushed" not in cleaned and matches.scan.cleaned == cleaned
    assert matches.triggers == list(lexicon.triggers.finditer(cleaned))
    told = {trigger.id for trigger, _ in matches.triggers}
    assert "protest_blockade" in told and "ambush" not in told  # the ambushes are the past
    assert matches.scan.cues == list(lexicon.cues.finditer(text)) != []  # "reportedly"
    assert matches.scan.actors == list(lexicon.actors.finditer(text)) != []
    assert matches.scan.targets == list(lexicon.targets.finditer(text)) != []
    past = [(hit.start(), hit.end()) for _, hit in lexicon.past_events.finditer(text)]
    assert matches.past_free == blank_spans(text, past) and "2011 war" in text and "2011 war" not in matches.past_free
    assert [(text[w.start:w.end], w.ended) for w in matches.wars] == [("left from the 2011 war", 2011)]
    quiet = extractor.lexicon_matches(" ".join(QUIET), PUBLISHED)
    assert quiet.triggers == [] and reader.extract_text(" ".join(QUIET), PUBLISHED) == []
