"""``storywire embed`` and ``storywire cluster`` (``storywire eval`` is in ``storywire.app.evaluate``).

Heavy imports (torch via the embedder, kafka clients) happen inside the commands.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("embed", help="embedding worker: articles.raw -> articles.embedded")
    p.set_defaults(func=_embed)

    p = sub.add_parser("cluster", help="story clusterer: articles.embedded -> articles.enriched + stories")
    p.set_defaults(func=_cluster)


# A loop polls at least every batch_max_ms / second; this leaves room for a slow batch.
READY_MAX_POLL_AGE_S = 120.0


def _ops(port: int, service: Any) -> Any:
    """/health (ready while the service's loop keeps polling) and /metrics, when a port is set."""
    from storywire.runtime import OpsServer, heartbeat_health

    if not port:
        return None
    return OpsServer(port, health=heartbeat_health(lambda: service.last_poll, READY_MAX_POLL_AGE_S))


def _embed(args: argparse.Namespace) -> int:
    from enrich.embed_worker import EmbedWorker
    from enrich.settings import EnrichSettings
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer, make_producer
    from storywire.commands import CommandError
    from storywire.config import Settings, load
    from storywire.embedder import EmbedderError, load_embedder
    from storywire.runtime import Stopper

    settings = Settings.load()
    enrich = load(EnrichSettings)
    stop = Stopper.install()  # before the model loads, so an early SIGTERM still exits cleanly
    try:
        embedder = load_embedder(settings.model)
    except EmbedderError as exc:
        raise CommandError(str(exc)) from exc
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka, topics)
    consumer = make_consumer(settings.kafka, group_id(settings.kafka, enrich.embed_group, "embed"), [topics.raw])
    producer = make_producer(settings.kafka)
    worker = EmbedWorker(enrich, topics, embedder, consumer, producer)
    ops = _ops(enrich.ops_port, worker)
    log.info("embed worker started", extra={"model": embedder.name, "dim": embedder.dim, "topic": topics.raw})
    try:
        worker.run(stop)
    finally:
        consumer.close()
        producer.close()
        if ops:
            ops.close()
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from elasticsearch import Elasticsearch

    from enrich.cluster import Clusterer
    from enrich.cluster_service import ClusterService, RestoreError, read_snapshots
    from enrich.es_lookup import EsStoryLookup
    from enrich.settings import EnrichSettings
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer, make_producer
    from storywire.commands import CommandError
    from storywire.config import Settings, load
    from storywire.runtime import Stopper

    settings = Settings.load()
    enrich = load(EnrichSettings)
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka, topics)
    stop = Stopper.install()
    # Dormant stories are found again in the stories index (enrich.es_lookup).
    es = Elasticsearch(settings.es.url)  # TODO(lead): the kernel's client factory (auth, TLS) once enrich may use it
    lookup = EsStoryLookup(es, f"{settings.es.index_prefix}-stories")
    core = Clusterer(enrich, lookup)
    try:
        core.restore(read_snapshots(settings.kafka, topics.stories))
    except RestoreError as exc:
        raise CommandError(str(exc)) from exc
    log.info("clusterer restored", extra={"active": core.active_count, "topic": topics.stories})
    group = group_id(settings.kafka, enrich.cluster_group, "cluster")
    consumer = make_consumer(settings.kafka, group, [topics.embedded])
    producer = make_producer(settings.kafka)
    service = ClusterService(enrich, topics, core, consumer, producer, lookup)
    ops = _ops(enrich.ops_port, service)
    try:
        service.run(stop)
    finally:
        consumer.close()
        producer.close()
        es.close()
        if ops:
            ops.close()
    return 0
