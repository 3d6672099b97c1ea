"""The board's pages: server-rendered HTML in English or Arabic, and the analysts' forms.

``/`` the main routes, the map and recent events; ``/route`` a route's answer; ``/segment/{id}``
the explanation of a segment's score; ``/map`` the offline map on its own; ``/login`` the analysts'
sign-in. Each page says which version of the store it shows (``data-version``): ``static/board.js``
compares it with ``/api/version`` and swaps the page's live sections when the store changed.
Pages load nothing but this app's files (the Content-Security-Policy says so).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..arabic import arabic_names
from ..errors import RiskEngineError, UnknownPlaceError
from .analyst import COOKIE, Analysts
from .board import Handlers, WebBoard, error_doc, next_path, read_form, status_of

__all__ = ["CSP", "Pages"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: How often the page asks whether the store changed (milliseconds).
POLL_MS = 3000
#: What the pages may load: only this app (Leaflet draws with inline styles set from script).
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Pages(Handlers):
    """The HTML pages and forms."""

    def __init__(self, board: WebBoard, analysts: Analysts, lang: str | None):
        super().__init__(board, analysts, lang)
        self.env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True),
                               trim_blocks=True, lstrip_blocks=True)

    @cached_property
    def _arabic(self) -> Callable[[str], str | None]:
        """The engine's place names in Arabic (the gazetteer's Arabic aliases), as the bot writes them."""
        return arabic_names(self.board.engine.gazetteer)

    def _page(self, request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        words = context.pop("words", None) or self.words(request)
        keep = {"lang": words.lang}
        if request.query_params.get("at"):
            keep["at"] = request.query_params["at"]

        def href(path: str, **query: Any) -> str:
            params = {**keep, **{k: v for k, v in query.items() if v not in (None, "")}}
            return f"{path}?{urlencode(params)}" if params else path

        def place(name: str) -> str:
            """A place's or a segment's name ("Sirte - Waddan") as the page's language writes it."""
            if words.lang != "ar" or not name:
                return name
            return " - ".join(self._arabic(part) or part for part in str(name).split(" - "))

        def path_lang(code: str) -> str:
            params = {**dict(request.query_params), "lang": code}
            return f"{request.url.path}?{urlencode(params)}"

        html = self.env.get_template(template).render(
            w=words, href=href, path_lang=path_lang, place=place, analyst=self.analyst(request),
            analysts=self.analysts.enabled,
            form_token=self.analysts.form_token() if self.analysts.enabled else "",
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            poll_ms=POLL_MS, **context)
        return HTMLResponse(html, status_code=status, headers={
            "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})

    async def _error_page(self, request: Request, exc: RiskEngineError, **context) -> HTMLResponse:
        """The error in one line, with links to what the engine suggests instead."""
        status = status_of(exc)
        links: list[tuple[str, str, dict]] = []
        query = context.get("query") or {}
        for name in getattr(exc, "suggestions", None) or []:
            if isinstance(exc, UnknownPlaceError) and query:
                which = "from" if query.get("from") == exc.name else "to"
                links.append((name, "/route", {**query, which: name}))
            elif hasattr(exc, "segment_id"):
                links.append((name, f"/segment/{name}", {}))
            else:
                links.append((name, "", {}))
        return self._page(request, "error.html", status=status, error=error_doc(exc), code=status, links=links,
                          version=await self.board.call(self.board.version), **context)

    # ---- pages ---------------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """The board: main routes, map, recent events (with retract/restore for analysts), all segments."""
        words = self.words(request)
        try:
            at = self.at(request)
        except RiskEngineError as exc:
            return await self._error_page(request, exc)
        statuses = ("active", "retracted") if self.analyst(request) else ("active",)

        def gather() -> tuple:
            return (self.board.version(), self.board.board(at), self.board.events(at, statuses=statuses),
                    self.board.engine.segments(at)["segments"], self.board.places())

        version, routes, events, segments, places = await self.board.call(gather)
        return self._page(request, "board.html", words=words, at=at, version=version, routes=routes,
                          events=events, segments=segments, places=places, query={})

    async def route_page(self, request: Request) -> Response:
        """A route's answer, under the route form (an unknown place: the engine's message and its suggestions)."""
        q = request.query_params
        start, end = (q.get("from") or "").strip(), (q.get("to") or "").strip()
        query = {"from": start, "to": end, "at": q.get("at") or ""}
        places = await self.board.call(self.board.places)
        if not start or not end:
            return RedirectResponse(self._page_href(request, "/"), status_code=303)
        try:
            at = self.at(request)
            version, answer = await self.board.call(lambda: (self.board.version(), self.board.engine.route(
                start, end, at)))
        except RiskEngineError as exc:
            return await self._error_page(request, exc, query=query, places=places)
        return self._page(request, "route.html", at=at, version=version, route=answer, query=query, places=places)

    def _page_href(self, request: Request, path: str) -> str:
        lang = request.query_params.get("lang")
        return f"{path}?{urlencode({'lang': lang})}" if lang else path

    async def segment_page(self, request: Request) -> Response:
        """Why a segment scores what it does: formula, factors of each event, sources, road status, coverage."""
        segment_id = request.path_params["segment_id"]
        try:
            at = self.at(request)
            version, doc = await self.board.call(lambda: (self.board.version(), self.board.engine.explain(
                segment_id, at)))
        except RiskEngineError as exc:
            return await self._error_page(request, exc)
        return self._page(request, "segment.html", at=at, version=version, doc=doc)

    async def map_page(self, request: Request) -> Response:
        """The offline map helper's self-contained page (its own inline scripts: no CSP of ours)."""
        try:
            from .offline_map import map_html  # noqa: PLC0415
        except ImportError:
            return HTMLResponse("the offline map is not installed", status_code=404)
        try:
            at = self.at(request)
        except RiskEngineError as exc:
            return await self._error_page(request, exc)
        lang = self.words(request).lang
        return HTMLResponse(await self.board.call(map_html, self.board.engine, at, lang=lang))

    async def login_page(self, request: Request) -> Response:
        """The analysts' sign-in form."""
        return self._page(request, "login.html", version=await self.board.call(self.board.version), failed=False)

    async def login(self, request: Request) -> Response:
        """Sign an analyst in: the token, once, for a cookie that holds a key derived from it."""
        form = await read_form(request)
        if not self.analysts.token_ok(form.get("token")):
            return self._page(request, "login.html", status=403, failed=True,
                              version=await self.board.call(self.board.version))
        response = RedirectResponse(self._page_href(request, "/"), status_code=303)
        response.set_cookie(COOKIE, self.analysts.session(), httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the sign-in cookie."""
        response = RedirectResponse(self._page_href(request, "/"), status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # ---- analysts' writes -------------------------------------------------------------------------

    async def form_set_status(self, request: Request) -> Response:
        """An analyst's road status from the segment page's form."""
        form = await read_form(request)
        if not self.may_write(request, form.get("form_token")):
            return HTMLResponse("analysts only", status_code=403)
        try:
            await self.board.call(self.set_status, request.path_params["segment_id"], form)
        except RiskEngineError as exc:
            return await self._error_page(request, exc)
        return RedirectResponse(next_path(form), status_code=303)

    async def form_correct(self, request: Request) -> Response:
        """An analyst retracts or restores an event from the board's form."""
        form = await read_form(request)
        if not self.may_write(request, form.get("form_token")):
            return HTMLResponse("analysts only", status_code=403)
        try:
            await self.board.call(self.correct, request.path_params["event_id"], request.path_params["action"], form)
        except RiskEngineError as exc:
            return await self._error_page(request, exc)
        return RedirectResponse(next_path(form), status_code=303)

    # ---- JSON and exports ----------------------------------------------------------------------------

