"""A warm process that runs ``riskengine`` commands without paying for the imports each time.

Why: on a small store a route's own work takes about a tenth of a second, while a new Python process
spends most of a second importing pandas, SQLAlchemy, numpy and the engine before it starts. Like
Mercurial's command server (chg) and mypy's daemon, ``riskengine warm start`` leaves one process
running with those imports done. A later ``riskengine`` command connects to it through a Unix socket
and hands over its standard streams, working directory, environment and arguments; the server forks
a child that runs the command through the same :func:`riskengine.cli.main` a cold process runs, on
the command's own streams, and the command exits with the child's status.

What keeps it safe and true:

- the socket lives in a directory only its user can enter (mode 0700), and the server serves only
  processes of its own user (their credentials are checked on the socket);
- the socket's name carries a fingerprint of the installed code and of the Python running it, so a
  changed install is never answered by old code: the command runs in its own process, and the old
  server goes away when it has been idle for its time;
- every command runs in a new fork that reads the store, the rules and the seeds as a cold process
  does (the server holds imported modules, nothing read from them);
- no server, a dead one, a foreign socket or ``RISKENGINE_WARM=0``: the command runs in its own process.

Unix only (it forks); elsewhere every command runs in its own process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Set to 0 to run every command in its own process even when a warm server is up.
WARM_VAR = "RISKENGINE_WARM"
#: Where the sockets go (default: ``$XDG_RUNTIME_DIR/riskengine``, else a per-user directory in /tmp).
DIR_VAR = "RISKENGINE_WARM_DIR"
#: Minutes a server waits for a command before it exits, unless ``warm start --idle`` says otherwise.
DEFAULT_IDLE_MINUTES = 30.0
#: What the server imports before it waits: what a question (route, segments, explain) needs, with
#: networkx for a route round a closure and rapidfuzz for the suggestions after an unknown place.
PRELOADED = ("riskengine.engine", "riskengine.store", "riskengine.scoring", "rich.console", "rich.table", "orjson",
             "networkx", "rapidfuzz.process", "rapidfuzz.fuzz")

_HEADER = struct.Struct("!4sI")
_MAGIC = b"rkw1"
_SUPPORTED = hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")


class WarmError(Exception):
    """The warm server cannot be reached or started; the message says why."""


def socket_dir() -> Path:
    """The directory of this user's sockets (see :data:`DIR_VAR`)."""
    explicit = os.environ.get(DIR_VAR)
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute():
        return Path(runtime) / "riskengine"
    return Path("/tmp") / f"riskengine-warm-{os.getuid()}"


def _private_dir(create: bool) -> Path | None:
    """:func:`socket_dir` if it is a real directory of this user's that no one else may enter."""
    where = socket_dir()
    if create:
        try:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
    try:
        info = os.lstat(where)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return where if private else None


def code_fingerprint() -> str:
    """Which code a server runs: this Python, and the size and time of every module of the package and
    of the directories the libraries are installed in (an upgrade adds and removes files there)."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}".encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        info = path.stat()
        digest.update(f"{path.relative_to(package)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    for entry in sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}):
        try:
            digest.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\n".encode())
        except OSError:
            continue
    return digest.hexdigest()[:20]


def socket_path(fingerprint: str | None = None) -> Path:
    """The socket a server of this code listens on."""
    return socket_dir() / f"{fingerprint or code_fingerprint()}.sock"


# -- the wire: a header (magic, length) then a JSON document, one each way -------------------------

def _send(conn: socket.socket, doc: dict, fds: Sequence[int] = ()) -> None:
    body = json.dumps(doc).encode()
    header = _HEADER.pack(_MAGIC, len(body))
    if fds:
        socket.send_fds(conn, [header], list(fds))
    else:
        conn.sendall(header)
    conn.sendall(body)


def _exactly(conn: socket.socket, size: int, first: bytes = b"") -> bytes:
    data = bytearray(first)
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        data += chunk
    return bytes(data)


def _receive(conn: socket.socket, *, with_fds: int = 0) -> tuple[dict, list[int]]:
    fds: list[int] = []
    if with_fds:
        first, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, with_fds)
    else:
        first = conn.recv(_HEADER.size)
    if not first:
        raise ConnectionError("the other end closed the connection")
    magic, size = _HEADER.unpack(_exactly(conn, _HEADER.size, first))
    if magic != _MAGIC:
        raise ConnectionError("not a riskengine warm server")
    return json.loads(_exactly(conn, size)), fds


# -- the client ----------------------------------------------------------------------------------

def _connect(path: Path, timeout: float | None = None) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def hand_over(argv: Sequence[str]) -> int | None:
    """Run ``riskengine argv`` in the warm server and return its exit status; None when no server of
    this code is there to take it (the caller then runs the command itself)."""
    if not _SUPPORTED or os.environ.get(WARM_VAR, "1") == "0" or _private_dir(create=False) is None:
        return None
    conn = _connect(socket_path())
    if conn is None:
        return None
    with conn:
        try:
            _send(conn, {"run": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)}, fds=(0, 1, 2))
            started, _ = _receive(conn)
        except (OSError, ValueError, ConnectionError):
            return None  # nothing ran: the server went away before it forked
        child = started["pid"]
        forwarded = {sig: signal.signal(sig, lambda number, _frame: _forward(child, number))
                     for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            finished, _ = _receive(conn)
            return int(finished["status"])
        except (OSError, ValueError, ConnectionError):
            print(f"riskengine: error: the warm server's process {child} ended without an exit status",
                  file=sys.stderr)
            return 1
        finally:
            for sig, handler in forwarded.items():
                signal.signal(sig, handler)


def _forward(child: int, number: int) -> None:
    """A signal sent to the command goes to the process that runs it."""
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass


def ask(request: str, timeout: float = 5.0) -> dict | None:
    """The server's answer to ``status`` or ``stop``; None when no server of this code is up."""
    if not _SUPPORTED or _private_dir(create=False) is None:
        return None
    conn = _connect(socket_path(), timeout)
    if conn is None:
        return None
    with conn:
        try:
            _send(conn, {request: True})
            return _receive(conn)[0]
        except (OSError, ValueError, ConnectionError):
            return None


def start(idle_minutes: float = DEFAULT_IDLE_MINUTES, wait_s: float = 30.0) -> dict:
    """Start a server of this code in the background (or find the one running) and return its status."""
    import subprocess  # noqa: PLC0415 - only the start needs it

    if not _SUPPORTED:
        raise WarmError("a warm server needs fork and Unix sockets, which this system does not have")
    where = _private_dir(create=True)
    if where is None:
        raise WarmError(f"{socket_dir()}: cannot be made a directory that only this user can enter")
    running = ask("status")
    if running:
        return running
    path = socket_path()
    with open(where / "server.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "riskengine.warm", str(path), str(idle_minutes * 60)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         close_fds=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = ask("status")
        if status:
            return status
        time.sleep(0.05)
    raise WarmError(f"the warm server did not answer within {wait_s:g} s; see {where / 'server.log'}")


# -- the server ----------------------------------------------------------------------------------

class Server:
    """Listens on ``path``; forks a child per command; exits after ``idle_s`` seconds without one."""

    def __init__(self, path: Path, idle_s: float):
        self.path, self.idle_s = path, idle_s
        self.started, self.served, self.last = time.time(), 0, time.monotonic()
        self.running: set[int] = set()
        self.inode: int | None = None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "socket": str(self.path), "started": self.started, "served": self.served,
                "running": len(self.running), "idle_minutes": self.idle_s / 60}

    def serve(self) -> None:
        try:
            self.path.unlink(missing_ok=True)  # a dead server's socket; a live one would have answered
            self.listener.bind(str(self.path))
            os.chmod(self.path, 0o600)
            self.inode = os.stat(self.path).st_ino
            self.listener.listen(64)
            self.listener.settimeout(1.0)
            for module in PRELOADED:
                __import__(module)
            import gc  # noqa: PLC0415

            gc.freeze()  # what is imported stays untouched in the children (no copy of its pages)
            self.last = time.monotonic()  # idle from when it is ready, not from when it began importing
            while self._one():
                pass
        finally:
            self.listener.close()
            if self._still_ours():
                self.path.unlink()

    def _still_ours(self) -> bool:
        """The socket file is this server's (a newer server may have replaced it)."""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _one(self) -> bool:
        """Serve one connection (or time out); False when the server should stop."""
        self._reap()
        if not self.running and time.monotonic() - self.last > self.idle_s:
            return False
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            return True
        with conn:
            conn.settimeout(10.0)
            try:
                if not self._same_user(conn):
                    return True
                request, fds = _receive(conn, with_fds=3)
            except (OSError, ValueError, ConnectionError):
                return True
            try:
                if "status" in request:
                    _send(conn, self.status())
                elif "stop" in request:
                    _send(conn, self.status())
                    return False
                elif len(fds) == 3 and isinstance(request.get("run"), list):
                    self._fork(conn, request, fds)
            except OSError:
                pass
            finally:
                for fd in fds:
                    os.close(fd)
        return True

    @staticmethod
    def _same_user(conn: socket.socket) -> bool:
        if not hasattr(socket, "SO_PEERCRED"):
            return True  # the directory's mode already keeps others out
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid == os.getuid()

    def _reap(self) -> None:
        for child in list(self.running):
            try:
                done, _ = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                done = child
            if done:
                self.running.discard(child)

    def _fork(self, conn: socket.socket, request: dict, fds: list[int]) -> None:
        child = os.fork()
        if child:
            self.served += 1
            self.last = time.monotonic()  # idle counts from the last command, not from status questions
            self.running.add(child)
            return
        status = 1
        try:
            self.listener.close()
            conn.settimeout(None)
            _send(conn, {"pid": os.getpid()})
            status = _run_command(request, fds)
        finally:
            try:
                _send(conn, {"status": status})
            finally:
                os._exit(status)


def _run_command(request: dict, fds: list[int]) -> int:
    """In the forked child: become the command's process (streams, directory, environment) and run it."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    sys.stdin = open(0, closefd=False, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False,  # noqa: SIM115
                      encoding="utf-8", errors="backslashreplace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8",  # noqa: SIM115
                      errors="backslashreplace")
    os.environ.clear()
    os.environ.update(request.get("env") or {})
    if hasattr(time, "tzset"):
        time.tzset()
    argv = [str(arg) for arg in request["run"]]
    sys.argv = ["riskengine", *argv]
    try:
        os.chdir(request.get("cwd") or "/")
        from .cli import main  # noqa: PLC0415

        status = main(argv)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        status = 130
    except BaseException:  # noqa: BLE001 - reported as a cold process would, then the status says it failed
        import traceback  # noqa: PLC0415

        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
    return int(status or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m riskengine.warm SOCKET IDLE_SECONDS``: what ``riskengine warm start`` launches."""
    path, idle = (sys.argv[1:] if argv is None else list(argv))[:2]
    Server(Path(path), float(idle)).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
