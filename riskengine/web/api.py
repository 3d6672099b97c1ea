"""The board's data as JSON, GeoJSON, CSV and CAP, and the analysts' writes as JSON.

Every answer takes ``?at=`` (a date or ISO 8601 time; default the server's clock). An error is one
JSON object with the engine's one-line message (``error``), its kind and, for an unknown place or
segment, the closest names (``suggestions``): 404 for something named in the path that does not
exist, 400 for a bad argument. Writes need ``Authorization: Bearer <analyst token>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from ..errors import RiskEngineError
from .board import Handlers, JSONAnswer, board_json, error_doc, read_json, read_limit, status_of

__all__ = ["Api"]

NOT_ANALYST = {"error": "analysts only: send Authorization: Bearer <token>"}


class Api(Handlers):
    """The JSON API and the exports."""

    async def _api(self, request: Request, make: Callable[[dt.datetime], Any]) -> Response:
        try:
            at = self.at(request)
            return JSONAnswer(await self.board.call(make, at))
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=status_of(exc))

    async def version(self, request: Request) -> Response:
        """The change marker: polled by the page, it moves whenever the store does."""
        # the store's own query, not the engine's caches: it need not wait for an answer in the making
        version = await anyio.to_thread.run_sync(self.board.version)
        return JSONAnswer({"version": version}, headers={"Cache-Control": "no-store"})

    async def main_routes(self, request: Request) -> Response:
        """The board's main routes: level, score, status, coverage, segments and top events."""
        def make(at: dt.datetime) -> dict:
            return {"at": at.isoformat(), "version": self.board.version(), "routes": board_json(self.board.board(at))}
        return await self._api(request, make)

    async def route(self, request: Request) -> Response:
        """A route's answer, as ``riskengine route --json`` gives it."""
        q = request.query_params
        start, end = (q.get("from") or "").strip(), (q.get("to") or "").strip()
        if not start or not end:
            return JSONAnswer({"error": "give both from= and to= (place names)"}, status_code=400)
        return await self._api(request, lambda at: self.board.engine.route(start, end, at))

    async def segments(self, request: Request) -> Response:
        """Every segment, as ``riskengine segments --json`` gives it."""
        return await self._api(request, self.board.engine.segments)

    async def segment(self, request: Request) -> Response:
        """A segment's explanation, as ``riskengine explain --json`` gives it."""
        segment_id = request.path_params["segment_id"]
        return await self._api(request, lambda at: self.board.engine.explain(segment_id, at))

    async def events(self, request: Request) -> Response:
        """Recent events with their sources, newest first (``since``, ``limit``; ``status=all``: retracted too)."""
        from ..cli import parse_date  # noqa: PLC0415

        q = request.query_params
        try:
            since = parse_date(q.get("since") or None)
            limit = read_limit(q.get("limit"))
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=400)
        statuses = ("active", "retracted") if q.get("status") == "all" else ("active",)
        return await self._api(request, lambda at: {
            "at": at.isoformat(), "events": self.board.events(at, since=since, limit=limit, statuses=statuses)})

    async def map_data(self, request: Request) -> Response:
        """What the page's map draws."""
        lang = self.words(request).lang
        return await self._api(request, lambda at: self.board.map_data(at, lang))

    async def segments_geojson(self, request: Request) -> Response:
        """The segments as RFC 7946 GeoJSON."""
        from ..exports.geojson import segments_geojson  # noqa: PLC0415

        return _geo(await self._api(request, lambda at: segments_geojson(self.board.engine, at)))

    async def events_geojson(self, request: Request) -> Response:
        """The events as RFC 7946 GeoJSON (``since``)."""
        from ..cli import parse_date  # noqa: PLC0415
        from ..exports.geojson import events_geojson  # noqa: PLC0415

        try:
            since = parse_date(request.query_params.get("since") or None)
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=400)
        return _geo(await self._api(request, lambda at: events_geojson(self.board.engine, at, since)))

    async def events_csv(self, request: Request) -> Response:
        """The events as ACLED-shaped CSV (``hxl=1``: with the HXL hashtag row; ``since``)."""
        from ..cli import parse_date  # noqa: PLC0415
        from ..exports.acled import events_acled_csv  # noqa: PLC0415

        q = request.query_params
        hxl = (q.get("hxl") or "").lower() in ("1", "true", "yes")
        try:
            at = self.at(request)
            since = parse_date(q.get("since") or None)
            text = await self.board.call(events_acled_csv, self.board.engine, hxl=hxl, since=since, until=at.date())
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=status_of(exc))
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="events.csv"'})

    async def cap_xml(self, request: Request) -> Response:
        """The alerts as an Atom feed of CAP 1.2 messages."""
        from ..exports.cap import cap_feed  # noqa: PLC0415

        try:
            at = self.at(request)
            text = await self.board.call(cap_feed, self.board.engine, at)
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=status_of(exc))
        return Response(text, media_type="application/atom+xml; charset=utf-8")

    # ---- analysts' writes ----------------------------------------------------------------------------

    async def write_status(self, request: Request) -> Response:
        """An analyst sets a road status: JSON ``{status, why, until?, by?}``."""
        if not self.may_write(request, None):
            return JSONAnswer(NOT_ANALYST, status_code=403)
        try:
            fields = await read_json(request)
            doc = await self.board.call(self.set_status, request.path_params["segment_id"], fields)
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=status_of(exc))
        return JSONAnswer(doc)

    async def write_correction(self, request: Request) -> Response:
        """An analyst retracts or restores an event: JSON ``{why, by?}``."""
        if not self.may_write(request, None):
            return JSONAnswer(NOT_ANALYST, status_code=403)
        try:
            fields = await read_json(request)
            doc = await self.board.call(self.correct, request.path_params["event_id"],
                                        request.path_params["action"], fields)
        except RiskEngineError as exc:
            return JSONAnswer(error_doc(exc), status_code=status_of(exc))
        return JSONAnswer(doc)


def _geo(response: Response) -> Response:
    if response.status_code == 200:
        response.headers["content-type"] = "application/geo+json"
    return response


