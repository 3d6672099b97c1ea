"""Dispatchers racing over one outbox: alerts per second claimed and sent by 1 and by 2 dispatcher
processes, and how many went twice or never.

The race is the one of ``tests/test_outbox_claims.py`` (imported from there, so the benchmark and
the test cannot drift): N alerts (default 10,000) are queued in the real :class:`~riskengine.outbox.Outbox`,
then K dispatcher processes, each with its own store, start at the same moment and dispatch until
nothing is left to claim, through the webhook notifier to an HTTP receiver on 127.0.0.1 that counts
every delivery by key. SQLite on a file in a temporary directory; PostgreSQL too when ``--pg URL``
(or ``$RISKENGINE_TEST_PG``) names a database that may be emptied.

Run: ``python bench/outbox_claims.py [--alerts N] [--dispatchers 1,2] [--pg URL]``. It exits with 0
only when every alert was delivered exactly once in every run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.conftest import TEST_PG_VAR, _empty_database  # noqa: E402 - after the path is set
from tests.test_outbox_claims import race  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts queued (10,000)")
    parser.add_argument("--dispatchers", default="1,2", help="dispatcher processes per run, comma-separated (1,2)")
    parser.add_argument("--pg", default=os.environ.get(TEST_PG_VAR), help=f"PostgreSQL URL (${TEST_PG_VAR})")
    args = parser.parse_args(argv)
    counts = [int(k) for k in args.dispatchers.split(",") if k.strip()]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'store':10} {'dispatchers':>11} {'alerts':>7} {'seconds':>8} {'alerts/s':>9} {'duplicated':>10} "
          f"{'lost':>5}  split")
    clean = True
    with tempfile.TemporaryDirectory(prefix="outbox-claims-") as tmp:
        backends = [("sqlite", lambda k: f"sqlite:///{Path(tmp) / f'race-{k}.db'}")]
        if args.pg:
            backends.append(("postgresql", lambda k: (_empty_database(args.pg), args.pg)[1]))
        for name, url_for in backends:
            for k in counts:
                result = race(url_for(k), k, args.alerts)
                split = "/".join(str(d["sent"]) for d in result["dispatchers"])
                rate = args.alerts / result["seconds"]
                print(f"{name:10} {k:>11} {args.alerts:>7} {result['seconds']:>8.1f} {rate:>9.0f} "
                      f"{result['duplicated']:>10} {result['lost']:>5}  {split}", flush=True)
                clean &= result["duplicated"] == 0 and result["lost"] == 0 and result["unexpected"] == 0
    print("every alert delivered exactly once" if clean else "LOST OR DUPLICATED ALERTS")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
