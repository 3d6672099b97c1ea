"""A round-robin HTTP balancer on 127.0.0.1, the proxy a real deployment puts in front of its bot workers.

Each request goes to the next backend in turn, headers and body as they came (but ``Host``), and the
answer comes back as the backend gave it. Every request is recorded: which backend took it, its path,
the ``update_id`` of a Telegram update in its body, and the status answered, so a test can tell which
worker handled what.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

#: Headers a proxy does not pass on as they are.
HOP_BY_HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass
class Forwarded:
    """One request the balancer passed on (``status`` None while the backend has not answered)."""

    backend: int
    path: str
    update_id: int | None
    status: int | None = None


class Balancer:
    """Round-robin over ``backends`` (base URLs); :attr:`url` is where to send requests, :attr:`log` what went where."""

    def __init__(self, backends: list[str], timeout: float = 60.0):
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        self.backends = [b.rstrip("/") for b in backends]
        self.log: list[Forwarded] = []
        self._turn = itertools.cycle(range(len(self.backends)))
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout)
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                balancer._forward(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="balancer", daemon=True)

    def __enter__(self) -> Balancer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            backend = next(self._turn)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = Forwarded(backend, request.path, _update_id(body))
        self.log.append(forwarded)  # now: the backend may answer the user before it answers the request
        try:
            answer = self._client.request(request.command, self.backends[backend] + request.path, headers=headers,
                                          content=body)
            status, content = answer.status_code, answer.content
        except httpx.HTTPError:
            status, content = 502, b"bad gateway"
        forwarded.status = status
        request.send_response(status)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many updates at once, as Telegram's several connections bring them
    daemon_threads = True


def _update_id(body: bytes) -> int | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("update_id") if isinstance(doc, dict) else None
