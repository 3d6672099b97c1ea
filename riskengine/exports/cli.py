"""``riskengine export geojson|acled|cap``: the exports on the command line.

:func:`add_export_parser` adds the sub-command to ``riskengine``'s parser and :func:`cmd_export`
runs it, with the signature of the other commands (``riskengine/cli.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputFileError

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from ..engine import RiskEngine

__all__ = ["EXPORT_KINDS", "add_export_parser", "cmd_export"]

#: What ``export`` writes: GeoJSON of segments and events, an ACLED-shaped CSV of events, a CAP 1.2 feed of alerts.
EXPORT_KINDS = ("geojson", "acled", "cap")


def add_export_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``export KIND [--out FILE] [--at TIME] [--since DATE] [--hxl]`` to ``riskengine``'s sub-commands."""
    p = sub.add_parser("export", help="the data in standard formats: GeoJSON (segments and events), "
                                      "ACLED-shaped CSV (events), CAP 1.2 (alerts)")
    p.add_argument("kind", choices=EXPORT_KINDS, metavar="KIND", help="geojson, acled or cap")
    p.add_argument("--out", metavar="FILE", help="write to FILE (default: standard output)")
    p.add_argument("--at", help="date or ISO 8601 time (default now): scores as of then, events dated up to then")
    p.add_argument("--since", metavar="DATE", help="acled: only events dated on or after DATE (YYYY-MM-DD)")
    p.add_argument("--hxl", action="store_true", help="acled: add a row of HXL hashtags under the header")
    return p


def _render(engine: RiskEngine, args, at: dt.datetime) -> str:
    from ..cli import parse_date  # noqa: PLC0415 - the command line's own reading of dates

    if args.kind == "geojson":
        from .geojson import geojson_document  # noqa: PLC0415 - each export loads what it needs

        return json.dumps(geojson_document(engine, at), ensure_ascii=False) + "\n"
    if args.kind == "acled":
        from .acled import events_acled_csv  # noqa: PLC0415

        return events_acled_csv(engine, hxl=args.hxl, since=parse_date(getattr(args, "since", None)),
                                until=at.date())
    from .cap import cap_feed  # noqa: PLC0415

    return cap_feed(engine, at)


def cmd_export(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    """Write the export to ``--out`` (its path is printed) or to standard output."""
    from ..cli import parse_time  # noqa: PLC0415 - riskengine.cli imports this module's parser

    text = _render(engine, args, parse_time(args.at, now=now))
    if not args.out or args.out == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise InputFileError(f"{args.out}: cannot be written: {exc.strerror or exc}") from None
    print(args.out)
    return 0
