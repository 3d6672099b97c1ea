"""A stateless bot worker: Telegram posts each update to ``POST /telegram/webhook`` and any worker handles it.

``riskengine serve --webhook`` runs one worker (:func:`serve_webhook`); run N of them behind a proxy
that spreads requests over them, against one PostgreSQL store. A worker keeps nothing another worker
would need: subscriptions, languages, quiet hours, journeys, the rate limit and open questions
(:mod:`bot.dialogs`) are all in the store. It runs no scheduler either: what it queues (a /selftest
alert) or stores (a channel post) is sent or decided on by the leading ``riskengine run``, whose store
watch sees it within a second.

Each request must carry Telegram's ``X-Telegram-Bot-Api-Secret-Token`` header equal to the configured
secret (compared in constant time); any other gets 403 and is not handled. Telegram delivers an update
again when a worker answered too late, so each ``update_id`` is recorded in ``handled_updates`` before
the update is handled: the first worker to record it handles it, a redelivery is answered 200 and
dropped. So an update is handled at most once (a worker killed in the middle of one loses it: the
user asks again). Rows older than :data:`KEEP_HANDLED` are pruned now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hmac
import json
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from riskengine.alerts import AlertPolicy
from riskengine.engine import RiskEngine
from riskengine.schema import handled_updates
from riskengine.store import Store
from riskengine.subscriptions import Subscriptions

from . import dialogs
from .app import build_application
from .channels import register
from .pictures import RoutePictures
from .service import keep_bot_up, quiet_http_logs
from .settings import WEBHOOK_SECRET_VAR, BotSettings, SettingsError

__all__ = ["DEFAULT_PATH", "SECRET_HEADER", "HandledUpdates", "build_worker", "create_webhook_app", "worker_settings"]

log = logging.getLogger("bot.webhook")

DEFAULT_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: How long an update id is remembered (Telegram gives up redelivering long before), and how often
#: the old ones (and expired questions) are pruned.
KEEP_HANDLED = dt.timedelta(days=1)
PRUNE_EVERY = dt.timedelta(minutes=10)
#: The largest update body accepted (Telegram's are a few kB).
MAX_BODY = 1 << 20


class HandledUpdates:
    """The update ids already handled by some worker (table ``handled_updates``)."""

    def __init__(self, store: Store):
        self.store = store

    def claim(self, update_id: int, now: dt.datetime) -> bool:
        """Record ``update_id`` as handled; False when another worker (or an earlier delivery) did first."""
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(handled_updates).values(update_id=int(update_id), handled_at=now))
        except IntegrityError:
            return False
        return True

    def prune(self, before: dt.datetime) -> int:
        """Forget the ids handled before ``before``; how many."""
        with self.store.engine.begin() as conn:
            return conn.execute(delete(handled_updates).where(handled_updates.c.handled_at < before)).rowcount


def build_worker(engine: RiskEngine, settings: BotSettings, *, board_routes: Sequence[tuple[str, str]],
                 clock: Callable[[], dt.datetime]) -> Application:
    """The bot application of a worker: the polling bot's handlers, channel posts stored as reports
    (decided on by the leader's store watch), and no notifier nor jobs of its own."""
    quiet_http_logs()
    app = build_application(engine, settings, subscriptions=Subscriptions(engine.store),
                            policy=AlertPolicy.load(engine.rules.directory), board_routes=board_routes,
                            clock=clock, pictures=RoutePictures(engine))
    register(app)
    return app


def create_webhook_app(application: Application, settings: BotSettings, *, path: str = DEFAULT_PATH,
                       clock: Callable[[], dt.datetime]) -> Starlette:
    """The worker's ASGI app: ``POST path`` takes Telegram's updates, ``GET /healthz`` says whether the
    bot is connected. At start it connects the bot (retrying while the Bot API cannot be reached) and
    registers ``settings.webhook_url`` with Telegram when one is set."""
    if not settings.webhook:
        raise SettingsError(f"webhook mode needs a secret token: set {WEBHOOK_SECRET_VAR} or telegram: "
                            "{webhook_secret: ...} in the run configuration")
    secret = settings.webhook_secret.encode()
    store = application.bot_data["riskengine"].engine.store
    handled = HandledUpdates(store)
    state = {"ready": False, "pruned": None}

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            log.warning("webhook: refused a request from %s: %s secret token", _client(request),
                        "wrong" if given else "no")
            return Response(status_code=403)
        if not state["ready"]:
            return Response(status_code=503)  # Telegram delivers it again later
        body = await request.body()
        try:
            if len(body) > MAX_BODY:
                raise ValueError(f"{len(body)} bytes")
            update = Update.de_json(_json(body), application.bot)
            update_id = int(update.update_id)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is not an update
            log.warning("webhook: a request from %s is not a Telegram update (%s)", _client(request),
                        exc.__class__.__name__)
            return Response(status_code=400)
        now = clock()
        if not await asyncio.to_thread(handled.claim, update_id, now):
            log.info("webhook: update %d was handled already: dropped", update_id)
            return Response(status_code=200)
        await application.process_update(update)
        if state["pruned"] is None or now - state["pruned"] >= PRUNE_EVERY:
            state["pruned"] = now
            await asyncio.to_thread(_prune, store, handled, now)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": state["ready"]}, status_code=200 if state["ready"] else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await keep_bot_up(application, settings, polling=False)
        if settings.webhook_url:
            await application.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                              allowed_updates=Update.ALL_TYPES)
            log.info("webhook registered with Telegram: %s", settings.webhook_url)
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            with contextlib.suppress(Exception):
                await application.shutdown()

    return Starlette(routes=[Route(path, receive, methods=["POST"]), Route("/healthz", healthz)],
                     lifespan=lifespan)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _json(body: bytes) -> dict:
    doc = json.loads(body)
    if not isinstance(doc, dict) or "update_id" not in doc:
        raise ValueError("no update_id")
    return doc


def _prune(store: Store, handled: HandledUpdates, now: dt.datetime) -> None:
    """Forget old update ids and questions never answered (any worker may do it; it is idempotent)."""
    try:
        handled.prune(now - KEEP_HANDLED)
        dialogs.Dialogs(store).prune(now)
    except Exception:
        log.exception("pruning handled updates failed; the next turn tries again")


def worker_settings(section: dict | None, webhook_url: str | None) -> BotSettings:
    """The bot settings of a worker (the run configuration's ``telegram:`` section and the environment),
    with ``webhook_url`` (``--webhook-url``) winning; a missing secret is an error naming what to set."""
    settings = BotSettings.load(section)
    if webhook_url:
        settings = dataclasses.replace(settings, webhook_url=webhook_url)
    if not settings.webhook:
        raise SettingsError(f"riskengine serve --webhook: no webhook secret token: set {WEBHOOK_SECRET_VAR} (or "
                            "telegram: {webhook_secret: ...} in the run configuration), the same for every worker")
    return settings
