"""Ingest benchmark: N feeds served over loopback, through the real Poller.

    python bench/ingest.py [--feeds 1000] [--items 20] [--rounds 3] [--kafka]

Prints three figures, measured in one run:

1. feeds/s on the 304 path: every feed answers 304 to our If-None-Match;
2. feeds/s on the changed path: every feed has a new ETag and one new item, so each
   poll fetches, parses, normalises, dedupes and produces;
3. our parse-and-normalise time (``ingest.parse.parse_feed``: feedparser plus the
   adapter) as a ratio to bare ``feedparser.parse`` of the same bytes;
4. the cost of parsing in a worker process under the deadline (``ingest.parsepool``, the
   poller's path since issue 14) against parsing in the calling thread: ratio and
   milliseconds per feed.

The changed path runs with ``--parse-workers`` worker processes (the setting's default;
0 parses in the fetch threads, without the deadline, for an A/B).

The feed server runs in a child process so it does not share our interpreter's lock.
Articles go to a null producer unless ``--kafka`` is given, in which case they go to the
real broker of ``storywire stack`` under a fresh topic prefix (deleted afterwards).
Targets on the 2-core dev machine: >= 300 feeds/s on the 304 path, ratio <= 1.3.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/ingest.py``, this folder comes first on sys.path and this file
# would shadow the ``ingest`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import io  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any  # noqa: E402

import feedparser  # noqa: E402

from ingest.feeds import FeedSpec  # noqa: E402
from ingest.fetch import Fetcher  # noqa: E402
from ingest.parse import parse_feed  # noqa: E402
from ingest.parsepool import ParseJob, ParsePool  # noqa: E402
from ingest.poller import Poller  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.state import StateStore  # noqa: E402


def feed_body(feed: int, version: int, items: int) -> bytes:
    rows = []
    for j in range(version, version + items):
        rows.append(
            f"<item><title>Feed {feed} story {j}: officials say talks resume &amp; markets react</title>"
            f"<link>https://site{feed % 50}.example/{feed}/story-{j}?utm_source=rss</link>"
            f"<guid isPermaLink='false'>f{feed}-s{j}</guid><pubDate>Wed, 03 May 2023 09:{j % 60:02d}:00 GMT</pubDate>"
            f"<dc:creator>Reporter {j % 7}</dc:creator><category>World</category>"
            "<description>&lt;p&gt;Negotiators met on &lt;b&gt;Wednesday&lt;/b&gt; in Geneva, officials said. "
            "The talks are expected to continue for several days.&lt;/p&gt;</description></item>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
        f"<channel><title>Feed {feed}</title><link>https://site{feed % 50}.example/</link><language>en</language>"
        + "".join(rows)
        + "</channel></rss>"
    ).encode()


def serve(port_out: Any, version: Any, items: int) -> None:
    cache: dict[tuple[int, int], bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            feed = int(self.path.rsplit("/", 1)[-1])
            v = version.value
            etag = f'"{feed}-{v}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            body = cache.get((feed, v)) or cache.setdefault((feed, v), feed_body(feed, v, items))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 256
    port_out.value = httpd.server_address[1]
    httpd.serve_forever()


class NullProducer:
    class _Done:
        def get(self, timeout: float | None = None) -> object:
            return None

    def __init__(self) -> None:
        self.count = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> NullProducer._Done:
        self.count += 1
        return self._Done()

    def flush(self, timeout: float | None = None) -> None:
        pass


def timed_pass(poller: Poller, feeds: list[FeedSpec]) -> tuple[float, Any]:
    start = time.perf_counter()
    report = poller.poll_due(feeds, limit=len(feeds))
    return time.perf_counter() - start, report


def parse_ratio(feeds: int, items: int, repeats: int = 5) -> tuple[float, float]:
    """Sum over feeds of the best time per feed, bare and ours timed back to back on the same bytes.

    Interleaving per feed and taking each feed's minimum keeps a busy shared machine's
    noise out of the ratio.
    """
    bodies = [feed_body(i, 1000, items) for i in range(min(feeds, 200))]
    headers = {"content-type": "application/rss+xml"}
    fetched = datetime.now(UTC)
    specs = [FeedSpec(url=f"https://site{i % 50}.example/feed/{i}") for i in range(len(bodies))]
    bare = [float("inf")] * len(bodies)
    ours = [float("inf")] * len(bodies)
    for _ in range(repeats):
        for i, body in enumerate(bodies):
            t = time.perf_counter()
            feedparser.parse(io.BytesIO(body), response_headers=headers | {"content-location": specs[i].url})
            bare[i] = min(bare[i], time.perf_counter() - t)
            t = time.perf_counter()
            parse_feed(body, specs[i].url, headers, specs[i], fetched)
            ours[i] = min(ours[i], time.perf_counter() - t)
    return sum(bare), sum(ours)


def pool_cost(feeds: int, items: int, workers: int, repeats: int = 5) -> tuple[float, float]:
    """Sum over feeds of the best time per feed, in the calling thread and through the worker pool."""
    bodies = [feed_body(i, 1000, items) for i in range(min(feeds, 200))]
    fetched = datetime.now(UTC)
    jobs = [
        ParseJob(
            body,
            f"https://site{i % 50}.example/feed/{i}",
            {},
            FeedSpec(url=f"https://s.example/{i}"),
            fetched,
            200,
            100_000,
        )
        for i, body in enumerate(bodies)
    ]
    here, pool = ParsePool(0), ParsePool(max(1, workers))
    pool.warm()
    inline = [float("inf")] * len(jobs)
    pooled = [float("inf")] * len(jobs)
    try:
        for _ in range(repeats):
            for i, job in enumerate(jobs):
                t = time.perf_counter()
                here.parse(job, 30)
                inline[i] = min(inline[i], time.perf_counter() - t)
                t = time.perf_counter()
                pool.parse(job, 30)
                pooled[i] = min(pooled[i], time.perf_counter() - t)
    finally:
        pool.close()
    return sum(inline), sum(pooled)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--parse-workers", type=int, default=IngestSettings().parse_workers)
    ap.add_argument("--kafka", action="store_true", help="produce to the real broker instead of a null producer")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    port, version = ctx.Value("i", 0), ctx.Value("i", 0)
    server = ctx.Process(target=serve, args=(port, version, args.items), daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.05)
    feeds = [FeedSpec(url=f"http://127.0.0.1:{port.value}/feed/{i}") for i in range(args.feeds)]

    kafka = None
    with tempfile.TemporaryDirectory() as state_dir:
        settings = IngestSettings(
            allow_private=True,
            state_dir=Path(state_dir),
            concurrency=args.concurrency,
            per_host_concurrency=args.concurrency,  # every feed is on 127.0.0.1 here
            min_interval_s=1e-6,
            default_interval_s=1e-6,
            jitter=0,
            max_entries=args.items,
            parse_workers=args.parse_workers,
        )
        if args.kafka:
            from storywire.bus import Topics, ensure_topics, make_producer
            from storywire.config import KafkaSettings

            kafka = KafkaSettings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}")
            ensure_topics(kafka, Topics(kafka.topic_prefix))
            producer: Any = make_producer(kafka)
            topic = Topics(kafka.topic_prefix).raw
        else:
            producer, topic = NullProducer(), "null"
        poller = Poller(settings, StateStore(settings.state_dir), Fetcher(settings), producer, topic)
        # The same passes with parsing in the fetch threads (no deadline on it), interleaved: an A/B in one run.
        inline_settings = settings.model_copy(update={"parse_workers": 0, "state_dir": Path(state_dir) / "inline"})
        inline = Poller(
            inline_settings, StateStore(inline_settings.state_dir), Fetcher(inline_settings), NullProducer(), "null"
        )
        try:
            poller.parser.warm()
            timed_pass(poller, feeds)  # warm up: first fetch of every feed, connections opened
            timed_pass(inline, feeds)
            changed: list[float] = []
            changed_inline: list[float] = []
            not_modified: list[float] = []
            for r in range(args.rounds):
                version.value = r + 1  # new ETag and one new item in every feed
                order = [(poller, changed), (inline, changed_inline)]
                for each, figures in order if r % 2 == 0 else reversed(order):
                    secs, report = timed_pass(each, feeds)
                    assert report.produced == args.feeds and report.failed == 0, report
                    figures.append(args.feeds / secs)
                secs, report = timed_pass(poller, feeds)
                assert report.not_modified == args.feeds, report
                not_modified.append(args.feeds / secs)
        finally:
            for each in (poller, inline):
                each.close()
                each.fetcher.close()
                each.store.close()
            if kafka is not None:
                producer.close()
                _delete_topics(kafka)
    server.terminate()
    server.join()

    bare, ours = parse_ratio(args.feeds, args.items)
    in_thread, pooled = pool_cost(args.feeds, args.items, args.parse_workers)
    n = min(args.feeds, 200)
    sink = "real broker" if args.kafka else "null producer"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"feeds={args.feeds} items/feed={args.items} concurrency={args.concurrency} "
        f"parse_workers={args.parse_workers} sink={sink} load average {load}"
    )
    print(f"304 path:      {max(not_modified):8.1f} feeds/s (best of {args.rounds}; target >= 300)")
    print(f"changed path:  {max(changed):8.1f} feeds/s (best of {args.rounds}, one new item per feed)")
    print(
        f"  same, parsed in the fetch threads: {max(changed_inline):8.1f} feeds/s "
        f"(interleaved; worker processes {max(changed) / max(changed_inline):.2f} x of that)"
    )
    print(
        f"parse ratio:   {ours / bare:8.2f} x bare feedparser.parse "
        f"(ours {ours:.3f}s, bare {bare:.3f}s for {n} feeds; target <= 1.3)"
    )
    print(
        f"parse in a worker process: {pooled / in_thread:8.2f} x in the calling thread "
        f"(+{1000 * (pooled - in_thread) / n:.2f} ms per feed; {pooled:.3f}s against {in_thread:.3f}s for {n} feeds)"
    )
    return 0


def _delete_topics(kafka: Any) -> None:
    from kafka.admin import KafkaAdminClient

    from storywire.bus import client_config

    admin = KafkaAdminClient(**client_config(kafka))
    try:
        ours = [t for t in admin.list_topics() if t.startswith(kafka.topic_prefix + ".")]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
