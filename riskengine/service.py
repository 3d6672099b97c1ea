"""``riskengine run``: wire the engine, its configuration, notifiers and scheduler, and run them.

``--once`` runs one cycle and prints the risk board of the main routes and the alerts sent or
held; without it the scheduler runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from .alerts import AlertPolicy
from .config import default_config_path, load_config
from .engine import RiskEngine
from .notify import ConsoleNotifier, guard_secret
from .pipeline import CycleReport, Pipeline
from .scheduler import Service, utc_now

LEVEL_STYLES = {1: "green", 2: "yellow", 3: "dark_orange", 4: "red", 5: "bold magenta"}


def telegram_configured(section: dict | None) -> bool:
    """A Telegram token in the environment or the run configuration turns the bot on."""
    return bool(os.environ.get("TELEGRAM_BOT_TOKEN") or (section or {}).get("token"))


def build_pipeline(engine: RiskEngine, config_path: Path | None, client: httpx.Client,
                   console_stream: io.TextIOBase | None = None) -> Pipeline:
    config, base_dir = load_config(config_path or default_config_path(engine.seeds_dir))
    policy = AlertPolicy.load(engine.rules.directory)
    pipeline = Pipeline(engine, config, base_dir, policy, client=client)
    if console_stream is not None and "console" in pipeline.notifiers:
        pipeline.notifiers["console"] = ConsoleNotifier(console_stream)
    return pipeline


def run_service(engine: RiskEngine, args, console: Console, at: dt.datetime | None) -> int:
    guard_secret(os.environ.get("TELEGRAM_BOT_TOKEN"))  # from the first log line on, never the token
    config_path = Path(args.config) if args.config else None
    engine.lexicon  # noqa: B018 - a broken extraction rule file stops the service at start, not every poll
    with httpx.Client(follow_redirects=True) as client:
        if not args.once:
            pipeline = build_pipeline(engine, config_path, client)
            if telegram_configured(pipeline.config.telegram):
                guard_secret(str((pipeline.config.telegram or {}).get("token") or ""))
                # the bot and the scheduler in one process, on one event loop (imported only when used:
                # the engine itself never needs Telegram)
                from bot.service import run as run_with_bot  # noqa: PLC0415
                from bot.settings import BotSettings  # noqa: PLC0415

                run_with_bot(pipeline, BotSettings.load(pipeline.config.telegram))
            else:
                asyncio.run(Service(pipeline).run())
            return 0
        now = at or utc_now()
        sent_text = io.StringIO()
        pipeline = build_pipeline(engine, config_path, client, console_stream=sent_text if args.json else None)
        pipeline.seed_subscriptions(now)
        report = pipeline.cycle(now)
        board = pipeline.board(now)
    if args.json:
        print(json.dumps(_as_json(report, board, now), ensure_ascii=False, indent=2, default=str))
    else:
        _print_cycle(console, report, board, now)
    return 0


def _as_json(report: CycleReport, board: list[dict], now: dt.datetime) -> dict:
    return {
        "at": now.isoformat(),
        "sources": [vars(p) for p in report.polls],
        "alerts_new": report.alerts_new,
        "alerts_sent": [{"key": a.key, "chat_id": a.chat_id, "channel": a.channel, "kind": a.kind, "text": a.text}
                        for a in report.dispatch.sent],
        "alerts_held": report.dispatch.held,
        "alerts_failed": [a.key for a in report.dispatch.retrying + report.dispatch.dead],
        "board": [{k: r[k] for k in ("from", "to", "score", "level", "level_name", "distance_km", "via",
                                     "worst_segment")} for r in board],
    }


def _print_cycle(console: Console, report: CycleReport, board: list[dict], now: dt.datetime) -> None:
    sources = Table("source", "new reports", "new incidents", "problem",
                    title=f"sources polled at {now:%Y-%m-%d %H:%M} UTC")
    for p in report.polls:
        sources.add_row(p.source, str(p.reports_new), str(p.incidents_new), p.error or "")
    console.print(sources)
    table = Table("route", "level", "score", "km", "worst stretch", title="risk board")
    for r in board:
        worst = next((s["name"] for s in r["segments"] if s["id"] == r["worst_segment"]), "")
        style = LEVEL_STYLES.get(r["level"], "")
        table.add_row(f"{r['from']} -> {r['to']}", f"[{style}]{r['level']} {r['level_name']}[/]", f"{r['score']:.0f}",
                      f"{r['distance_km']:.0f}", worst)
    console.print(table)
    d = report.dispatch
    console.print(f"alerts: {report.alerts_new} new, {len(d.sent)} sent, {d.held} held (quiet hours or retry), "
                  f"{len(d.retrying)} to retry, {len(d.dead)} given up")
    sys.stdout.flush()
