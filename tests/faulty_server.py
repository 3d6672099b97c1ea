"""A loopback HTTP server of our own that misbehaves on purpose: gzip bombs, huge bodies, dripping answers."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FEED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Roads</title>'
        b"<item><title>Checkpoint near Sirte</title><guid>g-1</guid><description>Armed men stopped cars near Sirte."
        b"</description></item></channel></rss>")


def gzip_bomb(decoded_bytes: int) -> bytes:
    """gzip of ``decoded_bytes`` zero bytes, made a chunk at a time (about 1 MB per GB)."""
    out = bytearray()
    compressor = gzip.GzipFile(fileobj=_Sink(out), mode="wb", compresslevel=9)
    block = bytes(1 << 20)
    for _ in range(decoded_bytes >> 20):
        compressor.write(block)
    compressor.close()
    return bytes(out)


class _Sink:
    def __init__(self, out: bytearray):
        self.out = out

    def write(self, data: bytes) -> int:
        self.out += data
        return len(data)

    def flush(self) -> None:
        pass


class FaultyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, bomb: bytes = b"", drip_every: float = 1.0):
        super().__init__(("127.0.0.1", 0), FaultyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.bomb, self.drip_every = bomb, drip_every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request, client_address) -> None:
        pass  # clients that give up mid-answer are the point

    def __enter__(self) -> FaultyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class FaultyHandler(BaseHTTPRequestHandler):
    """``/feed`` a good feed; ``/bomb`` the gzip bomb; ``/big`` 30 MB with a Content-Length; ``/big-chunked``
    12 MB without one; ``/drip`` one byte of the body per ``drip_every``; ``/drip-headers`` the headers so."""

    server: FaultyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            getattr(self, "route_" + self.path.strip("/").replace("-", "_"), self.route_missing)()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def head(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in {"Content-Type": "application/rss+xml", **headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def route_feed(self) -> None:
        self.head({"Content-Length": str(len(FEED))})
        self.wfile.write(FEED)

    def route_bomb(self) -> None:
        self.head({"Content-Encoding": "gzip", "Content-Length": str(len(self.server.bomb))})
        self.wfile.write(self.server.bomb)

    def route_big(self) -> None:
        self.head({"Content-Length": str(30_000_000)})
        self._stream(30_000_000)

    def route_big_chunked(self) -> None:
        self.head({"Connection": "close"})  # no length: the body ends when the connection does
        self._stream(12_000_000)

    def _stream(self, size: int) -> None:
        block = b"<!-- padding -->" * 4096
        sent = 0
        while sent < size and not self.server.stop.is_set():
            self.wfile.write(block)
            sent += len(block)

    def route_drip(self) -> None:
        self.head({"Content-Length": str(len(FEED))})
        for byte in FEED:
            if self.server.stop.wait(self.server.drip_every):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def route_drip_headers(self) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"x" * 1000:
            if self.server.stop.wait(self.server.drip_every):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def route_missing(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def wait_until(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
