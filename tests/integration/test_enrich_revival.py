"""A dormant story revived after a restart, through the real broker: the clusterer
rebuilds its local store of dormant stories from the compacted stories topic (no
Elasticsearch involved) and continues exactly as one process that never stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devtools.samples import read_topic
from enrich.cluster import Clusterer
from enrich.cluster_service import ClusterService, read_snapshots
from enrich.lookup import MemoryLookup, SqliteLookup
from enrich.settings import EnrichSettings
from storywire.bus import Topics, encode, ensure_topics, key_bytes, make_consumer, make_producer
from storywire.config import KafkaSettings, defaults
from storywire.messages import EmbeddedArticle, EnrichedArticle, StorySnapshot, StoryStatus, decode
from tests.integration.test_enrich_cluster_service import run_until
from tests.unit.test_cluster_core import T0, art, kremlin, vec

pytestmark = pytest.mark.integration

SETTINGS = defaults(EnrichSettings).model_copy(update={"dormant_after_days": 3.0, "cluster_batch_max_size": 10})


def send(settings: KafkaSettings, topic: str, items: list[EmbeddedArticle]) -> None:
    producer = make_producer(settings)
    for a in items:
        producer.send(topic, key=key_bytes(a.id), value=encode(a))
    producer.flush()
    producer.close()


def test_a_restarted_clusterer_revives_a_dormant_story_from_the_stories_topic(kafka_settings: KafkaSettings) -> None:
    # One partition: the clusterer's input order is the partition's order, the reference's.
    kafka_settings = kafka_settings.model_copy(update={"partitions": 1})
    first = [kremlin(0), kremlin(1, T0 + timedelta(hours=1))]
    later = [
        art(f"x{i}", f"Eclipse crosses North America {i}", vec("eclipse", i), T0 + timedelta(days=5)) for i in range(40)
    ]
    late = kremlin(2, T0 + timedelta(hours=5))  # a lagging feed, after the restart

    # Reference: one process that never stops, every snapshot kept in memory.
    memory = MemoryLookup()
    ref = Clusterer(SETTINGS, memory)
    expected = [a.story_id for a in ref.assign_batch(first)]
    memory.add(ref.take_changes())
    for start in range(0, len(later), 10):
        ref.assign_batch(later[start : start + 10])
        memory.add(ref.take_changes())
    expected.append(ref.assign(late).story_id)

    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    send(kafka_settings, topics.embedded, first + later)

    producer = make_producer(kafka_settings)

    def service() -> tuple[ClusterService, SqliteLookup]:
        lookup = SqliteLookup()
        core = Clusterer(SETTINGS, lookup)
        core.restore(read_snapshots(kafka_settings, topics.stories))
        consumer = make_consumer(kafka_settings, "cluster-test", [topics.embedded])
        return ClusterService(SETTINGS, topics, core, consumer, producer, lookup), lookup

    svc, lookup = service()
    assert run_until(svc, len(first) + len(later)) == len(first) + len(later)
    assert len(lookup) == 1  # the Kremlin story went dormant, and the store was told
    svc.consumer.close()
    lookup.close()

    # Restart: the new process knows the dormant story only through the stories topic.
    svc, lookup = service()
    assert expected[0] not in svc.core.stories and len(lookup) == 1
    send(kafka_settings, topics.embedded, [late])
    assert run_until(svc, 1) == 1
    svc.consumer.close()
    lookup.close()
    producer.close()

    enriched = [decode(EnrichedArticle, r.value) for r in read_topic(kafka_settings, topics.enriched, 43)]
    got = {a.id: a.story_id for a in enriched}
    assert [got["k0"], got["k1"], got["k2"]] == expected
    stories = [decode(StorySnapshot, r.value) for r in read_topic(kafka_settings, topics.stories, 10**6, polls=8)]
    newest = max((s for s in stories if s.id == expected[0]), key=lambda s: s.version)
    assert newest.status is StoryStatus.ACTIVE and newest.size == 3
    assert newest.restore is not None and set(newest.restore.members) == {"k0", "k1", "k2"}
