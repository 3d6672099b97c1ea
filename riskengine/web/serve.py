"""``riskengine serve``: the live web board on a local port (uvicorn running :mod:`riskengine.web.app`).

:func:`add_serve_parser` adds the sub-command to ``riskengine``'s parser and :func:`cmd_serve` runs
it, with the signature of the other commands (``riskengine/cli.py``). Until the command line has
it, ``python -m riskengine.web.serve [--db URL] [--rules DIR] [--seeds DIR] [serve options]`` runs it.

With ``--webhook`` the process is a stateless Telegram bot worker instead of the board
(:mod:`bot.webhook`): it serves ``POST /telegram/webhook`` (``--webhook-path``) and ``GET /healthz``
only, for a proxy that spreads Telegram's updates over N such workers; the board stays a
``riskengine serve`` of its own, with its own exposure rules. ``--webhook-url`` registers the public
URL with Telegram at start (setWebhook with the secret token; harmless to repeat).

It listens on 127.0.0.1 unless told otherwise, and never on another interface by default: a host
that is not a loopback address needs both an analyst token and ``--public``. This module imports
neither Starlette nor uvicorn until the server starts, so ``riskengine --help`` stays quick.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import RiskEngineError

if TYPE_CHECKING:
    from rich.console import Console

    from ..engine import RiskEngine

__all__ = ["ServeError", "add_serve_parser", "cmd_serve", "main"]

TOKEN_VAR = "RISKENGINE_ANALYST_TOKEN"


class ServeError(RiskEngineError, ValueError):
    """A server that must not or cannot start: a public host without a token, a port in use."""


def add_serve_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``serve [--host H] [--port P] [--analyst-token T] [--public] [--lang en|ar] [--at TIME] [--config FILE]``."""
    p = sub.add_parser("serve", help="the live web board: map, main routes, recent events, route questions, "
                                     "explanations, JSON, GeoJSON, CSV and CAP (read-only unless an analyst)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; another than loopback needs "
                        "--analyst-token and --public)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port, printed)")
    p.add_argument("--analyst-token", metavar="TOKEN",
                   help=f"who may set road statuses and retract events (default ${TOKEN_VAR}; none: read-only); "
                        "at least 16 characters")
    p.add_argument("--public", action="store_true",
                   help="allow a non-loopback --host (with an analyst token only)")
    p.add_argument("--lang", choices=["en", "ar"],
                   help="the pages' language (default: the browser's; ?lang= in a request wins)")
    p.add_argument("--at", help="answer as of this fixed time (replay a day); default: the time of each request")
    p.add_argument("--config", help="run configuration whose `board` lists the main routes "
                                    "(default: $RISKENGINE_CONFIG or the project's seeds/riskengine.yaml)")
    p.add_argument("--webhook", action="store_true",
                   help="run a stateless Telegram bot worker instead of the board: POST updates to --webhook-path, "
                        "checked against the secret token (TELEGRAM_WEBHOOK_SECRET or telegram: {webhook_secret})")
    p.add_argument("--webhook-url", metavar="URL",
                   help="with --webhook: the public URL Telegram posts to, registered at start (setWebhook)")
    p.add_argument("--webhook-path", default="/telegram/webhook", metavar="PATH",
                   help="with --webhook: the path updates are posted to (default /telegram/webhook)")
    return p


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address (or the name ``localhost``) that only this machine can reach.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, public: bool) -> None:
    """Refuse a setting that would open the board where it should not be (raises :class:`ServeError`)."""
    from .analyst import MIN_TOKEN_LENGTH  # noqa: PLC0415

    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ServeError(f"the analyst token is too short: at least {MIN_TOKEN_LENGTH} characters")
    if is_loopback(host):
        return
    if not token or not public:
        raise ServeError(f"refusing to listen on {host!r}, which is not a loopback address: that needs an "
                         f"analyst token (--analyst-token or ${TOKEN_VAR}) and --public")


def board_routes(engine: RiskEngine, config: str | None) -> list[tuple[str, str]]:
    """The main routes of the run configuration's board, as the service shows them."""
    from pathlib import Path  # noqa: PLC0415

    from ..config import default_config_path, load_config  # noqa: PLC0415

    path = Path(config) if config else default_config_path(engine.seeds_dir)
    return [tuple(pair) for pair in load_config(path)[0].board]


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def cmd_serve(engine: RiskEngine, args, console: Console, now: dt.datetime) -> int:
    """Serve the board until SIGINT or SIGTERM; prints the address it listens on first."""
    from ..cli import parse_time  # noqa: PLC0415 - riskengine.cli imports this module's parser

    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port {args.port}: not a port number (0-65535)")
    if getattr(args, "webhook", False):
        return serve_webhook(engine, args)
    if getattr(args, "webhook_url", None):
        raise ServeError("--webhook-url: only with --webhook")
    token = args.analyst_token if args.analyst_token is not None else os.environ.get(TOKEN_VAR) or None
    check_exposure(args.host, token, args.public)
    fixed = parse_time(args.at, now=now) if args.at else None
    clock: Callable[[], dt.datetime] = (lambda: fixed) if fixed else (lambda: dt.datetime.now(dt.UTC))
    routes = board_routes(engine, args.config)

    import uvicorn  # noqa: PLC0415 - the server loads only for this command

    from .app import create_app  # noqa: PLC0415

    app = create_app(engine, routes=routes, clock=clock, analyst_token=token, lang=args.lang,
                     public=not is_loopback(args.host))
    sock = _listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    mode = "analysts may write with the token" if token else "read-only"
    print(f"riskengine: serving the board on http://{_shown(args.host)}:{port}/ ({mode}; Ctrl-C stops)", flush=True)
    return _run_server(uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False)),
                       sock)


def serve_webhook(engine: RiskEngine, args) -> int:
    """Run one stateless Telegram bot worker (:mod:`bot.webhook`) until SIGINT or SIGTERM."""
    from pathlib import Path  # noqa: PLC0415

    from ..config import default_config_path, load_config  # noqa: PLC0415

    if not args.webhook_path.startswith("/"):
        raise ServeError(f"--webhook-path {args.webhook_path!r}: a path starts with /")
    if not is_loopback(args.host) and not args.public:
        raise ServeError(f"refusing to listen on {args.host!r}, which is not a loopback address: a worker behind a "
                         "proxy on another machine needs --public (its requests are checked against the secret token)")
    config = load_config(Path(args.config) if args.config else default_config_path(engine.seeds_dir))[0]

    import uvicorn  # noqa: PLC0415 - the server loads only for this command

    from bot.webhook import build_worker, create_webhook_app, worker_settings  # noqa: PLC0415 - the engine needs no bot

    settings = worker_settings(config.telegram, args.webhook_url)
    clock: Callable[[], dt.datetime] = _wall_clock
    application = build_worker(engine, settings, board_routes=[tuple(pair) for pair in config.board], clock=clock)
    app = create_webhook_app(application, settings, path=args.webhook_path, clock=clock)
    sock = _listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    print(f"riskengine: serving the Telegram webhook on http://{_shown(args.host)}:{port}{args.webhook_path} "
          "(a bot worker; Ctrl-C stops)", flush=True)
    return _run_server(uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", server_header=False)),
                       sock)


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _shown(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host


def _run_server(server, sock: socket.socket) -> int:
    """Run a uvicorn server on a listening socket until SIGINT or SIGTERM; a stop is a clean exit (0)."""
    # uvicorn stops on SIGINT or SIGTERM, then sends the signal again to the handler it found: let that be
    # one that does nothing, so that a stop is a clean exit (status 0), not a traceback or a kill
    quiet = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    before = {sig: signal.signal(sig, lambda *_: None) for sig in quiet}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m riskengine.web.serve [--db URL] [--rules DIR] [--seeds DIR] serve [options]``: what
    ``riskengine ... serve`` does, before the command line has the command."""
    from ..cli import one_line  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m riskengine.web.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--db")
    parser.add_argument("--rules")
    parser.add_argument("--seeds")
    parser.add_argument("--create", action="store_true")
    add_serve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        from ..engine import RiskEngine  # noqa: PLC0415

        engine = RiskEngine.open(args.db, args.rules, args.seeds, create=args.create)
        return cmd_serve(engine, args, None, dt.datetime.now(dt.UTC))
    except RiskEngineError as exc:
        print(f"riskengine: error: {one_line(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
