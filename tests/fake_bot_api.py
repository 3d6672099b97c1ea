"""A fake Telegram Bot API server of ours, over real HTTP on 127.0.0.1, for faults the emulator cannot
produce: per chat, rate limits, blocked users, unknown chats, bad entities, slow answers, proxy pages;
for the whole server, a 400 that quotes the token lower-cased and a refusal (401) whose HTML page
echoes the URL and the token."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

BOT_USER = {"id": 7012345678, "is_bot": True, "first_name": "Road Risk", "username": "road_risk_test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
SLOW_SECONDS = 2.5  # how long the fake server sits on a request to a "slow" chat

@dataclass
class Call:
    at: float  # time.monotonic() when the server got it
    method: str
    params: dict


class LoopbackAPI:
    """An HTTP server of ours on 127.0.0.1 (a free port) whose POSTs go to :meth:`handle`."""

    def __init__(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                api.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


class FakeBotAPI(LoopbackAPI):
    """Answers ``POST /bot<token>/<method>`` like Telegram; ``modes[chat_id]`` picks a failure:
    ``"429"`` (or ``"429:<seconds>"``), ``"403"``, ``"chat-not-found"``, ``"bad-entities"``, ``"slow"``,
    ``"502"`` (a proxy page that echoes the request line, token and all), ``"400-token"`` (a 400 whose
    description quotes the token lower-cased); ``refuse`` makes it refuse every request."""

    def __init__(self, token: str, refuse: int | None = None):
        self.token = token
        #: every request answered with this status and an HTML page echoing the URL and the token (a 401:
        #: the token was revoked), getMe included
        self.refuse = refuse
        self.modes: dict[int, str] = {}
        self.calls: list[Call] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._message_id = 0
        super().__init__()

    def stop(self) -> None:
        self.stopping.set()
        super().stop()

    def sent(self, chat_id: int | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == "sendMessage"
                    and (chat_id is None or int(c.params["chat_id"]) == chat_id)]

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/html")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timeout)
            pass

    @staticmethod
    def _error(handler, status: int, description: str, **parameters) -> None:
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        FakeBotAPI._reply(handler, status, body)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", handler.path)
        if not match or match.group(1) != self.token:
            return self._error(handler, 404, "Not Found")
        method = match.group(2)
        if handler.headers.get("Content-Type", "").startswith("application/json"):
            params = json.loads(raw or "{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        with self._lock:
            self.calls.append(Call(arrived, method, params))
        if self.refuse:
            page = (f"<html><body><h1>{self.refuse} Unauthorized</h1><p>The URL {handler.path} "
                    f"(token {self.token.lower()}) was refused.</p></body></html>")
            return self._reply(handler, self.refuse, page)
        if method == "getMe":
            return self._reply(handler, 200, {"ok": True, "result": {**BOT_USER, "id": int(self.token.split(":")[0])}})
        if method != "sendMessage":
            return self._error(handler, 404, "Not Found: method not found")
        chat_id = int(params["chat_id"])
        mode = self.modes.get(chat_id, "ok")
        if mode.startswith("429"):
            seconds = int(mode.partition(":")[2] or 3)
            return self._error(handler, 429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if mode == "403":
            return self._error(handler, 403, "Forbidden: bot was blocked by the user")
        if mode == "chat-not-found":
            return self._error(handler, 400, "Bad Request: chat not found")
        if mode == "400-token":
            return self._error(handler, 400, f"Bad Request: token {self.token.lower()} in {handler.path.lower()}")
        if mode == "bad-entities":
            return self._error(handler, 400, "Bad Request: can't parse entities: unsupported start tag \"x\"")
        if mode == "502":
            page = f"<html><body><h1>502 Bad Gateway</h1><p>upstream failed: POST {handler.path}</p></body></html>"
            return self._reply(handler, 502, page)
        if mode == "slow":
            self.stopping.wait(SLOW_SECONDS)
        with self._lock:
            self._message_id += 1
            message_id = self._message_id
        text = html.unescape(re.sub(r"<[^>]+>", "", params.get("text", "")))
        message = {"message_id": message_id, "date": int(time.time()), "text": text,
                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "first_name": "Test"}}
        return self._reply(handler, 200, {"ok": True, "result": message})
