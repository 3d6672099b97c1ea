"""A report's places are looked for only where its reading needs them (the sentences that tell an
incident, and those before them when a clause refers back): the incidents are those of reading every
place in the whole report first. Our own reports, with the cases where a stretch read alone could
mislead: a name two places share, a foreign place, a landmark beside a town across a line break,
"the city" many sentences after the town, no place in the sentence that tells the incident."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from riskengine.engine import RiskEngine
from riskengine.extract.extractor import _ReportPlaces
from riskengine.store import Store

from .conftest import benchmark_reports

PUBLISHED = dt.date(2026, 11, 18)
QUIET = "Shops opened late and the market was busy with families buying bread and fruit."


class _WholeReport(_ReportPlaces):
    """The reference: every place in the report found before the reading starts."""

    def __init__(self, *args):
        super().__init__(*args)
        self.everything()


@pytest.fixture(scope="module")
def engines(rules, gazetteer, network, tmp_path_factory):
    """The engine as it reads, and a copy of it that reads every place of a report first."""
    engine = RiskEngine(Store.open(str(tmp_path_factory.mktemp("x") / "x.db")), rules, gazetteer, network)
    whole = copy.copy(engine.extractor)
    whole.places_reader = _WholeReport
    return engine.extractor, whole


def _same(engines, text: str) -> list:
    lazy, whole = engines
    found = lazy.extract(text, PUBLISHED)
    assert [i.model_dump() for i in found] == [i.model_dump() for i in whole.extract(text, PUBLISHED)], text
    return found


CASES = {
    # the town is named three quiet sentences before the clause that says "the city"; another
    # incident later is told with its own place (without the town, the first would join it)
    "refers back": f"Sirte held its council elections in March. {QUIET} {QUIET} {QUIET} "
                   f"Gunmen attacked a checkpoint at the entrance of the city on Monday. {QUIET} "
                   "Militiamen closed the road near Zliten on Tuesday.",
    # the town is named only in a quiet sentence far from the incident's
    "no place where it is told": f"Traders from Zliten have complained for months. {QUIET} {QUIET} "
                                 "A bomb went off under a parked car on Sunday night.",
    # a name two places share, 750 km apart: the town named in the background decides which
    "shared name": f"Traders from Kufra complained about the price of fuel. {QUIET} {QUIET} "
                   "Gunmen ambushed a lorry near Zighan on Monday.",
    # a landmark ending a heading, then a paragraph opening on another town
    "landmark across a line break": "Gunmen opened fire at Abu Salim\n\nIn Sabratha, two men were wounded "
                                    "on Monday when armed men stormed a cafe.",
    # blanks where page furniture was: a long run of spaces between two stretches
    "blank run": "Clashes broke out near Ajdabiya on Monday." + " " * 400 + f"{QUIET} The city was calm.",
    "arabic": "اجتمع أعيان من سرت لبحث إعادة فتح السوق. " + "وارتفع سعر الخبز في السوق القديم. " * 3
              + "نصب مسلحون كمينا لشاحنة وقود عند مدخل المدينة يوم الاثنين.",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reading_places_where_needed_finds_what_reading_them_all_finds(engines, name):
    assert _same(engines, CASES[name]), "each case tells an incident somewhere"


def test_a_shared_name_is_the_namesake_near_the_towns_named_anywhere(engines):
    found = _same(engines, CASES["shared name"])
    assert [(p.name, round(p.lat)) for p in found[0].places] == [("Zighan", 25)]  # near Kufra, not Sebha's


def test_a_foreign_place_anywhere_makes_tripoli_the_foreign_one(engines):
    text = (f"Officials in Beirut met the Lebanese army chief on Sunday. {QUIET} {QUIET} "
            "Gunmen attacked a checkpoint near Tripoli on Monday.")
    assert _same(engines, text) == []
    assert _same(engines, text.replace("Beirut", "Benghazi").replace("Lebanese", "Libyan"))


def test_the_city_many_sentences_on_is_the_town_named_before(engines):
    found = _same(engines, CASES["refers back"])
    assert [[p.name for p in i.places] for i in found] == [["Sirte"], ["Zliten"]]


def test_a_long_chain_of_quiet_sentences_is_read_back_without_limit(engines):
    """Thousands of incidents told without a place, each after a quiet sentence, and "the city" at
    the end: the town named at the start is found by walking back through all of them."""
    text = "Sebha was quiet in the morning. " + "Gunmen fired shots. The weather was hot. " * 3000
    found = _same(engines, text + "A bomb went off at the gate of the city on Friday.")
    assert found and all(p.name == "Sebha" for i in found for p in i.places)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_benchmark_reports_read_as_with_every_place_found_first(engines, gazetteer, language):
    lazy, _ = engines
    reports = benchmark_reports(lazy, gazetteer, language, 60, seed=11)
    found = [_same(engines, text) for text in reports]
    assert sum(map(bool, found)) >= 40
    joined = "\n\n".join(reports[:20])  # one long report: the stretches read meet and overlap
    assert len(_same(engines, joined)) >= 15
