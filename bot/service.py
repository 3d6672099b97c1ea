"""One process for the bot and the scheduler: python-telegram-bot polls, and its JobQueue's
APScheduler runs the engine's jobs (poll sources, decide, dispatch, digest) on the same event loop.
The outbox's Telegram notifier sends through the application's own bot.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from telegram.ext import Application

from riskengine.pipeline import Pipeline
from riskengine.scheduler import Service, utc_now

from .alert_i18n import localized_render
from .app import build_application
from .channels import AFTER_INGEST, register
from .i18n import arabic_names, translator
from .notifier import TelegramNotifier
from .settings import BotSettings

log = logging.getLogger("riskengine.bot")


def quiet_http_logs() -> None:
    """httpx logs every request URL at INFO, and a Bot API URL carries the token: keep them quiet."""
    for name in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build(pipeline: Pipeline, settings: BotSettings) -> Application:
    """The bot application with the engine's jobs on its JobQueue and its bot as the Telegram notifier."""
    quiet_http_logs()
    app = build_application(pipeline.engine, settings, subscriptions=pipeline.subscriptions, policy=pipeline.policy,
                            board_routes=pipeline.config.board, clock=utc_now)
    service = Service(pipeline, scheduler=app.job_queue.scheduler)

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
        pipeline.notifiers["telegram"] = TelegramNotifier(application.bot, loop, render=render)
        pipeline.seed_subscriptions(utc_now())
        service.add_jobs()
        log.info("bot and scheduler running: %d sources, notifiers: %s", len(pipeline.sources),
                 ", ".join(pipeline.notifiers))

    app.post_init = post_init
    return app


def run(pipeline: Pipeline, settings: BotSettings) -> None:
    """Poll Telegram and run the jobs until SIGINT/SIGTERM; the job in flight finishes first."""
    app = build(pipeline, settings)
    app.run_polling(stop_signals=(signal.SIGINT, signal.SIGTERM), close_loop=False)
