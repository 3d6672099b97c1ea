"""Arabic text as the extractor reads it: one spelling for the letters that are written several ways.

Arabic news writes the same word with or without short vowels (tashkeel), with a tatweel stretch,
with hamza on or under the alef or not, a taa marbuta or a haa, an alef maqsura or a yaa, and digits
in Arabic-Indic or Latin form. :func:`normalize_arabic` folds all of that (pyarabic strips the
marks), and turns Arabic punctuation into Latin, so the lexicons and the gazetteer are written once.
The language of a report is told from its script: :func:`is_arabic`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pyarabic.araby as araby

#: Letters folded to one form (the gazetteer's normalize_name folds them the same way).
_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي",
    "،": ",", "؛": ";", "؟": "?", "٪": "%",
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern Arabic-Indic (Persian) digits
})
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A]")
_ANY_ARABIC = re.compile(r"[\u0600-\u06FF]")
#: Short vowels and other marks, and the tatweel: pyarabic's tables, stripped with one regex (fast).
_MARKS = re.compile("[" + "".join(araby.TASHKEEL) + araby.TATWEEL + araby.MINI_ALEF + "]")
#: Proclitics that attach to a word: conjunctions, prepositions, the article, and their combinations.
PROCLITICS = ("وبال", "وال", "بال", "فال", "كال", "لل", "ال", "وب", "ول", "وك", "فب", "فل", "و", "ف", "ب", "ل", "ك")


def is_arabic(text: str, share: float = 0.3) -> bool:
    """Whether a text is mostly Arabic script (its letters, not its digits or punctuation).

    >>> is_arabic("هاجم مسلحون شاحنة قرب سبها"), is_arabic("Gunmen attacked a lorry near Sebha")
    (True, False)
    """
    letters = sum(1 for ch in text if ch.isalpha())
    return letters > 0 and len(_ARABIC_LETTER.findall(text)) / letters >= share


def has_arabic(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None


def normalize_arabic(text: str) -> str:
    """Arabic text with its marks and tatweel stripped and its letters, digits and punctuation folded.

    >>> normalize_arabic("أُصيبَ ٣ أشخاصٍ في مدينـــة سبهة؛ وقُتل آخر")
    'اصيب 3 اشخاص في مدينه سبهه; وقتل اخر'
    """
    if _ANY_ARABIC.search(text) is None:  # letters, marks or digits of the Arabic block
        return text
    return _fold(_MARKS.sub("", text))


#: ``_FOLD`` as (character, replacement) pairs; no replacement is itself folded, so the order does not matter.
_FOLD_PAIRS = tuple((chr(code), new) for code, new in _FOLD.items())


def _fold(text: str) -> str:
    """``text.translate(_FOLD)``, an order of magnitude faster: ``str.translate`` with a table looks
    every character up in a dict; a few dozen ``str.replace`` calls run in C."""
    for old, new in _FOLD_PAIRS:
        if old in text:
            text = text.replace(old, new)
    return text


def without_proclitic(word: str) -> list[str]:
    """The word and what is left of it without each proclitic it may carry (longest first).

    >>> without_proclitic("وبالزاويه")
    ['وبالزاويه', 'زاويه', 'الزاويه', 'بالزاويه']
    """
    out = [word]
    for p in PROCLITICS:
        if word.startswith(p) and len(word) - len(p) >= 3:
            out.append(word[len(p):])
    return out


_WEEKDAYS = {"الاثنين": "monday", "الثلاثاء": "tuesday", "الاربعاء": "wednesday", "الخميس": "thursday",
             "الجمعه": "friday", "السبت": "saturday", "الاحد": "sunday"}
_MONTHS = {"يناير": "january", "فبراير": "february", "مارس": "march", "ابريل": "april", "مايو": "may",
           "يونيو": "june", "يوليو": "july", "اغسطس": "august", "سبتمبر": "september", "اكتوبر": "october",
           "نوفمبر": "november", "ديسمبر": "december", "الكانون الثاني": "january", "كانون الثاني": "january",
           "شباط": "february", "اذار": "march", "نيسان": "april", "ايار": "may", "حزيران": "june", "تموز": "july",
           "اب": "august", "ايلول": "september", "تشرين الاول": "october", "تشرين الثاني": "november",
           "كانون الاول": "december", "الماء": "may"}
#: A weekday counts only after a word that makes it one ("يوم الجمعة"), not in "سوق الجمعة".
_DAY_WORDS = r"(?:يوم|مساء|صباح|فجر|ليله|ظهر|عصر|ليل|صبيحه|منتصف ليل|امس|نهار)"


def _any_of(words) -> re.Pattern:
    """The words as one regex: one search tells whether a sentence holds any (not a test per word)."""
    return re.compile("|".join(map(re.escape, words)))


#: (pattern, replacement, the words one of which every match holds: without them the pattern is not run)
_DATE_SUBS = [
    (re.compile(rf"\b(?:[وف]?{_DAY_WORDS})\s+({'|'.join(_WEEKDAYS)})\b(?:\s+الماضي)?"),
     lambda m: f" on {_WEEKDAYS[m.group(1)]} ", _any_of(_WEEKDAYS)),
    (re.compile(rf"\b({'|'.join(_WEEKDAYS)})\s+الماضي\b"), lambda m: f" last {_WEEKDAYS[m.group(1)]} ",
     _any_of(_WEEKDAYS)),
    (re.compile(r"\b(?:[وف]?)(?:امس|البارحه)\b|\bالليله الماضيه\b"), lambda m: " yesterday ",
     _any_of(("امس", "البارحه", "الليله الماضيه"))),
    (re.compile(r"\bاول امس\b"), lambda m: " the day before yesterday ", _any_of(("اول امس",))),
    (re.compile(r"\b(?:[وف]?)(?:اليوم|الليله|فجر اليوم|صباح اليوم|مساء اليوم)\b"), lambda m: " today ",
     _any_of(("اليوم", "الليله"))),
    (re.compile(r"\bالاسبوع الماضي\b"), lambda m: " last week ", _any_of(("الاسبوع الماضي",))),
    (re.compile(r"\bالشهر الماضي\b"), lambda m: " last month ", _any_of(("الشهر الماضي",))),
    (re.compile(r"\b(\d{1,2})\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b(?:\s+(\d{4}))?"),
     lambda m: f" {m.group(1)} {_MONTHS[m.group(2)]}{' ' + m.group(3) if m.group(3) else ''} ", _any_of(_MONTHS)),
]


def english_dates(sentence: str) -> str:
    """An Arabic sentence with its date words written as the English ones the date reader knows.

    >>> english_dates("هاجم مسلحون شاحنة مساء الثلاثاء قرب سبها").split()[3:5]
    ['on', 'tuesday']
    >>> "friday" in english_dates("اشتباكات في سوق الجمعه")
    False
    """
    if not has_arabic(sentence):
        return sentence
    for pattern, replace, words in _DATE_SUBS:
        if words.search(sentence) is not None:  # a search for the words spares most regex scans
            sentence = pattern.sub(replace, sentence)
    return sentence


_ARABIC_NAME_LETTERS = re.compile(r"^[\u0621-\u063A\u0640-\u0652\u0670\s-]+$")
#: Generic words some Arabic aliases start with ("city of", "village of", "district of").
_GENERIC = ("مدينة ", "قرية ", "شعبية ", "بلدية ")


def is_arabic_name(text: str) -> bool:
    """Whether a name is written in Arabic letters only.

    Examples
    --------
    >>> is_arabic_name("مصراتة"), is_arabic_name("Misrata"), is_arabic_name("بنی ولید")
    (True, False, False)
    """
    return bool(_ARABIC_LETTER.search(text)) and bool(_ARABIC_NAME_LETTERS.match(text))


def arabic_name(aliases: Sequence[str]) -> str | None:
    """A place's Arabic name among its aliases: the first in Arabic letters that is a known Arabic word or
    phrase (``wordfreq``), without a generic "city of" in front when there is a plainer one; None when it
    has none. GeoNames lists a rare spelling first now and then (ترابلس before طرابلس). The bot, the
    map and the gazetteer's suggestions all name places with it.

    Examples
    --------
    >>> arabic_name(["Tarabulus", "ترابلس", "ترىپولى", "طرابلس"]), arabic_name(["Houn", "مدينة هون", "هون"])
    ('طرابلس', 'هون')
    >>> arabic_name(["Misrata"]) is None
    True
    """
    from wordfreq import zipf_frequency  # noqa: PLC0415 - only Arabic answers need its word lists

    arabic = [a for a in aliases if is_arabic_name(a)]
    plain = [a for a in arabic if not a.startswith(_GENERIC)] or arabic
    return next((a for a in plain if zipf_frequency(a, "ar") > 0), plain[0] if plain else None)


def arabic_names(gazetteer) -> Callable[[str], str | None]:
    """A place name -> its Arabic name (:func:`arabic_name`; None when it has none), from a gazetteer:
    how the bot and the web board write the engine's place names in Arabic."""
    aliases: dict[str, Sequence[str]] = {}
    for place in getattr(gazetteer, "places", ()) or ():
        aliases.setdefault(place.name, place.aliases)
    chosen: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if name not in chosen:
            chosen[name] = arabic_name(aliases.get(name, ()))
        return chosen[name]

    return lookup
