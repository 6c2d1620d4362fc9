"""Clusterer service: ``articles.embedded`` -> ``articles.enriched`` + ``stories`` (compacted).

Run exactly one per pipeline (a consumer group of one; a second process only waits as a
standby). On start it reads the compacted stories topic to its end and restores the
core from those snapshots (the active stories in memory, the dormant ones in the core's
``StoryLookup``, ``enrich.lookup.SqliteLookup``), then resumes the embedded topic from
the group's committed offsets. Per batch, through the stages' one rule (``storywire.consume.StageLoop``):
decode (poison -> dead letters), assign in order, produce the EnrichedArticles and the
latest snapshot of every changed story, check every acknowledgement, commit. A crash
between flush and commit replays the batch: its articles are then duplicates of
members the snapshots already hold, so they are re-announced with their story and not
counted again. The same input order gives the same stories, with or without restarts.

    ClusterError (enrich.cluster)
     +-- DimensionMismatch   that article goes to the dead-letter topic
     +-- InvalidEmbedding    likewise
    LookupUnavailable        (enrich.lookup) the store of dormant stories failed (its disk
                             is full, say) while a batch was assigned: the batch is not
                             committed, the process stops and is restarted
    RestoreError             the stories topic cannot be read to its end: do not start

A snapshot the restore cannot use (not a valid StorySnapshot, or a centroid of another
size than the first story's) is skipped with a log line: its story is not restored, and
no value it holds is ever emitted again.

The process runs numpy's BLAS on one thread (``one_blas_thread``, called by ``storywire
cluster`` before the restore).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator

from kafka import TopicPartition
from prometheus_client import Counter, Gauge, Histogram
from threadpoolctl import threadpool_limits

from enrich.cluster import Assignment, Clusterer, embedding_problem
from enrich.lookup import LookupUnavailable, StoryLookup
from enrich.settings import EnrichSettings
from storywire.bus import Consumer, Decoded, Producer, ReadingConsumer, Record, Topics, encode, key_bytes, poll_records
from storywire.config import KafkaSettings
from storywire.consume import Outputs, StageLoop
from storywire.delivery import Delivery, Limits, Stopped
from storywire.messages import (
    MAX_SCORE,
    EmbeddedArticle,
    EnrichedArticle,
    MessageError,
    StorySnapshot,
    StoryStatus,
    decode,
)
from storywire.runtime import Progress

log = logging.getLogger(__name__)

ASSIGNED = Counter("storywire_cluster_articles_total", "Articles assigned to a story", ["outcome"])
SNAPSHOTS = Counter("storywire_cluster_snapshots_total", "Story snapshots produced")
ACTIVE = Gauge("storywire_cluster_active_stories", "Stories in memory (active)")
REJECTED = Counter("storywire_cluster_rejected_total", "Articles sent to the dead-letter topic by the core")
BATCH_SIZE = Histogram(
    "storywire_cluster_batch_size", "Records per clustered batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
)
BATCH_SECONDS = Histogram("storywire_cluster_batch_seconds", "Time to assign one batch to stories (core only)")


def one_blas_thread() -> None:
    """Run this process's BLAS on one thread.

    The core's products are many and small (a pre-screen per chunk of articles, a column
    per join). BLAS's extra threads spin between them, a second core's worth of CPU, and
    where the cores are shared that is time the stage's own thread needed: bench/cluster.py
    (10,000 stories, 2 cores) beside another busy process ran 982-1,025 articles/s with
    them, 1,376-1,442 without; on an otherwise idle machine 1,661-1,698 with them and
    1,526-1,549 without (961-975 against 1,526-1,549 articles per CPU-second).
    """
    threadpool_limits(1, user_api="blas")


class RestoreError(Exception):
    """The stories topic could not be read to its end, so the clusterer must not start."""


def read_snapshots(
    kafka: KafkaSettings, topic: str, consumer: ReadingConsumer | None = None, stall_s: float = 120.0
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


def restorable(snapshots: Iterable[StorySnapshot]) -> Iterator[StorySnapshot]:
    """The snapshots a restore can take: active ones with a centroid of the first one's size.

    A stories topic that mixes two models' vectors would otherwise stop the clusterer at
    every start (``DimensionMismatch``); the odd stories are skipped with a log line.
    """
    dim = 0
    for snap in snapshots:
        size = len(snap.centroid)
        if snap.status is StoryStatus.ACTIVE and size:
            if dim and size != dim:
                log.warning("snapshot skipped", extra={"story": snap.id, "error": f"centroid of {size}, not {dim}"})
                continue
            dim = dim or size
        yield snap


def enriched(article: EmbeddedArticle, got: Assignment) -> EnrichedArticle:
    """The article with its story. The terms were for the clusterer; downstream stages do not
    need them. The article was validated when it was decoded; what the core added is checked
    here, so a value it computed wrongly (a similarity of NaN) refuses this article alone."""
    if not (math.isfinite(got.similarity) and abs(got.similarity) <= MAX_SCORE):
        raise ValueError(f"{article.id}: the clusterer gave a similarity of {got.similarity}")
    added = {
        "terms": {},
        "names": (),
        "story_id": got.story_id,
        "similarity": float(got.similarity),
        "story_label": got.label,
    }
    return EnrichedArticle.model_construct(**(dict(article) | added))


class ClusterService:
    """The thin service around ``Clusterer``."""

    def __init__(
        self,
        settings: EnrichSettings,
        topics: Topics,
        core: Clusterer,
        consumer: Consumer,
        producer: Producer,
        lookup: StoryLookup | None = None,
        *,
        limits: Limits | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.lookup = lookup  # dormant stories, told of every snapshot produced (enrich.lookup)
        self.topics = topics
        self.core = core
        self.delivery = Delivery(producer, topics, "cluster", limits=limits, stop=stop)
        # Without its store of dormant stories the core's state after a half-assigned batch is
        # unsure: the process stops and restores from the stories topic (see the module).
        self.loop = StageLoop("cluster", consumer, self.delivery, abort=(LookupUnavailable,))

    @property
    def consumer(self) -> Consumer:
        return self.loop.consumer

    @property
    def last_poll(self) -> float | None:
        """Monotonic time of the last poll, for the readiness check."""
        return self.loop.last_poll

    def poll_once(self, timeout_ms: int = 1000) -> int:
        records = self.loop.poll(timeout_ms=timeout_ms, max_records=self.settings.cluster_batch_max_size)
        return self.loop.process(records, EmbeddedArticle, self._assign)

    def handle(self, records: list[Record]) -> int:
        """Assign, produce and settle one batch without committing it (a crash before the commit)."""
        out, done = self.loop.handle(self.loop.decode(records, EmbeddedArticle), self._assign)
        self.loop.emit(out)
        self.delivery.settle()
        return done

    def _assign(self, items: list[Decoded[EmbeddedArticle]], out: Outputs) -> None:
        good: list[Decoded[EmbeddedArticle]] = []
        dim = self.core.dim
        for d in items:
            problem = embedding_problem(d.value, dim)
            if problem is not None:
                out.reject(d, problem)
                REJECTED.inc()
                continue
            dim = dim or len(d.value.embedding)
            good.append(d)
        started = time.perf_counter()
        assignments = self.core.assign_batch([d.value for d in good])
        BATCH_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(items))
        for d, got in zip(good, assignments, strict=True):
            msg = enriched(d.value, got)
            out.send(self.topics.enriched, key_bytes(msg.id), encode(msg), d)
            ASSIGNED.labels("duplicate" if got.duplicate else "new_story" if got.new_story else "joined").inc()
        changes = self.core.take_changes()
        if self.lookup is not None:
            self.lookup.add(changes)
        for story in changes:
            out.send(self.topics.stories, key_bytes(story.id), encode(story))
        SNAPSHOTS.inc(len(changes))
        ACTIVE.set(self.core.active_count)
        log.info("batch clustered", extra={"articles": len(good), "stories_changed": len(changes)})

    def run(self, stop: threading.Event) -> None:
        self.delivery.stop = self.loop.stop = stop
        try:
            while not stop.is_set():
                self.poll_once()
        except Stopped:
            log.info("stopped with a batch not delivered; it is read again on restart")
