"""The clusterer service against the real broker: output, restart and replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from devtools.samples import read_topic
from enrich.cluster import Clusterer
from enrich.cluster_service import ClusterService, RestoreError, read_snapshots
from enrich.settings import EnrichSettings
from storywire.bus import Topics, encode, ensure_topics, key_bytes, make_consumer, make_producer, poll_records
from storywire.config import KafkaSettings
from storywire.messages import EmbeddedArticle, EnrichedArticle, Story, decode
from tests.unit.test_cluster_core import T0, art, kremlin, vec

pytestmark = pytest.mark.integration

SETTINGS = EnrichSettings(cluster_batch_max_size=4)


def articles() -> list[EmbeddedArticle]:
    """Four events over three days, with a repeated article and one that merges nothing."""
    out: list[EmbeddedArticle] = []
    for i in range(5):
        t = T0 + timedelta(hours=3 * i)
        out.append(kremlin(i, t, source=f"s{i}.example"))
        out.append(art(f"q{i}", f"Earthquake of magnitude 6.{i} strikes Herat", vec("herat", i), t))
        out.append(art(f"f{i}", "Argentina beat France on penalties", vec("final", i), t + timedelta(days=2)))
    out.append(kremlin(2, T0 + timedelta(hours=6), source="s2.example"))  # delivered twice
    out.append(art("e0", "Eclipse crosses North America", vec("eclipse", 0), T0 + timedelta(days=3)))
    return out


def produce(settings: KafkaSettings, items: list[EmbeddedArticle]) -> Topics:
    topics = Topics(settings.topic_prefix)
    ensure_topics(settings, topics)
    producer = make_producer(settings)
    for a in items:
        producer.send(topics.embedded, key=key_bytes(a.id), value=encode(a))
    producer.flush()
    producer.close()
    return topics


def service(settings: KafkaSettings, topics: Topics, producer: Any) -> ClusterService:
    core = Clusterer(SETTINGS)
    core.restore(read_snapshots(settings, topics.stories))
    consumer = make_consumer(settings, "cluster-test", [topics.embedded])
    return ClusterService(SETTINGS, topics, core, consumer, producer)


def run_until(svc: ClusterService, want: int) -> int:
    done = 0
    for _ in range(120):
        done += svc.poll_once(timeout_ms=500)
        if done >= want:
            break
    return done


def first_assignment(records: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for rec in sorted(records, key=lambda r: r.offset):
        msg = decode(EnrichedArticle, rec.value)
        out.setdefault(msg.id, msg.story_id)
    return out


def final_sizes(records: list[Any]) -> dict[str, tuple[int, str]]:
    latest: dict[str, Story] = {}
    for rec in records:
        s = decode(Story, rec.value)
        if s.id not in latest or s.version > latest[s.id].version:
            latest[s.id] = s
    return {sid: (s.size, s.status.value) for sid, s in latest.items()}


def test_restart_mid_stream_gives_the_same_stories_as_an_uninterrupted_run(kafka_settings: KafkaSettings) -> None:
    items = articles()
    # One partition: the clusterer's input order is the partition's order.
    whole_settings = kafka_settings.model_copy(update={"partitions": 1})
    split_settings = whole_settings.model_copy(update={"topic_prefix": kafka_settings.topic_prefix + ".b"})

    # Uninterrupted.
    topics = produce(whole_settings, items)
    producer = make_producer(whole_settings)
    svc = service(whole_settings, topics, producer)
    assert run_until(svc, len(items)) == len(items)
    svc.consumer.close()
    whole = read_topic(whole_settings, topics.enriched, len(items))
    whole_stories = read_topic(whole_settings, topics.stories, 1)

    # Interrupted: two committed batches, then a batch whose outputs are flushed but whose
    # offsets are never committed (a crash between flush and commit), then a new process.
    topics_b = produce(split_settings, items)
    producer_b = make_producer(split_settings)
    first = service(split_settings, topics_b, producer_b)
    committed = run_until(first, 8)
    assert 8 <= committed < len(items)
    replayed = 0
    for _ in range(20):
        records = poll_records(first.consumer, timeout_ms=500, max_records=4)
        if records:
            replayed = first.handle(records)
            break
    assert replayed > 0
    first.consumer.close(autocommit=False)

    second = service(split_settings, topics_b, producer_b)
    assert second.core.active_count > 0  # rebuilt from the stories topic
    assert run_until(second, len(items) - committed) == len(items) - committed
    second.consumer.close()
    split = read_topic(split_settings, topics_b.enriched, len(items) + replayed)
    split_stories = read_topic(split_settings, topics_b.stories, 1)
    producer.close()
    producer_b.close()

    a, b = first_assignment(whole), first_assignment(split)
    assert len(a) == len({x.id for x in items})
    assert a == b
    # Replayed articles were re-announced with their story, not counted again.
    assert len(split) == len(whole) + replayed
    assert all(decode(EnrichedArticle, r.value).story_id == b[r.key.decode()] for r in split)
    assert final_sizes(whole_stories) == final_sizes(split_stories)
    # Sizes add up to the distinct articles: the one delivered twice counts once.
    assert sum(size for size, status in final_sizes(whole_stories).values() if status != "merged") == len(a)
    assert len(set(a.values())) == 4


def test_articles_the_core_cannot_take_go_to_dead_letters(kafka_settings: KafkaSettings) -> None:
    good = [kremlin(i, T0 + timedelta(hours=i)) for i in range(3)]
    odd = art("short", "A vector of another model", (1.0, 0.0, 0.0))
    topics = produce(kafka_settings.model_copy(update={"partitions": 1}), [good[0], odd, *good[1:]])
    producer = make_producer(kafka_settings)
    svc = service(kafka_settings, topics, producer)
    assert run_until(svc, 3) == 3
    svc.consumer.close()
    letters = read_topic(kafka_settings, topics.dlq, 1)
    producer.close()
    assert [r.key for r in letters] == [b"short"]
    assert dict(letters[0].headers)["storywire.error_type"] == b"DimensionMismatch"
    out = {r.key.decode() for r in read_topic(kafka_settings, topics.enriched, 3)}
    assert out == {a.id for a in good}


def test_restore_refuses_to_start_from_a_stories_topic_it_cannot_read(kafka_settings: KafkaSettings) -> None:
    with pytest.raises(RestoreError, match="no partitions"):
        list(read_snapshots(kafka_settings, f"{kafka_settings.topic_prefix}.missing-stories"))
