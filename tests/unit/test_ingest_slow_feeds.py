"""One slow feed holds nobody: the fault suite's header trickle and a parse bomb, against the real poller.

The header trickle is the fault suite's own server (devtools/faults/servers.py), so this also
checks that its server part works; the suite itself runs on its own stack (the lead's run).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.fakes import FakeProducer
from devtools.faults.corpus import OUTLETS, make_stream
from devtools.faults.servers import HOSTILE_KINDS, StreamFeeds
from devtools.httpserver import FeedServer, Response
from ingest.errors import FetchTimeout
from ingest.feeds import FeedSpec
from ingest.fetch import Fetcher
from ingest.poller import Poller
from ingest.settings import IngestSettings
from ingest.state import StateStore
from tests.unit.test_ingest_poller import articles


@pytest.fixture
def feeds() -> Iterator[StreamFeeds]:
    f = StreamFeeds(make_stream(40, events=10))
    f.release_until(40)
    f.trickle_s = 0.1
    yield f
    f.close()


def test_the_fault_servers_header_trickle_trickles(feeds: StreamFeeds) -> None:
    assert "header-trickle" in HOSTILE_KINDS
    feeds.turn_hostile()
    feeds.hostile_kinds = ("header-trickle",)
    with socket.create_connection(("127.0.0.1", feeds.port), timeout=5) as sock:
        sock.sendall(b"GET /hostile/feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        start = time.monotonic()
        while time.monotonic() - start < 0.75:
            got += sock.recv(100)
    assert got.startswith(b"HTTP/1.1 200 OK\r\nX-Trickle: x")
    assert b"\r\n\r\n" not in got  # the headers never end
    assert 3 <= got.count(b"x") <= 10  # one byte every 0.1 s
    assert feeds.hostile_served["header-trickle"] == 1 and feeds.hostile_log[0][1] == "header-trickle"


def test_the_fetcher_cuts_the_fault_servers_trickle_at_its_deadline(feeds: StreamFeeds) -> None:
    feeds.turn_hostile()
    feeds.hostile_kinds = ("header-trickle",)
    f = Fetcher(IngestSettings(allow_private=True, read_timeout_s=1.0, deadline_s=1.0))
    start = time.monotonic()
    try:
        with pytest.raises(FetchTimeout, match="deadline"):
            f.fetch(feeds.url("hostile"))
    finally:
        f.close()
    assert time.monotonic() - start < 2.0 and feeds.trickled >= 5


def test_a_trickling_feed_does_not_hold_the_other_feeds_schedule(feeds: StreamFeeds, tmp_path: Path) -> None:
    feeds.turn_hostile()
    feeds.hostile_kinds = ("header-trickle",)
    settings = IngestSettings(
        allow_private=True,
        state_dir=tmp_path,
        read_timeout_s=1.0,
        deadline_s=2.0,
        min_interval_s=0.3,
        jitter=0.0,
        backoff_base_s=600,
        concurrency=4,
    )
    producer = FakeProducer()
    poller = Poller(settings, StateStore(tmp_path), Fetcher(settings), producer, "t.articles.raw")
    specs = [FeedSpec(url=feeds.url(o), interval=0.3) for o in OUTLETS[:3]] + [FeedSpec(url=feeds.url("hostile"))]
    try:
        poller.parser.warm()
        start = time.monotonic()
        while time.monotonic() - start < 3.5:
            poller.step(specs)
            time.sleep(0.05)
        poller.finish()
    finally:
        poller.close()
        poller.fetcher.close()
    hostile = poller.store.get(feeds.url("hostile"))
    assert hostile.last_error is not None and hostile.last_error.startswith("timeout: deadline"), hostile.last_error
    assert feeds.hostile_served["header-trickle"] == 1  # then it backs off
    trickle_at = feeds.hostile_log[0][0]
    for outlet in OUTLETS[:3]:
        during = [t for t in feeds.requests[outlet] if trickle_at <= t <= trickle_at + 2.0]
        assert len(during) >= 3, (outlet, len(during))  # every ~0.3 s while the trickle held one worker
    assert {a.feed_url for a in articles(producer)} == {s.url for s in specs[:3]}


def nested(depth: int) -> bytes:
    inner = "<a>" * depth + "x" + "</a>" * depth
    return (
        "<rss version='2.0'><channel><title>t</title><item><title>x</title>"
        f"<link>https://news.example/1</link><description>{inner}</description></item></channel></rss>"
    ).encode()


def test_a_parse_past_the_deadline_is_a_named_error_on_that_feed_only(tmp_path: Path) -> None:
    settings = IngestSettings(allow_private=True, state_dir=tmp_path, deadline_s=1.0, read_timeout_s=1.0)
    producer = FakeProducer()
    poller = Poller(settings, StateStore(tmp_path), Fetcher(settings), producer, "t.articles.raw")
    with FeedServer() as server:
        bomb = FeedSpec(url=server.add("/bomb", Response(nested(100_000))))  # ~4 s of parsing
        good = FeedSpec(url=server.add("/good", Response(nested(3))))
        try:
            poller.parser.warm()
            start = time.monotonic()
            report = poller.poll_due([bomb, good])
            took = time.monotonic() - start
        finally:
            poller.close()
            poller.fetcher.close()
    assert report.failed == 1 and report.produced == 1
    assert (poller.store.get(bomb.url).last_error or "").startswith("parse_timeout"), report.errors
    assert took < 2.5, took
