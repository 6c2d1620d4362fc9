"""The fetcher's address checks, pinning, pooling per host name and deadline, against real local servers.

A recording network backend stands under the pinning where a test needs a public address
to lead to the local server: it records where the fetcher asked to connect and connects
to 127.0.0.1 instead.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest

from devtools.httpserver import FeedServer, Response
from ingest.errors import BlockedAddress, FetchTimeout, TransportError
from ingest.fetch import Fetcher
from ingest.settings import IngestSettings

RSS = b"<rss version='2.0'><channel><title>t</title><item><title>x</title><link>http://a.example/1</link></item></channel></rss>"


def settings(**kw: object) -> IngestSettings:
    base: dict[str, object] = {"connect_timeout_s": 2.0, "read_timeout_s": 1.0, "deadline_s": 5.0}
    return IngestSettings.model_validate(base | kw)


class ToLocal(httpcore.NetworkBackend):
    """Records each connect (address, port) and connects to the local server instead."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls: list[tuple[str, int]] = []
        self.sync = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.calls.append((host, port))
        return self.sync.connect_tcp("127.0.0.1", self.port, timeout, local_address, socket_options)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def host_recorder(seen: list[str]) -> Any:
    def handler(req: BaseHTTPRequestHandler, server: FeedServer) -> None:
        seen.append(req.headers.get("Host", ""))
        server.respond(req, Response(RSS))

    return handler


def test_connections_go_to_the_checked_address_with_the_name_kept(server: FeedServer) -> None:
    hosts: list[str] = []
    server.add("/rss", host_recorder(hosts))
    resolved = {
        "feeds.example": ["93.184.216.34"],
        "rebind.example": ["93.184.216.34", "10.0.0.7"],
        "xn--bcher-kva.example": ["93.184.216.35"],
    }
    backend = ToLocal(server.port)
    f = Fetcher(settings(), resolver=lambda host, port: resolved[host], network=backend)
    try:
        assert f.fetch("http://feeds.example/rss?x=1").body == RSS
        with pytest.raises(BlockedAddress):
            f.fetch("http://rebind.example/rss")
        assert f.fetch("http://bücher.example:8080/rss").body == RSS
    finally:
        f.close()
    assert backend.calls == [("93.184.216.34", 80), ("93.184.216.35", 8080)]
    assert hosts == ["feeds.example", "xn--bcher-kva.example:8080"]


def test_a_pooled_connection_serves_only_the_host_name_it_was_made_for(server: FeedServer) -> None:
    server.add("/rss", Response(RSS))
    backend = ToLocal(server.port)
    same_ip = {"a.example": ["93.184.216.34"], "b.example": ["93.184.216.34"]}
    f = Fetcher(settings(), resolver=lambda host, port: same_ip[host], network=backend)
    try:
        for url in ("http://a.example/rss", "http://a.example/rss", "http://b.example/rss"):
            assert f.fetch(url).body == RSS
    finally:
        f.close()
    # a.example's kept-alive connection served its second fetch; b.example, on the same address, got its own.
    assert backend.calls == [("93.184.216.34", 80), ("93.184.216.34", 80)]


@pytest.mark.parametrize(
    "target",
    [
        "http://[64:ff9b::7f00:1]:{port}/feed",  # NAT64 form of 127.0.0.1
        "http://[64:ff9b:1::7f00:1]:{port}/feed",  # NAT64 local-use prefix
        "http://[2002:7f00:1::1]:{port}/feed",  # 6to4 form of 127.0.0.1
        "http://[::ffff:127.0.0.1]:{port}/feed",  # IPv4-mapped
        "http://[::127.0.0.1]:{port}/feed",  # IPv4-compatible
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/feed",  # Teredo, client 127.0.0.1
        "http://[fec0::1]:{port}/feed",  # site-local
    ],
)
def test_redirects_to_ipv6_forms_of_private_addresses_never_connect(server: FeedServer, target: str) -> None:
    server.add("/jump", Response(b"", 302, {"Location": target.format(port=server.port)}))
    backend = ToLocal(server.port)
    f = Fetcher(settings(), resolver=lambda host, port: ["93.184.216.34"], network=backend)
    try:
        with pytest.raises(BlockedAddress):
            f.fetch("http://public.example/jump")
    finally:
        f.close()
    assert backend.calls == [("93.184.216.34", 80)]  # the first hop only: no connection attempt to the target


def test_an_allowed_host_opens_only_its_port(server: FeedServer) -> None:
    with FeedServer() as elasticsearch:  # another service on the same host
        elasticsearch.add("/_cat/indices", Response(b"secret indices"))
        server.add("/feed", Response(RSS))
        server.add("/jump", Response(b"", 302, {"Location": elasticsearch.url("/_cat/indices")}))
        f = Fetcher(settings(allow_hosts=(f"127.0.0.1:{server.port}",)))
        try:
            assert f.fetch(server.url("/feed")).body == RSS
            with pytest.raises(BlockedAddress):
                f.fetch(server.url("/jump"))
            with pytest.raises(BlockedAddress):
                f.fetch(elasticsearch.url("/_cat/indices"))
        finally:
            f.close()
        assert elasticsearch.requests["/_cat/indices"] == 0


def test_a_bare_allowed_host_means_its_default_ports_only(server: FeedServer) -> None:
    server.add("/feed", Response(RSS))
    f = Fetcher(settings(allow_hosts=("127.0.0.1",)))
    try:
        with pytest.raises(BlockedAddress):
            f.fetch(server.url("/feed"))  # port server.port is not 80
    finally:
        f.close()
    assert server.requests["/feed"] == 0


def test_another_feeds_redirect_into_an_allowed_host_is_refused(server: FeedServer) -> None:
    server.add("/intranet", Response(RSS))
    with FeedServer() as public:
        public.add("/jump", Response(b"", 302, {"Location": server.url("/intranet")}))
        backend = ToLocal(public.port)

        def resolve(host: str, port: int) -> list[str]:
            return ["93.184.216.34"] if host == "public.example" else ["127.0.0.1"]

        allowed = settings(allow_hosts=(f"127.0.0.1:{server.port}",))
        f = Fetcher(allowed, resolver=resolve, network=backend)
        try:
            with pytest.raises(BlockedAddress):
                f.fetch("http://public.example/jump")
        finally:
            f.close()
    assert server.requests["/intranet"] == 0


@pytest.mark.parametrize("bad", ["host:0", "host:http", "[::1", "[::1]x", ":80"])
def test_allow_hosts_entries_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="allow_hosts"):
        settings(allow_hosts=(bad,))


def header_trickle(interval_s: float) -> Any:
    """A status line, then one header byte every ``interval_s``: each read returns, no read timeout fires."""

    def handler(req: BaseHTTPRequestHandler, server: FeedServer) -> None:
        try:
            req.wfile.write(b"HTTP/1.1 200 OK\r\n")
            req.wfile.flush()
            while not server.stopping.wait(interval_s):
                req.wfile.write(b"X")
                req.wfile.flush()
                server.sent[req.path] += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        req.close_connection = True

    return handler


def test_a_header_trickle_is_cut_at_the_deadline(server: FeedServer) -> None:
    url = server.add("/trickle", header_trickle(0.1))
    f = Fetcher(settings(allow_private=True, read_timeout_s=1.0, deadline_s=1.5))
    start = time.monotonic()
    try:
        with pytest.raises(FetchTimeout, match="deadline"):
            f.fetch(url)
    finally:
        f.close()
    took = time.monotonic() - start
    assert server.sent["/trickle"] >= 5  # it did trickle, faster than the read timeout
    assert 1.4 < took < 3.0, took


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_tls_checks_each_host_name_even_on_one_address(tmp_path: Path) -> None:
    key, cert = _self_signed(tmp_path, "a.example")
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            served.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    f = Fetcher(settings(allow_private=True), resolver=lambda host, p: ["127.0.0.1"], ssl_context=client_ctx)
    try:
        assert f.fetch(f"https://a.example:{port}/feed").body == RSS
        # Same address, kept-alive connection verified for a.example: b.example must not ride on it.
        with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            f.fetch(f"https://b.example:{port}/feed")
    finally:
        f.close()
        httpd.shutdown()
        httpd.server_close()
    assert served == [f"a.example:{port}"]
