"""The service: APScheduler 3 jobs that poll, decide, send and summarise, on one asyncio loop.

APScheduler 3's ``AsyncIOScheduler`` is the scheduler python-telegram-bot's JobQueue wraps, so the
bot and these jobs can share one event loop. Jobs run in thread pools (the engine is synchronous):
source polls in a pool of their own (``"sources"``), so a slow or hostile source never holds up
outbox dispatch or alert evaluation; every job coalesces missed runs and never overlaps itself.
A poll hands each report to the engine in isolation (``sources.poll_source``): one bad file or item
is logged by name and skipped, and the source goes on. A job that fails is
logged; the scheduler keeps going. SIGINT or SIGTERM stop it cleanly: the job in flight finishes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .leader import Leadership
from .pipeline import Pipeline, PollOutcome
from .sources import Source, parse_duration

log = logging.getLogger("riskengine.scheduler")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
SOURCES_EXECUTOR = "sources"  # the thread pool source polls run in, apart from dispatch and evaluation
SOURCE_WORKERS = 4
#: Seconds between a standby's asks for the lead, and between a leader's checks that it still leads.
LEAD_RETRY_S = 2.0


def utc_now() -> dt.datetime:
    """The one place the service reads the clock; everything below takes ``now``."""
    return dt.datetime.now(dt.UTC)


def stop_on_signals(stop: asyncio.Event | None = None) -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (where the running loop can take signal handlers)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    return stop


class Service:
    """The scheduled jobs of a pipeline (on its own scheduler, or on the bot's JobQueue scheduler)."""

    def __init__(self, pipeline: Pipeline, *, clock: Callable[[], dt.datetime] = utc_now,
                 scheduler: AsyncIOScheduler | None = None):
        self.pipeline, self.clock = pipeline, clock
        self._seen: tuple | None = None  # the store's change token when last looked at (:meth:`watch_job`)
        self._newest_alert: int | None = None  # the outbox's newest row when last looked at (:meth:`watch_job`)
        self.scheduler = scheduler or AsyncIOScheduler(
            timezone=dt.UTC, job_defaults=JOB_DEFAULTS, executors={"default": ThreadPoolExecutor(max_workers=4)})
        try:  # on the bot's scheduler too
            self.scheduler.add_executor(ThreadPoolExecutor(max_workers=SOURCE_WORKERS), SOURCES_EXECUTOR)
        except ValueError:
            pass  # it has one already

    # ---- jobs ---------------------------------------------------------------------------------

    def poll(self, source: Source, now: dt.datetime) -> PollOutcome:
        """Fetch one source and store its new reports, each in isolation (:meth:`Pipeline.poll`)."""
        return self.pipeline.poll(source, now)

    def poll_job(self, source: Source) -> None:
        """Poll one source; when it brought new incidents, decide and send at once."""
        try:
            outcome = self.poll(source, self.clock())
            if outcome.incidents_new:
                self.pipeline.evaluate(self.clock())
                self.pipeline.dispatch(self.clock())
        except Exception:
            log.exception("poll of source %s failed; it will be tried again next turn", source.name)

    def watch_job(self) -> None:
        """Evaluate and send as soon as the store has changed, whoever changed it (another process's
        ingest, the bot, an analyst on the web board): a stored report reaches subscribers within
        seconds, not at the next evaluation (which stays, for scores that fade with time). An alert
        another process put in the outbox (a webhook worker's /selftest) is sent at once too."""
        try:
            token = self.pipeline.engine.store.change_token()
            newest = self.pipeline.outbox.newest_id()
            if token == self._seen:
                if newest != self._newest_alert:
                    self._newest_alert = newest
                    self.pipeline.dispatch(self.clock())
                return
            self._seen, self._newest_alert = token, newest  # the first look evaluates too: what was stored before
            self.pipeline.evaluate(self.clock())
            self.pipeline.dispatch(self.clock())
        except Exception:
            log.exception("evaluation after a change of the store failed; the next change or evaluation retries")

    def evaluate_job(self) -> None:
        try:
            self.pipeline.evaluate(self.clock())
        except Exception:
            log.exception("alert evaluation failed; it will run again")

    def dispatch_job(self) -> None:
        try:
            self.pipeline.dispatch(self.clock())
        except Exception:
            log.exception("dispatch failed; unsent alerts stay in the outbox")

    def digest_job(self) -> None:
        try:
            self.pipeline.digest(self.clock())
            self.pipeline.dispatch(self.clock())
        except Exception:
            log.exception("daily digest failed")

    # ---- wiring -------------------------------------------------------------------------------

    def add_jobs(self) -> None:
        now = self.clock()
        for source in self.pipeline.sources:
            self.scheduler.add_job(self.poll_job, IntervalTrigger(seconds=source.interval_seconds), args=[source],
                                   id=f"poll:{source.name}", name=f"poll {source.name}", next_run_time=now,
                                   replace_existing=True, executor=SOURCES_EXECUTOR, **JOB_DEFAULTS)
        intervals = self.pipeline.config.intervals
        self.scheduler.add_job(self.evaluate_job, IntervalTrigger(seconds=parse_duration(intervals.evaluate)),
                               id="evaluate", name="evaluate alerts", replace_existing=True, **JOB_DEFAULTS)
        self.scheduler.add_job(self.watch_job, IntervalTrigger(seconds=parse_duration(intervals.watch)),
                               id="watch", name="watch the store", next_run_time=now, replace_existing=True,
                               **JOB_DEFAULTS)
        self.scheduler.add_job(self.dispatch_job, IntervalTrigger(seconds=parse_duration(intervals.dispatch)),
                               id="dispatch", name="dispatch outbox", next_run_time=now, replace_existing=True,
                               **JOB_DEFAULTS)
        digest = self.pipeline.policy.digest
        hour, minute = (int(x) for x in digest.time.split(":")[:2])
        self.scheduler.add_job(self.digest_job, CronTrigger(hour=hour, minute=minute, timezone=digest.timezone),
                               id="digest", name="daily digest", replace_existing=True, **JOB_DEFAULTS)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until SIGINT/SIGTERM (or ``stop`` is set), then shut down after the job in flight.

        On a store several processes share (PostgreSQL), only the leader runs the jobs
        (:mod:`riskengine.leader`): the others stand by, and one takes over when the leader is gone.
        A leader that loses its lock stops leading at once and stands by again."""
        stop = stop_on_signals(stop)
        leadership = Leadership(self.pipeline.engine.store)
        try:
            while not stop.is_set():
                if not await self._wait_for_lead(leadership, stop):
                    return
                await self._lead(leadership, stop)
        finally:
            leadership.release()

    async def _wait_for_lead(self, leadership: Leadership, stop: asyncio.Event) -> bool:
        """Stand by until this process leads (True) or is stopped (False)."""
        waiting = False
        while not stop.is_set():
            try:
                if await asyncio.to_thread(leadership.acquire):
                    log.info("leading the scheduler%s", " after standing by" if waiting else "")
                    return True
            except Exception:  # the database unreachable: try again, as a standby would
                log.exception("cannot ask for the scheduler's lock; trying again")
            if not waiting:
                log.info("standing by: another process leads the scheduler")
                waiting = True
            try:
                await asyncio.wait_for(stop.wait(), LEAD_RETRY_S)
            except TimeoutError:
                pass
        return False

    async def _lead(self, leadership: Leadership, stop: asyncio.Event) -> None:
        """Run the jobs while this process leads and is not stopped."""
        self.pipeline.seed_subscriptions(self.clock())
        self.add_jobs()
        if self.scheduler.state == STATE_STOPPED:  # the first time it leads
            self.scheduler.start()
        else:
            self.scheduler.resume()
        log.info("riskengine running: %d sources, notifiers: %s", len(self.pipeline.sources),
                 ", ".join(self.pipeline.notifiers) or "none")
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), LEAD_RETRY_S)
                except TimeoutError:
                    pass
                if not await asyncio.to_thread(leadership.held):
                    log.warning("no longer leading the scheduler: its jobs pause until it leads again")
                    self.scheduler.pause()
                    return
        finally:
            if stop.is_set():
                log.info("stopping: waiting for the job in flight")
                self.scheduler.shutdown(wait=True)
                log.info("stopped")
