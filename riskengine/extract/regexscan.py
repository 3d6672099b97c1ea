"""Regex scans that jump to where a match can start.

``pattern.finditer`` tries the whole pattern at every position of the text, and the lexicon and
spatial patterns are long alternations of phrases: most of a scan is spent failing. Most of them
start with a word (often after a word boundary) drawn from a known set. :func:`start_finder` reads
the first few characters a match can start with from the pattern itself (with ``re._parser``) and
compiles them to a short regex; :func:`finditer` hops from one possible start to the next with it
and tries the pattern only there. The matches are exactly those of ``pattern.finditer`` (same spans,
same groups), found faster. A pattern whose first character cannot be told (it may match the empty
string, or start with ``\\w`` or ``.``) is scanned the plain way.

:func:`literal_needs` reads, from the pattern too, the literal texts a match cannot do without ("match"
in "match between", one of the verbs and one of the vehicles of a ban): :func:`may_match` tells with a
few ``str.find`` calls that a window of text lacks them, and the pattern is not tried there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    if not isinstance(pattern.pattern, str) or pattern.flags & (re.ASCII | re.LOCALE):
        return None
    try:
        chars, nullable, bounded = _first(P.parse(pattern.pattern, pattern.flags).data, False)
    except (_Unknown, re.error, RecursionError):
        return None
    if nullable or not chars:
        return None
    word_start = bounded and all(ch.isalnum() or ch == "_" for ch in chars)
    first = "[" + "".join(map(re.escape, sorted(chars))) + "]"
    try:  # better still: the first few characters, where they can be told
        starts = {text for text, _ in _prefixes(P.parse(pattern.pattern, pattern.flags).data)}
        if "" not in starts and any(len(text) > 1 for text in starts):
            first = "(?:" + "|".join(map(re.escape, sorted(starts, key=lambda t: (-len(t), t)))) + ")"
    except (_Unknown, RecursionError):
        pass
    # ignoring case can only widen the set, whatever flags the pattern has inside
    return re.compile(("(?<!\\w)" if word_start else "") + first, re.IGNORECASE)


def finditer(pattern: re.Pattern, starts: re.Pattern | None, text: str, pos: int = 0,
             endpos: int | None = None) -> Iterator[re.Match]:
    """``pattern.finditer(text, pos, endpos)``, trying the pattern only where ``starts`` (its
    :func:`start_finder`) matches. Lookbehinds and word boundaries see the text before ``pos``
    either way, so a match tried at a later position is the one the plain scan would find there."""
    end = len(text) if endpos is None else endpos
    if starts is None:
        yield from pattern.finditer(text, pos, end)
        return
    search, match = starts.search, pattern.match
    while True:
        found = search(text, pos, end)
        if found is None:
            return
        at = found.start()
        m = match(text, at, end)
        if m is None:
            pos = at + 1
            continue
        yield m
        pos = m.end()  # never empty: a pattern that may match nothing gets no start finder


def search(pattern: re.Pattern, starts: re.Pattern | None, text: str, pos: int = 0,
           endpos: int | None = None) -> re.Match | None:
    """``pattern.search(text, pos, endpos)``, the same way as :func:`finditer`."""
    return next(finditer(pattern, starts, text, pos, endpos), None)


class Scanner:
    """A compiled pattern with its start finder: ``finditer`` and ``search`` as the pattern's own."""

    __slots__ = ("regex", "starts")

    def __init__(self, regex: re.Pattern):
        self.regex = regex
        self.starts = start_finder(regex)

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match]:
        return finditer(self.regex, self.starts, text, pos, endpos)

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match | None:
        return search(self.regex, self.starts, text, pos, endpos)


# ---- literal texts a match must contain ---------------------------------------------------------

#: Texts this short say little about a window: they are left out of the needs (a weaker, still true test).
MIN_NEED_LEN = 3
#: A pattern whose needs list more texts than this is cheaper to try than to test.
MAX_NEED_TEXTS = 64

#: Lower-cased needs: alternatives, each a tuple of groups, each one text or a regex of several texts.
Needs = tuple[tuple[str | re.Pattern, ...], ...]


def _plain(ch: str) -> bool:
    """Whether a literal character is found in a lower-cased text as its own lower case (ASCII and Arabic;
    the odd case folds of ASCII letters, "ſ" and "ı", are for the caller to rule out)."""
    return ch.isascii() or "\u0600" <= ch <= "\u06ff"


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
                groups = [g for g in _groups(branch.data) if min(map(len, g)) >= MIN_NEED_LEN]
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
    (('match',), ('fight',))
    >>> literal_needs(re.compile(r"\\b(?:bod(?:y|ies))\\b[^.;]*\\b(?:found|seen)\\b", re.I))
    ((re.compile('found|seen'), 'bod'),)
    >>> literal_needs(re.compile(r"\\bnear\\s+\\w+", re.I), known="near") is None
    True
    """
    if not isinstance(pattern.pattern, str) or pattern.flags & (re.ASCII | re.LOCALE):
        return None
    try:
        alternatives = _alternatives(P.parse(pattern.pattern, pattern.flags).data)
        out = []
        for items in alternatives:
            groups = []
            for group in _groups(items):
                texts = {t for t in group if len(t) >= MIN_NEED_LEN}
                if len(texts) < len(group) or any(t in known for t in texts):
                    continue  # a short text (weak), or one sure to be there: no test
                # a text that contains another of its group is there only if that one is
                texts = {t for t in texts if not any(o != t and o in t for o in texts)}
                groups.append(tuple(sorted(texts, key=len)))
            if not groups:
                return None  # this alternative may match with no text known
            out.append(tuple(sorted(dict.fromkeys(groups), key=lambda g: (-len(g[0]), len(g)))))
    except (re.error, RecursionError):
        return None
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
