"""Clusterer service: ``articles.embedded`` -> ``articles.enriched`` + ``stories`` (compacted).

Run exactly one per pipeline (a consumer group of one; a second process only waits as a
standby). On start it reads the compacted stories topic to its end and restores the
core from those snapshots, then resumes the embedded topic from the group's committed
offsets. Per batch: decode (poison -> dead letters), assign in order, produce the
EnrichedArticles and the latest snapshot of every changed story, flush, commit. A crash
between flush and commit replays the batch: its articles are then duplicates of
members the snapshots already hold, so they are re-announced with their story and not
counted again. The same input order gives the same stories, with or without restarts.

    ClusterError (enrich.cluster)
     +-- DimensionMismatch   that article goes to the dead-letter topic
     +-- InvalidEmbedding    likewise
     +-- LookupUnavailable   (enrich.es_lookup) the stories index did not answer when a
                             late article needed dormant stories: the batch is not
                             committed, the process stops and is restarted
    RestoreError             the stories topic cannot be read to its end: do not start
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from kafka import TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from enrich.cluster import Assignment, Clusterer, embedding_problem
from enrich.es_lookup import EsStoryLookup
from enrich.lookup import MemoryLookup
from enrich.settings import EnrichSettings
from storywire.bus import DeadLetters, Decoded, Topics, decode_records, encode, key_bytes, poll_records
from storywire.config import KafkaSettings
from storywire.messages import EmbeddedArticle, EnrichedArticle, MessageError, StorySnapshot, decode
from storywire.runtime import Progress, commit_after_batch, mark_success

log = logging.getLogger(__name__)

ASSIGNED = Counter("storywire_cluster_articles_total", "Articles assigned to a story", ["outcome"])
SNAPSHOTS = Counter("storywire_cluster_snapshots_total", "Story snapshots produced")
ACTIVE = Gauge("storywire_cluster_active_stories", "Stories in memory (active)")
REJECTED = Counter("storywire_cluster_rejected_total", "Articles sent to the dead-letter topic by the core")
BATCH_SIZE = Histogram(
    "storywire_cluster_batch_size", "Records per clustered batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
)
BATCH_SECONDS = Histogram("storywire_cluster_batch_seconds", "Time to assign one batch to stories (core only)")


class RestoreError(Exception):
    """The stories topic could not be read to its end, so the clusterer must not start."""


def read_snapshots(
    kafka: KafkaSettings, topic: str, consumer: Any | None = None, stall_s: float = 120.0
) -> Iterator[StorySnapshot]:
    """Every snapshot on the stories topic up to its current end, streamed (undecodable ones are skipped).

    Raises RestoreError when the topic has no partitions (it is created before this is
    called, so the broker did not answer) or when reading makes no progress for
    ``stall_s``: starting from a partial state would open duplicate stories.
    """
    from storywire.bus import make_consumer

    own = consumer is None
    consumer = consumer or make_consumer(kafka, None, consumer_timeout_ms=1000)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            raise RestoreError(f"{topic}: no partitions found; is the broker reachable and the topic created?")
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        progress = Progress("restore stories", log, total=sum(end.values()))
        last_progress = time.monotonic()
        while any(consumer.position(tp) < end[tp] for tp in tps):
            records = poll_records(consumer, timeout_ms=1000)
            if records:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                raise RestoreError(f"{topic}: no progress reading snapshots for {stall_s:.0f}s")
            for rec in records:
                progress.step()
                if rec.value is None:
                    continue
                try:
                    story = decode(StorySnapshot, rec.value)
                except MessageError as exc:
                    log.warning(
                        "snapshot skipped", extra={"partition": rec.partition, "offset": rec.offset, "error": str(exc)}
                    )
                    continue
                yield story
        progress.done()
    finally:
        if own:
            consumer.close()


def enriched(article: EmbeddedArticle, got: Assignment) -> EnrichedArticle:
    # The terms were for the clusterer; downstream stages do not need them.
    return EnrichedArticle.model_validate(
        article.model_dump()
        | {"terms": {}, "story_id": got.story_id, "similarity": got.similarity, "story_label": got.label}
    )


class ClusterService:
    """The thin service around ``Clusterer``."""

    def __init__(
        self,
        settings: EnrichSettings,
        topics: Topics,
        core: Clusterer,
        consumer: Any,
        producer: Any,
        lookup: EsStoryLookup | MemoryLookup | None = None,
    ) -> None:
        self.settings = settings
        self.lookup = lookup  # told of every snapshot produced, so it knows stories the index has not yet
        self.topics = topics
        self.core = core
        self.consumer = consumer
        self.producer = producer
        self.dead = DeadLetters(producer, topics, "cluster")
        self.last_poll: float | None = None  # monotonic time of the last poll, for the readiness check

    def poll_once(self, timeout_ms: int = 1000) -> int:
        self.last_poll = time.monotonic()
        records = poll_records(self.consumer, timeout_ms=timeout_ms, max_records=self.settings.cluster_batch_max_size)
        if not records:
            mark_success("cluster")  # caught up: nothing to do is progress too
            return 0
        n = self.handle(records)
        commit_after_batch(self.consumer, log)
        mark_success("cluster")
        return n

    def handle(self, records: list[Any]) -> int:
        """Assign, produce and flush one batch (the caller commits afterwards)."""
        decoded = decode_records(records, EmbeddedArticle, self.dead)
        good: list[Decoded[EmbeddedArticle]] = []
        dim = self.core.dim
        for d in decoded:
            problem = embedding_problem(d.value, dim)
            if problem is not None:
                self.dead.send(_record_of(records, d), problem)
                REJECTED.inc()
                continue
            dim = dim or len(d.value.embedding)
            good.append(d)
        started = time.perf_counter()
        assignments = self.core.assign_batch([d.value for d in good])
        BATCH_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(records))
        for d, got in zip(good, assignments, strict=True):
            msg = enriched(d.value, got)
            self.producer.send(self.topics.enriched, key=key_bytes(msg.id), value=encode(msg))
            ASSIGNED.labels("duplicate" if got.duplicate else "new_story" if got.new_story else "joined").inc()
        changes = self.core.take_changes()
        if self.lookup is not None:
            self.lookup.add(changes)
        for story in changes:
            self.producer.send(self.topics.stories, key=key_bytes(story.id), value=encode(story))
        self.producer.flush()
        SNAPSHOTS.inc(len(changes))
        ACTIVE.set(self.core.active_count)
        log.info("batch clustered", extra={"articles": len(good), "stories_changed": len(changes)})
        return len(good)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll_once()


def _record_of(records: list[Any], d: Decoded[EmbeddedArticle]) -> Any:
    for rec in records:
        if rec.partition == d.partition and rec.offset == d.offset and rec.topic == d.topic:
            return rec
    raise LookupError("decoded record not in its batch")
