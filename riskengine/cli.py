"""The ``riskengine`` command (contract: ``shared/CLI.md``).

Human-readable tables by default, ``--json`` for machines: exactly one JSON document on stdout,
logs on stderr. Any bad input ends with exit status 2 and one line on stderr that names it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadTimeError, InputFileError, RiskEngineError
from .exports.cli import add_export_parser, cmd_export
from .web.serve import add_serve_parser, cmd_serve

if TYPE_CHECKING:  # imported when a command runs, so that --help and a bad argument answer at once
    from rich.console import Console
    from rich.table import Table

    from .engine import RiskEngine
    from .gazetteer import Gazetteer
    from .roads import RoadNetwork
    from .rules import RuleBook

LEVEL_STYLES = {1: "green", 2: "cyan", 3: "yellow", 4: "red", 5: "bold white on red"}

log = logging.getLogger("riskengine")


#: The years a time or date may name: date arithmetic (a week before, a decay over years) stays
#: inside what Python's dates can hold, and nothing this engine reads is older or newer.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def _shown(text: str, limit: int = 60) -> str:
    """An argument as an error message quotes it: at most ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def one_line(message: str, limit: int = 400) -> str:
    """An error as one line of at most ``limit`` characters (input echoed in it may be anything)."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 3] + "..."


def parse_time(text: str | None, *, now: dt.datetime) -> dt.datetime:
    """``--at``: a date (its midnight UTC) or an ISO 8601 date-time (UTC when no offset); default now.

    Examples
    --------
    >>> parse_time("2026-11-17", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).isoformat()
    '2026-11-17T00:00:00+00:00'
    >>> parse_time("2026-11-17T08:30+02:00", now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).isoformat()
    '2026-11-17T06:30:00+00:00'
    """
    if text is None:
        return now
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTimeError(f"time {_shown(text)} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:
        value = None
    if value is None or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadTimeError(f"time {_shown(text)} is out of range (years {FIRST_YEAR}-{LAST_YEAR})")
    return value


def parse_date(text: str | None) -> dt.date | None:
    """``--published``: YYYY-MM-DD."""
    if text is None:
        return None
    try:
        value = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise BadTimeError(f"date {_shown(text)} is not YYYY-MM-DD") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadTimeError(f"date {_shown(text)} is out of range (years {FIRST_YEAR}-{LAST_YEAR})")
    return value


EPILOG = """\
events: several reports of one event (by any source) are one event, counted once in every score at
  the confidence its independent sources give together (rules/identity.yaml); answers list each
  event with its sources. `riskengine incidents` lists, shows and corrects events (retract, restore,
  retype, move, merge, split), each change kept with who, when and why.
road status: open, restricted, checkpoint or closed per segment, from reports and analysts
  (`riskengine status`, rules/road_status.yaml); routes go round closed segments and say so.
coverage: every route and segment answer says what it rests on (events, sources, newest report,
  last poll); with too little, a quiet road reads "No recent reports", never "Insignificant".
a --db that does not exist is an error, except for ingest and run (they create it) and --create.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskengine", description=__doc__.splitlines()[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="SQLAlchemy URL or SQLite file path (default: $RISKENGINE_DB or riskengine.db)")
    parser.add_argument("--rules", help="rules directory (default: the project's rules/)")
    parser.add_argument("--seeds", help="seeds directory (default: the project's seeds/)")
    parser.add_argument("--create", action="store_true",
                        help="create the database if it does not exist (ingest and run always do)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("extract", help="extract incidents from one text report; stores nothing")
    p.add_argument("file", metavar="FILE", help="the report ('-' reads standard input)")
    p.add_argument("--published", help="publication date YYYY-MM-DD (default today)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ingest", help="store reports and their incidents (text, ACLED-style CSV, JSON lines)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--published", help="publication date YYYY-MM-DD of the reports")
    p.add_argument("--format", default="auto", choices=["auto", "text", "rss", "acled", "jsonl"])
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("route", help="risk of the road route between two places")
    p.add_argument("start", metavar="FROM")
    p.add_argument("end", metavar="TO")
    p.add_argument("--at", help="date or ISO 8601 time (default now)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("segments", help="every segment with its score and level")
    p.add_argument("--at")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("explain", help="the incidents and rules behind a segment's score")
    p.add_argument("segment", metavar="SEGMENT")
    p.add_argument("--at")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="the scheduler: poll sources, rescore, send alerts")
    p.add_argument("--once", action="store_true", help="one full cycle (poll, extract, score, alert), then exit")
    p.add_argument("--config", help="run configuration (default: $RISKENGINE_CONFIG or the project's "
                                    "seeds/riskengine.yaml)")
    p.add_argument("--at", help="with --once: the time the cycle runs at (default now)")
    p.add_argument("--json", action="store_true", help="with --once: print the board and alerts as JSON")

    p = sub.add_parser("map", help="the interactive map of every segment (HTML), or a route's picture (PNG)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.html for the map, FILE.png with --route")
    p.add_argument("--route", nargs=2, metavar=("FROM", "TO"), help="draw this route as a picture for phones")
    p.add_argument("--at", help="date or ISO 8601 time (default now)")
    p.add_argument("--lang", choices=["en", "ar"], default="en", help="the map's language (default en)")
    p.add_argument("--tiles", metavar="URL", help="an online tile layer under the map ({z}/{x}/{y} URL); "
                                                  "by default the page fetches nothing")

    p = sub.add_parser("incidents", help="list, show and correct events (retract, restore, retype, move, merge, "
                                         "split)")
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = acts.add_parser("list", help="events matching the filters, newest first")
    a.add_argument("--place", help="within 25 km of this place")
    a.add_argument("--segment", help="placed within 25 km of this segment")
    a.add_argument("--road", help="placed within 25 km of any segment of this road id")
    a.add_argument("--since", help="dated on or after YYYY-MM-DD")
    a.add_argument("--until", help="dated on or before YYYY-MM-DD")
    a.add_argument("--source", help="told by a report from this source")
    a.add_argument("--status", default="active", choices=["active", "retracted", "merged", "withdrawn", "all"])
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    a = acts.add_parser("show", help="an event, its reports and its audit trail")
    a.add_argument("id", metavar="ID")
    a.add_argument("--json", action="store_true")
    changes = {
        "retract": "the event no longer counts (its reports are kept)",
        "restore": "a retracted event counts again",
        "retype": "pin the event's type, sub-type and tags",
        "move": "give the event another place",
        "merge": "the other events are the same event as ID",
        "split": "these incidents (reports) leave ID for an event of their own",
    }
    for action, text in changes.items():
        a = acts.add_parser(action, help=text)
        a.add_argument("id", metavar="ID")
        if action == "merge":
            a.add_argument("others", nargs="+", metavar="OTHER")
        elif action == "split":
            a.add_argument("incidents", nargs="+", metavar="INCIDENT")
        elif action == "retype":
            a.add_argument("--type", required=True, dest="event_type")
            a.add_argument("--sub", dest="sub_event_type")
            a.add_argument("--tags", help="comma-separated tags")
        elif action == "move":
            a.add_argument("--to", metavar="PLACE")
            a.add_argument("--lat", type=float)
            a.add_argument("--lon", type=float)
            a.add_argument("--precision", type=int, default=1, choices=[1, 2, 3])
        a.add_argument("--why", required=True, help="why (kept in the audit trail)")
        a.add_argument("--by", help="who (default: $USER, else 'analyst')")
        a.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="road status per segment (open, restricted, checkpoint, closed); "
                                      "with SEGMENT STATUS, an analyst sets it")
    p.add_argument("segment", metavar="SEGMENT", nargs="?", help="a segment id (with STATUS: set its status)")
    p.add_argument("status", metavar="STATUS", nargs="?", choices=["open", "restricted", "checkpoint", "closed"])
    p.add_argument("--at", help="date or ISO 8601 time (default now): the status then; with STATUS, from then")
    p.add_argument("--until", help="with STATUS: when it ends (default: until a newer report or analyst)")
    p.add_argument("--why", help="with STATUS: why (required)")
    p.add_argument("--by", help="with STATUS: who sets it (default $USER)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("places", help="what the gazetteer knows for a name")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--json", action="store_true")

    add_export_parser(sub)
    add_serve_parser(sub)

    p = sub.add_parser("warm", help="a process kept warm that runs later commands without their start-up cost")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--idle", type=float, default=30.0, metavar="MINUTES",
                   help="with start: exit after this many minutes without a command (default 30)")
    p.add_argument("--json", action="store_true")
    return parser


def _table(*columns: str, **options: Any) -> Table:
    """A rich table; rich is imported only once a command has something to print."""
    from rich.table import Table  # noqa: PLC0415

    return Table(*columns, **options)


def _level(level: int, name: str) -> str:
    return f"[{LEVEL_STYLES.get(level, '')}]{level} {name}[/]"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_json(doc: Any) -> None:
    """``doc`` as indented JSON: orjson writes what ``json.dumps(indent=2, ensure_ascii=False)`` would,
    a missing value read as NaN as null, and a route listing thousands of events ten times faster."""
    import orjson  # noqa: PLC0415 - only --json answers need it

    options = (orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
               | orjson.OPT_SERIALIZE_NUMPY)
    sys.stdout.write(orjson.dumps(doc, option=options, default=str).decode() + "\n")


def _read_report(name: str) -> str:
    from .engine import MAX_TEXT_FILE_BYTES, read_input_file  # noqa: PLC0415 - see main

    if name == "-":
        text = sys.stdin.read(MAX_TEXT_FILE_BYTES + 1)
        if len(text.encode("utf-8")) > MAX_TEXT_FILE_BYTES:
            raise InputFileError(f"standard input: over the limit of {MAX_TEXT_FILE_BYTES / 1e6:g} MB for a report")
        return text
    return read_input_file(Path(name), MAX_TEXT_FILE_BYTES)


def cmd_extract(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    published = parse_date(args.published) or now.date()
    found = engine.extract_text(_read_report(args.file), published)
    touched = engine.touched_segments(found) if found else []
    rows = [{**inc.model_dump(mode="json", exclude={"segments", "geometry_wkt", "source", "acled_event"}),
             "segments": segs, "stretch": inc.segments, "area_wkt": inc.geometry_wkt}
            for inc, segs in zip(found, touched, strict=True)]
    # what ACLED would not code as an event (a road reopened) is listed apart: it only eases risk
    doc = {"published": published.isoformat(),
           "incidents": [r for r, inc in zip(rows, found, strict=True) if inc.acled_event],
           "relief": [r for r, inc in zip(rows, found, strict=True) if not inc.acled_event]}
    if args.json:
        _print_json(doc)
        return 0
    if not found:
        console.print("no incident in Libya found in this report")
        return 0
    table = _table("date", "event", "tags", "where", "precision", "confidence", "segments", "evidence")
    for inc in doc["incidents"]:
        table.add_row(inc["date"], f"{inc['event_type']} / {inc['sub_event_type']}", ", ".join(inc["tags"]),
                      inc["summary"], str(inc["geo_precision"]), f"{inc['confidence']:.2f}",
                      ", ".join(inc["segments"][:6]) + (" ..." if len(inc["segments"]) > 6 else ""),
                      _short(inc["evidence"], 120))
    console.print(table)
    return 0


def _ingest_each(engine: RiskEngine, args, published, now: dt.datetime, results: list, failed: list) -> None:
    """Store each file of ``args.files`` on its own (a file that fails is reported and skipped)."""
    for name in args.files:
        try:
            result = engine.ingest_file(name, fmt=args.format, published=published, now=now)
        except RiskEngineError as exc:
            failed.append({"file": name, "problem": str(exc)})
            print(f"riskengine: error: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # a fault of ours: the file is skipped, the others are stored
            log.debug("ingest of %s failed", name, exc_info=True)
            failed.append({"file": name, "problem": f"{type(exc).__name__}: {str(exc)[:200]}"})
            print(f"riskengine: error: {name}: not stored ({type(exc).__name__}: {str(exc)[:200]})", file=sys.stderr)
            continue
        for err in result.errors:
            print(f"skipped {err}", file=sys.stderr)
        results.append(result)


def cmd_ingest(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    """Each file on its own: one that cannot be read (or fails in any way) is reported and skipped,
    the others are stored; the exit status is 2 when any file was skipped."""
    published = parse_date(args.published)
    results, failed = [], []
    with engine.store.weighing_deferred():  # the events of all the files weighed once, at the end
        _ingest_each(engine, args, published, now, results, failed)
    if args.json:
        _print_json({"files": [
            {"file": r.file, "format": r.format, "new_report": r.new_report, "incidents_added": r.incidents_added,
             "incidents_known": r.incidents_known,
             "errors": [{"line": e.line, "problem": e.problem} for e in r.errors]} for r in results],
            "failed": failed})
    else:
        for r in results:
            state = "stored" if r.new_report else "already stored"
            console.print(f"{r.file} ({r.format}): {state}; {r.incidents_added} incidents added, "
                          f"{r.incidents_known} already known, {len(r.errors)} rows skipped")
    return 2 if failed else 0


def cmd_route(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    doc = engine.route(args.start, args.end, parse_time(args.at, now=now))
    if args.json:
        _print_json(doc)
        return 0
    console.print(f"[bold]{doc['from']} -> {doc['to']}[/]  {_level(doc['level'], doc['level_name'])}  "
                  f"score {doc['score']:.1f}  {doc['distance_km']:.0f} km  at {doc['at']}")
    console.print("via " + " - ".join(doc["via"]))
    for closed in doc["avoided_closed"]:
        console.print(f"[bold]goes round {closed['segment']}: closed[/] since {closed['since']} ({_said(closed)})")
    for closed in doc["closed_segments"]:
        console.print(f"[bold red]{closed['segment']} is closed[/] since {closed['since']} ({_said(closed)}); "
                      "no open way round")
    console.print(_coverage_line(doc["coverage"]))
    table = _table("segment", "id", "km", "score", "level", "status", "events")
    for s in doc["segments"]:
        worst = " [bold](worst)[/]" if s["id"] == doc["worst_segment"] else ""
        table.add_row(f"{s['from']} - {s['to']}{worst}", s["id"], f"{s['length_km']:.0f}", f"{s['score']:.1f}",
                      _level(s["level"], s["level_name"]), s["status"]["status"], str(s["incidents"]))
    console.print(table)
    if doc["incidents"]:
        top = _table("date", "type", "weight", "segment", "sources", "summary", title="events behind the score")
        for inc in doc["incidents"][:10]:
            top.add_row(inc["date"], inc["sub_event_type"] or inc["event_type"], f"{inc['weight']:.3f}",
                        inc["segment"], _sources(inc), _short(inc["summary"], 80))
        console.print(top)
    alt = doc["alternative"]
    if alt:
        level = _level(alt["level"], alt["level_name"])
        console.print(f"alternative avoiding {alt['avoids']}: " + " - ".join(alt["via"])
                      + f"  {level} score {alt['score']:.1f}, {alt['distance_km']:.0f} km")
    return 0


def cmd_segments(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    doc = engine.segments(parse_time(args.at, now=now))
    if args.json:
        _print_json(doc)
        return 0
    table = _table("id", "segment", "road", "km", "score", "level", "status", "events", "recent reports",
                   title=f"segments at {doc['at']}")
    for s in doc["segments"]:
        cov = s["coverage"]
        table.add_row(s["id"], s["name"], s["road"], f"{s['length_km']:.0f}", f"{s['score']:.1f}",
                      _level(s["level"], s["level_name"]), s["status"]["status"], str(s["incidents"]),
                      f"{cov['events']} ({cov['newest_event'] or 'none'})")
    console.print(table)
    return 0


def cmd_explain(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    doc = engine.explain(args.segment, parse_time(args.at, now=now))
    if args.json:
        _print_json(doc)
        return 0
    seg = doc["segment"]
    console.print(f"[bold]{seg['name']}[/] ({seg['id']}, {seg['road']}, {seg['length_km']:.0f} km)  "
                  f"{_level(doc['level'], doc['level_name'])}  score {doc['score']:.1f} at {doc['at']}")
    status = doc["status"]
    console.print(f"road status: {status['status']}" + (f" since {status['since']} ({_said(status)})"
                                                        if status["since"] else f" ({status['detail']})"))
    console.print(_coverage_line(doc["coverage"]))
    console.print(doc["formula"])
    if not doc["incidents"]:
        console.print("no incident weighs on this segment at this time")
        return 0
    table = _table("date", "rule", "severity", "age d", "time", "km", "distance", "confidence", "weight", "summary")
    for inc in doc["incidents"]:
        table.add_row(inc["date"], inc["rule"], f"{inc['severity']:.2f}", f"{inc['age_days']:.0f}",
                      f"{inc['time_decay']:.2f}", f"{inc['distance_km']:.1f}", f"{inc['distance_decay']:.2f}",
                      f"{inc['confidence']:.2f}", f"{inc['weight']:.3f}", _short(inc["summary"], 70))
    console.print(table)
    console.print("evidence:")
    for inc in doc["incidents"]:
        told = _short(inc["evidence"] or inc["summary"], 300)
        console.print(f"  {inc['date']} {inc['id']} ({_sources(inc)}): {told}")
    return 0


def _said(status: dict) -> str:
    """Who said a road status: an analyst, or the sources of the event that set it."""
    return status["source"] or "no source"


def _sources(inc: dict) -> str:
    """An event's sources, with how many reports told it."""
    names = ", ".join(inc.get("sources") or []) or "?"
    return f"{inc['reports']} reports: {names}" if inc.get("reports", 1) > 1 else names


def _coverage_line(cov: dict) -> str:
    """What an answer rests on, in one line."""
    polled = f"; sources last polled {cov['sources_polled_at']}" if cov.get("sources_polled_at") else ""
    line = (f"rests on {cov['events']} events from {len(cov['sources'])} sources in the last {cov['window_days']} "
            f"days (newest {cov['newest_event'] or 'none'}){polled}")
    if not cov["covered"]:
        where = cov.get("uncovered_segments")
        line += ("; [bold]no recent reports[/] on " + ", ".join(where) if where else
                 f"; [bold]not enough to call it quiet[/]: {cov.get('why_not')}")
    return line


def cmd_status(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    from .road_status import StatusError, set_status  # noqa: PLC0415 - only this command sets statuses

    at = parse_time(args.at, now=now)
    if args.status:
        if not args.segment:
            raise StatusError("name the SEGMENT whose status you set")
        if not args.why or not args.why.strip():
            raise StatusError("--why is required to set a road status")
        until = parse_time(args.until, now=now) if args.until else None
        who = args.by or os.environ.get("USER") or "analyst"
        doc = set_status(engine, args.segment, args.status, who=who, why=args.why.strip(), now=now,
                         since=at if args.at else None, until=until)
        if args.json:
            _print_json(doc)
        else:
            console.print(f"{doc['segment']}: {doc['status']} from {doc['since']}"
                          + (f" until {doc['until']}" if doc["until"] else " until a newer report") + f" ({who})")
        return 0
    rows = engine.segments(at)["segments"]
    if args.segment:
        segment = engine.network.segment(args.segment)
        rows = [r for r in rows if r["id"] == segment.id]
    doc = {"at": at.isoformat(), "segments": [{"id": r["id"], "name": r["name"], **r["status"]} for r in rows]}
    if args.json:
        _print_json(doc)
        return 0
    table = _table("id", "segment", "status", "since", "until", "said by", "detail",
                   title=f"road status at {doc['at']}")
    for r in doc["segments"]:
        style = {"closed": "bold red", "checkpoint": "yellow", "restricted": "cyan"}.get(r["status"], "")
        table.add_row(r["id"], r["name"], f"[{style}]{r['status']}[/]" if style else r["status"], r["since"] or "",
                      r["until"] or "", r["source"] or "", _short(r["detail"] or "", 70))
    console.print(table)
    return 0


def cmd_places(engine: RiskEngine | Seeds, args, console: Console, now: dt.datetime) -> int:
    found = engine.gazetteer.lookup(args.query)
    if not found:
        engine.gazetteer.resolve(args.query)  # raises UnknownPlaceError with suggestions
    doc = {"query": args.query, "places": [
        {"name": p.name, "kind": p.kind, "lat": p.lat, "lon": p.lon, "parent": p.parent, "admin1": p.admin1,
         "population": p.population, "aliases": list(p.aliases), "members": list(p.members),
         "road_node": engine.network.has_node(p.name)} for p in found]}
    if args.json:
        _print_json(doc)
        return 0
    table = _table("name", "kind", "lat", "lon", "part of", "admin1", "on road network", "aliases")
    for p in doc["places"]:
        table.add_row(p["name"], p["kind"], f"{p['lat']:.4f}", f"{p['lon']:.4f}", p["parent"] or "",
                      p["admin1"] or "", "yes" if p["road_node"] else "no", ", ".join(p["aliases"][:8]))
    console.print(table)
    return 0


def cmd_incidents(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    import os  # noqa: PLC0415 - only for the default analyst name

    from .corrections import CorrectionError, Corrections  # noqa: PLC0415 - only this command corrects events

    fix = Corrections(engine)
    if args.action == "list":
        rows = fix.list(place=args.place, segment=args.segment, road=args.road, since=parse_date(args.since),
                        until=parse_date(args.until), source=args.source, status=args.status, limit=args.limit)
        if args.json:
            _print_json({"events": rows})
            return 0
        table = _table("id", "date", "type", "tags", "reports", "sources", "status", "summary",
                       title=f"{len(rows)} events")
        for r in rows:
            table.add_row(r["id"], r["date"], r["sub_event_type"] or r["event_type"], ", ".join(r["tags"]),
                          str(r["reports"]), ", ".join(r["sources"]), r["status"], _short(r["summary"] or "", 70))
        console.print(table)
        return 0
    if args.action == "show":
        doc = fix.show(args.id)
        if args.json:
            _print_json(doc)
            return 0
        merged = f" into {doc['merged_into']}" if doc["merged_into"] else ""
        console.print(f"[bold]event {doc['id']}[/]  {doc['status']}{merged}  {doc['date']}  "
                      f"{doc['event_type']} / {doc['sub_event_type'] or '-'}  tags: {', '.join(doc['tags']) or '-'}")
        console.print(f"place: {doc['lat']}, {doc['lon']} (precision {doc['geo_precision']}, {doc['location_kind']}); "
                      f"fatalities {doc['fatalities']}; {doc['reports_count']} report(s) from "
                      f"{', '.join(doc['sources']) or '-'}")
        if doc["pinned"]:
            console.print(f"analyst's pins: {json.dumps(doc['pinned'], ensure_ascii=False)}")
        console.print(f"summary: {doc['summary']}")
        console.print("reports:")
        for r in doc["reports"]:
            title = r["title"] or r["source_ref"] or ""
            console.print(f"  {r['id']} ({r['source']}, {r['format']}, published {r['published'] or '-'}, "
                          f"reliability {r['source_reliability'] or '-'}, confidence {r['confidence']}) "
                          f"{title}: {_short(r['evidence'] or '', 200)}")
        console.print("audit:")
        for h in doc["audit"]:
            why = f": {h['why']}" if h["why"] else ""
            console.print(f"  {h['at']} {h['action']} by {h['actor']}{why}")
        return 0
    who = (args.by or os.environ.get("USER") or "analyst").strip() or "analyst"
    if args.action == "retract":
        doc = fix.retract(args.id, who, args.why, now)
    elif args.action == "restore":
        doc = fix.restore(args.id, who, args.why, now)
    elif args.action == "retype":
        tags = [t for t in (args.tags or "").split(",") if t.strip()]
        doc = fix.retype(args.id, args.event_type, args.sub_event_type, tags, who, args.why, now)
    elif args.action == "move":
        if args.to is not None and (args.lat is not None or args.lon is not None):
            raise CorrectionError("give either --to PLACE or --lat and --lon, not both")
        if args.to is None and (args.lat is None or args.lon is None):
            raise CorrectionError("give --to PLACE, or both --lat and --lon")
        where = args.to if args.to is not None else (args.lat, args.lon)
        doc = fix.move(args.id, where, args.precision, who=who, why=args.why, now=now)
    elif args.action == "merge":
        doc = fix.merge(args.id, args.others, who, args.why, now)
    else:
        doc = fix.split(args.id, args.incidents, who, args.why, now)
    if args.json:
        _print_json({"action": args.action, "id": args.id, "by": who, "at": now.isoformat(), "why": args.why,
                     "result": doc})
        return 0
    if args.action == "split":
        console.print(f"split {', '.join(args.incidents)} off event {args.id} into event {doc['new_event']['id']}")
    else:
        console.print(f"{args.action}: event {args.id} is now {doc['status']}: {doc['event_type']} / "
                      f"{doc['sub_event_type'] or '-'} at {doc['lat']}, {doc['lon']} ({doc['reports']} report(s))")
    return 0


def cmd_map(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    """The offline map page (everything it needs inside it), or a route's picture."""

    out, want = Path(args.out), ".png" if args.route else ".html"
    if out.suffix.lower() != want:
        what = "a route picture" if args.route else "the interactive map"
        raise InputFileError(f"{args.out}: {what} is written as {want}, not {out.suffix or 'a file without suffix'}")
    at = parse_time(args.at, now=now)
    try:
        if args.route:
            from .maps import route_picture  # noqa: PLC0415 - matplotlib loads only for a picture

            route_picture(engine, args.route[0], args.route[1], at, out)
        else:
            from .web.offline_map import map_html  # noqa: PLC0415

            out.write_text(map_html(engine, at, lang=args.lang, tiles_url=args.tiles), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{args.out}: cannot be written: {exc.strerror or exc}") from None
    print(out)
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    """Start, stop or ask the warm server (:mod:`riskengine.warm`); it needs no engine of its own."""
    from . import warm  # noqa: PLC0415

    if args.action == "start":
        if not args.idle > 0:
            raise BadTimeError(f"--idle {args.idle:g}: must be a number of minutes above 0")
        try:
            doc = warm.start(args.idle)
        except warm.WarmError as exc:
            raise RiskEngineError(str(exc)) from None
    else:
        doc = warm.ask(args.action)
    if args.json:
        _print_json({"action": args.action, "server": doc})
    elif doc is None:
        print("no warm server of this installation is running")
    else:
        verb = {"start": "running", "stop": "stopped", "status": "running"}[args.action]
        print(f"warm server {verb}: pid {doc['pid']}, {doc['served']} commands served, socket {doc['socket']}, "
              f"exits after {doc['idle_minutes']:g} idle minutes")
    return 0


def cmd_run(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    from .service import run_service  # noqa: PLC0415 - the service pulls in the scheduler and HTTP client

    return run_service(engine, args, console, parse_time(args.at, now=now) if args.at else None)


#: Commands that read no store (they never create one); commands that create the store when it is missing.
STORELESS = {"extract", "places"}
CREATING = {"ingest", "run"}
#: Commands answered from the seeds alone: they skip :class:`RiskEngine`, whose module imports the store
#: (SQLAlchemy) and scoring (pandas), most of a second before anything is done.
SEEDS_ONLY = {"places"}
#: Commands that answer one question and exit: no cyclic garbage collection (what they make holds
#: no cycles worth collecting, and collections during the imports and the answer cost a tenth of it).
QUESTIONS = {"route", "segments", "explain", "places", "incidents", "status"}
#: Questions that never write: their own process ends as soon as the answer is out (:func:`_exit_now`).
READING_QUESTIONS = frozenset({"route", "segments", "explain", "places"})
#: Commands a warm server never runs for another process (see :mod:`riskengine.warm`): those that
#: run until stopped, and the one that manages the server.
NOT_SERVED = frozenset({"run", "serve", "warm"})

#: The defaults of :meth:`RiskEngine.open` (``riskengine.engine``), for the commands that do not import it.
RULES_DIR, SEEDS_DIR = (Path(__file__).resolve().parent.parent / name for name in ("rules", "seeds"))


@dataclass(frozen=True)
class Seeds:
    """What a seeds-only command works on: what :meth:`RiskEngine.open` loads, less the store.

    >>> from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR
    >>> (RULES_DIR, SEEDS_DIR) == (DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR)
    True
    """

    rules: RuleBook
    gazetteer: Gazetteer
    network: RoadNetwork

    @classmethod
    def open(cls, rules_dir: str | None, seeds_dir: str | None) -> Seeds:
        """Load as :meth:`RiskEngine.open` does (the rules too: a bad ``--rules`` fails every command alike)."""
        from .gazetteer import Gazetteer  # noqa: PLC0415 - see main
        from .roads import RoadNetwork  # noqa: PLC0415
        from .rules import RuleBook  # noqa: PLC0415

        rules = RuleBook.load(Path(rules_dir or RULES_DIR))
        seeds = Path(seeds_dir or SEEDS_DIR)
        gazetteer = Gazetteer.load(seeds)
        return cls(rules, gazetteer, RoadNetwork.load(seeds, gazetteer))


COMMANDS = {"run": cmd_run, "extract": cmd_extract, "ingest": cmd_ingest, "route": cmd_route, "segments": cmd_segments,
            "explain": cmd_explain, "places": cmd_places, "map": cmd_map, "incidents": cmd_incidents,
            "status": cmd_status, "export": cmd_export,
            "serve": cmd_serve}


class _LazyConsole:
    """The rich console, made (and rich imported) when first printed to."""

    def __getattr__(self, name: str):
        console = self.__dict__.get("_console")
        if console is None:
            from rich.console import Console  # noqa: PLC0415

            console = self.__dict__["_console"] = Console(highlight=False,
                                                          width=None if sys.stdout.isatty() else 160)
        return getattr(console, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None and args.command not in NOT_SERVED:  # a process of its own: a warm server may run it
        from .warm import hand_over  # noqa: PLC0415

        status = hand_over(sys.argv[1:])
        if status is not None:
            return status
    collecting = gc.isenabled()
    if args.command in QUESTIONS:
        gc.disable()
    try:
        status = _run(args)
    finally:
        if collecting:
            gc.enable()  # main() called by a program that goes on
    if argv is None and args.command in READING_QUESTIONS:
        _exit_now(status)
    return status


def _exit_now(status: int) -> None:
    """End a question's own process at once, its answer written: the interpreter's teardown (a last
    garbage collection over every object the imports and the answer made, then freeing each) takes
    a fifth of a second after a route listing thousands of events, and the command has nothing left
    to do, having written nothing but its output. Returns when the output cannot be flushed (a
    closed pipe, a full disk): the usual exit then reports it as before."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    # --help and an argument error need neither rich nor the engine and all it imports; a
    # seeds-only command never imports the engine; a --json answer never prints through rich
    console = _LazyConsole()
    now = dt.datetime.now(dt.UTC)
    try:
        if args.command == "warm":
            return cmd_warm(args)
        if args.command in SEEDS_ONLY:
            engine = Seeds.open(args.rules, args.seeds)
        else:
            from .engine import RiskEngine  # noqa: PLC0415

            engine = RiskEngine.open(args.db, args.rules, args.seeds, store=args.command not in STORELESS,
                                     create=args.create or args.command in CREATING)
        return COMMANDS[args.command](engine, args, console, now)
    except RiskEngineError as exc:
        print(f"riskengine: error: {one_line(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
