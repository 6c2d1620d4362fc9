"""The poller against the real broker: restarts produce nothing twice; pollers share feeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import TopicPartition

from devtools.httpserver import FeedServer, Response
from ingest.coordination import GroupOwnership, partition_for
from ingest.feeds import FeedSpec
from ingest.service import build_poller, close_poller, run_once
from ingest.settings import IngestSettings
from storywire.bus import Topics, make_consumer
from storywire.config import KafkaSettings
from storywire.messages import Article, decode

pytestmark = pytest.mark.integration


def rss(*items: int) -> bytes:
    body = "".join(
        f"<item><title>Story {i}</title><link>https://news.example/{i}?utm_source=rss</link>"
        f"<pubDate>Wed, 03 May 2023 09:{i:02d}:00 GMT</pubDate></item>"
        for i in items
    )
    return f"<rss version='2.0'><channel><title>N</title>{body}</channel></rss>".encode()


def read_all(kafka: KafkaSettings, topic: str) -> list[tuple[bytes | None, Article]]:
    """Every record of the topic up to its current end offsets."""
    consumer = make_consumer(kafka, None, consumer_timeout_ms=5000)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[tuple[bytes | None, Article]] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend((r.key, decode(Article, r.value)) for r in records if r.value is not None)
        return out
    finally:
        consumer.close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def test_restart_produces_nothing_twice(server: FeedServer, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    settings = IngestSettings(
        allow_private=True,
        state_dir=tmp_path / "state",
        min_interval_s=0.001,
        default_interval_s=0.001,
        jitter=0,
        read_timeout_s=5,
    )
    a = FeedSpec(url=server.add("/a", Response(rss(1, 2, 3), headers={"ETag": '"a1"'})))
    b = FeedSpec(url=server.add("/b", Response(rss(3, 4))))  # shares story 3 with feed a
    feeds = [a, b]

    poller = build_poller(settings, kafka_settings)
    try:
        first = run_once(poller, feeds)
    finally:
        close_poller(poller)
    assert first.produced == 4 and first.failed == 0

    # A new process with the same state directory; one feed changed, the other did not.
    server.add("/a", Response(rss(5, 1, 2, 3), headers={"ETag": '"a2"'}))
    poller = build_poller(settings, kafka_settings)
    try:
        second = run_once(poller, feeds)
        third = run_once(poller, feeds)
    finally:
        close_poller(poller)
    assert second.produced == 1 and second.feeds == 2
    assert third.produced == 0

    records = read_all(kafka_settings, Topics(kafka_settings.topic_prefix).raw)
    keys = Counter(k for k, _ in records)
    assert len(records) == 5 and all(n == 1 for n in keys.values()), keys
    assert all(k == art.id.encode() for k, art in records)
    assert {art.title for _, art in records} == {f"Story {i}" for i in range(1, 6)}


def test_pollers_split_the_feeds_and_take_over_from_a_dead_one(kafka_settings: KafkaSettings) -> None:
    first = GroupOwnership(kafka_settings, partitions=4)
    second = GroupOwnership(kafka_settings, partitions=4)
    try:
        for _ in range(60):  # wait for the group to settle: both members hold partitions
            a, b = first.refresh(500), second.refresh(500)
            if a and b and a | b == {0, 1, 2, 3}:
                break
        assert a and b and not a & b and a | b == {0, 1, 2, 3}
        urls = [f"https://feeds.example/{i}" for i in range(40)]
        owners = [(first.owns(u), second.owns(u)) for u in urls]
        assert all(x != y for x, y in owners)  # each feed has exactly one poller
        assert {partition_for(u, 4) for u in urls if first.owns(u)} <= a
    finally:
        second.close()  # this poller dies; its feeds move to the survivor
    try:
        for _ in range(60):
            if first.refresh(500) == {0, 1, 2, 3}:
                break
        assert first.assigned == {0, 1, 2, 3}
        assert all(first.owns(u) for u in urls)
    finally:
        first.close()
