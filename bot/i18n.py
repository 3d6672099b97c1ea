"""The bot's languages: English (the source texts) and Arabic, from gettext message catalogues.

The texts in the bot's code are the English msgids, marked ``tr._("…")`` (or ``N_("…")`` where
they are only listed); their translations live in ``bot/locale/<lang>/LC_MESSAGES/bot.po``. The
``.po`` files are read at runtime with Babel (no compile step, so a plain ``pip install -e .``
works). To update a catalogue after changing texts::

    pybabel extract -k _ -k N_ -o bot/locale/bot.pot bot
    pybabel update -i bot/locale/bot.pot -d bot/locale -D bot
    # translate the new or fuzzy entries in bot/locale/ar/LC_MESSAGES/bot.po, then
    python -m pytest tests/test_bot_i18n.py   # checks that every msgid has a translation

(``pybabel compile -d bot/locale -D bot`` makes ``.mo`` files too; the bot does not need them.)

Which language a chat gets: the one it chose with ``/language`` (stored per chat in the engine's
store), else Arabic when the user's Telegram ``language_code`` starts with "ar", else English.
Arabic answers name places in Arabic script when the gazetteer has an Arabic alias, and wrap Latin
and number runs in Unicode first-strong isolates (U+2068 … U+2069) so they keep their order inside
right-to-left text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from riskengine.arabic import arabic_names  # noqa: F401 - the bot names places with it (handlers, service)

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "bot"
DEFAULT = "en"
LANGUAGES = ("en", "ar")
RTL = frozenset({"ar"})
#: First-strong isolate and pop directional isolate: a run that keeps its own direction in RTL text.
FSI, PDI = "\u2068", "\u2069"

#: Arabic letters proper (not the Persian, Urdu or Kurdish extensions), short vowels, spaces and hyphens.
_ARABIC_LETTERS = re.compile(r"^[\u0621-\u063A\u0640-\u0652\u0670\s-]+$")
_HAS_ARABIC = re.compile(r"[\u0621-\u064A]")
_ARABIC_MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر",
                  "نوفمبر", "ديسمبر")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a text for the catalogue without translating it here."""
    return message


#: The level names of ``rules/scoring.yaml``, for the catalogue.
LEVEL_NAMES = {1: N_("Insignificant"), 2: N_("Low"), 3: N_("Medium"), 4: N_("High"), 5: N_("Extreme")}
#: A quiet level with too little to rest on (riskengine.coverage.NO_RECENT_REPORTS)
NO_RECENT_REPORTS = N_("No recent reports")


@cache
def catalogue(lang: str) -> dict[str, str | tuple[str, ...]]:
    """msgid -> translation (a tuple of forms for plurals) of a language; empty for English."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == DEFAULT or not path.is_file():
        return {}
    with open(path, "rb") as handle:
        po = read_po(handle, locale=lang, domain=DOMAIN)
    out: dict[str, str | tuple[str, ...]] = {}
    for message in po:
        if not message.id or message.fuzzy:
            continue
        key = message.id[0] if isinstance(message.id, tuple | list) else message.id
        if isinstance(message.string, tuple | list):
            if all(message.string):
                out[key] = tuple(message.string)
        elif message.string:
            out[key] = message.string
    return out


def arabic_plural(n: int) -> int:
    """The Arabic plural form (six forms, as in the catalogue's Plural-Forms)."""
    if n == 0:
        return 0
    if n == 1:
        return 1
    if n == 2:
        return 2
    if 3 <= n % 100 <= 10:
        return 3
    if n % 100 >= 11:
        return 4
    return 5


def normalize_language(code: str | None) -> str | None:
    """A language we speak from a Telegram ``language_code`` or a ``/language`` argument.

    Examples
    --------
    >>> normalize_language("ar-LY"), normalize_language("AR"), normalize_language("en-GB"), normalize_language("fr")
    ('ar', 'ar', 'en', None)
    """
    code = (code or "").strip().lower().replace("_", "-")
    base = code.split("-", 1)[0]
    return base if base in LANGUAGES else None


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The chat's stored choice wins; else Arabic for an Arabic Telegram user; else English.

    Examples
    --------
    >>> pick_language(None, "ar"), pick_language("en", "ar"), pick_language("ar", "en-US"), pick_language(None, "fr")
    ('ar', 'en', 'ar', 'en')
    """
    if stored in LANGUAGES:
        return stored
    return "ar" if (telegram_code or "").lower().startswith("ar") else DEFAULT


@dataclass(frozen=True)
class Translator:
    """The texts of one language; ``places`` maps a gazetteer name to the name shown (Arabic script)."""

    lang: str = DEFAULT
    places: Callable[[str], str | None] | None = field(default=None, compare=False)

    @property
    def rtl(self) -> bool:
        return self.lang in RTL

    @property
    def arrow(self) -> str:
        """From → to, pointing the way the text reads."""
        return "←" if self.rtl else "→"

    @property
    def comma(self) -> str:
        return "، " if self.rtl else ", "

    def _(self, message: str) -> str:
        """The translation of a msgid (the msgid itself when there is none)."""
        found = catalogue(self.lang).get(message)
        return found if isinstance(found, str) else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = catalogue(self.lang).get(singular)
        if isinstance(forms, tuple):
            index = arabic_plural(n) if self.lang == "ar" else (0 if n == 1 else 1)
            return forms[min(index, len(forms) - 1)]
        return singular if n == 1 else plural

    def iso(self, text: object) -> str:
        """A run that must keep its own direction (numbers, Latin names, dates) isolated in RTL text.

        Examples
        --------
        >>> Translator("ar").iso("62/100") == "\\u206862/100\\u2069", Translator("en").iso("62/100")
        (True, '62/100')
        """
        text = str(text)
        return f"{FSI}{text}{PDI}" if self.rtl and text else text

    def place(self, name: str) -> str:
        """A place's name as shown: its Arabic alias in Arabic (isolated when there is none)."""
        if not self.rtl or not name or _HAS_ARABIC.search(name):
            return name
        shown = self.places(name) if self.places else None
        return shown or self.iso(name)

    def segment(self, name: str) -> str:
        """A segment's name ``A - B``, each end shown as a place."""
        if not self.rtl:
            return name
        return " - ".join(self.place(part) for part in name.split(" - "))

    def level(self, level: int, name: str | None = None) -> str:
        """A level's name: the rules' own in English, the catalogue's in Arabic."""
        english = name or LEVEL_NAMES.get(int(level), str(level))
        if not self.rtl:
            return english
        if english == NO_RECENT_REPORTS:  # a quiet level with too little to rest on
            return self._(NO_RECENT_REPORTS)
        return self._(LEVEL_NAMES.get(int(level), english))

    def when(self, at: dt.datetime | str) -> str:
        """A time for people: ``20 Nov 2026 08:00 UTC`` (Arabic month names in Arabic)."""
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        at = at.astimezone(dt.UTC)
        if not self.rtl:
            return at.strftime("%d %b %Y %H:%M UTC")
        return f"{at.day} {_ARABIC_MONTHS[at.month - 1]} {at.year} {self.iso(at.strftime('%H:%M UTC'))}"


ENGLISH = Translator()


def translator(lang: str, names: Mapping[str, str] | Callable[[str], str | None] | None = None) -> Translator:
    """The translator of a language (English for one we do not speak)."""
    lang = lang if lang in LANGUAGES else DEFAULT
    lookup = names.get if isinstance(names, Mapping) else names
    return Translator(lang, lookup)
