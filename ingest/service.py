"""``storywire ingest``: wires settings, state, fetcher, producer and ownership around the Poller.

``run_once`` polls every due feed once (in batches) and returns, for cron and scripts;
it polls every feed of the list, without joining the group. ``run_forever`` loops
until the Stopper is set, re-reading the feeds file when it changes and polling only
the feeds this process owns (ingest.coordination): every tick it starts the feeds that
came due and delivers the fetches that finished (``Poller.step``), so each feed keeps its
own schedule whatever another feed's server does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ingest import metrics
from ingest.feeds import FeedSpec, load_feeds
from ingest.fetch import Fetcher
from ingest.parsepool import ParsePool
from ingest.poller import PassReport, Poller, Producer
from ingest.settings import IngestSettings
from ingest.state import FeedState, StateStore
from storywire.bus import Topics
from storywire.config import KafkaSettings

log = logging.getLogger(__name__)


class FeedsFile:
    """The feeds file, re-read when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mtime: float | None = None
        self.feeds: list[FeedSpec] = []

    def current(self) -> list[FeedSpec]:
        mtime = self.path.stat().st_mtime if self.path.exists() else None
        if mtime != self.mtime:
            self.feeds = load_feeds(self.path)
            self.mtime = mtime
            log.info("feeds loaded", extra={"file": str(self.path), "feeds": len(self.feeds)})
        return self.feeds


def build_poller(settings: IngestSettings, kafka: KafkaSettings, producer: Producer | None = None) -> Poller:
    from storywire.bus import ensure_topics, make_producer

    topics = Topics(kafka.topic_prefix)
    ensure_topics(kafka, topics)
    parser = ParsePool(settings.parse_workers, settings.parse_memory_mb)
    parser.warm()  # the forkserver's start (about a second) before the first deadline runs, not inside it
    return Poller(
        settings,
        StateStore(settings.state_dir, settings.seen_per_feed),
        Fetcher(settings),
        producer or make_producer(kafka),
        topics.raw,
        max_message_bytes=kafka.max_message_bytes,
        parser=parser,
    )


def close_poller(poller: Poller) -> None:
    poller.close()
    poller.fetcher.close()
    poller.store.close()
    close = getattr(poller.producer, "close", None)
    if callable(close):
        close()


def run_once(poller: Poller, feeds: list[FeedSpec]) -> PassReport:
    """Every feed due now, polled once."""
    total = PassReport()
    pending = poller.due(feeds)
    for start in range(0, len(pending), poller.settings.batch_feeds):
        batch = [spec for spec, _ in pending[start : start + poller.settings.batch_feeds]]
        report = poller.poll_due(batch)
        total.feeds += report.feeds
        total.produced += report.produced
        total.not_modified += report.not_modified
        total.failed += report.failed
        total.errors |= report.errors
    return total


def feed_states(feeds: list[FeedSpec], states: dict[str, FeedState]) -> dict[str, int]:
    """How many of ``feeds`` are ok, in backoff (last poll failed) or disabled (410 Gone)."""
    counts = {"ok": 0, "backoff": 0, "disabled": 0}
    for feed in feeds:
        state = states.get(feed.url)
        if state is not None and state.disabled:
            counts["disabled"] += 1
        elif state is not None and state.error_count > 0:
            counts["backoff"] += 1
        else:
            counts["ok"] += 1
    return counts


def run_forever(
    poller: Poller,
    feeds_file: FeedsFile,
    stopped: Callable[[], bool],
    wait: Callable[[float], object],
    owns: Callable[[str], bool] = lambda url: True,
) -> None:
    """Loop until ``stopped()``; ``wait`` sleeps between ticks and is where group membership is kept.

    On the way out, the fetches still running are delivered (each ends by its deadline).
    """
    while not stopped():
        feeds = [f for f in feeds_file.current() if owns(f.url)]
        metrics.OWNED_FEEDS.set(len(feeds))
        report = poller.step(feeds)
        for state, count in feed_states(feeds, poller.store.all()).items():
            metrics.FEEDS.labels(state).set(count)
        if report.produced or report.failed:
            log.info(
                "feeds delivered",
                extra={"feeds": report.feeds, "produced": report.produced, "failed": report.failed},
            )
        wait(poller.settings.tick_s)
    poller.finish()
