"""Embedding worker: ``articles.raw`` -> ``articles.embedded``, one member of a consumer group.

Add processes to scale out; Kafka spreads the partitions over them. A batch is embedded
when it holds ``batch_max_size`` articles or its first article has waited
``batch_max_ms``, whichever comes first, so a trickle is not held back and a flood is
embedded in efficient batches. Per batch: decode (poison -> dead letters), embed title
plus lead, produce EmbeddedArticles keyed by article id, flush, then commit: a crash
repeats a batch, never loses one, and the id key makes the repeat harmless downstream.

    EmbedderError (storywire.embedder)   the model cannot be loaded or run: the worker stops
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram

from enrich.features import detect_language, lead, terms, title_and_lead
from enrich.settings import EnrichSettings
from storywire.bus import DeadLetters, Topics, decode_records, encode, key_bytes, poll_records
from storywire.embedder import Embedder, EmbedderError
from storywire.messages import Article, EmbeddedArticle
from storywire.runtime import commit_after_batch, mark_success

log = logging.getLogger(__name__)

EMBEDDED = Counter("storywire_embed_articles_total", "Articles embedded and produced")
BATCH_SIZE = Histogram(
    "storywire_embed_batch_size", "Articles per embedded batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
)
BATCH_SECONDS = Histogram("storywire_embed_batch_seconds", "Time to embed one batch (model only)")


class Batcher:
    """Collects records until the batch is full or its first record is ``max_ms`` old.

    Pure bookkeeping with the clock passed in, so the rule is testable without Kafka.
    """

    def __init__(self, max_size: int, max_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_size = max_size
        self.max_s = max_ms / 1000.0
        self.clock = clock
        self.items: list[Any] = []
        self.started: float | None = None

    def add(self, items: list[Any]) -> None:
        if items and self.started is None:
            self.started = self.clock()
        self.items.extend(items)

    def room(self) -> int:
        return max(0, self.max_size - len(self.items))

    def wait_ms(self) -> int:
        """How long the next poll may block without holding the batch past its deadline."""
        if self.started is None:
            return int(self.max_s * 1000)
        return max(0, int((self.started + self.max_s - self.clock()) * 1000))

    def ready(self) -> bool:
        if not self.items:
            return False
        assert self.started is not None
        return len(self.items) >= self.max_size or self.clock() - self.started >= self.max_s

    def take(self) -> list[Any]:
        items, self.items, self.started = self.items, [], None
        return items


def embed_articles(articles: list[Article], embedder: Embedder, lead_chars: int) -> list[EmbeddedArticle]:
    """Title plus lead of each article through the model, as EmbeddedArticles.

    Each also carries the weighted terms of its title and lead, which the clusterer
    compares, and its language when the feed did not declare one: computed here, where
    the work scales out with the workers.
    """
    if not articles:
        return []
    leads = [lead(a, lead_chars) for a in articles]
    vectors = embedder.encode([title_and_lead(a.title, body) for a, body in zip(articles, leads, strict=True)])
    if vectors.shape != (len(articles), embedder.dim) or not np.isfinite(vectors).all():
        raise EmbedderError(f"model returned {vectors.shape} values for {len(articles)} texts, or non-finite ones")
    # The articles are validated messages and the vectors were just checked: no need to
    # validate 384 floats per article again. An article whose feed declares no language
    # gets the detected one (the clusterer compares languages).
    return [
        EmbeddedArticle.model_construct(
            **(dict(a) | {"language": a.language or detect_language(a.title, body)}),
            embedding=tuple(vec.tolist()),
            model=embedder.name,
            terms=terms(a.title, body),
        )
        for a, vec, body in zip(articles, vectors, leads, strict=True)
    ]


class EmbedWorker:
    """The thin service around ``embed_articles``: poll, batch, produce, flush, commit."""

    def __init__(self, settings: EnrichSettings, topics: Topics, embedder: Embedder, consumer: Any, producer: Any):
        self.settings = settings
        self.topics = topics
        self.embedder = embedder
        self.consumer = consumer
        self.producer = producer
        self.dead = DeadLetters(producer, topics, "embed")
        self.batcher = Batcher(settings.batch_max_size, settings.batch_max_ms)
        self.last_poll: float | None = None  # monotonic time of the last poll, for the readiness check

    def poll_once(self) -> int:
        """Poll (bounded by the batch deadline) and process the batch if it is due; returns articles produced."""
        self.last_poll = time.monotonic()
        records = poll_records(
            self.consumer, timeout_ms=max(1, self.batcher.wait_ms()), max_records=self.batcher.room()
        )
        self.batcher.add(records)
        if not records and not self.batcher.items:
            mark_success("embed")  # caught up: nothing to do is progress too
        if not self.batcher.ready():
            return 0
        return self.process(self.batcher.take())

    def process(self, records: list[Any]) -> int:
        decoded = decode_records(records, Article, self.dead)
        started = time.perf_counter()
        out = embed_articles([d.value for d in decoded], self.embedder, self.settings.lead_chars)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(records))
        for msg in out:
            self.producer.send(self.topics.embedded, key=key_bytes(msg.id), value=encode(msg))
        self.producer.flush()
        commit_after_batch(self.consumer, log)
        mark_success("embed")
        EMBEDDED.inc(len(out))
        log.info("batch embedded", extra={"articles": len(out), "records": len(records), "model": self.embedder.name})
        return len(out)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll_once()
        if self.batcher.items:
            self.process(self.batcher.take())
