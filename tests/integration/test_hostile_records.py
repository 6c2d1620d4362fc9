"""Hostile records against the real broker (and Elasticsearch): every stage keeps going.

Per stage, a poison record between good ones: the good ones arrive, the poison is in the
dead-letter topic with its reason in the headers, the batch is committed and the stage
reports ready. The embedding model is not the point here, so the embed stage runs with a
small deterministic embedder (tests/integration/test_enrich_embed_worker.py runs the real
one); everything Kafka and Elasticsearch do is real.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.structs import TopicPartition

from alert.rules import parse_rules
from alert.service import AlertService
from alert.settings import AlertSettings
from devtools.samples import T0, article, oversized_article, read_topic, story
from enrich.cluster import Clusterer
from enrich.cluster_service import ClusterService, read_snapshots, restorable
from enrich.embed_worker import EmbedWorker
from enrich.settings import EnrichSettings
from index.client import IndexNames, make_client
from index.settings import IndexSettings
from index.writer import IndexWriter
from storywire.bus import Topics, client_config, ensure_topics, make_consumer, make_producer
from storywire.config import ElasticsearchSettings, KafkaSettings
from storywire.delivery import RenewableProducer, broker_limits
from storywire.messages import EmbeddedArticle, EnrichedArticle, StorySnapshot, decode
from tests.integration.test_index_helpers import docs

pytestmark = pytest.mark.integration

DIMS = 16


def unit(seed: str, dims: int = DIMS) -> tuple[float, ...]:
    v = np.random.default_rng(zlib.crc32(seed.encode())).normal(size=dims)
    return tuple(float(x) for x in (v / np.linalg.norm(v)).astype(np.float32))


class SmallEmbedder:
    """Deterministic unit vectors; a title "explode" makes it raise, like a model meeting a text it cannot take."""

    name = "small"
    dim = 384

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Any:
        if any(t.startswith("explode") for t in texts):
            raise RuntimeError("the model cannot take this text")
        return np.array([unit(t, self.dim) for t in texts], dtype=np.float32)


@pytest.fixture
def ks(kafka_settings: KafkaSettings) -> KafkaSettings:
    """One partition, so "between two good ones" is an order the stage really sees."""
    settings = kafka_settings.model_copy(update={"partitions": 1})
    ensure_topics(settings, Topics(settings.topic_prefix))
    return settings


def put(settings: KafkaSettings, topic: str, values: Sequence[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings)
    for key, value in values:
        producer.send(topic, key=key, value=value).get(timeout=30)
    producer.close()


def committed(settings: KafkaSettings, group: str, topic: str) -> int:
    consumer = KafkaConsumer(**client_config(settings), group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, 0)) or 0
    finally:
        consumer.close()


def letters(settings: KafkaSettings, want: int) -> dict[bytes, dict[str, bytes]]:
    """Dead letters by key: their headers, with the value under "value"."""
    got = read_topic(settings, Topics(settings.topic_prefix).dlq, want)
    return {r.key: dict(r.headers) | {"value": r.value} for r in got}


def until(step: Callable[[], object], done: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "condition not reached"
        step()


def set_limit(settings: KafkaSettings, topic: str, limit: int) -> None:
    admin = KafkaAdminClient(**client_config(settings))
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(limit)})
        assert admin.alter_configs([resource])["topic"][topic] == "OK"
    finally:
        admin.close()


# -- embed ---------------------------------------------------------------------------------------
def embed_worker(settings: KafkaSettings, topics: Topics, group: str) -> EmbedWorker:
    consumer = make_consumer(settings, group, [topics.raw])
    producer = RenewableProducer(lambda: make_producer(settings))
    limits = broker_limits(settings)
    return EmbedWorker(
        EnrichSettings(batch_max_size=8, batch_max_ms=200), topics, SmallEmbedder(), consumer, producer, limits=limits
    )


def test_embed_dead_letters_the_issue_article_and_a_record_the_model_raises_on(ks: KafkaSettings) -> None:
    topics = Topics(ks.topic_prefix)
    big = oversized_article()  # 1,041,999 bytes: fits the raw topic, not once embedded
    explode = article(3, title="explode now")
    values = [article(1), big, article(2), explode, article(4)]
    put(ks, topics.raw, [(a.id.encode(), a.to_json()) for a in values])
    group = f"{ks.topic_prefix}-embed"
    worker = embed_worker(ks, topics, group)
    try:
        until(worker.poll_once, lambda: committed(ks, group, topics.raw) == 5)
        assert worker.loop.health() == (True, {})
    finally:
        worker.loop.consumer.close()
        worker.delivery.producer.close()
    out = {decode(EmbeddedArticle, r.value).id for r in read_topic(ks, topics.embedded, 3)}
    assert out == {"a0001", "a0002", "a0004"}
    dead = letters(ks, 2)
    assert dead[big.id.encode()]["storywire.error_type"] == b"OutputTooLarge"
    assert b"over the 1048576-byte limit" in dead[big.id.encode()]["storywire.error"]
    assert dead[big.id.encode()]["value"] == big.to_json()  # whole: it fits the dead-letter topic
    assert dead[b"a0003"]["storywire.error_type"] == b"RuntimeError"
    assert dead[b"a0003"]["storywire.offset"] == b"3" and dead[b"a0003"]["storywire.stage"] == b"embed"


def test_embed_after_the_broker_refuses_a_record_nothing_is_lost(ks: KafkaSettings) -> None:
    """Issue #14, 2: the topic's limit is below the producer's (here lowered under a running
    stage). The broker refuses a record and kafka-python fails that batch and every later
    one; the stage sends them again with a new producer and dead-letters the one too large."""
    topics = Topics(ks.topic_prefix)
    group = f"{ks.topic_prefix}-embed"
    worker = embed_worker(ks, topics, group)  # has read the limits: 1 MiB everywhere
    set_limit(ks, topics.embedded, 30_000)
    big = article(2, content="word " * 6000)  # about 40 kB once embedded
    put(ks, topics.raw, [(a.id.encode(), a.to_json()) for a in (article(1), big, article(3))])
    try:
        until(worker.poll_once, lambda: committed(ks, group, topics.raw) == 3)
        assert worker.loop.health() == (True, {})
        assert isinstance(worker.delivery.producer, RenewableProducer) and worker.delivery.producer.renewals >= 1
        # and a minute later (here: at once), three more arrive
        put(ks, topics.raw, [(a.id.encode(), a.to_json()) for a in (article(4), article(5), article(6))])
        until(worker.poll_once, lambda: committed(ks, group, topics.raw) == 6)
        assert worker.loop.health() == (True, {})
    finally:
        worker.loop.consumer.close()
        worker.delivery.producer.close()
    out = {decode(EmbeddedArticle, r.value).id for r in read_topic(ks, topics.embedded, 5)}
    assert out == {"a0001", "a0003", "a0004", "a0005", "a0006"}
    dead = letters(ks, 1)
    assert dead[b"a0002"]["storywire.error_type"] == b"OutputTooLarge"
    assert b"30000-byte limit" in dead[b"a0002"]["storywire.error"]


# -- cluster -------------------------------------------------------------------------------------
def embedded_json(n: int, seed: str = "kremlin", **fields: Any) -> bytes:
    base = json.loads(article(n, published=T0 + timedelta(minutes=n)).to_json())
    return json.dumps(base | {"embedding": list(unit(seed)), "model": "m"} | fields).encode()


def test_cluster_dead_letters_vectors_and_weights_it_cannot_use(ks: KafkaSettings) -> None:
    topics = Topics(ks.topic_prefix)
    values = [
        (b"a0001", embedded_json(1)),
        (b"huge", embedded_json(2, embedding=[1e308] * DIMS)),  # finite in float64, inf in float32
        (b"a0003", embedded_json(3)),
        (b"tiny", embedded_json(4, embedding=[5e-324] * DIMS)),  # zero in float32
        (b"nan", embedded_json(5).replace(b'"model"', b'"terms": {"drone": NaN}, "model"')),
        (b"big-weight", embedded_json(6, terms={"drone": 1e308})),
        (b"a0007", embedded_json(7, "other")),
    ]
    put(ks, topics.embedded, values)
    group = f"{ks.topic_prefix}-cluster"
    consumer = make_consumer(ks, group, [topics.embedded])
    producer = RenewableProducer(lambda: make_producer(ks))
    svc = ClusterService(EnrichSettings(), topics, Clusterer(EnrichSettings()), consumer, producer)
    try:
        until(lambda: svc.poll_once(timeout_ms=500), lambda: committed(ks, group, topics.embedded) == 7)
        assert svc.loop.health() == (True, {})
    finally:
        consumer.close()
        producer.close()
    out = {decode(EnrichedArticle, r.value).id for r in read_topic(ks, topics.enriched, 3)}
    assert out == {"a0001", "a0003", "a0007"}
    dead = letters(ks, 4)
    assert set(dead) == {b"huge", b"tiny", b"nan", b"big-weight"}
    assert {d["storywire.error_type"] for d in dead.values()} == {b"MalformedMessage"}
    assert b"overflowing in float32" in dead[b"huge"]["storywire.error"]
    assert b"finite number" in dead[b"nan"]["storywire.error"]
    for rec in read_topic(ks, topics.stories, 2):  # no null where a weight was
        snap = decode(StorySnapshot, rec.value)
        assert snap.restore is not None and all(math.isfinite(w) for w in snap.restore.profile.values())


def test_restore_skips_snapshots_it_cannot_use_and_never_emits_their_values(ks: KafkaSettings) -> None:
    topics = Topics(ks.topic_prefix)
    good = json.loads(story("s1", 3, centroid=unit("kremlin"), first_seen=T0, last_seen=T0).to_json())
    good["restore"] = {"centroid_scale": 2.0, "profile": {"kremlin": 8.0, "drone": 4.0}, "members": ["a1", "a2"]}
    bad: dict[bytes, bytes | str] = {
        b"nan-centroid": json.dumps(good | {"id": "s2", "centroid": [math.nan] * DIMS}).encode(),
        b"version-2^63": json.dumps(good | {"id": "s3", "version": 2**63}).encode(),
        b"profile-1e308": json.dumps(good | {"id": "s4", "restore": good["restore"] | {"profile": {"x": 1e308}}}),
        b"other-model": json.dumps(good | {"id": "s5", "centroid": list(unit("x", 8))}).encode(),
        b"scale-inf": json.dumps(good | {"id": "s6", "restore": good["restore"] | {"centroid_scale": 1e300}}),
    }
    values = [(b"s1", json.dumps(good).encode())]
    values += [(k, v if isinstance(v, bytes) else v.encode()) for k, v in bad.items()]
    put(ks, topics.stories, values)
    core = Clusterer(EnrichSettings())
    core.restore(restorable(read_snapshots(ks, topics.stories)))
    assert core.active_count == 1 and core.resolve("s1") == "s1"
    got = core.assign_batch([decode(EmbeddedArticle, embedded_json(9))])
    assert got[0].story_id == "s1"
    (snap,) = core.take_changes()
    again = decode(StorySnapshot, snap.to_json())
    assert again.version == 4 and again.restore is not None and again.restore.profile["kremlin"] >= 8.0


# -- index ---------------------------------------------------------------------------------------
def test_index_dead_letters_what_it_cannot_write_and_writes_the_rest(
    ks: KafkaSettings, es_settings: ElasticsearchSettings
) -> None:
    from index.mappings import ensure_indices

    topics = Topics(ks.topic_prefix)
    names = IndexNames(es_settings.index_prefix)
    es = make_client(es_settings)
    ensure_indices(es, names, DIMS)
    art = json.loads(EnrichedArticle.model_validate(json.loads(embedded_json(1)) | _story_fields()).to_json())
    put(
        ks,
        topics.enriched,
        [
            (b"a0001", json.dumps(art).encode()),
            (b"nan-sim", json.dumps(art | {"id": "x1", "similarity": math.nan}).encode()),
            (b"a0002", json.dumps(art | {"id": "a0002"}).encode()),
        ],
    )
    s = json.loads(story("s1", 2, centroid=unit("kremlin")).to_json())
    put(
        ks,
        topics.stories,
        [
            (b"s1", json.dumps(s).encode()),
            (b"v-2^63", json.dumps(s | {"id": "s9", "version": 2**63}).encode()),
            (b"s2", json.dumps(s | {"id": "s2"}).encode()),
        ],
    )
    consumer = make_consumer(ks, f"{ks.topic_prefix}-index", [topics.enriched, topics.stories])
    producer = RenewableProducer(lambda: make_producer(ks))
    writer = IndexWriter(es, consumer, producer, topics, names, IndexSettings(flush_ms=100))
    try:
        until(writer.run_once, lambda: writer.processed >= 6)
        assert writer.loop.health() == (True, {})
    finally:
        consumer.close()
        producer.close()
    assert sorted(docs(es, names.articles)) == ["a0001", "a0002"]
    assert sorted(docs(es, names.stories)) == ["s1", "s2"]
    es.close()
    dead = letters(ks, 2)
    assert set(dead) == {b"nan-sim", b"v-2^63"}
    assert b"less than or equal to 9007199254740991" in dead[b"v-2^63"]["storywire.error"]
    assert committed(ks, f"{ks.topic_prefix}-index", topics.enriched) == 3


def _story_fields() -> dict[str, Any]:
    return {"story_id": "s1", "similarity": 0.9, "story_label": "Kremlin drone attack"}


# -- alert ---------------------------------------------------------------------------------------
@pytest.fixture
def alert_service(ks: KafkaSettings, tmp_path: Path) -> Iterator[AlertService]:
    rules = parse_rules("- {name: brk, kind: breaking, min_articles: 2, min_sources: 1, window: 1h}")
    settings = AlertSettings(state_dir=tmp_path, poll_timeout_ms=200, max_update_age_s=1e9, group_id="alert-h")
    svc = AlertService(ks, settings, rules)
    yield svc
    svc.close()


def test_alert_dead_letters_a_story_it_cannot_read_and_decides_on_the_others(
    ks: KafkaSettings, alert_service: AlertService
) -> None:
    topics = Topics(ks.topic_prefix)
    s = json.loads(story("s1", 2, size=3).to_json())
    put(
        ks,
        topics.stories,
        [
            (b"s1", json.dumps(s).encode()),
            (b"inf", json.dumps(s | {"id": "s8", "centroid": [1e39, 0.0, 0.0, 0.0]}).encode()),
            (b"s2", json.dumps(s | {"id": "s2"}).encode()),
        ],
    )
    until(alert_service.step, lambda: committed(ks, "alert-h", topics.stories) == 3)
    assert alert_service.health() == (True, {})
    dead = letters(ks, 1)
    assert set(dead) == {b"inf"} and dead[b"inf"]["storywire.stage"] == b"alert"
    alerts = read_topic(ks, topics.alerts, 2)
    assert sorted(json.loads(r.value)["story"]["id"] for r in alerts) == ["s1", "s2"]
