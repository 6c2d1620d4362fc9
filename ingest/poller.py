"""The ingest service: due feeds -> fetch -> parse -> produce -> flush -> then save state.

Each feed is on its own schedule. ``step`` (the service loop calls it every tick) starts
the due feeds on a thread pool, at most ``batch_feeds`` in flight and
``per_host_concurrency`` per host, and delivers the ones that finished; it never waits
for a fetch, so a slow feed holds one worker until its deadline and nothing else.
``poll_due`` is one whole pass that waits for its feeds (``--once``, tests, benchmark).

For each feed, on a worker thread (``fetch_one``): fetch, then parse in a worker process
(ingest.parsepool), all within the fetch deadline; a 304 or a body identical to the
last one is not parsed again. Then, on the caller's thread (``_deliver``):

1. produce every Article not seen before, keyed by its id, then ``flush``;
2. only for the feeds whose Articles were all acknowledged, save the new HTTP
   validators and seen ids together (StateStore.commit_success). A crash before that
   re-sends rather than loses; the id key makes a re-send idempotent downstream.

Failures never leave this module as exceptions: each feed's FetchError / ParseError
goes into its state (error count, backoff, last error; a 410 disables it) and the
metrics, and the other feeds go on.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from ingest import metrics
from ingest.errors import Gone, IngestError, ParseError, ProduceError, RateLimited
from ingest.feeds import FeedSpec
from ingest.fetch import Fetcher, FetchResult
from ingest.parse import ParsedFeed
from ingest.parsepool import ParseJob, ParsePool
from ingest.schedule import Policy, cache_hint_s, next_after_failure, next_after_success
from ingest.settings import IngestSettings
from ingest.state import FeedState, StateStore
from storywire.messages import Article, raw_article_budget, utcnow

log = logging.getLogger(__name__)


class SendFuture(Protocol):
    def get(self, timeout: float | None = None) -> object: ...


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> object:
        raise self.error


def fit_message(article: Article, limit: int) -> bytes:
    """The Article as JSON within ``limit`` bytes: long text is cut and the cut recorded, not dropped."""
    value = article.to_json()
    budget = raw_article_budget(limit)  # room for what the embedding and clustering stages add
    if len(value) <= budget:
        return value
    content, summary = article.content, article.summary
    while len(value) > budget and (content or summary):
        if content:
            content = content[: len(content) // 2]
        else:
            summary = summary[: len(summary) // 2]
        warnings = (*article.warnings, "text cut to fit a Kafka message")
        value = article.model_copy(update={"content": content, "summary": summary, "warnings": warnings}).to_json()
    return value


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


class Producer(Protocol):
    """What the poller needs of a KafkaProducer (made with bus.make_producer: acks=all, idempotent)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> SendFuture: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass
class Outcome:
    """What happened to one feed in one pass, before anything was produced or saved."""

    spec: FeedSpec
    state: FeedState
    fetched_at: datetime
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    error: IngestError | None = None
    body_hash: str | None = None

    @property
    def unchanged(self) -> bool:
        return self.result is not None and self.parsed is None and self.error is None


@dataclass
class PassReport:
    feeds: int = 0
    produced: int = 0
    not_modified: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # feed url -> error


class Poller:
    def __init__(
        self,
        settings: IngestSettings,
        store: StateStore,
        fetcher: Fetcher,
        producer: Producer,
        topic: str,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        max_message_bytes: int = 1_048_576,
        parser: ParsePool | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.producer = producer
        self.topic = topic
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_message_bytes = max_message_bytes
        self.policy = Policy(
            min_interval_s=settings.min_interval_s,
            max_interval_s=settings.max_interval_s,
            jitter=settings.jitter,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
        )
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="ingest-fetch")
        self.parser = parser or ParsePool(settings.parse_workers, settings.parse_memory_mb)
        self._host_slots: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()
        self.inflight: dict[str, tuple[Future[Outcome], str]] = {}  # feed url -> (its fetch, its host)
        self.last_flush_ok = True

    def close(self) -> None:
        """Stop: fetches not started are dropped (their state is untouched), running ones end by their deadline."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.parser.close()

    # -- picking ---------------------------------------------------------------------------

    def due(self, feeds: Sequence[FeedSpec], now: datetime | None = None) -> list[tuple[FeedSpec, FeedState]]:
        now = now or self.clock()
        states = self.store.all()
        due = [(f, states.get(f.url) or FeedState(f.url)) for f in feeds]
        due = [(f, s) for f, s in due if s.due(now) and f.url not in self.inflight]
        due.sort(key=lambda fs: fs[1].next_poll or datetime.min.replace(tzinfo=now.tzinfo))
        return due

    # -- one feed, on a worker thread ---------------------------------------------------------

    def _slot(self, url: str) -> threading.Semaphore:
        host = _host(url)
        with self._lock:
            if host not in self._host_slots:
                self._host_slots[host] = threading.Semaphore(self.settings.per_host_concurrency)
            return self._host_slots[host]

    def fetch_one(self, spec: FeedSpec, state: FeedState) -> Outcome:
        """Fetch and parse one feed within the fetch deadline; touches no shared state, never raises."""
        out = Outcome(spec, state, self.clock())
        try:
            with metrics.FETCH_SECONDS.time(), self._slot(state.fetch_url):
                start = time.monotonic()
                out.result = self.fetcher.fetch(state.fetch_url, state.etag, state.last_modified)
                if out.result.not_modified:
                    return out
                out.body_hash = hashlib.sha256(out.result.body).hexdigest()
                if out.body_hash == state.body_hash:
                    return out
                job = ParseJob(
                    out.result.body,
                    out.result.url,
                    out.result.headers,
                    spec,
                    out.fetched_at,
                    self.settings.max_entries,
                    self.settings.max_text_chars,
                )
                left = self.settings.deadline_s - (time.monotonic() - start)
                out.parsed = self.parser.parse(job, left)  # the deadline covers the parse too
        except IngestError as exc:
            out.error = exc
        except Exception as exc:  # a bug must cost one feed, not the poller
            log.exception("feed poll crashed", extra={"feed": spec.url})
            out.error = ParseError(f"unexpected {type(exc).__name__}: {exc}")
        return out

    # -- a whole pass ------------------------------------------------------------------------

    def step(self, feeds: Sequence[FeedSpec]) -> PassReport:
        """Start due feeds where there is room, deliver the fetches that finished; never waits on a fetch."""
        self._start(feeds)
        done = [url for url, (future, _) in self.inflight.items() if future.done()]
        return self._deliver([self.inflight.pop(url)[0].result() for url in done])

    def _start(self, feeds: Sequence[FeedSpec]) -> int:
        room = self.settings.batch_feeds - len(self.inflight)
        if room <= 0:
            return 0
        per_host = Counter(host for _, host in self.inflight.values())
        started = 0
        for spec, state in self.due(feeds):
            host = _host(state.fetch_url)
            if per_host[host] >= self.settings.per_host_concurrency:
                continue  # that host is busy; its feed stays due and goes next time
            per_host[host] += 1
            self.inflight[spec.url] = (self.pool.submit(self.fetch_one, spec, state), host)
            started += 1
            if started >= room:
                break
        return started

    def finish(self) -> PassReport:
        """On a graceful stop: drop the fetches not started, deliver the running ones (each ends by its deadline)."""
        running = [future for future, _ in self.inflight.values() if not future.cancel()]
        self.inflight.clear()
        return self._deliver([future.result() for future in running])

    def poll_due(self, feeds: Sequence[FeedSpec], limit: int | None = None) -> PassReport:
        """One whole pass: every due feed (up to ``limit``) fetched and delivered before it returns."""
        due = self.due(feeds)[: limit or self.settings.batch_feeds]
        if not due:
            return PassReport()
        futures = [self.pool.submit(self.fetch_one, spec, state) for spec, state in due]
        return self._deliver([future.result() for future in futures])

    def _deliver(self, outcomes: list[Outcome]) -> PassReport:
        """Produce the new Articles of finished fetches, flush, and save each feed's state after its acks."""
        report = PassReport(feeds=len(outcomes))
        if not outcomes:
            return report
        sends: dict[str, list[tuple[str, SendFuture]]] = {}
        claimed: set[str] = set()  # ids produced in this delivery, across feeds
        for out in outcomes:
            if out.parsed is None:
                continue
            ids = [a.id for a in out.parsed.articles]
            fresh = self.store.unseen(ids) - claimed
            metrics.DUPLICATES.inc(len(ids) - len(fresh))
            claimed |= fresh
            new: list[Article] = [a for a in out.parsed.articles if a.id in fresh]
            sent = [(a.id, self._send(a)) for a in new]
            sends[out.spec.url] = [(aid, future) for aid, future in sent if future is not None]
        flush_error = None
        if sends:
            try:
                self.producer.flush(timeout=60)
            except Exception as exc:  # the per-record futures say which feeds are affected
                flush_error = exc
        self.last_flush_ok = flush_error is None
        # After a clean flush every record is settled; after a failed one, waiting longer helps nobody.
        wait_s = 5.0 if flush_error is None else 0.0
        with self.store.transaction():  # one commit per delivery: a crash re-sends, never loses
            for out in outcomes:
                self._settle(out, sends.get(out.spec.url, []), report, wait_s)
        return report

    def _send(self, article: Article) -> SendFuture | None:
        """Send one Article; None when it cannot even be serialised (it is counted and left out, the feed goes on)."""
        try:
            value = fit_message(article, self.max_message_bytes)
        except Exception as exc:  # the adapter keeps text valid; a miss here must cost one article, not the loop
            metrics.ADAPTER_ERRORS.inc()
            fields = {"feed": article.feed_url, "article": article.id, "error": str(exc)[:300]}
            log.warning("article not serialisable", extra=fields)
            return None
        try:
            return self.producer.send(self.topic, key=article.id.encode(), value=value)
        except Exception as exc:  # raised at once (buffer full, no metadata): the feed retries
            return _Failed(exc)

    def _settle(self, out: Outcome, sent: list[tuple[str, SendFuture]], report: PassReport, wait_s: float) -> None:
        now = self.clock()
        state = out.state.with_(last_polled=out.fetched_at)
        interval = out.spec.interval or self.settings.default_interval_s
        if out.error is not None:
            self._failed(state, out.error, now, interval, report)
            return
        assert out.result is not None
        res = out.result
        state = state.with_(
            error_count=0,
            last_error=None,
            last_status=res.status,
            last_success=out.fetched_at,
            next_poll=next_after_success(
                now,
                interval,
                self.policy,
                self.rng,
                out.parsed.hint_s if out.parsed else state.hint_s,
                cache_hint_s(res.headers, now),
            ),
            current_url=res.permanent_url or state.current_url,
        )
        if res.permanent_url:
            log.info("feed moved permanently", extra={"feed": out.spec.url, "to": res.permanent_url})
        if res.etag or res.last_modified or not res.not_modified:
            state = state.with_(etag=res.etag, last_modified=res.last_modified)
        if out.unchanged:
            report.not_modified += 1
            metrics.FETCHES.labels("not_modified" if res.not_modified else "unchanged").inc()
            self.store.save(state)
            return
        assert out.parsed is not None
        produced = []
        for aid, fut in sent:
            try:
                fut.get(timeout=wait_s)
                produced.append(aid)
            except Exception as exc:  # not acknowledged: keep the old validators, retry the fetch
                err = ProduceError(f"not acknowledged: {type(exc).__name__}: {exc}")
                self._failed(out.state.with_(last_polled=out.fetched_at), err, now, interval, report)
                return
        parsed = out.parsed
        metrics.FETCHES.labels("changed").inc()
        metrics.ARTICLES.inc(len(produced))
        metrics.ADAPTER_ERRORS.inc(len(parsed.errors))
        if parsed.bozo:
            metrics.BOZO.inc()
            state = state.with_(bozo_count=state.bozo_count + 1)
        state = state.with_(body_hash=out.body_hash, produced=state.produced + len(produced), hint_s=parsed.hint_s)
        self.store.commit_success(state, produced, now)
        report.produced += len(produced)
        log.info(
            "feed polled",
            extra={
                "feed": out.spec.url,
                "entries": parsed.entries,
                "produced": len(produced),
                "adapter_errors": len(parsed.errors),
                "bozo": parsed.bozo or "",
            },
        )

    def _failed(self, state: FeedState, error: IngestError, now: datetime, interval: float, report: PassReport) -> None:
        errors = state.error_count + 1
        kind = error.kind
        metrics.ERRORS.labels(kind).inc()
        metrics.FETCHES.labels("error").inc()
        report.failed += 1
        report.errors[state.url] = f"{kind}: {error}"
        state = state.with_(error_count=errors, last_error=f"{kind}: {error}"[:500])
        if isinstance(error, Gone):
            state = state.with_(disabled=True, disabled_reason="410 Gone", last_status=410, next_poll=None)
        else:
            retry_after = error.retry_after_s if isinstance(error, RateLimited) else None
            state = state.with_(
                next_poll=next_after_failure(now, errors, interval, self.policy, self.rng, retry_after),
                last_status=getattr(error, "status", None),
            )
        self.store.save(state)
        log.warning("feed failed", extra={"feed": state.url, "kind": kind, "error": str(error)[:300], "errors": errors})
