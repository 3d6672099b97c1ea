"""The engine behind the web board, and what every request handler shares.

The engine is not thread-safe: :class:`WebBoard` runs every call to it in a worker thread under
one lock, so the event loop never blocks and two answers are never made at once. :class:`Handlers`
reads what every request may carry (the time asked about, the language, the analyst's
credentials) and makes the analysts' writes with the engine's own functions
(:func:`riskengine.road_status.set_status`, :class:`riskengine.corrections.Corrections`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import RiskEngineError, UnknownPlaceError
from .analyst import COOKIE, Analysts
from .i18n import Words, pick_language

if TYPE_CHECKING:
    from ..engine import RiskEngine

__all__ = ["BadRequestError", "Handlers", "JSONAnswer", "WebBoard", "error_doc", "status_of"]

log = logging.getLogger("riskengine.web")

#: How many recent events the board lists.
EVENTS_LISTED = 30
#: The largest form or JSON body a write may send.
MAX_BODY = 64_000


class BadRequestError(RiskEngineError, ValueError):
    """A request argument or body the board cannot use (a limit out of range, a body that is not JSON)."""


class JSONAnswer(JSONResponse):
    """JSON as orjson writes it: a missing value read as NaN becomes null, numpy numbers are numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str)


def status_of(exc: RiskEngineError) -> int:
    """404 for something named in the path that does not exist; 400 for a bad argument."""
    return 404 if isinstance(exc, LookupError) and not isinstance(exc, UnknownPlaceError) else 400


def error_doc(exc: RiskEngineError) -> dict[str, Any]:
    """An error as JSON: the engine's message in one line, its kind and the names it suggests."""
    from ..cli import one_line  # noqa: PLC0415 - riskengine.cli imports this package's parser

    doc: dict[str, Any] = {"error": one_line(str(exc)), "kind": type(exc).__name__}
    if getattr(exc, "suggestions", None):
        doc["suggestions"] = list(exc.suggestions)
    return doc


class WebBoard:
    """The engine behind the pages, with the lock that serialises its answers."""

    def __init__(self, engine: RiskEngine, routes: Sequence[tuple[str, str]], clock: Callable[[], dt.datetime]):
        self.engine = engine
        self.routes = list(routes)
        self.clock = clock
        self._lock = threading.Lock()

    async def call(self, fn: Callable, *args, **kwargs) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread, one engine call at a time."""
        return await anyio.to_thread.run_sync(functools.partial(self._locked, fn, *args, **kwargs))

    def _locked(self, fn: Callable, *args, **kwargs) -> Any:
        with self._lock:
            return fn(*args, **kwargs)

    # ---- what the pages show (called under the lock) ---------------------------------------------

    def version(self) -> str:
        """A marker that changes whenever events, reports, analysts' corrections or road statuses do."""
        return hashlib.sha1(repr(self.engine.store.revision()).encode()).hexdigest()[:16]

    def board(self, at: dt.datetime) -> list[dict]:
        """The main routes' answers (a route the engine cannot answer is logged and left out)."""
        rows = []
        for start, end in self.routes:
            try:
                rows.append(self.engine.route(start, end, at))
            except RiskEngineError as exc:
                log.warning("board route %s -> %s: %s", start, end, exc)
        return rows

    def events(self, at: dt.datetime, *, since: dt.date | None = None, limit: int = EVENTS_LISTED,
               statuses: Sequence[str] = ("active",)) -> list[dict]:
        """Events dated up to ``at`` (from ``since``), newest first, with their sources."""
        from ..corrections import Corrections  # noqa: PLC0415

        fix = Corrections(self.engine)
        rows = [r for status in statuses for r in fix.list(since=since, until=at.date(), status=status, limit=limit)]
        if len(statuses) > 1:  # newest first, as each list is
            rows.sort(key=lambda r: r["id"])
            rows.sort(key=lambda r: r["date"], reverse=True)
        return rows[:limit]

    def map_data(self, at: dt.datetime, lang: str) -> dict[str, Any]:
        """What ``window.riskengineMap(element, data)`` draws (:func:`riskengine.web.offline_map.map_data`)."""
        from .offline_map import map_data  # noqa: PLC0415 - the offline map's own module

        return map_data(self.engine, at, lang=lang)

    def places(self) -> list[str]:
        """The towns at the ends of segments, for the route form's suggestions."""
        return sorted({name for s in self.engine.network.segments for name in (s.start, s.end)})


def board_json(routes: list[dict]) -> list[dict]:
    keep = ("from", "to", "at", "score", "level", "level_name", "distance_km", "via", "worst_segment", "status",
            "closed_segments", "avoided_closed", "coverage")
    out = []
    for r in routes:
        row = {k: r[k] for k in keep}
        row["segments"] = [{"id": s["id"], "name": s["name"], "score": s["score"], "level": s["level"],
                            "level_name": s["level_name"], "status": s["status"]["status"]} for s in r["segments"]]
        row["top_events"] = [dict(i) for i in r["incidents"][:3]]
        out.append(row)
    return out


class Handlers:
    """What every request handler reads of a request, and the analysts' writes."""

    def __init__(self, board: WebBoard, analysts: Analysts, lang: str | None):
        self.board = board
        self.analysts = analysts
        self.lang = lang

    def at(self, request: Request) -> dt.datetime:
        """The time asked about (``?at=``, read as ``--at`` is), else the server's clock."""
        from ..cli import parse_time  # noqa: PLC0415 - the command line's reading of times

        text = (request.query_params.get("at") or "").strip()
        return parse_time(text or None, now=self.board.clock())

    def words(self, request: Request) -> Words:
        """The request's language (:func:`~riskengine.web.i18n.pick_language`)."""
        return Words(pick_language(request.query_params, request.headers.get("accept-language"), self.lang))

    def analyst(self, request: Request) -> bool:
        """Whether the request comes from an analyst (to show the analyst's forms)."""
        return self.analysts.signed_in(request.headers.get("authorization"), request.cookies.get(COOKIE))

    def may_write(self, request: Request, form_token: str | None) -> bool:
        """A bearer token, or the sign-in cookie with the form's token (``None`` for JSON: bearer only)."""
        return self.analysts.may_write(request.headers.get("authorization"), request.cookies.get(COOKIE), form_token)

    def set_status(self, segment_id: str, fields: dict[str, str]) -> dict:
        """An analyst sets a segment's road status (``status``, ``why``, optional ``until`` and ``by``)."""
        from ..cli import parse_time  # noqa: PLC0415
        from ..road_status import StatusError  # noqa: PLC0415
        from ..road_status import set_status as store_status  # noqa: PLC0415

        why = (fields.get("why") or "").strip()
        if not why:
            raise StatusError("say why (a road status without a reason is not kept)")
        now = self.board.clock()
        until = parse_time(fields["until"], now=now) if (fields.get("until") or "").strip() else None
        return store_status(self.board.engine, segment_id, (fields.get("status") or "").strip(),
                          who=who(fields), why=why, now=now, until=until)

    def correct(self, event_id: str, action: str, fields: dict[str, str]) -> dict:
        """An analyst retracts or restores an event (``why``, optional ``by``)."""
        from ..corrections import CorrectionError, Corrections  # noqa: PLC0415

        fix = Corrections(self.board.engine)
        acts = {"retract": fix.retract, "restore": fix.restore}
        if action not in acts:
            raise CorrectionError(f"unknown action {action[:20]!r}; use retract or restore")
        return acts[action](event_id, who(fields), fields.get("why") or "", self.board.clock())


def read_limit(text: str | None) -> int:
    """``?limit=``: how many events, 1 to 1000."""
    if not text:
        return EVENTS_LISTED
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise BadRequestError(f"limit {text[:20]!r} is not a number from 1 to 1000")
    return int(text)


def who(fields: dict[str, str]) -> str:
    """Who makes a change, as the audit trail keeps it."""
    return (fields.get("by") or "").strip()[:80] or "analyst (web)"


def next_path(form: dict[str, str]) -> str:
    """Where a form goes back to: a path of this site only."""
    target = form.get("next") or "/"
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def read_body(request: Request) -> bytes:
    """A request's body, refused past :data:`MAX_BODY` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequestError(f"the request body is over {MAX_BODY} bytes")
    return body


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (the last value of each)."""
    try:
        text = (await read_body(request)).decode("utf-8")
    except (RiskEngineError, UnicodeDecodeError):
        return {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


async def read_json(request: Request) -> dict[str, str]:
    """A JSON object's fields, as text (what a form would send)."""
    body = await read_body(request)
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise BadRequestError("the request body is not JSON") from None
    if not isinstance(doc, dict):
        raise BadRequestError("the request body must be a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in doc.items()}


