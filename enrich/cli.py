"""``storywire embed`` and ``storywire cluster`` (``storywire eval`` is in ``storywire.app.evaluate``).

Heavy imports (torch via the embedder, kafka clients) happen inside the commands.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("embed", help="embedding worker: articles.raw -> articles.embedded")
    p.set_defaults(func=_embed)

    p = sub.add_parser("cluster", help="story clusterer: articles.embedded -> articles.enriched + stories")
    p.set_defaults(func=_cluster)


# A loop polls at least every batch_max_ms / second; this leaves room for a slow batch.
READY_MAX_POLL_AGE_S = 120.0
# A loop that has not come round for this long is stuck: the liveness probe fails (a restart helps).
LIVE_MAX_POLL_AGE_S = 600.0


def _observe(port: int, service: Any, kafka: Any, group: str, topics: list[str]) -> Callable[[], None]:
    """/readyz (ready while the loop keeps polling and delivering), /livez, /metrics and the group's lag;
    returns the closer."""
    from storywire.lag import LagMonitor
    from storywire.runtime import OpsServer, heartbeat_health, heartbeat_live

    last = lambda: service.last_poll  # noqa: E731
    ops = OpsServer(
        port,
        health=heartbeat_health(last, READY_MAX_POLL_AGE_S, extra=service.loop.health),
        live=heartbeat_live(last, LIVE_MAX_POLL_AGE_S),
    )
    lag = LagMonitor(kafka, group, topics).start()

    def close() -> None:
        lag.close()
        ops.close()

    return close


def _embed(args: argparse.Namespace) -> int:
    from enrich.embed_worker import EmbedWorker
    from enrich.settings import EnrichSettings
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer
    from storywire.commands import CommandError
    from storywire.config import Settings, load
    from storywire.delivery import broker_limits, renewable_producer
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
    group = group_id(settings.kafka, enrich.embed_group, "embed")
    consumer = make_consumer(settings.kafka, group, [topics.raw])
    producer = renewable_producer(settings.kafka)
    limits = broker_limits(settings.kafka)
    worker = EmbedWorker(enrich, topics, embedder, consumer, producer, limits=limits, stop=stop)
    close_ops = _observe(enrich.embed_ops_port, worker, settings.kafka, group, [topics.raw])
    log.info("embed worker started", extra={"model": embedder.name, "dim": embedder.dim, "topic": topics.raw})
    try:
        worker.run(stop)
    finally:
        consumer.close()
        producer.close()
        close_ops()
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from enrich.cluster import Clusterer
    from enrich.cluster_service import ClusterService, RestoreError, one_blas_thread, read_snapshots, restorable
    from enrich.lookup import SqliteLookup
    from enrich.settings import EnrichSettings
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer
    from storywire.commands import CommandError
    from storywire.config import Settings, load
    from storywire.delivery import broker_limits, renewable_producer
    from storywire.runtime import Stopper

    one_blas_thread()
    settings = Settings.load()
    enrich = load(EnrichSettings)
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka, topics)
    stop = Stopper.install()
    # Dormant stories wait in a local store that restore rebuilds from the stories topic.
    lookup = SqliteLookup()
    core = Clusterer(enrich, lookup)
    try:
        core.restore(restorable(read_snapshots(settings.kafka, topics.stories)))
    except RestoreError as exc:
        raise CommandError(str(exc)) from exc
    extra = {"active": core.active_count, "dormant": len(lookup), "topic": topics.stories}
    log.info("clusterer restored", extra=extra)
    group = group_id(settings.kafka, enrich.cluster_group, "cluster")
    consumer = make_consumer(settings.kafka, group, [topics.embedded])
    producer = renewable_producer(settings.kafka)
    limits = broker_limits(settings.kafka)
    service = ClusterService(enrich, topics, core, consumer, producer, lookup, limits=limits, stop=stop)
    close_ops = _observe(enrich.cluster_ops_port, service, settings.kafka, group, [topics.embedded])
    try:
        service.run(stop)
    finally:
        consumer.close()
        producer.close()
        lookup.close()
        close_ops()
    return 0
