"""A local HTTP server for the bundled demo feeds, so the pipeline runs with no internet.

One feed per outlet, in the outlet's format::

    /<host>/feed.xml                RSS 2.0 or Atom 1.0
    /<host>/feed.json               JSON Feed 1.1
    /<host>/articles/<slug>.html    a tiny page for each article link
    /                               an index of the feeds

A feed lists only the articles released so far: an article appears once
``release_after_s`` seconds have passed since ``start()``, measured with the injected
clock, so tests move time by hand and a demo shows a story breaking. Responses carry
an ETag (a hash of the body) and Last-Modified (when the feed last changed), and a
matching ``If-None-Match`` or ``If-Modified-Since`` gets ``304 Not Modified``.
``Cache-Control: max-age`` is short (5 s by default) and RSS has no ``<ttl>`` (it is in
minutes), so a poller that honours cache hints still sees the breaking story arrive.

Usage::

    with DemoFeedServer() as server:
        for name, url, language in server.feed_urls():
            ...

Article URLs contain the server's port, so article ids differ between runs unless a
fixed ``port`` is given.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from devtools.demo.corpus import DemoArticle, Outlet, load_demo_articles, load_demo_data
from devtools.demo.errors import FeedServerError
from devtools.demo.render import CONTENT_TYPES, http_date, render_article_page, render_feed, render_index

__all__ = ["Clock", "DemoFeedServer", "load_demo_articles"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 weak comparison against an ``If-None-Match`` list (or ``*``)."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _not_modified_since(header: str, changed_at: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unparseable date is ignored, as RFC 9110 says
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(changed_at.timestamp()) <= int(since.timestamp())


class DemoFeedServer:
    """Serves the demo feeds on ``host`` (127.0.0.1) and ``port`` (0: a free port).

    ``clock`` returns the current aware UTC time; it is read once by ``start()`` (the
    start time, truncated to whole seconds so HTTP dates round-trip) and on every
    request. ``articles`` defaults to the bundled set.
    """

    def __init__(
        self,
        articles: Sequence[DemoArticle] | None = None,
        *,
        clock: Clock = _utc_now,
        host: str = "127.0.0.1",
        port: int = 0,
        max_age_s: int = 5,
    ) -> None:
        if articles is None:
            bundled_outlets, bundled = load_demo_data()
            outlets = {outlet.host: outlet for outlet in bundled_outlets}
            self.articles: tuple[DemoArticle, ...] = bundled
        else:
            self.articles = tuple(articles)
            outlets = {}
            for article in self.articles:
                outlets.setdefault(article.outlet.host, article.outlet)
        self.clock = clock
        self.max_age_s = max_age_s
        self._address = (host, port)
        self.outlets: tuple[Outlet, ...] = tuple(outlets.values())
        self._by_host = outlets
        self._by_path = {article.path: article for article in self.articles}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started_at: datetime | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> DemoFeedServer:
        """Bind and serve in a background thread; ``FeedServerError`` if it cannot listen."""
        if self._httpd is not None:
            raise FeedServerError("the demo feed server is already started")
        try:
            httpd = _HTTPServer(self._address, self)
        except OSError as exc:
            raise FeedServerError(f"cannot listen on {self._address[0]}:{self._address[1]}: {exc}") from exc
        self._started_at = self.clock().astimezone(UTC).replace(microsecond=0)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="demo-feed-server", daemon=True)
        self._thread.start()
        log.info("demo feed server started", extra={"url": self.url, "feeds": len(self.outlets)})
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        log.info("demo feed server stopped")

    def __enter__(self) -> DemoFeedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what it serves ------------------------------------------------------------

    @property
    def started_at(self) -> datetime:
        if self._started_at is None:
            raise FeedServerError("the demo feed server is not started")
        return self._started_at

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        if self._httpd is None:
            raise FeedServerError("the demo feed server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def feed_urls(self) -> list[tuple[str, str, str]]:
        """``(outlet name, feed URL, language)`` for every outlet, in file order."""
        return [(outlet.name, self.url + outlet.feed_path, outlet.language) for outlet in self.outlets]

    def article_url(self, article: DemoArticle) -> str:
        return self.url + article.path

    def released(self, host: str | None = None) -> list[DemoArticle]:
        """Articles released by now (of one outlet when ``host`` is given), newest first."""
        started, now = self.started_at, self.clock()
        chosen = [a for a in self.articles if (host is None or a.outlet.host == host) and a.is_released(started, now)]
        return sorted(chosen, key=lambda a: a.published_at(started), reverse=True)

    def _changed_at(self, entries: Sequence[DemoArticle]) -> datetime:
        """When a feed's content last changed, for Last-Modified and the feed's own date.

        An article there from the start counts at its publication time (before the
        start); one released later counts at its release (after the start), so the
        value only grows as articles arrive and ``If-Modified-Since`` stays correct.
        """
        started = self.started_at
        return max(
            (a.released_at(started) if a.release_after_s > 0 else a.published_at(started) for a in entries),
            default=started,
        )

    def respond(self, path: str) -> tuple[HTTPStatus, str, bytes, datetime | None]:
        """Status, content type, body and last change for a GET of ``path``."""
        path = urlsplit(path).path
        if path in ("", "/"):
            return HTTPStatus.OK, CONTENT_TYPES["html"], render_index(self.outlets, self.url), self.started_at
        host = path.strip("/").split("/", 1)[0]
        outlet = self._by_host.get(host)
        if outlet is not None and path == outlet.feed_path:
            entries = self.released(host)
            changed = self._changed_at(entries)
            body = render_feed(outlet, entries, self.url, self.started_at, changed)
            return HTTPStatus.OK, CONTENT_TYPES[outlet.format], body, changed
        article = self._by_path.get(path)
        if article is not None and article.is_released(self.started_at, self.clock()):
            body = render_article_page(article, self.url, self.started_at)
            return HTTPStatus.OK, CONTENT_TYPES["html"], body, article.released_at(self.started_at)
        return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n", None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], demo: DemoFeedServer) -> None:
        self.demo = demo
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "StorywireDemoFeeds/0.1"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        demo = self.server.demo
        try:
            status, content_type, body, changed = demo.respond(self.path)
        except Exception:
            log.exception("demo feed request failed", extra={"path": self.path})
            status, content_type, body, changed = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", b"error\n", None
        headers = {"Content-Type": content_type}
        if status == HTTPStatus.OK:
            etag = _etag(body)
            headers["ETag"] = etag
            headers["Cache-Control"] = f"max-age={demo.max_age_s}"
            if changed is not None:
                headers["Last-Modified"] = http_date(changed)
            if self._not_modified(etag, changed):
                status, body = HTTPStatus.NOT_MODIFIED, b""
                del headers["Content-Type"]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _not_modified(self, etag: str, changed: datetime | None) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # it takes precedence over If-Modified-Since
            return _etag_matches(if_none_match, etag)
        if_modified_since = self.headers.get("If-Modified-Since")
        return if_modified_since is not None and changed is not None and _not_modified_since(if_modified_since, changed)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("demo feed request", extra={"client": self.client_address[0], "request": format % args})
