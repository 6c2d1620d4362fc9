"""Local servers for the fault suite: the feeds, a webhook receiver and a 429 proxy for Elasticsearch.

- ``StreamFeeds`` serves one RSS feed per outlet with the articles released so far (the
  latest ``window`` of each), plus ``/hostile/feed.xml``: an empty feed until
  ``turn_hostile()``, then in turn (``HOSTILE_KINDS``) a gzip bomb, a 1 GB body with its
  length declared, one without a length (it ends when the connection closes), a
  connection that stalls after the headers, and a header trickle: the status line, then
  one header byte every ``trickle_s`` (1 s: under any read timeout, so only a deadline
  that covers the headers ends it). Every request is timed per path, so the schedule of
  the other feeds can be read afterwards.
- ``WebhookReceiver`` counts Slack-style alerts by the alert id in their context block;
  ``down()`` closes its socket (connection refused), ``up()`` listens again on the same port.
- ``Proxy429`` forwards HTTP to Elasticsearch, or answers every request with 429 while
  ``refusing`` is set.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

import httpx

from devtools.faults.corpus import OUTLETS, StreamArticle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up (size caps, timeouts) are the point


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


HOSTILE_KINDS = ("gzip-bomb", "huge-body", "huge-body-no-length", "stall", "header-trickle")


class StreamFeeds:
    """RSS feeds over a released prefix of a ``make_stream`` list."""

    def __init__(self, articles: list[StreamArticle], window: int = 150) -> None:
        self.articles = articles
        self.window = window
        self.released = 0
        self.released_at: dict[int, datetime] = {}
        self.hostile = False
        self.hostile_kinds: tuple[str, ...] = HOSTILE_KINDS
        self.trickle_s = 1.0
        self.hostile_served: Counter[str] = Counter()
        self.hostile_log: list[tuple[float, str]] = []  # (time.monotonic(), kind) of each attack served
        self.trickled = 0  # header bytes the trickle sent, all connections together
        self.requests: dict[str, list[float]] = defaultdict(list)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._by_outlet: dict[str, list[StreamArticle]] = defaultdict(list)
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                feeds._get(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = _serve(self.httpd)

    def url(self, outlet: str) -> str:
        return f"http://127.0.0.1:{self.port}/{outlet}/feed.xml"

    def article_url(self, a: StreamArticle) -> str:
        return f"http://127.0.0.1:{self.port}/{a.outlet}/a/{a.n}.html"

    def feed_urls(self) -> list[tuple[str, str]]:
        return [(o, self.url(o)) for o in OUTLETS] + [("hostile", self.url("hostile"))]

    def release_until(self, count: int) -> None:
        with self._lock:
            now = datetime.now(UTC).replace(microsecond=0)
            while self.released < min(count, len(self.articles)):
                a = self.articles[self.released]
                self._by_outlet[a.outlet].append(a)
                self.released_at[a.n] = now
                self.released += 1

    def turn_hostile(self, on: bool = True) -> None:
        self.hostile = on

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _rss(self, outlet: str) -> bytes:
        with self._lock:
            items = list(reversed(self._by_outlet.get(outlet, [])[-self.window :]))
        parts = [
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
            f"<title>{outlet}</title><link>http://127.0.0.1:{self.port}/{outlet}/</link><description>x</description>",
        ]
        for a in items:
            link = escape(self.article_url(a))
            parts.append(
                f"<item><title>{escape(a.title)}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{format_datetime(self.released_at[a.n], usegmt=True)}</pubDate>"
                f"<description>{escape(a.body)}</description></item>"
            )
        parts.append("</channel></rss>")
        return "".join(parts).encode()

    def _get(self, req: BaseHTTPRequestHandler) -> None:
        outlet = req.path.split("/")[1] if req.path.count("/") >= 2 else ""
        self.requests[outlet].append(time.monotonic())
        if outlet == "hostile" and self.hostile:
            self._hostile(req)
            return
        if outlet not in OUTLETS and outlet != "hostile":
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        body = self._rss(outlet)
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def _hostile(self, req: BaseHTTPRequestHandler) -> None:
        kinds = self.hostile_kinds
        kind = kinds[sum(self.hostile_served.values()) % len(kinds)]
        self.hostile_served[kind] += 1
        self.hostile_log.append((time.monotonic(), kind))
        if kind == "header-trickle":
            self._trickle(req)
            return
        if kind == "gzip-bomb":
            # 200 MB of zeros in ~200 KB: the client must cap the inflated size
            bomb = gzip.compress(b"\0" * 200 * 1024 * 1024, compresslevel=9)
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Content-Encoding", "gzip")
            req.send_header("Content-Length", str(len(bomb)))
            req.end_headers()
            req.wfile.write(bomb)
        elif kind.startswith("huge-body"):
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            if kind == "huge-body":
                req.send_header("Content-Length", str(1 << 30))
            else:  # no length: the body ends when the connection closes, so only a running count can stop it
                req.send_header("Connection", "close")
                req.close_connection = True
            req.end_headers()
            chunk = b"<rss>" + b"x" * (1 << 20)
            for _ in range(1024):  # 1 GB unless the client hangs up first (it should after its cap)
                if self.stopping.is_set():
                    return
                req.wfile.write(chunk)
        else:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Content-Length", "100000")
            req.end_headers()
            req.wfile.write(b"<?xml version='1.0'?><rss>")
            req.wfile.flush()
            self.stopping.wait(120)  # stall: headers and a few bytes, then nothing

    def _trickle(self, req: BaseHTTPRequestHandler) -> None:
        """The status line, then one byte of an endless header every ``trickle_s``, for up to 10 minutes."""
        req.close_connection = True
        try:
            req.wfile.write(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
            req.wfile.flush()
            for _ in range(int(600 / self.trickle_s)):
                if self.stopping.wait(self.trickle_s):
                    return
                req.wfile.write(b"x")
                req.wfile.flush()
                with self._lock:
                    self.trickled += 1
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up: what a deadline does


_ALERT_ID = re.compile(r"alert (\S+) ·")


class WebhookReceiver:
    """A Slack-compatible webhook that records alert ids; it can go down and come back."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.times: list[float] = []
        self.unparsed = 0
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    text = json.dumps(json.loads(body), ensure_ascii=False)
                except ValueError:
                    text = body.decode(errors="replace")
                found = _ALERT_ID.search(text)
                if found:
                    hook.received[found.group(1)] += 1
                else:
                    hook.unparsed += 1
                hook.times.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def up(self) -> None:
        self.httpd = _Server(("127.0.0.1", self.port), self._handler())
        self.port = int(self.httpd.server_address[1])
        _serve(self.httpd)

    def down(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


class Proxy429:
    """Forwards to ``upstream``; answers 429 (with Elasticsearch's product header) while refusing."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.refusing = threading.Event()
        self.refused = 0
        self.client = httpx.Client(timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        _serve(self.httpd)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.client.close()

    def _forward(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        if self.refusing.is_set():
            self.refused += 1
            payload = b'{"error":{"type":"es_rejected_execution_exception","reason":"fault suite"},"status":429}'
            self._reply(req, 429, {"content-type": "application/json"}, payload)
            return
        headers = {k: v for k, v in req.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        try:
            resp = self.client.request(req.command, self.upstream + req.path, content=body, headers=headers)
        except httpx.HTTPError:
            self._reply(req, 502, {"content-type": "text/plain"}, b"upstream unreachable")
            return
        self._reply(req, resp.status_code, dict(resp.headers), resp.content)

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, headers: dict[str, Any], body: bytes) -> None:
        req.send_response(status)
        skip = ("content-length", "transfer-encoding", "connection", "content-encoding", "x-elastic-product")
        for k, v in headers.items():
            if k.lower() not in skip:
                req.send_header(k, v)
        req.send_header("X-Elastic-Product", "Elasticsearch")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)
