"""``bench/embed.py --worker``: the real EmbedWorker (Kafka in and out) against bare ``encode``.

Needs the local stack's Kafka (``storywire stack up``). Articles go to a fresh raw topic;
the worker (batches of ``EnrichSettings.batch_max_size``, commit per batch) embeds them
while the clock runs until the last EmbeddedArticle is acknowledged. In the same run the
default backend encodes the very same texts; the two alternate and each keeps its best
round. The ratio is worker articles/s over bare articles/s (target 0.9 or more).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from kafka.admin import KafkaAdminClient

from enrich.embed_worker import EmbedWorker
from enrich.features import embedding_text
from enrich.settings import EnrichSettings
from storywire.bus import Topics, client_config, encode, ensure_topics, key_bytes, make_consumer, make_producer
from storywire.config import KafkaSettings, ModelSettings, defaults
from storywire.embedder import load_embedder
from storywire.messages import Article


def worker_ratio(items: list[Article], rounds: int) -> dict[str, Any]:
    # The service's own batching: a last partial batch waits batch_max_ms, as it would live.
    settings = defaults(EnrichSettings)
    model = defaults(ModelSettings)
    embedder = load_embedder(model)
    texts = [embedding_text(a, settings.lead_chars) for a in items]
    embedder.encode(texts[:32])  # warm-up

    def bare() -> float:
        t0 = time.perf_counter()
        embedder.encode(texts)
        return time.perf_counter() - t0

    def through_worker() -> float:
        kafka = KafkaSettings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}", partitions=1)
        topics = Topics(kafka.topic_prefix)
        ensure_topics(kafka, topics)
        producer = make_producer(kafka)
        for a in items:
            producer.send(topics.raw, key=key_bytes(a.id), value=encode(a))
        producer.flush()
        consumer = make_consumer(kafka, "bench-embed", [topics.raw])
        worker = EmbedWorker(settings, topics, embedder, consumer, producer)
        while not consumer.assignment():  # join the group before the clock starts
            consumer.poll(timeout_ms=200, max_records=1)
            consumer.seek_to_beginning()
        t0 = time.perf_counter()
        done = 0
        while done < len(items):
            done += worker.poll_once()
        elapsed = time.perf_counter() - t0
        consumer.close()
        producer.close()
        admin = KafkaAdminClient(**client_config(kafka))
        admin.delete_topics(topics.all())
        admin.close()
        return elapsed

    bare_runs: list[float] = []
    worker_runs: list[float] = []
    for _ in range(rounds):
        bare_runs.append(bare())
        worker_runs.append(through_worker())
    return {
        "backend": model.backend,
        "bare_per_s": round(len(items) / min(bare_runs), 1),
        "worker_per_s": round(len(items) / min(worker_runs), 1),
        "ratio": round(min(bare_runs) / min(worker_runs), 3),
    }
