"""One process for the bot and the scheduler, on one event loop: an APScheduler runs the engine's jobs
(poll sources, decide, dispatch, digest) from the start, while python-telegram-bot connects and polls.
The outbox's Telegram notifier sends through the application's own bot once it is connected; until
then alerts for Telegram chats wait in the outbox, and every other notifier works as usual.

A Bot API that cannot be reached, or that refuses the token (a revoked one gets 401), does not stop
the service: the bot retries in the background with growing delays, one log line per attempt, and
the token is never in them (:func:`riskengine.notify.guard_secret`).

In webhook mode (a webhook secret configured, :attr:`bot.settings.BotSettings.webhook`) updates go
to ``riskengine serve --webhook`` workers (:mod:`bot.webhook`), never to this process: it connects
the bot only to send alerts, never polls (``getUpdates`` would conflict with the webhook), and runs
its jobs only while it leads the scheduler (:meth:`riskengine.scheduler.Service.run`), so several of
these processes make one leader and its standbys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.ext import Application, CallbackContext

from riskengine.notify import scrub
from riskengine.pipeline import Pipeline
from riskengine.scheduler import Service, stop_on_signals, utc_now

from . import enroute
from .alert_i18n import localized_render
from .app import build_application
from .channels import AFTER_INGEST, register
from .choices import alert_markup
from .i18n import arabic_names, translator
from .notifier import TelegramNotifier
from .pictures import RoutePicture, RoutePictures, alert_pictures
from .settings import TOKEN_VAR, BotSettings

log = logging.getLogger("riskengine.bot")

#: ``bot_data`` key: the bot of a webhook-mode scheduler is connected (it may send).
CONNECTED = "connected"
#: The first and the longest wait between two attempts to connect the bot (seconds; doubled each time).
RETRY_FIRST, RETRY_MAX = 2.0, 300.0


class _NoJSONTraceback(logging.Filter):
    """python-telegram-bot logs an answer that is not JSON (a proxy's or a server's HTML error page) with
    the JSON decoder's traceback: keep the line (scrubbed, and cut short), drop the useless traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "invalid JSON" in str(record.msg):
            record.exc_info, record.exc_text = None, None
            message = scrub(record.getMessage())
            record.msg, record.args = (message[:300] + "…" if len(message) > 300 else message), None
        return True


_NO_JSON_TRACEBACK = _NoJSONTraceback()


def quiet_http_logs() -> None:
    """httpx logs every request URL at INFO, and a Bot API URL carries the token: keep them quiet."""
    for name in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)
    request_log = logging.getLogger("telegram.request.BaseRequest")
    if _NO_JSON_TRACEBACK not in request_log.filters:
        request_log.addFilter(_NO_JSON_TRACEBACK)


def build(pipeline: Pipeline, settings: BotSettings, service: Service | None = None, *,
          clock: Callable[[], dt.datetime] = utc_now,
          pictures: Callable[[str, str, dt.datetime], RoutePicture] | None = None) -> Application:
    """The bot application with its bot as the Telegram notifier.

    Without ``service`` the engine's jobs go on the application's JobQueue and start with the bot (as
    the tests that run the application themselves want), on ``clock``; with one, the jobs are the
    service's (already running on its own scheduler, bot or no bot) and the bot only adds its notifier.
    ``pictures`` draws the route pictures of /risk and of level alerts about a route (by default
    :class:`bot.pictures.RoutePictures` over the pipeline's engine). /selftest dispatches the outbox at
    once through the service's dispatch job.
    """
    quiet_http_logs()
    pictures = pictures or RoutePictures(pipeline.engine)
    if service is not None:
        clock = service.clock
    app = build_application(pipeline.engine, settings, subscriptions=pipeline.subscriptions, policy=pipeline.policy,
                            board_routes=pipeline.config.board, clock=clock, pictures=pictures)
    own_jobs = service is None
    if service is None:
        service = Service(pipeline, scheduler=app.job_queue.scheduler, clock=clock)
    app.bot_data["riskengine"].deliver_now = service.dispatch_job

    def after_ingest() -> None:  # a channel post brought incidents: decide and send now
        service.evaluate_job()
        service.dispatch_job()

    app.bot_data[AFTER_INGEST] = after_ingest
    register(app)  # channel posts and analysts' forwards as reports
    previous_post_init = app.post_init

    async def post_init(application: Application) -> None:
        if previous_post_init:
            await previous_post_init(application)
        loop = asyncio.get_running_loop()
        names = arabic_names(pipeline.engine.gazetteer)
        render = localized_render(pipeline.engine.store.chat_language, lambda lang: translator(lang, names),
                                  pipeline.policy.level_marks)  # each alert in its chat's language
        picture = alert_pictures(pictures, pipeline.engine.store.chat_language, lambda lang: translator(lang, names),
                                 pipeline.policy.level_marks, clock)  # level alerts about a route: its picture
        buttons = alert_markup(pipeline.engine.store.chat_language, lambda lang: translator(lang, names))
        pipeline.notifiers["telegram"] = TelegramNotifier(application.bot, loop, render=render, picture=picture,
                                                          markup=buttons)  # each alert's Settings button
        if own_jobs:
            pipeline.seed_subscriptions(clock())
            service.add_jobs()
        log.info("bot and scheduler running: %d sources, notifiers: %s", len(pipeline.sources),
                 ", ".join(pipeline.notifiers))

    app.post_init = post_init
    return app


def _why(exc: BaseException, settings: BotSettings) -> str:
    """One line on why the Bot API could not be used (never the token: PTB's own texts carry it)."""
    where = settings.api_base_url or "https://api.telegram.org"
    if isinstance(exc, InvalidToken):
        return (f"the Bot API at {where} refused the bot's token (401/404: revoked or wrong? check "
                f"{TOKEN_VAR})")
    if isinstance(exc, TimedOut):
        return f"the Bot API at {where} did not answer in time"
    if isinstance(exc, NetworkError):
        return f"cannot reach the Bot API at {where}: {scrub(exc)}"
    return f"{exc.__class__.__name__}: {scrub(exc)}"


async def _stop_bot(app: Application) -> None:
    """Stop whatever of the bot has started (polling, application, HTTP clients); never raises."""
    steps = []
    if app.updater is not None and app.updater.running:
        steps.append(app.updater.stop)
    if app.running:
        steps.append(app.stop)
    steps.append(app.shutdown)
    for step in steps:
        try:
            await step()
        except Exception as exc:  # stopping must go on
            log.warning("stopping the Telegram bot: %s", scrub(exc))
    try:
        await app.bot.shutdown()  # the HTTP clients of a bot that never got past get_me
    except Exception:  # noqa: S110 - best effort at exit
        pass


async def keep_bot_up(app: Application, settings: BotSettings, *, first_delay: float = RETRY_FIRST,
                      max_delay: float = RETRY_MAX, polling: bool = True) -> None:
    """Connect the bot (get_me, commands menu, polling), retrying with doubling delays up to ``max_delay``
    while the Bot API cannot be reached or refuses the token: one log line per failed attempt, no
    traceback, no token. Returns once the bot polls (without ``polling``: once it can send); the caller
    stops it with :func:`_stop_bot`."""
    delay, attempt = first_delay, 0
    while True:
        attempt += 1
        try:
            await app.initialize()
            if app.post_init:
                await app.post_init(app)
            if polling:
                await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
                await app.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("Telegram bot not connected (attempt %d): %s; next attempt in %.0f s (feeds and alerts "
                        "keep running)", attempt, _why(exc, settings), delay)
            if app.updater is not None and app.updater.running:
                try:
                    await app.updater.stop()
                except Exception:  # noqa: S110 - the next attempt starts it again
                    pass
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
            continue
        log.info("Telegram bot connected as @%s after %d attempt(s)", app.bot.username, attempt)
        return


async def serve(pipeline: Pipeline, settings: BotSettings, stop: asyncio.Event | None = None, *,
                first_delay: float = RETRY_FIRST, max_delay: float = RETRY_MAX) -> None:
    """The scheduler (sources, alerts, every notifier) at once, and the bot beside it, connected in the
    background: an unreachable Bot API or a refused token delays the Telegram side only. Runs until
    SIGINT/SIGTERM (or ``stop``)."""
    stop = stop_on_signals(stop)
    service = Service(pipeline)
    app = build(pipeline, settings, service=service)
    if settings.webhook:
        await _serve_for_webhook(app, service, settings, stop, first_delay=first_delay, max_delay=max_delay)
        return
    pipeline.seed_subscriptions(utc_now())
    service.add_jobs()
    service.scheduler.start()
    log.info("scheduler running: %d sources, notifiers: %s; the Telegram bot connects in the background",
             len(pipeline.sources), ", ".join(pipeline.notifiers) or "none")
    bot = asyncio.create_task(keep_bot_up(app, settings, first_delay=first_delay, max_delay=max_delay))
    try:
        await stop.wait()
    finally:
        log.info("stopping: the bot, then the job in flight")
        await _disconnect(bot, app, pipeline)
        service.scheduler.shutdown(wait=True)
        log.info("stopped")


async def _disconnect(connecting: asyncio.Task, app: Application, pipeline: Pipeline) -> None:
    """Stop connecting the bot, stop the bot, and take its notifier away (alerts for Telegram wait in
    the outbox); never raises."""
    connecting.cancel()
    try:
        await connecting
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        log.warning("the Telegram bot: %s", scrub(exc))
    await _stop_bot(app)
    pipeline.notifiers.pop("telegram", None)


async def _serve_for_webhook(app: Application, service: Service, settings: BotSettings, stop: asyncio.Event, *,
                             first_delay: float, max_delay: float) -> None:
    """The scheduler of webhook mode: jobs only while leading, the bot connected to send, no polling."""
    loop = asyncio.get_running_loop()

    def end_expired_journeys() -> None:  # the polling bot's JobQueue does it there; here the leader alone
        if app.bot_data.get(CONNECTED):
            asyncio.run_coroutine_threadsafe(enroute.end_expired(CallbackContext(app)), loop).result(timeout=120)

    service.scheduler.add_job(end_expired_journeys, "interval", seconds=60, id="enroute-expired",
                              name="end expired journeys", replace_existing=True, coalesce=True, max_instances=1)
    log.info("webhook mode: updates go to the `riskengine serve --webhook` workers; this process sends alerts and "
             "runs the jobs while it leads the scheduler")

    async def connect() -> None:
        await keep_bot_up(app, settings, first_delay=first_delay, max_delay=max_delay, polling=False)
        app.bot_data[CONNECTED] = True

    bot = asyncio.create_task(connect())
    try:
        await service.run(stop)
    finally:
        await _disconnect(bot, app, service.pipeline)


def run(pipeline: Pipeline, settings: BotSettings) -> None:
    """Run the jobs and the bot until SIGINT/SIGTERM; the job in flight finishes first.

    The jobs start at once; the bot keeps trying to connect in the background (see :func:`serve`)."""
    asyncio.run(serve(pipeline, settings))
