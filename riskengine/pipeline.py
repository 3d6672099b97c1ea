"""One cycle of the running service: poll sources, store what is new, decide alerts, send them.

The scheduler calls these steps on their own intervals; ``riskengine run --once`` calls them
once in order. Every step takes ``now``. A source or an item that fails is logged with its name
and skipped; it never stops the other sources or the cycle.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .alerts import AlertDecider, AlertPolicy
from .config import ConfigError, RunConfig, SubscriptionSeed
from .engine import RiskEngine
from .errors import RiskEngineError
from .notify import ConsoleNotifier, Notifier, OutboxAlert, PermanentDeliveryError, WebhookNotifier
from .outbox import DispatchReport, Outbox
from .regions import regions_of
from .sources import FetchedReport, Source, SourceError, SourceState, build_source, parse_duration, poll_source
from .subscriptions import Subscriptions, parse_quiet_hours

log = logging.getLogger("riskengine.pipeline")
#: The notifier channel broadcasts go through: a Telegram channel fans one message out to its readers.
BROADCAST_CHANNEL = "telegram"


@dataclass
class PollOutcome:
    source: str
    reports_new: int = 0
    incidents_new: int = 0
    items_failed: int = 0
    error: str | None = None


@dataclass
class CycleReport:
    polls: list[PollOutcome] = field(default_factory=list)
    alerts_new: int = 0
    dispatch: DispatchReport = field(default_factory=DispatchReport)


class Pipeline:
    """The engine plus its sources, subscriptions, outbox and notifiers."""

    def __init__(self, engine: RiskEngine, config: RunConfig, base_dir: Path, policy: AlertPolicy, *,
                 client: httpx.Client, notifiers: dict[str, Notifier] | None = None):
        self.engine, self.config, self.policy, self.client = engine, config, policy, client
        self.sources: list[Source] = [build_source(c, base_dir) for c in config.sources]
        self.subscriptions = Subscriptions(engine.store)
        self.outbox = Outbox(engine.store, policy)
        self.decider = AlertDecider(engine, policy, self.subscriptions, known=self.outbox.existing_keys)
        self.notifiers: dict[str, Notifier] = notifiers if notifiers is not None else self._default_notifiers()
        self._dispatching = threading.Lock()  # one dispatch of this process at a time (others claim theirs)
        self._deciding = threading.Lock()

    def _default_notifiers(self) -> dict[str, Notifier]:
        found: dict[str, Notifier] = {}
        if self.config.notifiers.console:
            found["console"] = ConsoleNotifier()
        if self.config.notifiers.webhook:
            hook = self.config.notifiers.webhook
            found["webhook"] = WebhookNotifier(hook.url, self.client, parse_duration(hook.timeout))
        return found

    # ---- subscriptions from the configuration -------------------------------------------------

    def seed_subscriptions(self, now: dt.datetime) -> int:
        """Make the subscriptions the configuration lists, and its broadcast channels (idempotent)."""
        for seed in self.config.subscriptions:
            self._seed(seed, now)
        return len(self.config.subscriptions) + self.seed_broadcasts(now)

    def seed_broadcasts(self, now: dt.datetime) -> int:
        """Subscribe each broadcast channel of the configuration to its region (on Telegram), and
        remove the region subscriptions of channels no longer listed, so their broadcasts stop (the
        region subscriptions on Telegram are the configuration's: users do not make them). Alerts
        already sent stay in the outbox; a channel listed again starts afresh (told the level now).

        Raises :class:`~riskengine.config.ConfigError` for a region ``rules/regions.yaml`` lacks.
        """
        known = regions_of(self.engine).ids if self.config.broadcast else []
        for region_id in self.config.broadcast:
            if region_id not in known:
                raise ConfigError(f"broadcast: unknown region {region_id!r}; the regions are "
                                  f"{', '.join(known)} (rules/regions.yaml)")
        wanted = set()
        for region_id, seed in self.config.broadcast.items():
            sub = self.subscriptions.add(
                chat_id=seed.chat, channel=BROADCAST_CHANNEL, kind="region", target=region_id,
                min_level=seed.min_level, now=now)  # no quiet hours: a channel's readers silence it themselves
            if seed.language:
                self.engine.store.set_chat_language(seed.chat, seed.language, now)
            wanted.add(sub.id)
        for sub in self.subscriptions.all(include_paused=True):
            if sub.kind == "region" and sub.channel == BROADCAST_CHANNEL and sub.id not in wanted:
                self.subscriptions.remove(sub.id)
                log.info("broadcast of region %s to %s stopped: no longer in the configuration",
                         sub.target, sub.chat_id)
        return len(wanted)

    def _seed(self, seed: SubscriptionSeed, now: dt.datetime) -> None:
        if seed.route:
            start, end = (self.engine.gazetteer.resolve(p).name for p in seed.route)
            kind, target = "route", f"{start}|{end}"
        elif seed.segment:
            kind, target = "segment", self.engine.network.segment(seed.segment).id
        else:
            kind, target = "place", self.engine.gazetteer.resolve(seed.place).name
        self.subscriptions.add(chat_id=seed.chat, channel=seed.channel, kind=kind, target=target,
                               min_level=seed.min_level, radius_km=seed.radius_km, timezone=seed.timezone,
                               quiet=parse_quiet_hours(seed.quiet) if seed.quiet else None, now=now)

    # ---- the steps ----------------------------------------------------------------------------

    def poll(self, source: Source, now: dt.datetime) -> PollOutcome:
        """Fetch one source and store its new reports, each in isolation; the state always advances.

        A failure of the whole source (unreachable, missing) is logged and remembered; any exception
        of one report's ingest (not only the engine's own errors) skips that report, logged with the
        file or item and the line (:func:`riskengine.sources.poll_source`), and the file is
        remembered as failed until it changes, so the files after it are still read.
        """
        engine, outcome = self.engine, PollOutcome(source.name)
        saved = engine.store.source_state(source.name) or {}
        state = SourceState(etag=saved.get("etag"), last_modified=saved.get("last_modified"),
                            seen=dict(saved.get("seen") or {}))

        def ingest(item: FetchedReport):
            result = engine.ingest_content(
                item.text, kind=item.format, source=source.name, source_ref=item.url or item.key,
                source_key=item.key, published=item.published, now=now, source_reliability=item.reliability,
                title=item.title)
            for err in result.errors:
                log.warning("source %s: %s skipped", source.name, err)
            return result

        try:
            with engine.store.weighing_deferred():  # the poll's events weighed once, at its end
                polled = poll_source(source, state, client=self.client, ingest=ingest,
                                     known=lambda item: engine.store.has_report(source.name, item.key))
        except SourceError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # a bug in one source must not stop the others
            log.exception("source %s crashed", source.name)
            outcome.error = f"source {source.name}: {exc.__class__.__name__}: {exc}"
        if outcome.error:
            log.warning("%s (will retry next turn)", outcome.error)
            engine.store.save_source_state(source.name, etag=state.etag, last_modified=state.last_modified,
                                           seen=state.seen, polled_at=now, error=outcome.error)
            return outcome
        for _item, result in polled.ingested:
            outcome.reports_new += int(result.new_report)
            outcome.incidents_new += result.incidents_added
        outcome.items_failed = len(polled.failures)
        new_state = polled.state
        engine.store.save_source_state(source.name, etag=new_state.etag, last_modified=new_state.last_modified,
                                       seen=new_state.seen, polled_at=now, error=None)
        if outcome.reports_new:
            engine.refresh()  # the poll's reports read in now, not by the next question
        if outcome.reports_new or outcome.items_failed:
            log.info("source %s: %d new reports, %d new incidents, %d items skipped", source.name,
                     outcome.reports_new, outcome.incidents_new, outcome.items_failed)
        return outcome

    def poll_all(self, now: dt.datetime) -> list[PollOutcome]:
        return [self.poll(source, now) for source in self.sources]

    def evaluate(self, now: dt.datetime) -> int:
        """Decide the alerts owed now and write them to the outbox; returns how many were new."""
        with self._deciding:
            return len(self.outbox.enqueue(self.decider.decide(now), now))

    def digest(self, now: dt.datetime) -> int:
        with self._deciding:
            return len(self.outbox.enqueue(self.decider.digest(now), now))

    def dispatch(self, now: dt.datetime) -> DispatchReport:
        with self._dispatching:
            return self.outbox.dispatch(self.notifiers, now, on_permanent=self._on_permanent)

    def _on_permanent(self, alert: OutboxAlert, error: PermanentDeliveryError) -> None:
        """A chat that can never be reached (it blocked us) stops getting alerts until it returns."""
        paused = self.subscriptions.pause_chat(alert.chat_id)
        if paused:
            log.warning("paused %d subscriptions of chat %s: %s", paused, alert.chat_id, error)

    def cycle(self, now: dt.datetime) -> CycleReport:
        """Poll every source, decide, send: what ``run --once`` does."""
        report = CycleReport(polls=self.poll_all(now))
        report.alerts_new = self.evaluate(now)
        report.dispatch = self.dispatch(now)
        return report

    def board(self, now: dt.datetime) -> list[dict]:
        """The main routes' risk, for the risk board."""
        rows = []
        for start, end in self.config.board:
            try:
                rows.append(self.engine.route(start, end, now))
            except RiskEngineError as exc:
                log.warning("board route %s -> %s: %s", start, end, exc)
        return rows
