"""Our own HTTP fetcher for feeds (httpx), never ``feedparser.parse(url)``.

Contract of ``Fetcher.fetch``: it returns a FetchResult (200 with a body, or 304) or
raises a FetchError subclass (see ingest.errors); no other exception escapes. On the way:

- only http and https; every hop's host is resolved by us and refused when any address
  is not public (ingest.addresses: private, loopback, link-local, metadata, reserved,
  and the IPv6 forms that carry such an IPv4 address), and the connection is pinned to
  the address that was checked (ingest.transport), so DNS cannot change between the
  check and the connect. ``allow_hosts`` entries (host:port) are exempt from the check
  for feeds whose own URL is on that list, never for another feed's redirects;
- redirects are followed by hand, at most ``max_redirects``, loops refused, a Location
  longer than MAX_URL_CHARS refused;
- connect/read timeouts plus an overall deadline that every socket operation honours
  (connect, TLS, the status line and headers, the body);
- the body is streamed and capped at ``max_body_bytes`` both as sent and after our own
  gzip/deflate decoding, so a gzip bomb stops at the cap;
- conditional requests with ETag / Last-Modified.

The transport, the resolver and the network backend under the pinning are parameters,
so tests hand in httpx.MockTransport, a fake resolver or a recording backend instead of
patching.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpcore
import httpx

from ingest.addresses import AllowList, is_public_address
from ingest.errors import (
    BadRedirect,
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    Gone,
    HttpStatusError,
    RateLimited,
    ResolveFailed,
    TooManyRedirects,
    TransportError,
    UnsupportedScheme,
)
from ingest.settings import IngestSettings
from ingest.text import MAX_URL_CHARS
from ingest.transport import PinnedBackend, fetch_scope, pin, time_left
from storywire.backoff import retry_after_s

Resolver = Callable[[str, int], list[str]]
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
ACCEPT += "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the host resolves to (IPv4 first), or ResolveFailed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolveFailed(f"cannot resolve {host}: {exc}") from exc
    addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return sorted(addrs, key=lambda a: ":" in a)


@dataclass(frozen=True)
class FetchResult:
    url: str  # where the body finally came from
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    permanent_url: str | None = None  # set when every redirect hop was permanent (301/308)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag") or None

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified") or None


class _Decoder:
    """Content-Encoding decoder with a hard output cap."""

    def __init__(self, encoding: str, cap: int) -> None:
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self.z = None
        elif enc in ("gzip", "x-gzip", "deflate"):
            self.z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header, detected
        else:
            raise TransportError(f"unsupported content-encoding {encoding!r}")
        self.raw_deflate = enc == "deflate"
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self.started = False

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise BodyTooLarge(f"body over {self.cap} bytes after decoding")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self.z is None:
            self._add(chunk)
            return
        try:
            if not self.started and self.raw_deflate and chunk[:1] not in (b"\x78", b"\x1f"):
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent without the zlib header
            self.started = True
            data = self.z.decompress(chunk, self.cap - self.size + 1)
            self._add(data)
            while self.z.unconsumed_tail:
                self._add(self.z.decompress(self.z.unconsumed_tail, self.cap - self.size + 1))
        except zlib.error as exc:
            raise TransportError(f"bad compressed body: {exc}") from exc

    def finish(self) -> bytes:
        if self.z is not None:
            try:
                self._add(self.z.flush())
            except zlib.error as exc:
                raise TransportError(f"bad compressed body: {exc}") from exc
        return b"".join(self.parts)


_DRAIN_MAX = 64 * 1024


def _drain(resp: httpx.Response) -> None:
    """Read a short unread body (304, redirects, errors), so the connection can be kept alive.

    A response closed unread costs its connection; a long or unknown-length body is not
    worth reading, so that connection is dropped instead.
    """
    if resp.is_stream_consumed or resp.is_closed:
        return
    length = resp.headers.get("content-length", "").strip()
    if resp.status_code in (204, 304) or (length.isdigit() and int(length) <= _DRAIN_MAX):
        try:
            for _ in resp.iter_raw():
                pass
        except httpx.HTTPError:
            pass  # the connection is dropped on close; nothing was expected from this body


class Fetcher:
    """Fetches one feed URL at a time; safe to share between threads."""

    def __init__(
        self,
        settings: IngestSettings,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
        network: httpcore.NetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.clock = clock
        # getaddrinfo has no timeout of its own; a broken DNS server must not hold a worker forever.
        self._dns = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="ingest-dns")
        self.allow = AllowList.parse(settings.allow_hosts)
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.deadline_s,
        )
        limits = httpx.Limits(max_connections=settings.concurrency * 2, max_keepalive_connections=settings.concurrency)
        if transport is None:
            transport = _pinned_transport(limits, PinnedBackend(network), ssl_context)
        self.client = httpx.Client(
            transport=transport,
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        self.client.close()
        self._dns.shutdown(wait=False, cancel_futures=True)

    def _resolve(self, host: str, port: int) -> list[str]:
        left = time_left()
        wait = self.settings.connect_timeout_s if left is None else max(0.0, min(self.settings.connect_timeout_s, left))
        future = self._dns.submit(self.resolver, host, port)
        try:
            return future.result(timeout=wait)
        except FutureTimeout as exc:
            raise FetchTimeout(f"resolving {host} took over {wait:.1f}s") from exc

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        start = self.clock()
        deadline = self.settings.deadline_s
        visited: set[str] = set()
        permanent = True
        current = url
        try:
            # Every socket operation of this fetch, on this thread, ends by the deadline.
            with fetch_scope(time.monotonic() + deadline):
                exempt = self.settings.allow_private or self._allowed(url)
                for _hop in range(self.settings.max_redirects + 1):
                    visited.add(current)
                    remaining = deadline - (self.clock() - start)
                    if remaining <= 0:
                        raise FetchTimeout(f"deadline of {deadline}s passed")
                    resp = self._open(current, etag, last_modified, remaining, exempt)
                    try:
                        if resp.status_code in REDIRECTS:
                            permanent = permanent and resp.status_code in (301, 308)
                            current = self._next_hop(current, resp, visited)
                            continue
                        return self._finish(url, current, resp, permanent, start)
                    finally:
                        _drain(resp)
                        resp.close()
                raise TooManyRedirects(f"more than {self.settings.max_redirects} redirects")
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            if self.clock() - start >= deadline:
                raise FetchTimeout(f"deadline of {deadline}s passed ({type(exc).__name__})") from exc
            raise FetchTimeout(f"{type(exc).__name__}: {exc}") from exc
        except httpx.UnsupportedProtocol as exc:
            raise UnsupportedScheme(str(exc)) from exc
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    def _allowed(self, url: str) -> bool:
        """Whether the feed's own URL names an ``allow_hosts`` entry (host and port)."""
        if not self.allow:
            return False
        try:
            target = _target(url)
        except UnsupportedScheme:
            return False
        return self.allow.allows(target.host, target.port, target.scheme)

    def _next_hop(self, current: str, resp: httpx.Response, visited: set[str]) -> str:
        location = str(resp.headers.get("location", "")).strip()
        if not location:
            raise BadRedirect(f"{resp.status_code} without a Location header")
        if len(location) > MAX_URL_CHARS:
            raise BadRedirect(f"Location of {len(location)} characters, over {MAX_URL_CHARS}")
        try:
            nxt = urljoin(current, location)
        except ValueError as exc:
            raise BadRedirect(f"unusable Location {location[:200]!r}") from exc
        if nxt in visited:
            raise TooManyRedirects(f"redirect loop at {nxt[:200]}")
        return nxt

    def _open(
        self, url: str, etag: str | None, last_modified: str | None, remaining: float, exempt: bool
    ) -> httpx.Response:
        self._pin(url, exempt)
        headers: dict[str, str] = {}
        if etag and etag.isascii() and etag.isprintable():
            headers["If-None-Match"] = etag
        if last_modified and last_modified.isascii() and last_modified.isprintable():
            headers["If-Modified-Since"] = last_modified
        s = self.settings
        timeout = httpx.Timeout(
            connect=min(s.connect_timeout_s, remaining),
            read=min(s.read_timeout_s, remaining),
            write=min(s.read_timeout_s, remaining),
            pool=remaining,
        )
        request = self.client.build_request("GET", url, headers=headers, timeout=timeout)
        return self.client.send(request, stream=True)

    def _pin(self, url: str, exempt: bool) -> None:
        """Check the scheme and the host's addresses, and pin this hop's connection to a checked one.

        ``exempt``: the feed's own URL is allowed (or every private address is); then a hop
        to an allowed host:port skips the public-address check, but is still pinned.
        """
        target = _target(url)
        addrs = [target.host] if _is_ip(target.host) else self._resolve(target.host, target.port)
        if not addrs:
            raise ResolveFailed(f"{target.host} resolves to no address")
        free = self.settings.allow_private or (exempt and self.allow.allows(target.host, target.port, target.scheme))
        if not free:
            bad = [a for a in addrs if not is_public_address(a)]
            if bad:
                raise BlockedAddress(f"{target.host} resolves to non-public address {bad[0]}")
        pin(target.host, target.port, addrs[0])

    def _finish(self, original: str, url: str, resp: httpx.Response, permanent: bool, start: float) -> FetchResult:
        status = resp.status_code
        headers = {k.lower(): v for k, v in resp.headers.items()}
        moved = url if permanent and url != original else None
        if status == 304:
            return FetchResult(url, status, b"", headers, moved)
        if status == 410:
            raise Gone("410 Gone", status)
        if status in (429, 503):
            delay = retry_after_s(headers.get("retry-after"), datetime.now(UTC))
            raise RateLimited(f"{status}, retry after {delay}s", status, delay)
        if not 200 <= status < 300:
            raise HttpStatusError(f"HTTP {status}", status)
        cap = self.settings.max_body_bytes
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > cap:
            raise BodyTooLarge(f"Content-Length {length} over the cap of {cap} bytes")
        decoder = _Decoder(headers.get("content-encoding", ""), cap)
        raw = 0
        for chunk in resp.iter_raw():  # as the network delivers, so the deadline is checked often
            raw += len(chunk)
            if raw > cap:
                raise BodyTooLarge(f"body over {cap} bytes")
            if self.clock() - start > self.settings.deadline_s:
                raise FetchTimeout(f"deadline of {self.settings.deadline_s}s passed while reading")
            decoder.feed(chunk)
        return FetchResult(url, status, decoder.finish(), headers, moved)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as it goes on the wire: lower case, IDNA-encoded, no brackets
    port: int


def _target(url: str) -> _Target:
    """Scheme, wire host and port of a URL, as httpx will connect; UnsupportedScheme if unusable."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower().rstrip(".")
        scheme = parsed.scheme.lower()
        port = parsed.port or (443 if scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise UnsupportedScheme(f"not a usable URL: {url[:200]!r}") from exc
    if scheme not in ("http", "https"):
        raise UnsupportedScheme(f"scheme {scheme or '(none)'!r} refused: only http and https")
    if not host:
        raise UnsupportedScheme(f"URL without a host: {url[:200]!r}")
    return _Target(scheme, host, port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pinned_transport(
    limits: httpx.Limits, backend: httpcore.NetworkBackend, ssl_context: ssl.SSLContext | None
) -> httpx.HTTPTransport:
    """httpx's own transport over a pool whose sockets come from ``backend``.

    httpx takes no network backend, so its pool is replaced by an identical one that has
    ours (the pool is the transport's only state).
    """
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport
