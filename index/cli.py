"""``storywire index run|migrate``: the index writer's commands.

Heavy imports (elasticsearch) happen inside the command functions, so ``storywire --help``
stays fast. The writer never loads the embedding model: the mappings' vector size comes
from ``STORYWIRE_INDEX_DIMS`` or the model's configuration files. The read commands (search, story, articles, api) are
in ``search.cli``.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.settings import IndexSettings
    from storywire.config import Settings

log = logging.getLogger(__name__)

# The writer polls every poll_timeout_ms and retries at least every retry_max_s; a writer
# silent for this long is stuck, and a restart is what helps.
LIVE_MAX_BEAT_AGE_S = 600.0


def register(sub: Any) -> None:
    idx = sub.add_parser("index", help="write enriched articles and stories to Elasticsearch")
    isub = idx.add_subparsers(dest="index_command", required=True)
    run = isub.add_parser("run", help="consume enriched articles and stories and index them (the service)")
    run.set_defaults(func=cmd_run)
    mig = isub.add_parser("migrate", help="copy into the next index version and swap the aliases")
    mig.add_argument("--dims", type=int, help="vector size of the new mappings (default: the current one)")
    mig.add_argument("--delete-old", action="store_true", help="delete the old index versions afterwards")
    mig.set_defaults(func=cmd_migrate)


def load_settings() -> tuple[Settings, IndexSettings]:
    """The connection sections and the index section, as every index and search command loads them."""
    from index.settings import IndexSettings
    from storywire.config import Settings, load

    return Settings.load(), load(IndexSettings)


def _dims(settings: Settings, index_settings: IndexSettings) -> int:
    """The mappings' vector size: ``STORYWIRE_INDEX_DIMS``, else read from the model's configuration
    files (the writer never loads the model's weights)."""
    if index_settings.dims:
        return index_settings.dims
    from storywire.commands import CommandError
    from storywire.embedder import EmbedderError, model_dim

    try:
        return model_dim(settings.model.name)
    except EmbedderError as exc:
        raise CommandError(f"{exc}; or set STORYWIRE_INDEX_DIMS") from exc


def until_available(step: Callable[[], None], stop: threading.Event, initial_s: float, max_s: float) -> bool:
    """Run ``step`` until Elasticsearch lets it through, backing off on transient failures.

    A 429, a 5xx or no connection at start-up is waited out like the writer waits it out
    later; any other error is raised. Returns False if ``stop`` was set while waiting.
    """
    from index.writer import is_transient
    from storywire.backoff import Backoff

    backoff = Backoff(initial_s, max_s, jitter=0.0)  # one process waiting: nobody to collide with
    while True:
        try:
            step()
            return True
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = backoff.next_delay()
            log.warning(
                "elasticsearch not available at start-up; retrying",
                extra={"error": str(exc)[:200], "retry_in_s": round(delay, 2)},
            )
        if stop.wait(delay):
            return False


def cmd_run(args: argparse.Namespace) -> int:
    from index.client import IndexNames, make_client
    from index.health import combined
    from index.mappings import ensure_indices, missing_aliases
    from index.settings import crc_checks
    from index.writer import IndexWriter
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer
    from storywire.delivery import broker_limits, renewable_producer
    from storywire.lag import LagMonitor
    from storywire.runtime import OpsServer, Stopper, heartbeat_live

    settings, index_settings = load_settings()
    stop = Stopper.install()
    es = make_client(settings.es)
    names = IndexNames(settings.es.index_prefix)
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka, topics)

    def prepare() -> None:
        if missing_aliases(es, names):  # only then does the vector size matter
            ensure_indices(es, names, _dims(settings, index_settings), settings.es.text_analyzer)

    # Served from the start, also while Elasticsearch is awaited: ready while Kafka and
    # Elasticsearch answer; alive while the writer polls or retries (and while it waits to
    # start), so a liveness probe never restarts it for an outage it is waiting out.
    writer: list[IndexWriter] = []
    ops = OpsServer(
        index_settings.ops_port,
        # and while the writer's dead letters are acknowledged (storywire.delivery)
        health=combined(es, settings.kafka, extra=lambda: writer[0].loop.health() if writer else (True, {})),
        live=heartbeat_live(lambda: writer[0].last_beat if writer else None, LIVE_MAX_BEAT_AGE_S),
    )
    try:
        if not until_available(prepare, stop, index_settings.retry_initial_s, index_settings.retry_max_s):
            return 0  # stopped while Elasticsearch was still unavailable
        group = group_id(settings.kafka, index_settings.group_id, "index")
        consumer = make_consumer(
            settings.kafka,
            group,
            [topics.enriched, topics.stories],
            max_poll_interval_ms=600_000,
            max_partition_fetch_bytes=index_settings.max_partition_fetch_bytes,
            check_crcs=crc_checks(index_settings),
        )
        producer = renewable_producer(settings.kafka)
        limits = broker_limits(settings.kafka)
        writer.append(IndexWriter(es, consumer, producer, topics, names, index_settings, stop=stop, limits=limits))
        lag = LagMonitor(settings.kafka, group, [topics.enriched, topics.stories]).start()
        try:
            writer[0].run()
        finally:
            lag.close()
            consumer.close()
            producer.close()
    finally:
        ops.close()
        es.close()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from index.client import IndexNames, make_client
    from index.errors import MigrationError
    from index.mappings import migrate
    from storywire.commands import CommandError

    settings, _ = load_settings()
    es = make_client(settings.es, request_timeout=max(settings.es.request_timeout_s, 120.0))
    try:
        done = migrate(es, IndexNames(settings.es.index_prefix), args.dims, settings.es.text_analyzer, args.delete_old)
    except MigrationError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        es.close()
    for m in done:
        print(f"{m.alias}: {m.old} -> {m.new} ({m.copied} documents)")
    return 0
