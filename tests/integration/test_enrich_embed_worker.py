"""The embedding worker against the real broker, with the real default model."""

from __future__ import annotations

import numpy as np
import pytest

from devtools.samples import article, read_topic
from enrich.embed_worker import EmbedWorker
from enrich.features import article_terms
from enrich.settings import EnrichSettings
from storywire.bus import Topics, encode, ensure_topics, key_bytes, make_consumer, make_producer, poll_records
from storywire.config import KafkaSettings, ModelSettings
from storywire.embedder import load_embedder
from storywire.messages import EmbeddedArticle, decode

pytestmark = pytest.mark.integration


def test_worker_embeds_batches_produces_commits_and_dead_letters_poison(kafka_settings: KafkaSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    producer = make_producer(kafka_settings)
    sent = [article(i, title=f"Drones shot down over the Kremlin, report {i}") for i in range(7)]
    for a in sent:
        producer.send(topics.raw, key=key_bytes(a.id), value=encode(a))
    producer.send(topics.raw, key=b"poison", value=b"\xff not an article")
    producer.flush()

    embedder = load_embedder(ModelSettings())
    settings = EnrichSettings(batch_max_size=4, batch_max_ms=300)
    consumer = make_consumer(kafka_settings, "embed-test", [topics.raw])
    worker = EmbedWorker(settings, topics, embedder, consumer, producer)
    done = 0
    for _ in range(120):
        done += worker.poll_once()
        if done >= len(sent) and worker.delivery.dead_letters == 1:
            break
    consumer.close()
    assert done == len(sent)

    out = [decode(EmbeddedArticle, r.value) for r in read_topic(kafka_settings, topics.embedded, len(sent))]
    assert sorted(m.id for m in out) == sorted(a.id for a in sent)
    for m in out:
        vec = np.asarray(m.embedding)
        assert len(vec) == embedder.dim  # from the model, not a constant
        assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-4)
        assert m.model == "all-MiniLM-L6-v2"
        # the terms the clusterer compares, and the names among them, travel with the vector,
        # as the clusterer would compute them
        names: set[str] = set()
        assert m.terms and m.terms == article_terms(m, settings.lead_chars, names=names)
        assert m.names == tuple(sorted(names))
        assert "kremlin" in m.terms
    assert len(read_topic(kafka_settings, topics.dlq, 1)) == 1

    # Offsets were committed after the output was acknowledged: nothing is left for the group.
    again = make_consumer(kafka_settings, "embed-test", [topics.raw])
    assert sum(len(poll_records(again, timeout_ms=500)) for _ in range(6)) == 0
    again.close()
    producer.close()
