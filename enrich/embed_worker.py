"""Embedding worker: ``articles.raw`` -> ``articles.embedded``, one member of a consumer group.

Add processes to scale out; Kafka spreads the partitions over them. A batch is embedded
when it holds ``batch_max_size`` articles or its first article has waited
``batch_max_ms``, whichever comes first, so a trickle is not held back and a flood is
embedded in efficient batches. Each batch goes through the stages' one rule
(``storywire.consume.StageLoop``): decode (poison -> dead letters), embed title plus
lead, produce EmbeddedArticles keyed by article id, check every acknowledgement, then
commit: a crash repeats a batch, never loses one, and the id key makes the repeat
harmless downstream. An article whose embedded record would not fit its topic is
dead-lettered (the size budget, ``storywire.messages.raw_article_budget``, keeps ingest's
articles below that).

    EmbedderError (storywire.embedder)   the model cannot be loaded (the worker does not
                                         start) or gives a vector that is not a unit
                                         vector for an article (that article is dead-lettered)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np
from prometheus_client import Counter, Histogram

from enrich.features import detect_language, lead, terms, title_and_lead
from enrich.settings import EnrichSettings
from storywire.bus import Consumer, Decoded, Producer, Record, Topics, encode, key_bytes
from storywire.consume import Outputs, StageLoop
from storywire.delivery import Delivery, Limits, Stopped
from storywire.embedder import Embedder, EmbedderError
from storywire.messages import EMBED_TERM_CHARS, UNIT_NORM, Article, EmbeddedArticle
from storywire.runtime import mark_success

log = logging.getLogger(__name__)

T = TypeVar("T")

EMBEDDED = Counter("storywire_embed_articles_total", "Articles embedded and produced")
BATCH_SIZE = Histogram(
    "storywire_embed_batch_size", "Articles per embedded batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
)
BATCH_SECONDS = Histogram("storywire_embed_batch_seconds", "Time to embed one batch (model only)")


class Batcher(Generic[T]):
    """Collects records until the batch is full or its first record is ``max_ms`` old.

    Pure bookkeeping with the clock passed in, so the rule is testable without Kafka.
    """

    def __init__(self, max_size: int, max_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_size = max_size
        self.max_s = max_ms / 1000.0
        self.clock = clock
        self.items: list[T] = []
        self.started: float | None = None

    def add(self, items: list[T]) -> None:
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

    def take(self) -> list[T]:
        items, self.items, self.started = self.items, [], None
        return items


def embed_articles(articles: list[Article], embedder: Embedder, lead_chars: int) -> list[EmbeddedArticle]:
    """Title plus lead of each article through the model, as EmbeddedArticles.

    Each also carries the weighted terms of its title and lead and the names among them,
    which the clusterer compares, and its language when the feed did not declare one: computed here, where
    the work scales out with the workers.
    """
    if not articles:
        return []
    leads = [lead(a, lead_chars) for a in articles]
    vectors = embedder.encode([title_and_lead(a.title, body) for a, body in zip(articles, leads, strict=True)])
    if vectors.shape != (len(articles), embedder.dim):
        raise EmbedderError(f"model returned {vectors.shape} values for {len(articles)} texts")
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    bad = ~(np.isfinite(vectors).all(axis=1) & (norms >= UNIT_NORM[0]) & (norms <= UNIT_NORM[1]))
    if bad.any():
        raise EmbedderError(f"{articles[int(np.argmax(bad))].id}: the model gave no unit vector")
    # The articles are validated messages and the vectors were just checked: no need to
    # validate 384 floats per article again. An article whose feed declares no language
    # gets the detected one (the clusterer compares languages). Terms are kept short so that
    # the record stays within the size budget (storywire.messages.stage_growth).
    out = []
    for a, vec, body in zip(articles, vectors, leads, strict=True):
        names: set[str] = set()
        weights = {t: w for t, w in terms(a.title, body, names=names).items() if len(t) <= EMBED_TERM_CHARS}
        out.append(
            EmbeddedArticle.model_construct(
                **(dict(a) | {"language": a.language or detect_language(a.title, body)}),
                embedding=tuple(vec.tolist()),
                model=embedder.name,
                terms=weights,
                names=tuple(sorted(n for n in names if n in weights)),
            )
        )
    return out


class EmbedWorker:
    """The thin service around ``embed_articles``: poll, batch, then the stages' one rule."""

    def __init__(
        self,
        settings: EnrichSettings,
        topics: Topics,
        embedder: Embedder,
        consumer: Consumer,
        producer: Producer,
        *,
        limits: Limits | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.embedder = embedder
        self.delivery = Delivery(producer, topics, "embed", limits=limits, stop=stop)
        self.loop = StageLoop("embed", consumer, self.delivery)
        self.batcher: Batcher[Record] = Batcher(settings.batch_max_size, settings.batch_max_ms)

    @property
    def last_poll(self) -> float | None:
        """Monotonic time of the last poll, for the readiness check."""
        return self.loop.last_poll

    def poll_once(self) -> int:
        """Poll (bounded by the batch deadline) and process the batch if it is due; returns articles produced."""
        records = self.loop.poll(timeout_ms=max(1, self.batcher.wait_ms()), max_records=self.batcher.room())
        self.batcher.add(records)
        if not records and not self.batcher.items:
            mark_success("embed")  # caught up: nothing to do is progress too
        if not self.batcher.ready():
            return 0
        return self.process(self.batcher.take())

    def process(self, records: list[Record]) -> int:
        done = self.loop.process(records, Article, self._embed)
        BATCH_SIZE.observe(len(records))
        EMBEDDED.inc(done)
        log.info("batch embedded", extra={"articles": done, "records": len(records), "model": self.embedder.name})
        return done

    def _embed(self, items: list[Decoded[Article]], out: Outputs) -> None:
        started = time.perf_counter()
        embedded = embed_articles([d.value for d in items], self.embedder, self.settings.lead_chars)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for d, msg in zip(items, embedded, strict=True):
            out.send(self.topics.embedded, key_bytes(msg.id), encode(msg), d)

    def run(self, stop: threading.Event) -> None:
        self.delivery.stop = self.loop.stop = stop
        try:
            while not stop.is_set():
                self.poll_once()
            if self.batcher.items:
                self.process(self.batcher.take())
        except Stopped:
            log.info("stopped with a batch not delivered; it is read again on restart")
