"""The parse pool: real worker processes, killed past their time, replaced, and only ParseErrors out."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ingest.errors import ParseError, ParseTimeout
from ingest.feeds import FeedSpec
from ingest.parse import ParsedFeed
from ingest.parsepool import ParseJob, ParsePool

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC = FeedSpec(url="https://news.example/feed.xml")


def rss(n: int = 3) -> bytes:
    items = "".join(f"<item><title>Story {i}</title><link>https://news.example/{i}</link></item>" for i in range(n))
    return f"<rss version='2.0'><channel><title>N</title>{items}</channel></rss>".encode()


def nested(depth: int) -> bytes:
    """Deeply nested markup in a description: feedparser spends about 4 s of CPU per MB on it."""
    inner = "<a>" * depth + "x" + "</a>" * depth
    return (
        "<rss version='2.0'><channel><title>t</title><item><title>x</title>"
        f"<link>https://news.example/1</link><description>{inner}</description></item></channel></rss>"
    ).encode()


def job(body: bytes) -> ParseJob:
    return ParseJob(body, SPEC.url, {}, SPEC, FETCHED, 200, 100_000)


class _Exits(ParseJob):
    def run(self) -> ParsedFeed:
        os._exit(3)


class _Hogs(ParseJob):
    def run(self) -> ParsedFeed:
        bytearray(4 * 1024**3)  # far over the worker's address-space limit
        raise AssertionError("the limit should have stopped this")


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    p = ParsePool(workers=2, memory_mb=1024)
    yield p
    p.close()


def test_a_pool_parses_like_the_calling_thread(pool: ParsePool) -> None:
    here = ParsePool(workers=0).parse(job(rss()), 5.0)
    there = pool.parse(job(rss()), 5.0)
    assert [a.model_dump() for a in there.articles] == [a.model_dump() for a in here.articles]
    assert len(there.articles) == 3


def test_a_parse_past_its_time_is_killed_and_the_pool_goes_on(pool: ParsePool) -> None:
    pool.warm()
    start = time.monotonic()
    with pytest.raises(ParseTimeout, match="deadline"):
        pool.parse(job(nested(100_000)), 0.5)  # ~4 s of CPU in one process
    assert time.monotonic() - start < 2.0
    assert len(pool.parse(job(rss()), 5.0).articles) == 3


def test_parser_errors_come_back_as_parse_errors(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="not a feed") as info:
        pool.parse(job(b"<html><body>a page, not a feed</body></html>"), 5.0)
    assert type(info.value) is ParseError
    assert len(pool.parse(job(rss()), 5.0).articles) == 3  # the worker was fine and is reused


def test_a_worker_that_dies_is_a_parse_error_and_is_replaced(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="died"):
        pool.parse(_Exits(*job(rss()).__dict__.values()), 5.0)
    assert len(pool.parse(job(rss()), 5.0).articles) == 3


def test_a_worker_over_its_memory_limit_is_a_parse_error(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="out of memory"):
        pool.parse(_Hogs(*job(rss()).__dict__.values()), 10.0)
    assert len(pool.parse(job(rss()), 5.0).articles) == 3


def test_waiting_for_a_free_worker_counts_against_the_deadline() -> None:
    pool = ParsePool(workers=1, memory_mb=1024)
    try:
        pool.warm()
        outcome: list[BaseException] = []

        def hold() -> None:
            try:
                pool.parse(job(nested(100_000)), 1.5)
            except ParseTimeout as exc:
                outcome.append(exc)

        busy = threading.Thread(target=hold)
        busy.start()
        time.sleep(0.2)
        with pytest.raises(ParseTimeout, match="no parser free"):
            pool.parse(job(rss()), 0.3)
        busy.join()
        assert len(outcome) == 1
    finally:
        pool.close()


def test_no_time_left_is_a_parse_timeout_without_starting_anything(pool: ParsePool) -> None:
    with pytest.raises(ParseTimeout, match="no time left"):
        pool.parse(job(rss()), 0.0)
