"""Regex scans that jump to where a match can start.

``pattern.finditer`` tries the whole pattern at every position of the text, and the lexicon and
spatial patterns are long alternations of phrases: most of a scan is spent failing. Most of them
start with a word (often after a word boundary) drawn from a known set. :func:`start_finder` reads
the first few characters a match can start with from the pattern itself (with ``re._parser``) and
compiles them to a short regex; :func:`finditer` hops from one possible start to the next with it
and tries the pattern only there. The matches are exactly those of ``pattern.finditer`` (same spans,
same groups), found faster. A pattern whose first character cannot be told (it may match the empty
string, or start with ``\\w`` or ``.``) is scanned the plain way. :class:`Starts` also keeps those
first characters lower-cased, to look for in the lower-cased text without ignoring case: the same
places, found several times faster.

:func:`literal_needs` reads, from the pattern too, the literal texts a match cannot do without ("match"
in "match between", one of the verbs and one of the vehicles of a ban): :func:`may_match` tells with a
few ``str.find`` calls that a window of text lacks them, and the pattern is not tried there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from re import _constants as C  # noqa: N812 - the regex engine's own names
from re import _parser as P  # noqa: N812

#: A class this large is not worth listing (``[\u0600-\u06ff]`` is fine, a negated class is not).
MAX_CLASS_SIZE = 5000


class _Unknown(Exception):
    """The pattern's first character cannot be told."""


def _is_word_class(sub) -> bool:
    """Whether a sub-pattern is ``[\\w]`` or ``\\w`` (unicode)."""
    data = list(sub.data)
    return data == [(C.IN, [(C.CATEGORY, C.CATEGORY_WORD)])]


def _class_chars(items) -> set[str]:
    out: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            out.add(chr(av))
        elif op is C.RANGE and av[1] - av[0] <= MAX_CLASS_SIZE:
            out.update(map(chr, range(av[0], av[1] + 1)))
        else:  # a negated class, a category (\w, \s, \d), a huge range
            raise _Unknown
    return out


def _first(items, bounded: bool) -> tuple[set[str], bool, bool]:
    """For a sequence of regex items: the characters a match may start with, whether the sequence
    may match the empty string, and whether every start is right after a word boundary (``\\b`` or
    ``(?<![\\w])`` with nothing consumed in between)."""
    chars: set[str] = set()
    all_bounded = True
    for op, av in items:
        if op is C.AT:
            if av is C.AT_BOUNDARY:
                bounded = True
            continue
        if op is C.ASSERT_NOT and av[0] == -1 and _is_word_class(av[1]):
            bounded = True
            continue
        if op in (C.ASSERT, C.ASSERT_NOT):
            continue  # zero width: the start is that of what follows
        if op is C.LITERAL:
            chars.add(chr(av))
            return chars, False, all_bounded and bounded
        if op is C.IN:
            chars |= _class_chars(av)
            return chars, False, all_bounded and bounded
        if op is C.BRANCH:
            subs = [_first(branch.data, bounded) for branch in av[1]]
        elif op is C.SUBPATTERN:
            subs = [_first(av[3].data, bounded)]
        elif op is C.ATOMIC_GROUP:
            subs = [_first(av.data, bounded)]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, sub = av
            if high == 0:
                continue
            first, nullable, sub_bounded = _first(sub.data, bounded)
            subs = [(first, nullable or low == 0, sub_bounded)]
        else:
            raise _Unknown  # "." and others: any character may come first
        for first, _, sub_bounded in subs:
            chars |= first
            all_bounded = all_bounded and sub_bounded
        if not any(nullable for _, nullable, _ in subs):
            return chars, False, all_bounded
    return chars, True, all_bounded


#: How many characters of a match's start the finder checks, and how many such starts it may list.
PREFIX_LEN, MAX_PREFIXES = 3, 400

#: A prefix: the text a match starts with, and whether the match may go on past it ("open") or the
#: items read so far consumed exactly that text ("closed", so the next item's text follows it).
_Prefix = tuple[str, bool]


def _item_prefixes(op, av) -> set[_Prefix]:
    if op is C.LITERAL:
        return {(chr(av), False)}
    if op is C.IN:
        try:
            return {(ch, False) for ch in _class_chars(av)}
        except _Unknown:
            return {("", True)}  # any of many characters: the start is known only up to here
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return {("", False)}
    if op is C.BRANCH:
        return set().union(*(_prefixes(branch.data) for branch in av[1]))
    if op is C.SUBPATTERN:
        return _prefixes(av[3].data)
    if op is C.ATOMIC_GROUP:
        return _prefixes(av.data)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, high, sub = av
        once = {("", False)} if high == 0 else {(text, is_open or high > 1) for text, is_open in _prefixes(sub.data)}
        return once | ({("", False)} if low == 0 else set())
    return {("", True)}  # "." and others: the start is known only up to here


def _prefixes(items) -> set[_Prefix]:
    """The texts (up to ``PREFIX_LEN`` characters) a match of a sequence of regex items may start with."""
    current: set[_Prefix] = {("", False)}
    for op, av in items:
        if all(is_open or len(text) >= PREFIX_LEN for text, is_open in current):
            break
        follow = _item_prefixes(op, av)
        grown: set[_Prefix] = set()
        for text, is_open in current:
            if is_open or len(text) >= PREFIX_LEN:
                grown.add((text, True))
                continue
            for more, more_open in follow:
                joined = text + more
                grown.add((joined[:PREFIX_LEN], more_open or len(joined) > PREFIX_LEN))
        if len(grown) > MAX_PREFIXES:
            raise _Unknown
        current = grown
    return current


#: What the analysis of each pattern found (start texts, needed words), by what was analysed: kept
#: in the compiled cache between processes, as analysing the lexicon's thousands of patterns takes
#: seconds that every extracting process would pay (:func:`keep_analyses`).
_analyses: dict[tuple, object] | None = None
_analysed = 0  # how many of them were found in this process
_ANALYSES_KEY = ("regexscan analyses", Path(__file__))


def _analysis(kind: str, pattern: re.Pattern, known: str, find: Callable[[], object]) -> object:
    """``find()`` (a pure function of the pattern and ``known``), remembered across processes."""
    global _analyses, _analysed  # noqa: PLW0603 - one memo for the process
    if _analyses is None:
        from riskengine import compiled  # noqa: PLC0415

        kept = compiled.load("regex-analyses", _ANALYSES_KEY)
        _analyses = kept[0] if kept is not None and isinstance(kept[0], dict) else {}
    key = (kind, pattern.pattern, pattern.flags, known)
    try:
        return _analyses[key]
    except KeyError:
        found = _analyses[key] = find()
        _analysed += 1
        return found


def keep_analyses() -> None:
    """Keep the analyses made in this process for the next (after building a lexicon or extractor)."""
    global _analysed  # noqa: PLW0603
    if _analysed and _analyses is not None:
        from riskengine import compiled  # noqa: PLC0415

        compiled.keep("regex-analyses", _ANALYSES_KEY, _analyses)
        _analysed = 0


def _start_texts(pattern: re.Pattern) -> tuple[bool, list[str], bool] | None:
    """What :func:`start_finder` looks for: whether a match starts a word, the texts (or single
    characters) it may start with, and whether they are single characters; None when that cannot be told."""
    return _analysis("starts", pattern, "", lambda: _find_start_texts(pattern))


def _find_start_texts(pattern: re.Pattern) -> tuple[bool, list[str], bool] | None:
    if not isinstance(pattern.pattern, str) or pattern.flags & (re.ASCII | re.LOCALE):
        return None
    try:
        chars, nullable, bounded = _first(P.parse(pattern.pattern, pattern.flags).data, False)
    except (_Unknown, re.error, RecursionError):
        return None
    if nullable or not chars:
        return None
    word_start = bounded and all(ch.isalnum() or ch == "_" for ch in chars)
    try:  # better still: the first few characters, where they can be told
        starts = {text for text, _ in _prefixes(P.parse(pattern.pattern, pattern.flags).data)}
        if "" not in starts and any(len(text) > 1 for text in starts):
            return word_start, sorted(starts), False
    except (_Unknown, RecursionError):
        pass
    return word_start, sorted(chars), True


def _finder(word_start: bool, texts: list[str] | set[str], single: bool, flags: int) -> re.Pattern:
    if single:
        first = "[" + "".join(map(re.escape, sorted(texts))) + "]"
    else:
        first = "(?:" + "|".join(map(re.escape, sorted(texts, key=lambda t: (-len(t), t)))) + ")"
    return re.compile(("(?<!\\w)" if word_start else "") + first, flags)


def _trie_finder(word_start: bool, texts: set[str], single: bool) -> re.Pattern:
    """:func:`_finder` without ignoring case, matching at the same places, written so that the regex
    engine skips most of a text in C: every alternative starts with its first character as a literal
    (the word-start test comes after it, as a lookbehind over that character), so the engine jumps
    from one possible first character to the next; and texts are grouped by that character, so a
    position is tried against a few groups, not against hundreds of texts one by one (the texts of an
    Arabic phrase list, each with every proclitic, run to hundreds).

    Examples
    --------
    >>> _trie_finder(True, {"nea", "clo", "n"}, False).pattern
    '(?:c(?<!\\\\wc)(?:lo)|n(?<!\\\\wn))'
    >>> _trie_finder(True, {"a", "b"}, True).pattern
    '[ab](?<!\\\\w[ab])'
    """
    if single:
        chars = "[" + "".join(map(re.escape, sorted(texts))) + "]"
        return re.compile(chars + (rf"(?<!\w{chars})" if word_start else ""))
    by_first: dict[str, set[str]] = {}
    for text in texts:
        by_first.setdefault(text[0], set()).add(text[1:])
    groups = []
    for first, rests in sorted(by_first.items()):
        head = re.escape(first) + (rf"(?<!\w{re.escape(first)})" if word_start else "")
        if "" in rests:  # the first character alone is a start: the rest need not be read
            groups.append(head)
        else:
            groups.append(head + "(?:" + "|".join(map(re.escape, sorted(rests, key=lambda r: (-len(r), r)))) + ")")
    return re.compile("(?:" + "|".join(groups) + ")")


def start_finder(pattern: re.Pattern) -> re.Pattern | None:
    """A short regex that matches wherever ``pattern`` may start a match (and maybe elsewhere): the
    first few characters a match can start with, else its first character; None when that cannot
    be told.

    Examples
    --------
    >>> start_finder(re.compile(r"\\b(?:near|close to)\\s+x", re.I)).pattern
    '(?<!\\\\w)(?:clo|nea)'
    >>> start_finder(re.compile(r"\\b[ab]\\w*", re.I)).pattern
    '(?<!\\\\w)[ab]'
    >>> start_finder(re.compile(r"(?:the )?(\\w+) road")) is None
    True
    """
    told = _start_texts(pattern)
    # ignoring case can only widen the set, whatever flags the pattern has inside
    return None if told is None else _finder(*told, re.IGNORECASE)


class Starts:
    """Where a pattern may start a match: its :func:`start_finder`, and the same texts lower-cased, to
    look for without ignoring case in the text lower-cased (``low``), which is several times faster.
    Ignoring case, an ASCII or Arabic character matches only the characters whose lower case is its
    own, but for "ſ" and "ı" (and "İ", which lower-cases to two characters): ``low`` may stand for the
    text when it is as long and has neither "ſ" nor "ı". Lower-casing keeps word characters word
    characters, so word starts are the same in both."""

    __slots__ = ("anycase", "lower")

    def __init__(self, anycase: re.Pattern, lower: re.Pattern | None):
        self.anycase, self.lower = anycase, lower

    @classmethod
    def of(cls, pattern: re.Pattern) -> Starts | None:
        """The start finders of ``pattern``; None when where it starts cannot be told."""
        told = _start_texts(pattern)
        if told is None:
            return None
        word_start, texts, single = told
        lowered = {t.lower() for t in texts} if all(_plain(ch) for t in texts for ch in t) else None
        lower = None if lowered is None else _trie_finder(word_start, lowered, single)
        return cls(_finder(*told, re.IGNORECASE), lower)

    def searcher(self, text: str, low: str | None) -> tuple[Callable[..., re.Match | None], str]:
        """The search to run and the string to run it on: ``low`` if given (see the class)."""
        if low is not None and self.lower is not None:
            return self.lower.search, low
        return self.anycase.search, text


def _searcher(starts: re.Pattern | Starts, text: str, low: str | None) -> tuple[Callable[..., re.Match | None], str]:
    return starts.searcher(text, low) if isinstance(starts, Starts) else (starts.search, text)


def finditer(pattern: re.Pattern, starts: re.Pattern | Starts | None, text: str, pos: int = 0,
             endpos: int | None = None, low: str | None = None) -> Iterator[re.Match]:
    """``pattern.finditer(text, pos, endpos)``, trying the pattern only where ``starts`` (its
    :func:`start_finder` or :class:`Starts`) matches. Lookbehinds and word boundaries see the text
    before ``pos`` either way, so a match tried at a later position is the one the plain scan would
    find there. ``low``: the text lower-cased, if at hand and fit to stand for it (see :class:`Starts`):
    starts are looked for there."""
    end = len(text) if endpos is None else endpos
    if starts is None:
        yield from pattern.finditer(text, pos, end)
        return
    search, where = _searcher(starts, text, low)
    match = pattern.match
    while True:
        found = search(where, pos, end)
        if found is None:
            return
        at = found.start()
        m = match(text, at, end)
        if m is None:
            pos = at + 1
            continue
        yield m
        pos = m.end()  # never empty: a pattern that may match nothing gets no start finder


def search(pattern: re.Pattern, starts: re.Pattern | Starts | None, text: str, pos: int = 0,
           endpos: int | None = None, low: str | None = None) -> re.Match | None:
    """``pattern.search(text, pos, endpos)``, the same way as :func:`finditer`."""
    return next(finditer(pattern, starts, text, pos, endpos, low), None)


class Scanner:
    """A compiled pattern with its start finders: ``finditer`` and ``search`` as the pattern's own.
    ``low``: the text lower-cased, if at hand and fit to stand for it (see :class:`Starts`); the pattern
    is then not even tried when it lacks the literal texts every match holds (:func:`literal_needs`)."""

    __slots__ = ("regex", "starts", "needs")

    def __init__(self, regex: re.Pattern):
        self.regex = regex
        self.starts = Starts.of(regex)
        self.needs = literal_needs(regex)

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None, low: str | None = None
                 ) -> Iterator[re.Match]:
        if low is not None and self.needs is not None and not may_match(
                self.needs, low, pos, len(text) if endpos is None else endpos):
            return iter(())
        return finditer(self.regex, self.starts, text, pos, endpos, low)

    def search(self, text: str, pos: int = 0, endpos: int | None = None, low: str | None = None
               ) -> re.Match | None:
        return next(self.finditer(text, pos, endpos, low), None)


# ---- alternations tried by their first character ----------------------------------------------

#: Fewer alternatives than this are tried one by one as they are.
MIN_GROUPED = 8


def _is_arabic_char(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff"


def grouped_alternation(alternatives: Sequence[str]) -> str:
    """``"|".join(alternatives)``, written so that at each position only the alternatives that can
    start with the character there are tried: the regex engine tries the alternatives of an
    alternation one after the other (ignoring case, without even a quick test of their first
    character), and a list of place or road words with every Arabic proclitic runs to hundreds.

    The alternatives that start with one (non-Arabic) character form a group, in their order, behind
    a lookahead on that character; those that start with Arabic letters (a proclitic or none) keep
    their order in one group behind a lookahead on those letters. Two alternatives in different
    groups never start at the same place, so at any place the same alternatives are tried in the same
    order: the same matches, with or without ignoring case. An alternative whose first characters
    cannot be told, or that fits no group, leaves the alternation as it is.

    Examples
    --------
    >>> grouped_alternation(["b", "a"])
    'b|a'
    >>> p = grouped_alternation(["road", "route", "highway", "track", "roads", "hill", "trail", "tracks"])
    >>> p
    '(?=h)(?:highway|hill)|(?=r)(?:road|route|roads)|(?=t)(?:track|trail|tracks)'
    >>> re.match(p, "roads").group(), re.match("road|route|highway|track|roads|hill|trail|tracks", "roads").group()
    ('road', 'road')
    """
    plain = "|".join(alternatives)
    if len(alternatives) < MIN_GROUPED:
        return plain
    latin: dict[str, list[str]] = {}
    arabic: list[str] = []
    arabic_firsts: set[str] = set()
    for alternative in alternatives:
        try:
            chars, nullable, _ = _first(P.parse(alternative, re.IGNORECASE).data, False)
        except (_Unknown, re.error, RecursionError):
            return plain
        if nullable or not chars:
            return plain
        if all(map(_is_arabic_char, chars)):
            arabic.append(alternative)
            arabic_firsts |= chars
        elif len(chars) == 1 and not _is_arabic_char(next(iter(chars))):
            latin.setdefault(next(iter(chars)), []).append(alternative)
        else:
            return plain
    # characters that are each other's case would be two groups both tried at one place
    if len({ch.lower() for ch in latin}) < len(latin) or any(len(ch.lower()) != 1 for ch in latin):
        return plain
    groups = [f"(?={re.escape(ch)})(?:{'|'.join(alts)})" for ch, alts in sorted(latin.items())]
    if arabic:
        groups.append(f"(?=[{''.join(map(re.escape, sorted(arabic_firsts)))}])(?:{'|'.join(arabic)})")
    return "|".join(groups)


# ---- literal texts a match must contain ---------------------------------------------------------

#: Texts this short say little about a window: they are left out of the needs (a weaker, still true test).
MIN_NEED_LEN = 3
#: An Arabic word this short still says much (an Arabic phrase often has one: "سد الطريق").
MIN_ARABIC_NEED_LEN = 2
#: A pattern whose needs list more texts than this is cheaper to try than to test.
MAX_NEED_TEXTS = 64

#: Lower-cased needs: alternatives, each a tuple of groups, each one text or a regex of several texts.
Needs = tuple[tuple[str | re.Pattern, ...], ...]


def _plain(ch: str) -> bool:
    """Whether a literal character is found in a lower-cased text as its own lower case (ASCII and Arabic;
    the odd case folds of ASCII letters, "ſ" and "ı", are for the caller to rule out)."""
    return ch.isascii() or "\u0600" <= ch <= "\u06ff"


def _long_enough(text: str) -> bool:
    """Whether a needed text says enough about a window to be tested (see ``MIN_NEED_LEN``)."""
    return len(text) >= MIN_NEED_LEN or (len(text) >= MIN_ARABIC_NEED_LEN and all(
        "\u0600" <= ch <= "\u06ff" for ch in text))


def _groups(items) -> list[frozenset[str]]:
    """For a sequence of regex items: groups of texts such that every match contains some text of each."""
    out: list[frozenset[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(frozenset(["".join(run).lower()]))
            run.clear()

    for op, av in items:
        if op is C.LITERAL and _plain(chr(av)):
            run.append(chr(av))
            continue
        flush()
        if op is C.SUBPATTERN:
            out.extend(_groups(av[3].data))
        elif op is C.ATOMIC_GROUP:
            out.extend(_groups(av.data))
        elif op is C.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                groups = [g for g in _groups(branch.data) if all(map(_long_enough, g))]
                if not groups:
                    union = set()
                    break
                union |= max(groups, key=lambda g: (min(map(len, g)), -len(g)))
            if union:
                out.append(frozenset(union))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
            out.extend(_groups(av[2].data))
        # anything else (a class, a boundary, a lookaround, a back reference) says nothing for sure
    flush()
    return out


def _alternatives(items) -> list:
    """The top-level alternatives of a sequence (one, unless it is a single group of a branch)."""
    consuming = [(op, av) for op, av in items if op not in (C.AT, C.ASSERT, C.ASSERT_NOT)]
    if len(consuming) == 1:
        op, av = consuming[0]
        if op is C.SUBPATTERN:
            return _alternatives(av[3].data)
        if op is C.BRANCH:
            return [alt for branch in av[1] for alt in _alternatives(branch.data)]
    return [items]


def literal_needs(pattern: re.Pattern, known: str = "") -> Needs | None:
    """Texts (lower-cased) a match of ``pattern`` must contain, as alternatives of groups: every match
    contains, for some alternative, a text of each of its groups. ``known``: a text that is sure to be
    there (groups it satisfies are left out). None when nothing useful can be told.

    Examples
    --------
    >>> literal_needs(re.compile(r"\\b(?:match[\\s-]+between|fight[\\s-]+(?:between|among))\\b", re.I), known="between")
    ((re.compile('fight|match'),),)
    >>> literal_needs(re.compile(r"\\b(?:bod(?:y|ies))\\b[^.;]*\\b(?:found|seen)\\b", re.I))
    (('bod', re.compile('found|seen')),)
    >>> literal_needs(re.compile(r"\\bnear\\s+\\w+", re.I), known="near") is None
    True
    """
    return _analysis("needs", pattern, known, lambda: _find_literal_needs(pattern, known))


def _find_literal_needs(pattern: re.Pattern, known: str) -> Needs | None:
    if not isinstance(pattern.pattern, str) or pattern.flags & (re.ASCII | re.LOCALE):
        return None
    try:
        alternatives = _alternatives(P.parse(pattern.pattern, pattern.flags).data)
        out = []
        for items in alternatives:
            groups = []
            for group in _groups(items):
                texts = {t for t in group if _long_enough(t)}
                if len(texts) < len(group) or any(t in known for t in texts):
                    continue  # a short text (weak), or one sure to be there: no test
                # a text that contains another of its group is there only if that one is
                texts = {t for t in texts if not any(o != t and o in t for o in texts)}
                groups.append(tuple(sorted(texts, key=len)))
            if not groups:
                return None  # this alternative may match with no text known
            # single texts first (a find is cheaper than a regex search), the longest first
            out.append(tuple(sorted(dict.fromkeys(groups), key=lambda g: (len(g) > 1, -len(g[0]), len(g)))))
    except (re.error, RecursionError):
        return None
    # alternatives that need one text of a group each need one text of them all: one test, not one each
    singles = {t for alt in out if len(alt) == 1 for t in alt[0]}
    if len({alt for alt in out if len(alt) == 1}) > 1:
        merged = tuple(sorted((t for t in singles if not any(o != t and o in t for o in singles)),
                              key=lambda t: (len(t), t)))
        # an alternative one of whose groups has only texts holding one of those needs no test of its own
        out = [(merged,)] + list(dict.fromkeys(alt for alt in out if len(alt) > 1 and not any(
            all(any(m in t for m in merged) for t in group) for group in alt)))
    if sum(len(g) for alt in out for g in alt) > MAX_NEED_TEXTS:
        return None
    # a group of several texts is looked for with one regex (one call, not one per text)
    return tuple(tuple(g[0] if len(g) == 1 else re.compile("|".join(map(re.escape, sorted(g, key=len, reverse=True))))
                       for g in alt) for alt in out)


def may_match(needs: Needs, low: str, lo: int, hi: int) -> bool:
    """Whether ``low[lo:hi]`` (a lower-cased text without "ſ" or "ı") holds the texts of some alternative."""
    find = low.find
    for groups in needs:
        for group in groups:
            if (find(group, lo, hi) < 0) if group.__class__ is str else (group.search(low, lo, hi) is None):
                break  # a group with none of its texts: this alternative cannot match
        else:
            return True
    return False
