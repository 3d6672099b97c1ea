"""The live web board: an ASGI app (Starlette) over one :class:`~riskengine.engine.RiskEngine`.

Pages (:mod:`.pages`: the board of main routes with the map and recent events, a route's answer, a
segment's explanation, in English or Arabic), the same answers as JSON and the exports as GeoJSON,
ACLED-shaped CSV and CAP (:mod:`.api`), and a change marker (``/api/version``, the store's
revision) that the page polls to reload its data when anything is stored, by this server or
another process. Nothing here reads the clock but the ``clock`` given to :func:`create_app`, and
every page is served from the app itself (no external URL): the board works with the network off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .analyst import Analysts
from .api import Api
from .board import WebBoard
from .pages import Pages

if TYPE_CHECKING:
    from ..engine import RiskEngine

__all__ = ["LOOPBACK_NAMES", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The host names a server bound to a loopback address answers to.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def _host_name(header: str) -> str:
    """The name in a Host header, without its port.

    >>> _host_name("127.0.0.1:8080"), _host_name("[::1]:8080"), _host_name("LocalHost")
    ('127.0.0.1', '::1', 'localhost')
    """
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


class _LoopbackHostOnly:
    """Refuse (400) a request addressed to any name but a loopback one: a page of another site whose
    name was made to point at 127.0.0.1 (DNS rebinding) reads nothing."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if _host_name(host) not in LOOPBACK_NAMES:
                await Response("invalid host header", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(engine: RiskEngine, *, routes: Sequence[tuple[str, str]], clock: Callable[[], dt.datetime],
               analyst_token: str | None = None, lang: str | None = None, public: bool = False) -> Starlette:
    """The board's ASGI app.

    Parameters
    ----------
    engine
        The engine answering every page (called one question at a time).
    routes
        The main routes on the board, as (FROM, TO) place names (the run configuration's ``board``).
    clock
        The time of an answer when a request names none (``?at=``): the wall clock, or a fixed time to replay a day.
    analyst_token
        Who may write (road statuses, retracting and restoring events); None: nobody.
    lang
        The language of every page unless a request asks for another (``?lang=``); None: the browser's.
    public
        Answer requests for any host name; else only those addressed to a loopback name (a page of another
        site that rebinds its name to 127.0.0.1 gets nothing).
    """
    board = WebBoard(engine, routes, clock)
    analysts = Analysts(analyst_token)
    pages, api = Pages(board, analysts, lang), Api(board, analysts, lang)
    table = [
        Route("/", pages.index),
        Route("/route", pages.route_page),
        Route("/segment/{segment_id}", pages.segment_page),
        Route("/map", pages.map_page),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/segment/{segment_id}/status", pages.form_set_status, methods=["POST"]),
        Route("/event/{event_id}/{action}", pages.form_correct, methods=["POST"]),
        Route("/api/version", api.version),
        Route("/api/board", api.main_routes),
        Route("/api/route", api.route),
        Route("/api/segments", api.segments),
        Route("/api/segments.geojson", api.segments_geojson),
        Route("/api/segment/{segment_id}", api.segment),
        Route("/api/segment/{segment_id}/status", api.write_status, methods=["POST"]),
        Route("/api/events", api.events),
        Route("/api/events.geojson", api.events_geojson),
        Route("/api/event/{event_id}/{action}", api.write_correction, methods=["POST"]),
        Route("/api/map", api.map_data),
        Route("/export/events.csv", api.events_csv),
        Route("/export/cap.xml", api.cap_xml),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(routes=table, middleware=[] if public else [Middleware(_LoopbackHostOnly)])
    app.state.board = board
    return app
