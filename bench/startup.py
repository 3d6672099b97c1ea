"""Command start-up: whole ``riskengine`` processes, timed from launch to exit.

Every command pays for its imports and for loading the rules, gazetteer and road network before it
does anything; this measures what a user waits for. Each command runs ``--rounds`` times as a new
process, with the compiled cache (:mod:`riskengine.compiled`) warm (untimed runs fill it: the rules,
gazetteer and network, and the network's quickest routes) and cold (a fresh, empty
``$RISKENGINE_CACHE_DIR`` for every round). The store is an empty SQLite file in a temporary
directory. Every command runs in its own process (``RISKENGINE_WARM=0``); then the same commands
handed to a warm server (``riskengine warm start``, :mod:`riskengine.warm`), which has done the
imports once and forks a child per command. Then: the in-process load time of the rules, gazetteer
and network (built, and from the cache), and the biggest imports of the route command (``python -X importtime``).

``--baseline REV`` also times ``route Sirte Sebha`` as the code of a git revision runs it (its
package, rules and seeds unpacked, on an empty store of its own), a round of each in turn, so that
whatever else the machine does weighs on both alike; then the ratio is printed.

Run: ``python bench/startup.py [--rounds N] [--imports K] [--baseline REV]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: What a route question on an empty store should cost as a whole process, in seconds.
TARGET_ROUTE_S = 0.5


def riskengine_command() -> list[str]:
    """The installed ``riskengine`` script next to this Python, else ``python -m riskengine.cli``."""
    script = shutil.which("riskengine", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "riskengine.cli"]


def run_once(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Wall time in seconds of one process; a failing command stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed


def time_command(argv: list[str], env: dict[str, str], rounds: int, *, cold: bool, tmp: Path) -> list[float]:
    """``rounds`` wall times of ``argv``; ``cold``: each round with a new empty cache directory."""
    times = []
    for _ in range(rounds):
        if cold:
            env = {**env, "RISKENGINE_CACHE_DIR": tempfile.mkdtemp(prefix="cold-cache-", dir=tmp)}
        times.append(run_once(argv, env))
    return times


@contextmanager
def warm_server(riskengine: list[str], env: dict[str, str], where: Path) -> Iterator[dict[str, str]]:
    """A warm server with its socket in ``where``, stopped on leaving; yields the environment that uses it."""
    env = {**env, "RISKENGINE_WARM": "1", "RISKENGINE_WARM_DIR": str(where)}
    run_once([*riskengine, "warm", "start", "--idle", "10"], env)
    try:
        yield env
    finally:
        subprocess.run([*riskengine, "warm", "stop"], env=env, stdout=subprocess.DEVNULL, check=False)


def side_by_side(rev: str, rounds: int, tmp: Path) -> tuple[list[float], list[float]]:
    """Seconds of ``route Sirte Sebha`` as a whole process (cache warm, empty store) for this tree
    and for the code of ``rev``, a round of each in turn; both run as ``python -m riskengine.cli``."""
    import importlib.util  # noqa: PLC0415

    where = Path(__file__).with_name("extract_throughput.py")  # its extract_revision unpacks a revision
    spec = importlib.util.spec_from_file_location("extract_throughput", where)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    trees = {"this tree": Path(__file__).resolve().parents[1], rev: tmp / "baseline"}
    bench.extract_revision(rev, trees[rev])
    commands, envs = {}, {}
    for label, tree in trees.items():
        side = tmp / f"side-{len(envs)}"
        side.mkdir()
        envs[label] = {**os.environ, "PYTHONPATH": str(tree), "RISKENGINE_WARM": "0",
                       "RISKENGINE_CACHE_DIR": str(side / "cache")}
        envs[label].pop("PYTHONDONTWRITEBYTECODE", None)  # both run from bytecode, neither compiles its sources
        db = str(side / "empty.db")
        command = [sys.executable, "-m", "riskengine.cli", "--db", db]
        # in a directory of its own: ``-m`` puts the working directory first on the path
        run_once([*command, "--create", "segments"], envs[label], side)  # its own empty store; fills its cache
        commands[label] = [*command, "route", "Sirte", "Sebha"]
        run_once(commands[label], envs[label], side)  # and its quickest routes
    times: dict[str, list[float]] = {label: [] for label in trees}
    for _ in range(rounds):
        for n, label in enumerate(trees):
            times[label].append(run_once(commands[label], envs[label], tmp / f"side-{n}"))
    return times["this tree"], times[rev]


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):6.3f} s   min {min(times):6.3f} s   max {max(times):6.3f} s   "
            f"(n={len(times)})")


def load_times(rounds: int, tmp: Path) -> tuple[list[float], list[float]]:
    """In-process seconds of ``RuleBook.load`` + ``Gazetteer.load`` + ``RoadNetwork.load`` on the
    project's rules and seeds: built (a new empty cache each round) and from the cache."""
    from riskengine.engine import DEFAULT_RULES_DIR, DEFAULT_SEEDS_DIR  # noqa: PLC0415 - after the processes are timed
    from riskengine.gazetteer import Gazetteer  # noqa: PLC0415
    from riskengine.roads import RoadNetwork  # noqa: PLC0415
    from riskengine.rules import RuleBook  # noqa: PLC0415

    def once() -> float:
        start = time.perf_counter()
        RuleBook.load(DEFAULT_RULES_DIR)
        RoadNetwork.load(DEFAULT_SEEDS_DIR, Gazetteer.load(DEFAULT_SEEDS_DIR))
        return time.perf_counter() - start

    saved = os.environ.get("RISKENGINE_CACHE_DIR")
    try:
        built = []
        for i in range(rounds):
            os.environ["RISKENGINE_CACHE_DIR"] = str(tmp / f"load-cold-{i}")
            built.append(once())
        os.environ["RISKENGINE_CACHE_DIR"] = str(tmp / "load-warm")
        once()
        warm = [once() for _ in range(rounds)]
    finally:
        if saved is None:
            os.environ.pop("RISKENGINE_CACHE_DIR", None)
        else:
            os.environ["RISKENGINE_CACHE_DIR"] = saved
    return built, warm


def top_imports(argv: list[str], env: dict[str, str], count: int) -> list[tuple[int, int, str]]:
    """The ``count`` biggest imports of a command by cumulative time: (cumulative µs, own µs, module)."""
    code = f"import sys; from riskengine.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, module = (part.strip() for part in line[len("import time:"):].split("|"))
        if own.isdigit():
            rows.append((int(cumulative), int(own), module))
    return sorted(rows, reverse=True)[:count]


def bytecode_note() -> str | None:
    """A warning when riskengine's own modules are compiled from source in every process (bytecode
    writing is off and none was written before): that adds most of a tenth of a second to each."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("riskengine.engine")
    source = Path(spec.origin) if spec and spec.origin else None
    if source is None or Path(importlib.util.cache_from_source(str(source))).exists():
        return None
    if not (os.environ.get("PYTHONDONTWRITEBYTECODE") or sys.dont_write_bytecode):
        return None
    return ("PYTHONDONTWRITEBYTECODE is set and riskengine has no __pycache__: every process below compiles "
            "riskengine's sources (most of 0.1 s; an installed package has its bytecode)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="processes timed per command and cache state (5)")
    parser.add_argument("--imports", type=int, default=10, help="biggest imports of the route command shown (10)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time `route Sirte Sebha` as the code of this git revision runs it, in turns "
                             "with this tree's, and print the ratio")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    print(f"date        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"machine     {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}")
    print(f"python      {platform.python_version()} ({sys.executable})")
    note = bytecode_note()
    if note:
        print(f"bytecode    {note}")
    riskengine = riskengine_command()
    with tempfile.TemporaryDirectory(prefix="riskengine-startup-") as name:
        tmp = Path(name)
        db = str(tmp / "empty.db")
        env = {**os.environ, "RISKENGINE_CACHE_DIR": str(tmp / "warm-cache"), "RISKENGINE_WARM": "0"}
        run_once([*riskengine, "--db", db, "--create", "segments"], env)  # the empty store; fills the warm cache
        run_once([*riskengine, "--db", db, "route", "Sirte", "Sebha"], env)  # and its quickest routes
        commands = {
            "--help": [*riskengine, "--help"],
            "places Sirte": [*riskengine, "places", "Sirte"],
            "route Sirte Sebha": [*riskengine, "--db", db, "route", "Sirte", "Sebha"],
            "segments": [*riskengine, "--db", db, "segments"],
        }
        print(f"\nwhole processes, {args.rounds} rounds each (empty store)")
        medians = {}
        for label, command in commands.items():
            for cold in (False, True):
                times = time_command(command, env, args.rounds, cold=cold, tmp=tmp)
                medians[label, cold] = statistics.median(times)
                print(f"  {label:18} cache {'cold' if cold else 'warm'}   {summary(times)}")

        print(f"\nthe same, handed to a warm server (`riskengine warm start`), {args.rounds} rounds each")
        with warm_server(riskengine, env, tmp / "sockets") as served_env:
            for label, command in commands.items():
                if label == "--help":
                    continue  # answered before a server is asked
                times = time_command(command, served_env, args.rounds, cold=False, tmp=tmp)
                medians[label, "server"] = statistics.median(times)
                print(f"  {label:18} server       {summary(times)}")

        built, warm = load_times(args.rounds, tmp)
        print("\nRuleBook.load + Gazetteer.load + RoadNetwork.load in-process")
        print(f"  built (cache cold)   {summary(built)}")
        print(f"  from the cache       {summary(warm)}")

        if args.baseline is not None:
            mine, theirs = side_by_side(args.baseline, args.rounds, tmp)
            print(f"\n`route Sirte Sebha` side by side with {args.baseline} (python -m riskengine.cli, cache warm, "
                  f"a round of each in turn)")
            print(f"  this tree            {summary(mine)}")
            print(f"  {args.baseline:20} {summary(theirs)}")
            print(f"  ratio                {statistics.median(theirs) / statistics.median(mine):.2f}x "
                  f"(its median / this tree's)")

        print("\nbiggest imports of `route Sirte Sebha` (cumulative, cache warm; -X importtime inflates them)")
        for cumulative, own, module in top_imports(["--db", db, "route", "Sirte", "Sebha"], env, args.imports):
            print(f"  {cumulative / 1000:8.1f} ms  (own {own / 1000:6.1f} ms)  {module}")

    print(f"\ntarget: route on an empty store < {TARGET_ROUTE_S} s")
    for label, key in (("its own process, cache warm", False), ("a warm server running", "server")):
        route = medians["route Sirte Sebha", key]
        verdict = "met" if route < TARGET_ROUTE_S else "not met"
        print(f"  {label:28} median {route:.3f} s, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
