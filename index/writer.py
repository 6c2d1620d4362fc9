"""The index writer: enriched articles and story snapshots -> Elasticsearch.

One consumer reads both topics; each poll becomes one bulk request. The batch's offsets
are committed only when every item has an outcome Elasticsearch acknowledged:

    indexed / stale story (409)   -> done
    refused for good (400 ...)    -> dead-letter topic (acknowledged), done
    429, 5xx, connection refused  -> stop polling, back off, send those items again

so an outage holds the batch, nothing is lost, and nothing is committed early. Replays
overwrite the same ``_id`` (articles) or lose to the indexed external version (stories),
so the effect in Elasticsearch is exactly once.

The writer keeps a loop of its own (one bulk in flight while the next batch is polled)
but follows the stages' one rule through ``storywire.consume.StageLoop``'s steps: decode
and validate (poison -> dead letters), build each document with a record that raises
dead-lettered alone, every dead letter acknowledged (``Delivery.settle``) before the
batch's own offsets are committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as ESConnectionError
from prometheus_client import Counter, Gauge, Histogram

from index.client import IndexNames
from index.documents import Outcome, article_lines, classify, story_action
from index.settings import IndexSettings
from storywire.backoff import Backoff
from storywire.bus import Consumer, Decoded, Producer, Record, Topics
from storywire.consume import Outputs, StageLoop
from storywire.delivery import Delivery, Limits, Stopped
from storywire.memory import PeriodicReclaim
from storywire.messages import EnrichedArticle, Message, Story
from storywire.runtime import mark_success

log = logging.getLogger(__name__)

DOCS = Counter("storywire_index_docs_total", "Bulk items by kind and outcome", ["kind", "outcome"])
BULK_SECONDS = Histogram("storywire_index_bulk_seconds", "Duration of one bulk request")
BATCH_SIZE = Histogram(
    "storywire_index_batch_size", "Records per committed batch", buckets=(1, 4, 16, 64, 128, 256, 512, 1000, 2000, 5000)
)
RETRIES = Counter("storywire_index_retries_total", "Bulk attempts that had to be retried", ["reason"])
PAUSED = Gauge("storywire_index_paused", "1 while the writer waits for Elasticsearch")
# End-to-end freshness: from the poller's fetch to Elasticsearch's acknowledgement.
ARTICLE_LATENCY = Histogram(
    "storywire_index_article_latency_seconds",
    "Time from an article's fetch to its indexing (the whole pipeline)",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
NEWEST_FETCHED = Gauge(
    "storywire_index_newest_article_fetched_timestamp_seconds",
    "Fetch time (Unix) of the most recently fetched article indexed so far",
)


class Interrupted(Exception):
    """The writer was stopped while waiting for Elasticsearch; the batch stays uncommitted."""


@dataclass
class _Op:
    record: Record
    kind: str  # "article" or "story"
    header: dict[str, Any]
    doc: dict[str, Any] | bytes  # bytes: already-serialised JSON
    fetched: float | None = None  # an article's fetch time (Unix), for the freshness metrics


_RETRY_STATUSES = {401, 403, 404, 408, 429}  # auth or a missing alias: an operator can fix it, so wait


def is_transient(exc: BaseException) -> bool:
    """True for an Elasticsearch failure worth waiting out: no connection, 429, 5xx, or a fixable 4xx."""
    if isinstance(exc, ApiError):
        return exc.status_code in _RETRY_STATUSES or exc.status_code >= 500
    return isinstance(exc, (ESConnectionError, TransportError))


class IndexWriter:
    def __init__(
        self,
        es: Elasticsearch,
        consumer: Consumer,
        producer: Producer,
        topics: Topics,
        names: IndexNames,
        settings: IndexSettings,
        *,
        sleep: Callable[[float], object] | None = None,
        stop: threading.Event | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.es = es
        self.topics = topics
        self.names = names
        self.settings = settings
        self.stop = stop or threading.Event()
        self.delivery = Delivery(producer, topics, "index", limits=limits, stop=self.stop)
        self.loop = StageLoop("index", consumer, self.delivery)
        self._sleep = sleep or self.stop.wait
        self._reclaim = PeriodicReclaim(settings.reclaim_s)
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self.retries = 0  # attempts that failed, for tests and logs
        self.paused = False
        self.processed = 0  # records whose offsets were committed (or attempted, after a rebalance)
        # Monotonic time of the last poll or bulk attempt: retries during an outage count, so
        # the liveness check fails only for a writer that is really stuck.
        self.last_beat: float | None = None
        self.newest_fetched = 0.0  # Unix fetch time of the newest article indexed

    def run(self) -> None:
        """Poll, write and commit until ``stop`` is set.

        One bulk is in flight on a worker thread while this thread polls and decodes the
        next batch. A batch is committed only once its bulk is acknowledged, and the next
        bulk is sent only after that, so at most one batch is held beyond the one being
        written. A stop during an outage leaves the batches uncommitted (they are re-read).
        """
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-bulk")
        inflight: tuple[Future[None], list[Record]] | None = None
        try:
            while not self.stop.is_set():
                records = self._collect()
                ops = self._ops(records) if records else []
                if inflight is not None:
                    self._finish(*inflight)
                    inflight = None
                if records:
                    inflight = (pool.submit(self._write, ops), records)
                self._reclaim()
            if inflight is not None:
                self._finish(*inflight)
        except (Interrupted, Stopped):
            log.info("stopped while waiting for elasticsearch or kafka; the batch stays uncommitted")
        finally:
            pool.shutdown(wait=True)

    def run_once(self) -> int:
        """Process one batch synchronously; return how many records it held."""
        records = self._collect()
        if not records:
            return 0
        ops = self._ops(records)
        if ops:
            self._write(ops)
        self._finish_records(records)
        return len(records)

    def _finish(self, written: Future[None], records: list[Record]) -> None:
        written.result()  # re-raises Interrupted (or a bug) from the worker
        self._finish_records(records)

    def _finish_records(self, records: list[Record]) -> None:
        self.delivery.settle()  # every dead letter of this batch is acknowledged
        # A rebalance may refuse the commit; the partitions' owner then re-reads and rewrites (idempotently).
        self.loop.commit(records)
        self.processed += len(records)
        BATCH_SIZE.observe(len(records))

    def _collect(self) -> list[Record]:
        """One bulk's worth: poll until ``bulk_max_docs`` records or ``flush_ms`` after the first."""
        limit = self.settings.bulk_max_docs
        self.last_beat = time.monotonic()
        records = self.loop.poll(self.settings.poll_timeout_ms, limit)
        if not records:
            mark_success("index")  # caught up: nothing to do is progress too
            return records
        deadline = time.monotonic() + self.settings.flush_ms / 1000.0
        while len(records) < limit:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            more = self.loop.poll(remaining_ms, limit - len(records))
            if not more:
                break
            records += more
        return records

    def _ops(self, records: list[Record]) -> list[_Op]:
        """The batch's bulk operations; a record that does not decode or build is dead-lettered."""
        ops: list[_Op] = []

        def build(items: list[Decoded[Message]], out: Outputs) -> None:
            ops.extend([self._op(d) for d in items])  # all or nothing, so a retry alone adds no twin

        arts = self.loop.decode([r for r in records if r.topic == self.topics.enriched], EnrichedArticle)
        stories = self.loop.decode([r for r in records if r.topic == self.topics.stories], Story)
        out, _ = self.loop.handle([*arts, *stories], build)
        self.loop.emit(out)
        return ops

    def _op(self, d: Decoded[Message]) -> _Op:
        if isinstance(d.value, EnrichedArticle):
            header, line = article_lines(self.names.articles, d.value)
            return _Op(d.record, "article", header, line, d.value.fetched.timestamp())
        assert isinstance(d.value, Story)
        header, doc = story_action(self.names.stories, d.value)
        return _Op(d.record, "story", header, doc)

    def _write(self, ops: list[_Op]) -> None:
        pending = ops
        while pending:
            pending = self._attempt(pending)
            if pending:
                self._wait()
        if self.paused:
            log.info("elasticsearch back, resuming", extra={"retries": self.retries})
        self.paused = False
        PAUSED.set(0)
        self.backoff.reset()

    def _attempt(self, ops: list[_Op]) -> list[_Op]:
        """Send one bulk; return the operations to send again."""
        self.last_beat = time.monotonic()
        body: list[Any] = []  # dicts and pre-serialised lines; the NDJSON serializer takes both
        for op in ops:
            body += (op.header, op.doc)
        try:
            with BULK_SECONDS.time():
                resp = self.es.bulk(
                    operations=body, require_alias=True, filter_path="errors,items.*.status,items.*.error"
                )
        except ApiError as exc:
            if exc.status_code in _RETRY_STATUSES or exc.status_code >= 500:
                return self._failed(ops, f"http {exc.status_code}", exc)
            # The whole request was refused (413, a malformed body): find the culprits one by one.
            if len(ops) > 1:
                mid = len(ops) // 2
                return self._attempt(ops[:mid]) + self._attempt(ops[mid:])
            self._reject(ops[0], f"{exc.status_code} {exc.error}: {str(exc.info)[:500]}")
            return []
        except (ESConnectionError, TransportError) as exc:
            return self._failed(ops, "connection", exc)
        if not resp.get("errors"):
            for op in ops:
                DOCS.labels(op.kind, Outcome.OK.value).inc()
            self._fresh(ops)
            return []
        retry: list[_Op] = []
        indexed: list[_Op] = []
        for op, item in zip(ops, resp["items"], strict=True):
            outcome, error = classify(item)
            if outcome is Outcome.RETRY or (outcome is Outcome.REJECT and _status(item) in _RETRY_STATUSES):
                retry.append(op)
                continue
            if outcome is Outcome.REJECT:
                self._reject(op, error)
                continue
            DOCS.labels(op.kind, outcome.value).inc()
            if outcome is Outcome.OK:
                indexed.append(op)
        self._fresh(indexed)
        if retry:
            return self._failed(retry, "item", f"{len(retry)} of {len(ops)} items must be retried")
        return []

    def _fresh(self, ops: list[_Op]) -> None:
        """Observe fetch-to-indexed latency of the articles Elasticsearch just acknowledged."""
        fetched = [op.fetched for op in ops if op.fetched is not None]
        if not fetched:
            return
        now = time.time()
        for t in fetched:
            ARTICLE_LATENCY.observe(max(0.0, now - t))
        if max(fetched) > self.newest_fetched:
            self.newest_fetched = max(fetched)
            NEWEST_FETCHED.set(self.newest_fetched)

    def _failed(self, ops: list[_Op], reason: str, error: BaseException | str) -> list[_Op]:
        self.retries += 1
        RETRIES.labels(reason).inc()
        if not self.paused:
            log.warning(
                "elasticsearch unavailable, pausing",
                extra={"reason": reason, "pending": len(ops), "error": str(error)[:300]},
            )
        self.paused = True
        PAUSED.set(1)
        return ops

    def _reject(self, op: _Op, error: str) -> None:
        DOCS.labels(op.kind, Outcome.REJECT.value).inc()
        self.delivery.dead_letter(op.record, f"elasticsearch refused the document: {error}")

    def _wait(self) -> None:
        delay = self.backoff.next_delay()
        self._sleep(delay)
        if self.stop.is_set():
            raise Interrupted


def _status(item: dict[str, Any]) -> int:
    return int(next(iter(item.values())).get("status", 0))
