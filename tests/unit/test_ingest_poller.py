"""The poller's bookkeeping against a local HTTP server: what is produced, what the state says.

Kafka is not the point here, so a small recording producer stands in; the restart test
in tests/integration runs the same poller against the real broker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.fakes import FakeProducer, FakeWallClock
from devtools.httpserver import FeedServer, Response
from ingest.feeds import FeedSpec, save_feeds
from ingest.fetch import Fetcher
from ingest.poller import Poller
from ingest.service import FeedsFile, run_forever
from ingest.settings import IngestSettings
from ingest.state import StateStore
from storywire.messages import Article, PublishedFrom, decode


def rss(*items: str, ttl: int | None = None) -> bytes:
    body = "".join(f"<item><title>Story {i}</title><link>https://news.example/{i}</link></item>" for i in items)
    extra = f"<ttl>{ttl}</ttl>" if ttl else ""
    return f"<rss version='2.0'><channel><title>N</title>{extra}{body}</channel></rss>".encode()


def articles(producer: FakeProducer) -> list[Article]:
    return [decode(Article, s.value) for s in producer.sent]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Poller, FakeProducer, FakeWallClock]]:
    settings = IngestSettings(allow_private=True, state_dir=tmp_path, read_timeout_s=2, deadline_s=5, concurrency=4)
    producer, clock = FakeProducer(), FakeWallClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    poller = Poller(settings, StateStore(tmp_path), Fetcher(settings), producer, "t.articles.raw", clock=clock)
    yield poller, producer, clock
    poller.close()
    poller.fetcher.close()
    poller.store.close()


def test_new_entries_are_produced_once_and_state_advances(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, clock = rig
    spec = FeedSpec(url=server.add("/a", Response(rss("1", "2"), headers={"ETag": '"e1"'})), tags=("t",))
    report = poller.poll_due([spec])
    assert report.produced == 2 and [s.key for s in producer.sent] == [a.id.encode() for a in articles(producer)]
    assert {a.title for a in articles(producer)} == {"Story 1", "Story 2"}
    state = poller.store.get(spec.url)
    assert state.etag == '"e1"' and state.body_hash and state.error_count == 0 and state.produced == 2
    assert poller.poll_due([spec]).feeds == 0  # not due yet

    server.add("/a", Response(rss("3", "2", "1"), headers={"ETag": '"e2"'}))
    clock.now += timedelta(hours=7)
    assert poller.poll_due([spec]).produced == 1
    assert [a.title for a in articles(producer)][-1] == "Story 3"


def test_304_and_identical_body_are_not_parsed_again(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, clock = rig
    with_etag = FeedSpec(url=server.add("/e", Response(rss("1"), headers={"ETag": '"x"'})))
    no_validators = FeedSpec(url=server.add("/n", Response(rss("2"))))
    poller.poll_due([with_etag, no_validators])
    clock.now += timedelta(hours=7)
    report = poller.poll_due([with_etag, no_validators])
    assert report.not_modified == 2 and report.produced == 0 and len(producer.sent) == 2
    assert poller.store.get(with_etag.url).last_status == 304


def test_ttl_sets_the_next_poll_also_after_a_304(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, _, clock = rig
    spec = FeedSpec(url=server.add("/ttl", Response(rss("1", ttl=120), headers={"ETag": '"t"'})), interval=60)
    for _ in range(2):  # a full fetch, then a 304 that carries no TTL of its own
        poller.poll_due([spec])
        state = poller.store.get(spec.url)
        assert state.next_poll is not None and timedelta(minutes=100) < state.next_poll - clock.now
        assert state.next_poll - clock.now < timedelta(minutes=140)
        clock.now = state.next_poll
    assert state.last_status == 304


def test_301_updates_the_stored_url(server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]) -> None:
    poller, producer, clock = rig
    new = server.add("/new", Response(rss("1")))
    spec = FeedSpec(url=server.add("/old", Response(b"", 301, {"Location": "/new"})))
    poller.poll_due([spec])
    assert poller.store.get(spec.url).fetch_url == new
    assert articles(producer)[0].feed_url == spec.url  # the feed keeps its identity
    clock.now += timedelta(hours=7)
    poller.poll_due([spec])
    assert server.requests["/old"] == 1 and server.requests["/new"] == 2


def test_410_disables_the_feed(server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]) -> None:
    poller, _, clock = rig
    spec = FeedSpec(url=server.add("/gone", Response(b"", 410)))
    assert poller.poll_due([spec]).failed == 1
    state = poller.store.get(spec.url)
    assert state.disabled and state.disabled_reason == "410 Gone" and state.last_status == 410
    clock.now += timedelta(days=30)
    assert poller.poll_due([spec]).feeds == 0


def test_errors_back_off_and_are_recorded(server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]) -> None:
    poller, _, clock = rig
    spec = FeedSpec(url=server.add("/broken", Response(b"<html>oops</html>", 500)))
    delays = []
    for _ in range(6):
        start = clock.now
        assert poller.poll_due([spec]).failed == 1
        state = poller.store.get(spec.url)
        assert state.next_poll is not None
        delays.append(state.next_poll - start)
        clock.now = state.next_poll
    assert state.error_count == 6 and state.last_error == "http_status: HTTP 500"
    assert delays[-1] > delays[0]

    server.add("/broken", Response(rss("1")))
    assert poller.poll_due([spec]).produced == 1
    assert poller.store.get(spec.url).error_count == 0


def test_429_retry_after_is_honoured(server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]) -> None:
    poller, _, clock = rig
    spec = FeedSpec(url=server.add("/busy", Response(b"", 429, {"Retry-After": "7200"})))
    poller.poll_due([spec])
    state = poller.store.get(spec.url)
    assert state.next_poll is not None and state.next_poll - clock.now >= timedelta(hours=2)
    assert state.last_error is not None and state.last_error.startswith("rate_limited")


def test_same_url_in_two_feeds_is_produced_once(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, _ = rig
    a = FeedSpec(url=server.add("/a", Response(rss("1", "2"))))
    b = FeedSpec(url=server.add("/b", Response(rss("2", "3"))))
    poller.poll_due([a, b])
    ids = [a.id for a in articles(producer)]
    assert len(ids) == len(set(ids)) == 3


def test_nothing_advances_when_the_broker_does_not_acknowledge(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, clock = rig
    spec = FeedSpec(url=server.add("/a", Response(rss("1"), headers={"ETag": '"e1"'})))
    producer.fail = RuntimeError("broker unavailable")
    report = poller.poll_due([spec])
    assert report.produced == 0 and report.failed == 1
    state = poller.store.get(spec.url)
    assert state.etag is None and state.body_hash is None and state.last_error is not None
    producer.fail = None
    clock.now += timedelta(days=1)
    assert poller.poll_due([spec]).produced == 1  # fetched in full again, not a 304


def test_bad_feed_does_not_hurt_the_others(server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]) -> None:
    poller, _, _ = rig
    good = FeedSpec(url=server.add("/good", Response(rss("1"))))
    html = FeedSpec(url=server.add("/html", Response(b"<html><body>not a feed</body></html>")))
    report = poller.poll_due([html, good])
    assert report.produced == 1 and report.failed == 1
    assert (poller.store.get(html.url).last_error or "").startswith("parse")


def test_run_forever_polls_owned_feeds_and_picks_up_file_changes(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock], tmp_path: Path
) -> None:
    poller, producer, clock = rig
    mine = FeedSpec(url=server.add("/mine", Response(rss("1"))))
    theirs = FeedSpec(url=server.add("/theirs", Response(rss("2"))))
    later = FeedSpec(url=server.add("/later", Response(rss("3"))))
    path = tmp_path / "feeds.yaml"
    save_feeds(path, [mine, theirs])
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            save_feeds(path, [mine, theirs, later])
            os.utime(path, (1, 1))  # a different mtime, whatever the file system's resolution
        clock.now += timedelta(seconds=1)

    run_forever(poller, FeedsFile(path), lambda: len(waits) >= 3, wait, owns=lambda url: url != theirs.url)
    assert {a.title for a in articles(producer)} == {"Story 1", "Story 3"}
    assert server.requests["/theirs"] == 0 and server.requests["/mine"] == 1


def test_an_article_too_big_for_a_message_is_cut_not_dropped(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, _ = rig
    long_text = "word " * 400_000
    body = (
        "<rss version='2.0'><channel><title>N</title><item><title>Long</title>"
        f"<link>https://news.example/long</link><description>{long_text}</description></item></channel></rss>"
    )
    spec = FeedSpec(url=server.add("/long", Response(body.encode())))
    poller.max_message_bytes = 100_000
    assert poller.poll_due([spec]).produced == 1
    value = producer.sent[0].value
    assert len(value) <= 100_000
    article = articles(producer)[0]
    assert article.summary.startswith("word word") and "text cut to fit a Kafka message" in article.warnings


def test_a_send_that_raises_at_once_fails_the_feed_not_the_pass(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, _ = rig
    producer.refuse = RuntimeError("buffer full")
    spec = FeedSpec(url=server.add("/a", Response(rss("1"))))
    report = poller.poll_due([spec])
    assert report.failed == 1 and "buffer full" in report.errors[spec.url]
    assert poller.store.get(spec.url).body_hash is None


def test_a_poisoned_json_item_costs_that_item_only(
    server: FeedServer, rig: tuple[Poller, FakeProducer, FakeWallClock]
) -> None:
    poller, producer, _ = rig
    items = [
        {"id": "1", "url": "https://news.example/1", "title": "Good one"},
        {"id": "2", "url": "https://news.example/\ud800", "title": "\ud800 lone surrogate", "tags": True},
        {"id": 10**30, "url": "https://news.example/3", "title": "Good three", "attachments": True},
        "not an item",
    ]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()
    body = body.replace(b'"id": 1000000000000000000000000000000', b'"id": 1' + b"0" * 5000)
    spec = FeedSpec(url=server.add("/j", Response(body, headers={"Content-Type": "application/feed+json"})))
    report = poller.poll_due([spec])
    assert report.failed == 0 and report.produced == 3
    titles = {a.title for a in articles(producer)}
    assert titles == {"Good one", "lone surrogate", "Good three"}  # the surrogate is dropped from the text
    by_title = {a.title: a for a in articles(producer)}
    assert by_title["lone surrogate"].url == spec.url  # its link was refused: the feed's page, said in warnings
    assert "link refused: not an http(s) URL" in by_title["lone surrogate"].warnings


def test_an_article_that_cannot_be_serialised_is_left_out_not_the_loop(
    rig: tuple[Poller, FakeProducer, FakeWallClock],
) -> None:
    poller, producer, clock = rig
    bad = Article(
        id="x" * 32,
        url="https://news.example/\ud800",
        canonical_url="https://news.example/\ud800",
        feed_url="https://news.example/feed",
        source="news.example",
        title="t",
        published=clock.now,
        published_from=PublishedFrom.FETCH,
        fetched=clock.now,
    )
    assert poller._send(bad) is None and producer.sent == []
