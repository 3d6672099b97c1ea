"""Instructions, not seconds: what a change costs, told apart from the noise of a shared machine.

On a virtual machine whose neighbours come and go, the CPU time of the same work drifts by a
quarter from one run to the next: a change that saves 5% cannot be seen in seconds. The number of
instructions the work executes hardly moves. This benchmark counts them with valgrind's callgrind
for this working tree and a git revision, side by side, on the same work:

* ``extract``: reading generated reports (those of ``bench/extract_throughput.py``);
* ``route``: a new engine's first answer about a route, on a store kept by ``bench/query.py --store``;
* ``process``: a whole ``riskengine route Sirte Sebha`` process (``python -m riskengine.cli``) on an
  empty store each side made, imports and all (counted whole: no run stops before it).

Each side runs twice under callgrind, once doing the work and once stopping just before it, and the
difference is the work's own count (imports, loading and caches cancel out). Python's string
hashes are fixed (``PYTHONHASHSEED=0``) so that both runs hash alike; each side first does the
work once without valgrind, to build its compiled cache and the bytecode of what it imports.
Two copies of the same code differ by about 2 million instructions in all (a fixed offset: their
paths differ), under 0.1% of the default 300 reports' work but 1% of 20 reports': compare on the
default sizes. Counts are not time (a cache miss costs more than an addition), so a change that
reads memory differently should still be timed with the other benchmarks.

Needs valgrind (Debian's ``valgrind`` package). Run:
``python bench/instructions.py --baseline REV [--scenario extract|route|process] [--reports N] [--language en|ar]
[--store FILE [--baseline-store FILE]]``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _sibling(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (``bench`` is not a package: its folder goes on the path)."""
    folder = str(Path(__file__).resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(name)


# ---- the work, in a process of its own (--worker) ---------------------------------------------

def work_extract(args: argparse.Namespace) -> None:
    bench = _sibling("extract_throughput")
    from riskengine.engine import DEFAULT_SEEDS_DIR, RiskEngine  # noqa: PLC0415
    from riskengine.gazetteer import Gazetteer  # noqa: PLC0415

    engine = RiskEngine.open(db="sqlite:///:memory:")
    gazetteer = Gazetteer.load(DEFAULT_SEEDS_DIR)
    geo = bench.geography(gazetteer, engine)
    if args.language == "ar":
        geo = bench.arabic_geography(geo, gazetteer)
    templates = bench.ARABIC if args.language == "ar" else bench.ENGLISH
    reports = bench.make_reports(args.reports, args.seed, geo, templates)
    bench.time_extraction(engine, bench.make_reports(bench.WARM_UP, args.seed + 1, geo, templates))
    if args.step == "run":
        bench.time_extraction(engine, reports)


def work_route(args: argparse.Namespace) -> None:
    from riskengine.engine import RiskEngine  # noqa: PLC0415

    engine = RiskEngine.open(f"sqlite:///{args.store}")
    towns = engine.network.nodes()
    start, end = random.Random(args.seed).sample(towns, 2)
    # what does not depend on the store, loaded first (as bench/query.py does)
    engine.gazetteer.resolve(towns[0])
    engine.network.graph  # noqa: B018
    engine.network.path(towns[0], towns[1])
    at = _sibling("scoring").NOW  # the time bench/query.py asks at (imported in both runs, so it cancels out)
    if args.step == "run":
        engine.route(start, end, at)


# ---- the two sides ----------------------------------------------------------------------------

class Side:
    """This tree or a revision's, with a compiled cache of its own (and a copy of the store)."""

    def __init__(self, name: str, tree: Path, scratch: Path, args: argparse.Namespace, store: Path | None):
        self.name, self.tree, self.args = name, tree, args
        self.cache = scratch / f"cache-{name}"
        self.store = None
        if args.scenario == "process":  # an empty store, made by this side's code (see count)
            self.store = scratch / f"empty-{name}.db"
        elif store is not None:  # a copy: opening a store may write to it
            self.store = scratch / f"store-{name}.db"
            shutil.copyfile(store, self.store)

    def command(self, step: str) -> list[str]:
        if self.args.scenario == "process":  # run in the tree (``-m`` puts the working directory first on the path)
            cli = [sys.executable, "-m", "riskengine.cli", "--db", str(self.store)]
            return cli + (["--create", "segments"] if step == "create" else ["route", "Sirte", "Sebha"])
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", "--scenario", self.args.scenario,
                "--step", step, "--reports", str(self.args.reports), "--language", self.args.language,
                "--seed", str(self.args.seed)]
        return argv + (["--store", str(self.store)] if self.store is not None else [])

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(self.tree), "RISKENGINE_CACHE_DIR": str(self.cache),
               "PYTHONHASHSEED": "0", "RISKENGINE_WARM": "0"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # both sides run from bytecode, not one compiling its source
        return env

    def run(self, step: str, counted: bool) -> int | None:
        """Instructions of a run of the worker (None when not counted); a failing run stops the benchmark."""
        counter = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] if counted else []
        argv = counter + self.command(step)
        done = subprocess.run(argv, cwd=self.tree, env=self.env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: the {self.args.scenario} worker failed:\n{done.stderr.strip()[-2000:]}")
        if not counted:
            return None
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"{self.name}: callgrind printed no count:\n{done.stderr.strip()[-1000:]}")
        return int(found.group(1))

    def count(self) -> int:
        """Instructions of the work alone: a run doing it less a run stopping just before it."""
        # a first run, not counted, builds the compiled cache and the bytecode of every module the
        # work imports, so that neither counted run does (else the side that compiles a module in
        # the middle of the work would count it); a whole process is counted whole
        if self.args.scenario == "process":
            self.run("create", counted=False)
            self.run("run", counted=False)
            return self.run("run", counted=True)
        self.run("run", counted=False)
        return self.run("run", counted=True) - self.run("skip", counted=True)


def unpack(rev: str, into: Path) -> Path:
    """The package, rules and seeds of a git revision, unpacked into ``into``."""
    bench = _sibling("extract_throughput")
    bench.extract_revision(rev, into)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="the git revision to compare this tree with (e.g. HEAD)")
    parser.add_argument("--scenario", choices=("extract", "route", "process"), default="extract")
    parser.add_argument("--reports", type=int, default=300, help="reports read (extract; default 300)")
    parser.add_argument("--language", choices=("en", "ar"), default="en", help="language of the reports (extract)")
    parser.add_argument("--store", type=Path, help="a store kept by `bench/query.py --store FILE` (route)")
    parser.add_argument("--baseline-store", type=Path, metavar="FILE",
                        help="the baseline's own store (route), when the change alters the store's layout: the "
                             "same incidents, kept by the baseline's `bench/query.py --store FILE`")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the reports or of the route's towns")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=("run", "skip"), default="run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    if args.scenario == "route" and (args.store is None or not args.store.is_file()):
        parser.error("--scenario route needs --store FILE, a store kept by `python bench/query.py --store FILE`")
    if args.baseline_store is not None and not args.baseline_store.is_file():
        parser.error(f"--baseline-store {args.baseline_store}: no such file")
    if args.worker:
        (work_extract if args.scenario == "extract" else work_route)(args)
        return 0
    if args.baseline is None:
        parser.error("--baseline REV is required (the revision to compare this tree with)")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: `apt-get install valgrind` (Debian's package)")

    with tempfile.TemporaryDirectory(prefix="riskengine-instructions-") as tmp:
        scratch = Path(tmp)
        route = args.scenario == "route"
        sides = [Side("this tree", PROJECT_DIR, scratch, args, args.store if route else None),
                 Side(f"baseline {args.baseline}", unpack(args.baseline, scratch / "baseline"), scratch, args,
                      (args.baseline_store or args.store) if route else None)]
        with ThreadPoolExecutor(len(sides)) as pool:  # one core each
            mine, theirs = pool.map(Side.count, sides)
    unit, per = {"extract": (args.reports, f"per report ({args.language})"),
                 "route": (1, "for the first route answer"),
                 "process": (1, "for a whole `route Sirte Sebha` process, empty store")}[args.scenario]
    told = {"extract": f", {args.reports} reports", "process": ", an empty store made by each side",
            "route": f", store {args.store}" + (f" (baseline: {args.baseline_store})" if args.baseline_store else "")}
    print(f"scenario                   {args.scenario}{told[args.scenario]}")
    print(f"this tree                  {mine / unit / 1e6:,.2f} M instructions {per}")
    print(f"baseline {args.baseline:<17} {theirs / unit / 1e6:,.2f} M instructions {per}")
    print(f"this tree / baseline       x{mine / theirs:.3f} instructions ({(mine - theirs) / theirs:+.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
