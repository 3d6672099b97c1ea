"""The faster ways extraction reads text give the answers of the plain ones (our own English and Arabic
sentences, and seeded random strings): start finders grouped by first character, alternations tried
by their first character, the place finder's one-pass word split, single-text needs, and place
references made models only for the locations kept."""

from __future__ import annotations

import copy
import datetime as dt
import random
import re

import pytest

from riskengine.arabic import normalize_arabic
from riskengine.engine import RiskEngine
from riskengine.extract import regexscan
from riskengine.extract.lexicon import Hit, phrase_body
from riskengine.extract.places import _CANDIDATE_SPLIT, CANDIDATE, Mention
from riskengine.extract.regexscan import literal_needs
from riskengine.incident import PlaceRef
from riskengine.store import Store

PUBLISHED = dt.date(2026, 11, 18)

ENGLISH = [
    "Gunmen ambushed a fuel lorry on the road between Sirte and Hun on Monday, killing its driver.",
    "A roadside bomb went off near the southern gate of Zliten late on Saturday; no one was hurt.",
    "Militiamen closed the coastal highway west of Misrata and set up a checkpoint at Gate 40.",
    "Clashes broke out in Qasr bin Ghashir and al-Jufra, residents said, as the Sirte Protection Force moved in.",
    "The convoy, travelling from Sebha to Ubari, was stopped 25 km south-east of Brak by armed men.",
    "Ra's Lanuf's port reopened after protesters lifted their blockade; Ash Shwayrif stayed calm.",
]
ARABIC = [normalize_arabic(s) for s in [
    "نصب مسلحون كمينا لشاحنة وقود على الطريق بين سرت وهون يوم الاثنين.",
    "انفجرت عبوة ناسفة قرب البوابة الجنوبية لمدينة زليتن مساء السبت دون إصابات.",
    "أغلق محتجون الطريق الساحلي غرب مصراتة بالإطارات المشتعلة وأقاموا بوابة وهمية.",
    "اندلعت اشتباكات في الجفرة وبالزاوية بين كتيبتين، بحسب ما أفاد سكان من ودان.",
]]


def _random_texts(n: int, seed: int = 7) -> list[str]:
    """Strings of letters, digits, articles, apostrophes and punctuation: the edges of the patterns."""
    alphabet = list("abeiqrsuwlnhdtz AZSBĀāÀÞḀ_0123456789١٢سرت'’ʼ`-.,\n\tſİıK") + [
        " al ", " bin ", " Ras ", " as-", "'s ", "’S ", " Sirte", " road ", " near "]
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def reader(rules, gazetteer, network, tmp_path_factory):
    """An engine used only to read text (its store stays empty)."""
    return RiskEngine(Store.open(str(tmp_path_factory.mktemp("x") / "x.db")), rules, gazetteer, network)


def _starts(finder: re.Pattern, text: str) -> list[int]:
    """Every position where a finder matches, overlapping or not (as the scans use it: one search
    after another)."""
    out, pos = [], 0
    while (m := finder.search(text, pos)) is not None:
        out.append(m.start())
        pos = m.start() + 1
    return out


@pytest.mark.parametrize("word_start", [True, False])
@pytest.mark.parametrize("texts", [{"nea", "clo", "n", "in ", "the"}, {"بال", "قرب", "وال", "ب"}, {"a", "b", "d"}])
def test_trie_finder_finds_the_starts_of_the_plain_finder(word_start, texts):
    single = all(len(t) == 1 for t in texts)
    plain = regexscan._finder(word_start, texts, single, 0)
    trie = regexscan._trie_finder(word_start, texts, single)
    for text in [s.lower() for s in ENGLISH + ARABIC] + _random_texts(2000):
        assert _starts(trie, text) == _starts(plain, text), text


@pytest.mark.parametrize("flags", [re.IGNORECASE, 0])
def test_grouped_alternation_matches_as_the_plain_one(flags):
    words = ["road", "roads", "route", "highway", "track", "main road", "the way", "coast road", "stretch",
             "section", "الطريق", "طريق", "الطريق الساحلي", "near", "outskirts of", "بالقرب من", "قرب", "in", "at"]
    alternatives = [phrase_body(w) for w in sorted(words, key=len, reverse=True)]
    grouped = regexscan.grouped_alternation(alternatives)
    assert grouped != "|".join(alternatives)  # long enough to be grouped
    plain = re.compile(rf"(?<![\w])(?:{'|'.join(alternatives)})(?![\w])\s*(\w*)", flags)
    fast = re.compile(rf"(?<![\w])(?:{grouped})(?![\w])\s*(\w*)", flags)
    for text in ENGLISH + ARABIC + [s.upper() for s in ENGLISH] + _random_texts(2000):
        assert [(m.span(), m.groups()) for m in fast.finditer(text)] == \
               [(m.span(), m.groups()) for m in plain.finditer(text)], text


def test_grouped_alternation_leaves_what_it_cannot_tell():
    short = ["a", "b"]
    assert regexscan.grouped_alternation(short) == "a|b"
    unknown = [r"\w+x", "road", "roads", "route", "track", "tracks", "trail", "hill", "highway"]
    assert regexscan.grouped_alternation(unknown) == "|".join(unknown)
    both_cases = ["Road", "road", "route", "track", "tracks", "trail", "hill", "highway"]
    assert regexscan.grouped_alternation(both_cases) == "|".join(both_cases)


def test_candidate_split_gives_the_candidate_words_and_their_offsets():
    for text in ENGLISH + ARABIC + _random_texts(5000, seed=11):
        parts = _CANDIDATE_SPLIT.split(text)
        spans, at = [], 0
        for i, part in enumerate(parts):
            if i % 2:
                spans.append((at, at + len(part)))
            at += len(part)
        assert spans == [m.span() for m in CANDIDATE.finditer(text)], text
        assert "".join(parts) == text


def _plain_find(finder, text: str) -> list[Mention]:
    """The places of a text read the plain way: the stream built and looked up a word at a time."""
    from riskengine.extract.places import ARTICLES, ENGLISH_ARTICLES, _is_titlecase, _looks_like_a_name, _norm_word

    words = [(m.start(), m.end(), m.group()) for m in CANDIDATE.finditer(text)]
    stream, starts, last_end, kept = " ", {}, 0, []
    for i, (start, end, word) in enumerate(words):
        if re.search(r"[^\W_]", text[last_end:start]):
            stream += "~ "
        norm = _norm_word(word)
        if norm and norm not in ARTICLES:
            starts[len(stream)] = len(kept)
            kept.append(i)
            stream += norm + " "
        last_end = end
    hits = []
    for end, (n_words, length, place) in finder.automaton.iter(stream):
        first = starts.get(end - length + 2)
        if first is not None:
            hits.append((first, first + n_words - 1, place))
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    mentions, taken_until = [], -1
    for first, last, place in hits:
        if first <= taken_until:
            continue
        i, j = kept[first], kept[last]
        if i > 0 and _norm_word(words[i - 1][2]) in ARTICLES and words[i][0] - words[i - 1][1] <= 1 and (
                text[words[i - 1][1]:words[i][0]] != " " or _norm_word(words[i - 1][2]) not in ENGLISH_ARTICLES):
            i -= 1
        surface = text[words[i][0]:words[j][1]]
        if _looks_like_a_name(surface):
            mentions.append(Mention(words[i][0], words[j][1], surface, place))
            taken_until = last
    if not any(_is_titlecase(w) for _, _, w in words):
        return mentions
    return _plain_near_spellings(finder, text, words, _plain_variants(finder, text, words, mentions))


def _taken(words: list[tuple[int, int, str]], mentions: list[Mention]) -> list[bool]:
    """For each word, whether it starts inside a mention."""
    return [any(m.start <= start < m.end for m in mentions) for start, _, _ in words]


def _plain_variants(finder, text: str, words: list[tuple[int, int, str]], mentions: list[Mention]) -> list[Mention]:
    """Spelling variants read a word at a time: runs of adjacent capitalised words, the longest first."""
    from riskengine.extract.places import MAX_VARIANT_WORDS, _is_titlecase

    taken, found, i = _taken(words, mentions), list(mentions), 0
    while i < len(words):
        if taken[i] or not _is_titlecase(words[i][2]):
            i += 1
            continue
        run = i + 1
        while (run < len(words) and run - i < MAX_VARIANT_WORDS and not taken[run]
               and text[words[run - 1][1]:words[run][0]] in (" ", "-")):
            run += 1
        hit = next(((j, place) for j in range(run, i, -1) if words[j - 1][2][:1].isupper()
                    and (place := finder.variant(text[words[i][0]:words[j - 1][1]])) is not None), None)
        if hit is None:
            i += 1
            continue
        j, place = hit
        found.append(Mention(words[i][0], words[j - 1][1], text[words[i][0]:words[j - 1][1]], place))
        taken[i:j] = [True] * (j - i)
        i = j
    return sorted(found, key=lambda m: m.start)


def _plain_near_spellings(finder, text: str, words: list[tuple[int, int, str]], mentions: list[Mention]
                          ) -> list[Mention]:
    """Capitalised words outside every mention, close to the name of a main place, read a word at a time."""
    from riskengine.extract.places import _is_titlecase, _norm_word

    found = list(mentions)
    for (start, end, word), taken in zip(words, _taken(words, mentions), strict=True):
        if _is_titlecase(word) and not taken and (place := finder._near_spelling(_norm_word(word))) is not None:
            found.append(Mention(start, end, word, place))
    return sorted(found, key=lambda m: m.start)


def test_place_finder_finds_what_a_plain_reading_finds(reader):
    finder = reader.extractor.finder
    texts = ENGLISH + ARABIC + [" ".join(ENGLISH + ARABIC), "al-Jufra, as Sirte: Sebha~Hun", "Gasr Ben Ghasir",
                                "Men near Sawknah and Ubary stopped a Gasr Ben Ghasir bus, then Ezliten-Sirte cars"]
    for text in texts + _random_texts(300, seed=3):
        assert finder.find(text) == _plain_find(finder, text), text


def test_category_with_single_text_needs_matches_as_with_its_needs_tested_in_full(reader):
    lexicon = reader.extractor.lexicon
    texts = ENGLISH + ARABIC + [" ".join(ENGLISH), " ".join(ARABIC)]
    single = 0
    for category in (lexicon.triggers, lexicon.cues, lexicon.actors, lexicon.targets, lexicon.history):
        plain = copy.copy(category)
        plain._verify = {anchor: (pattern, back, starts, literal_needs(pattern, anchor))
                         for anchor, (pattern, back, starts, _) in category._verify.items()}
        single += sum(isinstance(needs, str) for _, _, _, needs in category._verify.values())
        for text in texts:
            assert list(category.finditer(text)) == list(plain.finditer(text)), text
    assert single  # some anchors need one text besides themselves


def test_hits_and_mentions_answer_as_before(reader):
    hit = Hit(3, 9, "ambush")
    assert (hit.start(), hit.end(), hit.group()) == (3, 9, "ambush")
    place = reader.gazetteer.resolve("Sirte")
    assert not Mention(0, 5, "Sirte", place).says_who
    assert Mention(0, 5, "Sirte", place, "unit").says_who


def test_incidents_hold_place_models(reader):
    for text in ENGLISH[:2] + ARABIC[:2]:
        found = reader.extract_text(text, PUBLISHED)
        assert found, text
        for incident in found:
            assert incident.places and all(isinstance(p, PlaceRef) for p in incident.places)


def test_arabic_dates_read_as_with_every_substitution_run():
    from riskengine import arabic

    def every_substitution(sentence: str) -> str:
        for pattern, replace, _ in arabic._DATE_SUBS:
            sentence = pattern.sub(replace, sentence)
        return sentence

    sentences = ARABIC + [normalize_arabic(s) for s in [
        "قصفت طائرة مسيرة سيارة فجر اليوم قرب ودان.", "وقع الهجوم أمس وأول أمس على الطريق.",
        "أغلقت البوابة يوم الجمعة الماضي ثم الاسبوع الماضي والشهر الماضي.", "انفجر لغم في 12 مارس 2024.",
        "اشتباكات في سوق الجمعة.", "وصل الوفد في 3 كانون الثاني بعد الليلة الماضية.", "لا تاريخ هنا."]]
    for sentence in sentences:
        assert arabic.english_dates(sentence) == every_substitution(sentence), sentence


#: Where a sentence ends, as first written: its lookbehind makes the regex try every position.
_PLAIN_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(\[]?[A-Z0-9\u0600-\u06FF])|\n\s*\n|\n(?=\s*[-*•])")


def _plain_split(text: str) -> list[tuple[int, str]]:
    """Sentences split with the plain pattern, its ends found by ``finditer``."""
    from riskengine.extract.extractor import ABBREVIATIONS

    out, start = [], 0

    def add(chunk: str, at: int) -> None:
        if chunk.strip():
            out.append((at + len(chunk) - len(chunk.lstrip()), chunk.strip()))

    for m in _PLAIN_SENTENCE_END.finditer(text):
        end, after = m.span()
        if text[end - 1] == "." and "\n" not in m.group():
            word_start = max(text.rfind(" ", start, end), text.rfind("\n", start, end)) + 1
            last_word = text[word_start:end - 1].lstrip("\"'“‘(").lower()
            if last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
        add(text[start:after], start)
        start = after
    add(text[start:], start)
    return out


def test_sentences_split_as_with_the_plain_pattern():
    from riskengine.extract.extractor import split_sentences

    rng = random.Random(5)
    alphabet = list("ab .!?\n\n\t-*•\"'”’)“‘([A1س ") + ["Gen. ", "u.s. ", " x. ", "Sirte. ", ".\n\n", "?\n- ", "Capt. "]
    texts = ENGLISH + ARABIC + ["\n\n".join(ENGLISH + ARABIC),
                                "Gen. Haftar spoke.\n\n- Roads shut.\n* Sirte! (Gate 4) shut."]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20000)]
    for text in texts:
        assert split_sentences(text) == _plain_split(text), text
