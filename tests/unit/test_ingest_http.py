"""The fetcher's HTTP behaviour against a real local server (and a few MockTransport cases)."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from devtools.httpserver import FeedServer, Response, endless_body, never_answer
from ingest.addresses import is_public_address
from ingest.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchTimeout,
    Gone,
    HttpStatusError,
    RateLimited,
    TooManyRedirects,
    UnsupportedScheme,
)
from ingest.fetch import Fetcher
from ingest.settings import IngestSettings

RSS = b"<rss version='2.0'><channel><title>t</title><item><title>x</title><link>http://a.example/1</link></item></channel></rss>"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def settings(**kw: object) -> IngestSettings:
    base: dict[str, object] = {
        "allow_private": True,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 0.5,
        "deadline_s": 5.0,
        "max_body_bytes": 1024 * 1024,
    }
    return IngestSettings.model_validate(base | kw)


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    f = Fetcher(settings())
    yield f
    f.close()


def test_200_then_304_with_etag(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/feed", Response(RSS, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}))
    first = fetcher.fetch(url)
    assert first.status == 200 and first.body == RSS and first.etag == '"v1"'
    second = fetcher.fetch(url, etag=first.etag)
    assert second.not_modified and second.body == b""


def test_429_with_retry_after(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/busy", Response(b"slow down", 429, {"Retry-After": "120"}))
    with pytest.raises(RateLimited) as info:
        fetcher.fetch(url)
    assert info.value.retry_after_s == 120 and info.value.status == 429


def test_503_with_http_date_retry_after(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/down", Response(b"", 503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    with pytest.raises(RateLimited) as info:
        fetcher.fetch(url)
    assert info.value.retry_after_s is not None and info.value.retry_after_s > 3600


def test_301_reports_the_new_permanent_url(server: FeedServer, fetcher: Fetcher) -> None:
    new = server.add("/new", Response(RSS))
    old = server.add("/old", Response(b"", 301, {"Location": "/new"}))
    result = fetcher.fetch(old)
    assert result.body == RSS and result.url == new and result.permanent_url == new


def test_302_is_followed_but_not_permanent(server: FeedServer, fetcher: Fetcher) -> None:
    server.add("/there", Response(RSS))
    url = server.add("/temp", Response(b"", 302, {"Location": "/there"}))
    result = fetcher.fetch(url)
    assert result.body == RSS and result.permanent_url is None


def test_410_is_gone(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(Gone):
        fetcher.fetch(server.add("/gone", Response(b"", 410)))


def test_other_error_status(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(HttpStatusError) as info:
        fetcher.fetch(server.url("/missing"))
    assert info.value.status == 404


def test_a_server_that_never_answers_times_out(server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchTimeout):
        fetcher.fetch(server.add("/hang", never_answer))


def test_100_mb_body_stops_at_the_cap_without_reading_it_all(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/huge", endless_body(100 * 1024 * 1024))
    with pytest.raises(BodyTooLarge):
        fetcher.fetch(url)
    server.stopping.set()  # the handler stops writing; what it wrote before is the evidence
    assert server.sent["/huge"] < 20 * 1024 * 1024


def test_declared_length_over_the_cap_is_refused_before_reading(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/big", Response(b"x" * (2 * 1024 * 1024)))
    with pytest.raises(BodyTooLarge, match="Content-Length"):
        fetcher.fetch(url)


def test_gzip_bomb_stops_at_the_cap(server: FeedServer, fetcher: Fetcher) -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024  # small on the wire, 50 MB unpacked
    url = server.add("/bomb", Response(bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(BodyTooLarge, match="after decoding"):
        fetcher.fetch(url)


def test_gzip_and_deflate_bodies_are_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    gz = server.add("/gz", Response(gzip.compress(RSS), headers={"Content-Encoding": "gzip"}))
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = raw.compress(RSS) + raw.flush()
    df = server.add("/df", Response(deflated, headers={"Content-Encoding": "deflate"}))
    assert fetcher.fetch(gz).body == RSS
    assert fetcher.fetch(df).body == RSS


def test_redirect_loop(server: FeedServer, fetcher: Fetcher) -> None:
    server.add("/a", Response(b"", 302, {"Location": "/b"}))
    server.add("/b", Response(b"", 302, {"Location": "/a"}))
    with pytest.raises(TooManyRedirects, match="loop"):
        fetcher.fetch(server.url("/a"))


def test_redirect_limit(server: FeedServer) -> None:
    for i in range(5):
        server.add(f"/r{i}", Response(b"", 302, {"Location": f"/r{i + 1}"}))
    server.add("/r5", Response(RSS))
    f = Fetcher(settings(max_redirects=3))
    try:
        with pytest.raises(TooManyRedirects):
            f.fetch(server.url("/r0"))
    finally:
        f.close()


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/feed", "http://169.254.169.254/latest/meta-data/"])
def test_redirect_to_private_or_metadata_address_is_refused(server: FeedServer, target: str) -> None:
    server.add("/feed", Response(RSS))
    server.add("/jump", Response(b"", 302, {"Location": target.format(port=server.port)}))
    # localhost:port is allowed, so the first hop works; the redirect's target is not.
    f = Fetcher(settings(allow_private=False, allow_hosts=(f"localhost:{server.port}",)))
    try:
        assert f.fetch(f"http://localhost:{server.port}/feed").body == RSS
        with pytest.raises(BlockedAddress):
            f.fetch(f"http://localhost:{server.port}/jump")
    finally:
        f.close()
    assert server.requests["/feed"] == 1  # the refused hop never reached the server


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "javascript:alert(1)", "gopher://x/"])
def test_non_http_schemes_are_refused(url: str, fetcher: Fetcher) -> None:
    with pytest.raises(UnsupportedScheme):
        fetcher.fetch(url)


def test_redirect_to_file_scheme_is_refused(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.add("/evil", Response(b"", 301, {"Location": "file:///etc/passwd"}))
    with pytest.raises(UnsupportedScheme):
        fetcher.fetch(url)


@pytest.mark.parametrize(
    ("addr", "public"),
    [
        ("93.184.216.34", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),
        ("2606:4700::1111", True),
        ("not-an-ip", False),
        # IPv6 forms that carry an IPv4 address: the IPv4 address decides.
        ("64:ff9b::7f00:1", False),  # NAT64 well-known prefix + 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 + 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 + 8.8.8.8
        ("64:ff9b:1::808:808", False),  # NAT64 local-use prefix: never global
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("::7f00:1", False),  # IPv4-compatible (deprecated) 127.0.0.1
        ("::808:808", False),  # IPv4-compatible, even of a public address
        ("::ffff:a9fe:a9fe", False),  # IPv4-mapped metadata address
        ("2620:0:2d0:200::5efe:7f00:1", False),  # ISATAP interface id of 127.0.0.1
        ("2620:0:2d0:200::5efe:808:808", True),  # ISATAP interface id of 8.8.8.8
        ("fec0::1", False),  # site-local
        ("2001:db8::1", False),  # documentation
        ("3fff::1", False),  # documentation (2024)
        ("ff0e::1", False),  # global-scope multicast
        ("fe80::1%eth0", False),  # link-local with a zone
    ],
)
def test_public_address_check(addr: str, public: bool) -> None:
    assert is_public_address(addr) is public


def _slow_drip(req: BaseHTTPRequestHandler, server: FeedServer) -> None:
    req.send_response(200)
    req.send_header("Content-Type", "application/rss+xml")
    req.end_headers()
    while not server.stopping.wait(0.2):
        try:
            req.wfile.write(b" ")
            req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


def test_overall_deadline_stops_a_slow_drip(server: FeedServer) -> None:
    f = Fetcher(settings(deadline_s=1.0, read_timeout_s=0.5))
    try:
        with pytest.raises(FetchTimeout, match="deadline"):
            f.fetch(server.add("/drip", _slow_drip))
    finally:
        f.close()


def test_a_resolver_that_hangs_is_a_timeout() -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["93.184.216.34"]

    f = Fetcher(settings(allow_private=False, connect_timeout_s=0.2), resolver=stuck)
    try:
        with pytest.raises(FetchTimeout, match="resolving"):
            f.fetch("http://slow-dns.example/rss")
    finally:
        release.set()
        f.close()
