"""Route pictures for the bot: ``/risk`` answers and route alerts carry the phone-sized route picture.

The picture is :func:`riskengine.maps.route_picture` (a 1080 x 1350 PNG drawn on matplotlib's Agg
canvas), made in memory. Drawing is synchronous and slow for an event loop (about a second), so
handlers call a :class:`RoutePictures` through ``asyncio.to_thread`` and the Telegram notifier calls
it from the outbox's worker thread. One picture is drawn at a time: ``route_picture`` sets matplotlib
options for the duration of a drawing, and those are process-wide.

The picture's own words stay English (place names in Latin letters, level names, dates): matplotlib
does not join Arabic letters. Its caption, which Telegram shows under it, is in the chat's language.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from riskengine.engine import RiskEngine
from riskengine.maps import route_picture
from riskengine.notify import OutboxAlert

from .i18n import Translator

log = logging.getLogger("bot.pictures")

#: Telegram's limit on a photo's caption (characters).
MAX_CAPTION = 1024


@dataclass(frozen=True)
class RoutePicture:
    """A drawn route: the PNG, and what it shows (canonical place names, the route's level and score)."""

    png: bytes
    start: str
    end: str
    level: int
    level_name: str
    score: float


class RoutePictures:
    """Draw route pictures into memory, one at a time (thread-safe; call it from worker threads).

    ``dpi`` sets the size: the picture is 7.2 x 9 inches, 1080 x 1350 pixels at the default 150.
    """

    def __init__(self, engine: RiskEngine, dpi: int = 150):
        self.engine, self.dpi = engine, dpi
        self._lock = threading.Lock()

    def __call__(self, start: str, end: str, at: dt.datetime) -> RoutePicture:
        """The picture of the route from ``start`` to ``end`` as assessed at ``at``; raises what drawing raises
        (an unknown place, no road between them, a picture matplotlib cannot make)."""
        out = io.BytesIO()
        with self._lock:
            drawn = route_picture(self.engine, start, end, at, out, dpi=self.dpi)
        a, b = drawn["route"].split(" -> ", 1)
        return RoutePicture(out.getvalue(), a, b, int(drawn["level"]), str(drawn["level_name"]),
                            float(drawn["score"]))


def caption(picture: RoutePicture, tr: Translator, marks: Mapping[int, str] | None = None) -> str:
    """The picture's caption in ``tr``'s language, plain text: the route, its level and its score.

    Examples
    --------
    >>> from bot.i18n import translator
    >>> caption(RoutePicture(b"", "Sirte", "Sebha", 3, "Medium", 41.64), translator("en"), {3: "🟠"})
    '🟠 Sirte → Sebha · Medium · score 42/100'
    """
    mark = (marks or {}).get(picture.level, "")
    text = tr._("{mark} {route} · {level} · score {score}").format(
        mark=mark, route=f"{tr.place(picture.start)} {tr.arrow} {tr.place(picture.end)}",
        level=tr.level(picture.level, picture.level_name), score=tr.iso(f"{picture.score:.0f}/100"))
    return text.strip()[:MAX_CAPTION]


def route_of(alert: OutboxAlert) -> tuple[str, str] | None:
    """The route a level alert is about (its payload's ``target``, ``FROM -> TO``); None for other alerts.

    Examples
    --------
    >>> route_of(OutboxAlert(1, "k", "5", "telegram", "level", "…", {"target": "Misrata -> Sebha"}))
    ('Misrata', 'Sebha')
    >>> route_of(OutboxAlert(1, "k", "5", "telegram", "level", "…", {"target": "within 50 km of Sokna"})) is None
    True
    """
    target = (alert.payload or {}).get("target")
    if alert.kind != "level" or not isinstance(target, str) or target.count(" -> ") != 1:
        return None
    start, end = (part.strip() for part in target.split(" -> "))
    return (start, end) if start and end else None


def alert_pictures(pictures: Callable[[str, str, dt.datetime], RoutePicture],
                   language_of: Callable[[str], str | None], translator_of: Callable[[str], Translator],
                   marks: Mapping[int, str] | None, clock: Callable[[], dt.datetime]
                   ) -> Callable[[OutboxAlert], tuple[bytes, str] | None]:
    """A ``picture`` for :class:`bot.notifier.TelegramNotifier`: a level alert about a route gets the route's
    picture as assessed when the alert was decided (its payload's ``at``, else ``clock()``), captioned in the
    chat's stored language; any other alert gets none. Raises what drawing raises (the notifier logs it).

    The last few pictures are kept: the level alerts of one evaluation share their assessment time, so the
    subscribers of one route get one drawing between them.
    """
    drawn = functools.lru_cache(maxsize=8)(pictures)

    def picture(alert: OutboxAlert) -> tuple[bytes, str] | None:
        route = route_of(alert)
        if route is None:
            return None
        try:
            at = dt.datetime.fromisoformat(str(alert.payload["at"]))
        except (KeyError, ValueError):
            at = clock()
        made = drawn(*route, at)
        try:
            lang = language_of(str(alert.chat_id)) or "en"
        except Exception:  # the store is down: an English caption rather than no picture
            lang = "en"
        return made.png, caption(made, translator_of(lang), marks)

    return picture
