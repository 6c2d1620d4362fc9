"""A small local HTTP server for feeds, used by the tests, the benchmark and demos.

Routes map a path to a Response or to a function of the request handler (for servers
that misbehave on purpose: never answer, send 100 MB, redirect in a loop). Static
responses honour If-None-Match, so the 304 path can be exercised. It serves on
127.0.0.1 only; ``requests`` counts what was asked, ``sent`` what was written.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up on purpose (timeouts, size caps) are the point of many tests


@dataclass(frozen=True)
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[BaseHTTPRequestHandler, "FeedServer"], None]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Response | Handler] = {}
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.stopping = threading.Event()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="feed-server", daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, response: Response | Handler) -> str:
        self.routes[path] = response
        return self.url(path)

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        self.requests[req.path] += 1
        route = self.routes.get(req.path) or self.routes.get(req.path.split("?", 1)[0])
        if route is None:
            self.respond(req, Response(b"not found", 404))
        elif isinstance(route, Response):
            etag = route.headers.get("ETag")
            if etag and req.headers.get("If-None-Match") == etag:
                self.respond(req, Response(b"", 304, {"ETag": etag}))
            else:
                self.respond(req, route)
        else:
            route(req, self)

    def respond(self, req: BaseHTTPRequestHandler, resp: Response) -> None:
        try:
            req.send_response(resp.status)
            for name, value in resp.headers.items():
                req.send_header(name, value)
            if resp.status != 304:
                req.send_header("Content-Length", str(len(resp.body)))
            req.end_headers()
            if resp.status != 304:
                req.wfile.write(resp.body)
                self.sent[req.path] += len(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, which is what some tests want


def never_answer(req: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """Accept the request and say nothing until the server stops."""
    server.stopping.wait(60)


def endless_body(total: int, chunk: int = 64 * 1024) -> Handler:
    """Claim nothing about the length and stream ``total`` bytes, stopping when the client hangs up."""

    def handler(req: BaseHTTPRequestHandler, server: FeedServer) -> None:
        try:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Connection", "close")
            req.end_headers()
            block = b"<!-- padding -->".ljust(chunk, b" ")
            while server.sent[req.path] < total and not server.stopping.is_set():
                req.wfile.write(block)
                server.sent[req.path] += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        req.close_connection = True

    return handler
