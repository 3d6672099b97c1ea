"""The warm server (``riskengine warm``): a command it runs answers exactly as a process of its own does.

Every test drives real ``riskengine`` processes against a real server process listening on a Unix
socket in the test's own directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from riskengine import warm

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(socket, "send_fds"),
                                reason="the warm server needs fork and Unix sockets")

PROJECT = Path(__file__).resolve().parent.parent
REPORT = ("Gunmen stopped a fuel truck at a false checkpoint on the road between Sirte and Waddan on "
          "Tuesday and kidnapped its two drivers, residents said.")


def _cli(args: list[str], env: dict, *, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "riskengine.cli", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def setup(tmp_path):
    """An environment whose sockets live in the test's directory, and a store holding one report."""
    sockets = tmp_path / "sockets"
    env = {**os.environ, warm.DIR_VAR: str(sockets), "RISKENGINE_WARM": "1"}
    (tmp_path / "report.txt").write_text(REPORT, encoding="utf-8")
    done = _cli(["--db", "store.db", "ingest", "report.txt", "--published", "2026-11-24"], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    yield tmp_path, env
    _cli(["warm", "stop"], env, cwd=tmp_path)


def _served(env: dict, cwd: Path) -> int:
    done = _cli(["warm", "status", "--json"], env, cwd=cwd)
    server = json.loads(done.stdout)["server"]
    return -1 if server is None else server["served"]


def _start(env: dict, cwd: Path, idle_minutes: float = 5) -> dict:
    done = _cli(["warm", "start", "--idle", str(idle_minutes), "--json"], env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["server"]


def test_a_warm_command_answers_as_its_own_process_does(setup):
    where, env = setup
    cold_env = {**env, "RISKENGINE_WARM": "0"}
    questions = [
        ["--db", "store.db", "route", "Sirte", "Sebha", "--at", "2026-11-26", "--json"],  # a relative --db
        ["--db", "store.db", "segments", "--at", "2026-11-26", "--json"],
        ["--db", "store.db", "route", "Sirte", "Atlantis", "--json"],  # an error: status 2, one line
        ["extract", "-", "--published", "2026-11-24", "--json"],  # reads its standard input
    ]
    cold = [_cli(q, cold_env, cwd=where, stdin=REPORT) for q in questions]
    assert _served(env, where) == -1  # nothing served before a server runs
    _start(env, where)
    warm_runs = [_cli(q, env, cwd=where, stdin=REPORT) for q in questions]
    assert _served(env, where) == len(questions)  # every one ran in the server
    for c, w in zip(cold, warm_runs, strict=True):
        assert (w.returncode, w.stdout, w.stderr) == (c.returncode, c.stdout, c.stderr)
    assert json.loads(warm_runs[0].stdout)["incidents"], "the route rests on the stored kidnapping"
    assert warm_runs[2].returncode == 2 and "Atlantis" in warm_runs[2].stderr
    assert json.loads(warm_runs[3].stdout)["incidents"]


def test_a_command_runs_in_its_own_environment(setup):
    where, env = setup
    _start(env, where)
    other = where / "elsewhere"
    other.mkdir()
    done = _cli(["route", "Sirte", "Sebha", "--at", "2026-11-26", "--json"],
                {**env, "RISKENGINE_DB": str(where / "store.db")}, cwd=other)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["incidents"], "the store named by the command's own environment"
    missing = _cli(["--db", "store.db", "route", "Sirte", "Sebha"], env, cwd=other)
    assert missing.returncode == 2 and "store.db" in missing.stderr  # relative to the command's directory


def test_no_server_a_dead_one_or_an_open_directory_means_the_command_runs_itself(setup):
    where, env = setup
    question = ["--db", "store.db", "route", "Sirte", "Sebha", "--at", "2026-11-26", "--json"]
    expected = _cli(question, {**env, "RISKENGINE_WARM": "0"}, cwd=where).stdout
    # a socket file left by a server that died: nobody listens on it
    sockets = Path(env[warm.DIR_VAR])
    sockets.mkdir(mode=0o700)
    path = sockets / Path(_cli_socket(env)).name
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    done = _cli(question, env, cwd=where)
    assert (done.returncode, done.stdout) == (0, expected)
    # a server up, but a directory others may enter is not trusted
    _start(env, where)
    os.chmod(sockets, 0o755)
    try:
        done = _cli(question, env, cwd=where)
        assert (done.returncode, done.stdout) == (0, expected)
    finally:
        os.chmod(sockets, 0o700)
    assert _served(env, where) == 0


def test_a_server_of_other_code_is_not_used_and_a_changed_module_changes_the_code(setup, tmp_path):
    where, env = setup
    sockets = Path(env[warm.DIR_VAR])
    sockets.mkdir(mode=0o700)
    stranger = subprocess.Popen([sys.executable, "-m", "riskengine.warm", str(sockets / "other-code.sock"), "60"],
                                env=env, cwd=PROJECT)
    try:
        deadline = time.monotonic() + 60
        while not (sockets / "other-code.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        done = _cli(["--db", "store.db", "route", "Sirte", "Sebha", "--json"], env, cwd=where)
        assert done.returncode == 0
        assert _served(env, where) == -1  # the only server there runs other code
    finally:
        stranger.terminate()
        stranger.wait(30)
    module = Path(warm.__file__)
    before, info = warm.code_fingerprint(), module.stat()
    try:
        os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
        assert warm.code_fingerprint() != before
    finally:
        os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert warm.code_fingerprint() == before


def test_an_idle_server_exits_and_stop_stops_it(setup):
    where, env = setup
    first = _start(env, where, idle_minutes=0.02)  # 1.2 s
    deadline = time.monotonic() + 30
    while _served(env, where) != -1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _served(env, where) == -1
    assert not Path(first["socket"]).exists()
    second = _start(env, where)
    assert second["pid"] != first["pid"]
    stopped = _cli(["warm", "stop"], env, cwd=where)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert _served(env, where) == -1
    bad = _cli(["warm", "start", "--idle", "0"], env, cwd=where)
    assert bad.returncode == 2 and "--idle" in bad.stderr


def _cli_socket(env: dict) -> str:
    """The socket path the installed code uses, as a process with ``env`` computes it."""
    done = subprocess.run([sys.executable, "-c", "from riskengine import warm; print(warm.socket_path())"],
                          env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()
