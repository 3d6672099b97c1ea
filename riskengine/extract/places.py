"""Find the gazetteer's places in report text: every alias and spelling, in one pass.

Text is cut into words, each word normalised as the gazetteer normalises names (case, diacritics,
apostrophes, Arabic articles), and the normalised stream is scanned with an Aho-Corasick automaton
of every place name and alias (pyahocorasick), keeping the longest match at each position. A match
must look like a proper noun in the original text (capitalised, or in Arabic script) and must not
be one of the lexicon's ``not_places``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from itertools import accumulate, compress, count
from operator import add
from typing import NamedTuple

import ahocorasick
from rapidfuzz import fuzz, process

from ..gazetteer import Gazetteer, normalize_name
from ..models import Place
from ..transliteration import skeleton, vowel_form
from .lexicon import Geography

ARTICLES = frozenset("al el ul il ash esh as es ad ed ar er az ez at et an en ath eth adh edh ech aj ej".split())
#: Articles that are also English words: part of a name only when hyphenated ("as-Sidra", not "as Sirte").
ENGLISH_ARTICLES = frozenset("at an as".split())
#: Lower-case words that may stand inside a name ("Qasr bin Ghashir").
PARTICLES = frozenset("bin ben bu abu umm wadi bir ras sidi qasr ain bani beni".split())
_UPPER_OR_ARABIC = "A-Z\u00C0-\u00DE\u0100-\u017F\u1E00-\u1EFF\u0600-\u06FF"
#: Words that may belong to a name: capitalised or Arabic-script words, articles and particles.
CANDIDATE = re.compile(
    rf"(?<![^\W_])(?:[{_UPPER_OR_ARABIC}][^\W_]*(?:['’ʼ`](?![sS](?![^\W_]))[^\W_]+)*"
    rf"|(?:{'|'.join(sorted(ARTICLES | PARTICLES, key=len, reverse=True))})(?![^\W_])"
    rf"|\d{{1,3}}(?![^\W_]))"  # numbers inside names: "Gate 40", "Kilometre 12 bridge"
)
HAS_WORD = re.compile(r"[^\W_]")
#: The letters a capitalised candidate word can start with (CANDIDATE's first branch, without Arabic).
_LATIN_CAPITAL = re.compile(f"[{_UPPER_OR_ARABIC.replace(chr(0x0600) + '-' + chr(0x06FF), '')}]")
#: Canonical names may be this short ("Hun"); other aliases must be longer, to spare common words.
MIN_NAME_LEN, MIN_ALIAS_LEN = 3, 4
#: A capitalised word no list knows is read as a main place if this close to its name (rapidfuzz ratio).
FUZZY_MIN_LEN, FUZZY_MIN_SCORE = 5, 86
#: A spelling variant ("Gasr Ben Ghasir") is read as the place whose name folds to the same form
#: (:mod:`riskengine.transliteration`): the same vowel form, or the same consonant skeleton of at
#: least this many letters with vowel forms this close (rapidfuzz ratio): Sabri is not Sabratha.
SKELETON_MIN_LEN, SKELETON_MIN_SCORE = 4, 80
#: A word this common in English (wordfreq's Zipf scale: 3 is once per million words) is never read
#: as a variant or a misspelling of a place ("Lock" is not Lukk, "Truck" is not Tobruk).
COMMON_WORD_ZIPF = 3.0
#: Short variants of villages are too easily other words or names ("Akar"): only main places.
VILLAGE_VARIANT_MIN_LEN = 6
MINOR_KINDS = frozenset({"village", "hamlet", "locality"})
#: A vowel some spellings put before a name's opening consonant cluster ("Ezliten" for Zliten).
PROTHETIC = re.compile(r"[aei](?:sh|[bdfjklmnqrstwz]{2})")
#: Names of up to this many words are looked for by their folded forms.
MAX_VARIANT_WORDS = 4


class Mention(NamedTuple):
    """A place named in the text: character offsets in the text, the words used, the place (a tuple:
    made for every name and again for every clause it is read in, it is made fast)."""

    start: int
    end: int
    surface: str
    place: Place
    #: "name"; "role" ("the Libyan capital"); "demonym" ("Misratan forces") or "unit" (a town inside a
    #: unit's name, "the Sirte Protection Force"): these two say who, not where
    kind: str = "name"

    @property
    def says_who(self) -> bool:
        return self.kind in ("demonym", "unit")


@lru_cache(maxsize=200_000)
def _norm_word(word: str) -> str:
    return normalize_name(word)


@lru_cache(maxsize=200_000)
def _streamed(word: str) -> str:
    """A word as the place automaton reads it (normalised, then a space); "" for an article or a
    word that normalises to nothing, which stay out of the stream."""
    norm = _norm_word(word)
    return "" if not norm or norm in ARTICLES else norm + " "


def _word_at(position: int, chunk_starts: list[int], marks: list[str] | None, pieces: list[str],
             kept: list[int]) -> int | None:
    """The index among the words in the stream of the one whose piece begins at ``position`` of the
    stream, if one does (a name the automaton found must start at a word)."""
    i = bisect_right(chunk_starts, position) - 1  # the last chunk starting at or before (empty ones skipped)
    if i >= len(pieces) or not pieces[i] or position != chunk_starts[i] + (len(marks[i]) if marks else 0):
        return None
    return bisect_left(kept, i)


def _first_character_first(articles: frozenset[str]) -> str:
    """CANDIDATE written so that the regex engine skips in C every character no candidate starts
    with: the first character as a class (the engine's fast scan), then the word-start test as a
    lookbehind over it, then each branch of CANDIDATE guarded by the first characters it takes (the
    branches take different ones: capitals and Arabic, the articles' lower-case letters, digits).
    The same matches, several times fewer tries on English text."""
    words = sorted(articles)
    firsts = sorted({w[0] for w in words})
    lower_case = "".join(
        f"|(?<={c})(?:{'|'.join(sorted((w[1:] for w in words if w[0] == c), key=len, reverse=True))})(?![^\\W_])"
        for c in firsts)
    return (rf"[{_UPPER_OR_ARABIC}{''.join(firsts)}\d](?<![^\W_].)"
            rf"(?:(?<=[{_UPPER_OR_ARABIC}])[^\W_]*(?:['’ʼ`](?![sS](?![^\W_]))[^\W_]+)*"
            rf"{lower_case}|(?<=\d)\d{{0,2}}(?![^\W_]))")


#: CANDIDATE as a capturing split: the text between candidate words and the words, in one pass.
_CANDIDATE_SPLIT = re.compile(f"({_first_character_first(ARTICLES | PARTICLES)})")
#: What a word's chunk of the stream starts with: "~ " after a barrier (indexed by whether there is one).
_BARRIER = ("", "~ ")


@lru_cache(maxsize=200_000)
def is_common_word(word: str) -> bool:
    """Whether a word is common in English text (wordfreq, loaded on first use)."""
    from wordfreq import zipf_frequency  # a large table: loaded only when a variant is looked for

    return zipf_frequency(word, "en") >= COMMON_WORD_ZIPF


class PlaceFinder:
    """Every place of a gazetteer, ready to be found in text."""

    def __init__(self, gazetteer: Gazetteer, geography: Geography, *, major: set[str] | None = None):
        stop = {normalize_name(w) for w in geography.not_places}
        # a country is never a misspelt town ("Syria" is not "Syrte")
        self._stop = stop | {normalize_name(w) for group in geography.foreign for w in group} | {
            normalize_name(w) for w in geography.libya}
        self.automaton = ahocorasick.Automaton()
        # for spellings no list has ("Ubary", "Ghariyan", "Wadan"): the names of the main places
        self._fuzzy: dict[str, Place] = {}
        for surface, place in gazetteer.aliases():
            key = normalize_name(surface)
            is_name = surface == place.name
            shortest = MIN_NAME_LEN if is_name or not key.isascii() else MIN_ALIAS_LEN  # سرت, هون, غات
            if not key or key in stop or key.isdigit() or len(key) < shortest:
                continue
            best = gazetteer.lookup(surface)
            if not best:
                continue
            for form in _with_proclitics(key):  # Arabic: "وسبها", "بالزاويه" are the same names
                padded = f" {form} "
                if padded not in self.automaton:
                    self.automaton.add_word(padded, (key.count(" ") + 1, len(padded), best[0]))
            if best[0] is place and len(key) >= FUZZY_MIN_LEN and (
                    place.kind in ("city", "town") or (major is not None and place.name in major)):
                self._fuzzy.setdefault(key, place)
        self.automaton.make_automaton()
        self._fuzzy_keys = list(self._fuzzy)
        self._by_vowels, self._by_skeleton = self._variant_index(gazetteer, stop)

    def _variant_index(self, gazetteer: Gazetteer, stop: set[str]
                       ) -> tuple[dict[str, Place], dict[str, list[tuple[str, Place]]]]:
        """Every name and alias by its folded vowel form and by its consonant skeleton; where two
        places share a form, the one a plain lookup of that name prefers."""
        by_vowels: dict[str, Place] = {}
        by_skeleton: dict[str, list[tuple[str, Place]]] = {}
        for surface, _place in gazetteer.aliases():
            key = normalize_name(surface)
            if not key or key in stop or key.isdigit() or len(key) < MIN_ALIAS_LEN or not key.isascii():
                continue
            best = gazetteer.lookup(surface)[0]
            by_vowels.setdefault(vowel_form(surface), best)
            bones = skeleton(surface)
            if len(bones) >= SKELETON_MIN_LEN:
                entries = by_skeleton.setdefault(bones, [])
                if all(p is not best for _, p in entries):
                    entries.append((vowel_form(surface), best))
        return by_vowels, by_skeleton

    @lru_cache(maxsize=100_000)  # noqa: B019 - one finder per engine
    def variant(self, name: str) -> Place | None:
        """The place a spelling variant names, if its folded forms match exactly one.

        Examples
        --------
        >>> from riskengine.models import Place
        >>> from riskengine.extract.lexicon import Lexicon
        >>> from pathlib import Path
        >>> gaz = Gazetteer([Place("Qasr Bin Ghashir", 32.68, 13.18), Place("Sabratha", 32.79, 12.48)])
        >>> finder = PlaceFinder(gaz, Lexicon.load(Path(__file__).parents[2] / "rules").geography)
        >>> finder.variant("Gasr Ben Ghasir").name, finder.variant("Sabri")
        ('Qasr Bin Ghashir', None)
        """
        if " " not in name and is_common_word(name.lower()):  # cheapest test first: most capitalised words
            return None
        norm = normalize_name(name)
        if len(norm) < MIN_ALIAS_LEN or norm in self._stop or not norm.isascii() or (
                " " not in norm and is_common_word(norm)):
            return None
        folded = vowel_form(name)
        place = self._by_vowels.get(folded)
        if place is None:
            candidates = [p for form, p in self._by_skeleton.get(skeleton(name), ())
                          if fuzz.ratio(form, folded) >= SKELETON_MIN_SCORE]
            place = candidates[0] if len(candidates) == 1 else None
        if place is None and PROTHETIC.match(norm):  # "Ezliten": a vowel written before two consonants
            return self.variant(name.lstrip()[1:])
        if place is not None and place.kind in MINOR_KINDS and len(norm) < VILLAGE_VARIANT_MIN_LEN:
            return None
        return place

    def find(self, text: str) -> list[Mention]:
        """The places named in ``text``, in order, longest match first where names overlap.

        Examples
        --------
        >>> from riskengine.models import Place
        >>> from riskengine.extract.lexicon import Lexicon
        >>> from pathlib import Path
        >>> gaz = Gazetteer([Place("Sebha", 27.04, 14.43, aliases=("Sabha",)), Place("Jufra", 29.1, 15.9)])
        >>> geo = Lexicon.load(Path(__file__).parents[2] / "rules").geography
        >>> [(m.surface, m.place.name) for m in PlaceFinder(gaz, geo).find("From Sabhā to al-Jufra, and sebha")]
        [('Sabhā', 'Sebha'), ('al-Jufra', 'Jufra')]
        """
        # Only capitalised or non-Latin words (and articles or particles between them) can be part of a
        # name: the regex visits just those, and any other word between two of them is a barrier.
        # Every step below is one C-level pass (split, map, accumulate), not a Python loop per word: an
        # Arabic report is all candidate words. ``parts``: the text between words, a word, ..., the rest.
        parts = _CANDIDATE_SPLIT.split(text)
        surfaces, gaps = parts[1::2], parts[:-1:2]
        # The stream: a space, then for each word "~ " if a word not taken lies between it and the one
        # before (a barrier), and the word as the automaton reads it (nothing for an article). An Arabic
        # report is all candidate words: one search of all the gaps tells that it has no barrier.
        pieces = list(map(_streamed, surfaces))
        if HAS_WORD.search("".join(gaps)) is None:
            marks, chunks = None, pieces
        else:
            marks = list(map(_BARRIER.__getitem__, map(bool, map(HAS_WORD.search, gaps))))
            chunks = list(map(add, marks, pieces))
        stream = " " + "".join(chunks)
        chunk_starts = list(accumulate(map(len, chunks), initial=1))
        kept = list(compress(count(), pieces))  # indices of the words in the stream
        hits: list[tuple[int, int, Place]] = []
        for end, (n_words, length, place) in self.automaton.iter(stream):
            first = _word_at(end - length + 2, chunk_starts, marks, pieces, kept)
            if first is not None:
                hits.append((first, first + n_words - 1, place))
        offsets = list(accumulate(map(len, parts), initial=0))  # word i spans offsets[2i + 1]:offsets[2i + 2]
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        mentions, taken_until, named = [], -1, []
        for first, last, place in hits:
            if first <= taken_until:
                continue
            i, j = kept[first], kept[last]
            # include a leading article ("al-Jufra", "Ash Shwayrif") in the surface form, but not "at",
            # "an" or "as" before a space: they are English words there ("at Sirte")
            if i > 0 and _norm_word(surfaces[i - 1]) in ARTICLES and len(gaps[i]) <= 1 and (
                    gaps[i] != " " or _norm_word(surfaces[i - 1]) not in ENGLISH_ARTICLES):
                i -= 1
            start, end = offsets[2 * i + 1], offsets[2 * j + 2]
            surface = text[start:end]
            if not _looks_like_a_name(surface):
                continue
            mentions.append(Mention(start, end, surface, place))
            named.append((i, j))
            taken_until = last
        # whether some word is capitalised: only those can be spelling variants (its first letter is a Latin
        # capital, so a text without one, such as an Arabic report, has none)
        titled = _LATIN_CAPITAL.search(text) is not None and any(
            word[:1].isupper() and not word.isupper() for word in surfaces)
        if not titled:  # Arabic script, lower case: no word for the variant and near-spelling readings
            return mentions
        words = list(zip(offsets[1:-1:2], offsets[2::2], surfaces, strict=True))
        return self._add_spellings(text, words, gaps, named, mentions)

    def _add_spellings(self, text: str, words: list[tuple[int, int, str]], gaps: list[str],
                       named: list[tuple[int, int]], mentions: list[Mention]) -> list[Mention]:
        """The mentions, with capitalised words no name matched read as spellings of places: runs of
        adjacent name-like words by their folded forms, the longest run first ("Gasr Ben Ghasir",
        "Sawknah"), then single words close to the name of a main place ("Ubary" ~ Ubari).
        ``words``: (start, end, word) of every candidate word; ``gaps[k]``: the text before word k;
        ``named``: the first and last word of each mention. Only the capitalised words outside the
        mentions are visited (in one pass, not every word in two)."""
        taken = [False] * len(words)
        for first, last in named:
            taken[first:last + 1] = [True] * (last - first + 1)
        open_words = [k for k, (_, _, word) in enumerate(words) if not taken[k] and _is_titlecase(word)]
        if not open_words:
            return mentions
        found, next_free = list(mentions), 0
        for i in open_words:  # variants
            if i < next_free:
                continue  # a word of the variant just read
            run = i + 1  # the words that follow with only a space or a hyphen between
            while run < len(words) and run - i < MAX_VARIANT_WORDS and not taken[run] and gaps[run] in (" ", "-"):
                run += 1
            for j in range(run, i, -1):
                if not words[j - 1][2][:1].isupper():
                    continue  # a name ends on a capitalised word, not a particle
                start, end = words[i][0], words[j - 1][1]
                place = self.variant(text[start:end])
                if place is not None:
                    found.append(Mention(start, end, text[start:end], place))
                    taken[i:j] = [True] * (j - i)
                    next_free = j
                    break
        for k in open_words:  # near spellings
            if not taken[k]:
                start, end, word = words[k]
                place = self._near_spelling(_norm_word(word))
                if place is not None:
                    found.append(Mention(start, end, word, place))
        return sorted(found, key=lambda m: m.start) if len(found) != len(mentions) else mentions

    @lru_cache(maxsize=50_000)  # noqa: B019 - one finder per engine
    def _near_spelling(self, key: str) -> Place | None:
        if len(key) < FUZZY_MIN_LEN or key in self._stop or not self._fuzzy_keys or is_common_word(key):
            return None
        best = process.extractOne(key, self._fuzzy_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE)
        if best is None or best[0][0] != key[0]:
            return None
        return self._fuzzy[best[0]]


def _with_proclitics(key: str) -> list[str]:
    """A normalised name, and for an Arabic one the forms it takes after a proclitic ("و", "ب",
    "بال"...): normalize_name drops a word's leading article, so "الزاوية" is "زاويه" here."""
    if key.isascii():
        return [key]
    first, _, rest = key.partition(" ")
    tail = f" {rest}" if rest else ""
    forms = [key] + [f"{p}{first}{tail}" for p in ("و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "وك")]
    forms += [f"{p}ال{first}{tail}" for p in ("و", "ف", "ب", "ك", "وب")] + [f"لل{first}{tail}"]
    return forms


def _is_titlecase(word: str) -> bool:
    """Capitalised but not in capitals: "Sawknah", not "TABLE" (capitals are acronyms and headings)."""
    return word[:1].isupper() and not word.isupper()


def _looks_like_a_name(surface: str) -> bool:
    """A proper noun: some letter is a capital, or the name is in Arabic script."""
    return any(ch.isupper() or "\u0600" <= ch <= "\u06ff" for ch in surface)
