"""End-to-end benchmark: fetch -> searchable latency, and the highest sustained rate.

    python bench/e2e.py [--duration 300] [--rates 10 20 40 80] [--step 60] [--feeds 20] [--backend B]

Every stage (ingest, embed, cluster, index run, alert, api) runs as its own process under
``storywire.app.supervisor.Supervisor``, against the running ``storywire stack`` with a fresh
topic and index prefix (deleted afterwards). A feed server in a child process serves
``--feeds`` RSS feeds on 127.0.0.1 and releases new articles at a controlled rate,
round-robin over the feeds. The articles are synthetic but varied: invented events
(fires, floods, strikes, trials, launches ...) with invented names, places and figures,
several articles per event over time and several events of each kind, so the clusterer
has real work to do. The embed stage uses the default embedding backend (onnx-int8) unless
``--backend`` or ``STORYWIRE_MODEL_BACKEND`` says otherwise; the first line says which.

Two figures, measured in one run:

(a) p50 and p95 latency from fetch (``Article.fetched``, stamped by the poller) to
    searchable (the article is in the articles index with its story id, and that story
    is in the stories index that story search reads), at a sustained ``--rate`` (10/s) for
    ``--duration`` seconds (300 by default). Articles released in that window count.
(b) the highest rate this machine holds with the backlog not growing: the rate is
    stepped up (``--rates``, ``--step`` seconds each); the backlog is released minus
    indexed articles, sampled once a second; a step holds if, over the second half of the
    step, the backlog's trend (least-squares slope times the half's length) is less than
    ``--tolerance`` of what the step released in that half (plus 10 articles).

Progress lines and each step also print every consuming stage's consumer lag (scraped
from its own /metrics) and the load average, since other work on the machine moves
these figures a lot.

The observer polls Elasticsearch once a second, so latencies are rounded up by up to ~1 s
plus the index's refresh interval; that is part of "searchable".
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/e2e.py``, this folder comes first on sys.path and bench/index.py
# would shadow the ``index`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from email.utils import format_datetime  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any  # noqa: E402
from xml.sax.saxutils import escape  # noqa: E402

import httpx  # noqa: E402
import yaml  # noqa: E402

from bench.e2e_corpus import synthetic_article  # noqa: E402
from ingest.adapter import article_id, canonical_url  # noqa: E402

# --- the feed server (a child process) --------------------------------------------------------


def _feed_server(port_q: Any, released: Any, rate: Any, feeds: int, keep: int) -> None:
    times: dict[int, datetime] = {}

    def release() -> None:
        acc, last = 0.0, time.monotonic()
        while True:
            time.sleep(0.01)
            now = time.monotonic()
            acc += rate.value * (now - last)
            last = now
            whole = int(acc)
            if whole:
                acc -= whole
                stamp = datetime.now(UTC)
                with released.get_lock():
                    for k in range(released.value, released.value + whole):
                        times[k] = stamp
                    released.value += whole

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("o") or parts[1] != "feed.xml":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            f = int(parts[0][1:])
            n = released.value
            ks = list(range(f, n, feeds))[-keep:]
            host = self.headers.get("Host", "127.0.0.1")
            items = []
            for k in reversed(ks):
                title, body = synthetic_article(k)
                pub = format_datetime(times.get(k, datetime.now(UTC)), usegmt=True)
                items.append(
                    f"<item><title>{escape(title)}</title><link>http://{host}/o{f}/a/{k}.html</link>"
                    f"<guid>bench-{k}</guid><pubDate>{pub}</pubDate><description>{escape(body)}</description></item>"
                )
            xml = (
                f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Outlet {f}</title>'
                f"<link>http://{host}/o{f}/</link><description>bench</description>{''.join(items)}</channel></rss>"
            ).encode()
            etag = '"' + hashlib.sha256(xml).hexdigest()[:24] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "max-age=1")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_q.put(httpd.server_address[1])
    threading.Thread(target=release, daemon=True).start()
    httpd.serve_forever()


# --- the observer ---------------------------------------------------------------------------


def _url(port: int, feeds: int, k: int) -> str:
    return f"http://127.0.0.1:{port}/o{k % feeds}/a/{k}.html"


def _id(port: int, feeds: int, k: int) -> str:
    url = _url(port, feeds, k)
    return article_id(canonical_url(url), f"bench-{k}", f"http://127.0.0.1:{port}/o{k % feeds}/feed.xml", "", "")


class Observer:
    """Asks Elasticsearch which released articles are searchable, and when."""

    def __init__(self, es: str, prefix: str, port: int, feeds: int) -> None:
        self.es, self.prefix, self.port, self.feeds = es, prefix, port, feeds
        self.http = httpx.Client(timeout=30)
        self.pending: dict[str, int] = {}  # article id -> k
        self.latencies: dict[int, float] = {}  # k -> seconds from fetched to searchable
        self.next_k = 0

    def track(self, released: int) -> None:
        for k in range(self.next_k, released):
            self.pending[_id(self.port, self.feeds, k)] = k
        self.next_k = max(self.next_k, released)

    def check(self) -> None:
        ids = list(self.pending)
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            body = {"query": {"ids": {"values": chunk}}, "size": len(chunk), "_source": ["fetched", "story_id"]}
            resp = self.http.post(f"{self.es}/{self.prefix}-articles/_search", json=body)
            if resp.status_code != 200:
                return
            hits = [h for h in resp.json()["hits"]["hits"] if h["_source"].get("story_id")]
            if not hits:
                continue
            sids = sorted({h["_source"]["story_id"] for h in hits})
            body = {"query": {"ids": {"values": sids}}, "size": len(sids), "_source": False}
            resp = self.http.post(f"{self.es}/{self.prefix}-stories/_search", json=body)
            if resp.status_code != 200:
                return
            found = {h["_id"] for h in resp.json()["hits"]["hits"]}
            now = datetime.now(UTC)
            for h in hits:
                if h["_source"]["story_id"] in found:
                    fetched = datetime.fromisoformat(h["_source"]["fetched"])
                    k = self.pending.pop(h["_id"])
                    self.latencies[k] = (now - fetched).total_seconds()

    def indexed(self) -> int:
        resp = self.http.get(f"{self.es}/{self.prefix}-articles/_count")
        return int(resp.json().get("count", 0)) if resp.status_code == 200 else 0


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _lags(ports: dict[str, int]) -> str:
    """Each consuming stage's consumer lag (records), from its own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for stage, port in ports.items():
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            out.append(f"{stage} ?")
            continue
        lag = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "storywire_consumer_lag"
            for sample in family.samples
        )
        out.append(f"{stage} {lag:.0f}")
    return "lag " + ", ".join(out)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load avg {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def _slope(ys: list[float]) -> float:
    if len(ys) < 2:
        return 0.0
    xs = range(len(ys))
    mx, my = (len(ys) - 1) / 2, statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=300.0, help="seconds at --rate for the latency figure")
    ap.add_argument("--rate", type=float, default=10.0, help="articles/s for the latency figure")
    ap.add_argument("--rates", type=float, nargs="*", default=[10, 20, 40, 80], help="steps for the rate figure")
    ap.add_argument("--step", type=float, default=60.0, help="seconds per rate step")
    ap.add_argument("--tolerance", type=float, default=0.1, help="backlog growth allowed, as a share of releases")
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        help="embedding backend (default: STORYWIRE_MODEL_BACKEND or the default)",
    )
    args = ap.parse_args()

    from devtools.demo.pipeline import DEMO_RULES, WebhookInbox, wipe
    from devtools.stack import Stack
    from devtools.stack.settings import StackSettings
    from storywire.app.supervisor import STAGES, Supervisor

    stack = Stack(StackSettings())
    stack.up()
    es = stack.elasticsearch.url
    prefix = "bench-e2e-" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="storywire-bench-e2e-"))
    ctx = mp.get_context("spawn")
    released, rate, port_q = ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Queue()
    keep = max(50, int(max([args.rate, *args.rates]) / args.feeds * 20))
    server = ctx.Process(target=_feed_server, args=(port_q, released, rate, args.feeds, keep), daemon=True)
    server.start()
    port = port_q.get(timeout=30)
    inbox = WebhookInbox(lambda line: None)
    hook = inbox.start()
    feeds_file, rules_file = work / "feeds.yaml", work / "alerts.yaml"
    feeds_file.write_text(
        yaml.safe_dump(
            {
                "feeds": [
                    {"url": f"http://127.0.0.1:{port}/o{f}/feed.xml", "source": f"outlet{f}.example", "language": "en"}
                    for f in range(args.feeds)
                ]
            }
        )
    )
    rules_file.write_text(yaml.safe_dump(DEMO_RULES))
    api_port = _free_port()
    env = dict(os.environ) | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": prefix,
        "STORYWIRE_ES_URL": es,
        "STORYWIRE_ES_INDEX_PREFIX": prefix,
        "STORYWIRE_INGEST_FEEDS_FILE": str(feeds_file),
        "STORYWIRE_INGEST_STATE_DIR": str(work / "ingest"),
        "STORYWIRE_INGEST_ALLOW_PRIVATE": "true",
        "STORYWIRE_INGEST_COORDINATION": "none",
        "STORYWIRE_INGEST_MIN_INTERVAL_S": "1",
        "STORYWIRE_INGEST_DEFAULT_INTERVAL_S": "1",
        "STORYWIRE_INGEST_TICK_S": "0.5",
        "STORYWIRE_INGEST_JITTER": "0",
        "STORYWIRE_INGEST_BACKOFF_BASE_S": "1",
        "STORYWIRE_ALERT_RULES_FILE": str(rules_file),
        "STORYWIRE_ALERT_STATE_DIR": str(work / "alert"),
        "STORYWIRE_ALERT_WEBHOOK_URLS": hook,
        "STORYWIRE_INDEX_API_PORT": str(api_port),
        "STORYWIRE_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    if args.backend:
        env["STORYWIRE_MODEL_BACKEND"] = args.backend
    from storywire.config import ModelSettings, defaults

    backend = env.get("STORYWIRE_MODEL_BACKEND") or defaults(ModelSettings).backend
    stages = dict(STAGES) | {"api": ["api", "--host", "127.0.0.1", "--port", str(api_port)]}
    # each stage's /metrics on base+i (the supervisor's numbering), for the per-stage lag
    ops_base = random.Random().randrange(20_000, 40_000, 10)
    sup = Supervisor(stages, env, ops_base_port=ops_base)
    ops_ports = {name: ops_base + i for i, name in enumerate(stages) if name in ("embed", "cluster", "index", "alert")}
    obs = Observer(es, prefix, port, args.feeds)

    def say(line: str) -> None:
        print(line, flush=True)

    def run_for(seconds: float, on_tick: Callable[[], None] | None = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sup.tick()
            if on_tick:
                on_tick()
            time.sleep(1.0)

    try:
        say(f"e2e: prefix {prefix}, {args.feeds} feeds on port {port}; embedding backend {backend}")
        say(f"e2e: starting {', '.join(stages)}; {_load()}")
        sup.start()
        # Warm-up: a trickle until the first articles are searchable (models loaded, indices made).
        rate.value = 2.0
        t0 = time.monotonic()
        while not obs.latencies:
            sup.tick()
            obs.track(released.value)
            obs.check()
            if time.monotonic() - t0 > 300:
                say("e2e: nothing searchable after 300 s; giving up")
                return 1
            time.sleep(1.0)
        rate.value = 0.0

        def follow() -> None:
            obs.track(released.value)
            obs.check()

        run_for(10, follow)
        say(f"e2e: pipeline warm after {time.monotonic() - t0:.0f}s")

        # (a) latency at a sustained rate
        first = released.value
        rate.value = args.rate
        last_report = time.monotonic()

        def tick_a() -> None:
            nonlocal last_report
            obs.track(released.value)
            obs.check()
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                say(
                    f"e2e: {released.value - first} released, {len(obs.pending)} not yet searchable; "
                    f"{_lags(ops_ports)}; {_load()}"
                )

        run_for(args.duration, tick_a)
        rate.value = 0.0
        last = released.value
        obs.track(last)
        drain_end = time.monotonic() + 120
        while obs.pending and time.monotonic() < drain_end:
            sup.tick()
            obs.check()
            time.sleep(1.0)
        lat = [v for k, v in obs.latencies.items() if first <= k < last]
        missing = sum(1 for k in obs.pending.values() if first <= k < last)
        say(
            f"(a) fetch -> searchable at {args.rate:g} articles/s for {args.duration:.0f}s: "
            f"{len(lat)} articles, p50 {_pct(lat, 50):.2f}s, p95 {_pct(lat, 95):.2f}s, max {max(lat):.2f}s"
            + (f"; {missing} not searchable within 120 s after the end" if missing else "")
            + f" ({_load()})"
        )

        # (b) step the rate up; a step holds if the backlog stays flat in its second half
        held = 0.0
        for step_rate in args.rates:
            rate.value = step_rate
            samples: list[tuple[int, int]] = []  # (released, indexed)
            run_for(args.step / 2)

            def sample(into: list[tuple[int, int]] = samples) -> None:
                into.append((released.value, obs.indexed()))

            run_for(args.step / 2, sample)
            backlog0 = samples[0][0] - samples[0][1]
            backlog1 = samples[-1][0] - samples[-1][1]
            arrived = samples[-1][0] - samples[0][0]
            # least-squares slope of the backlog over the samples (one a second), so the
            # saw-tooth of feed polls does not decide the verdict through the end points
            grew = _slope([float(r - i) for r, i in samples]) * (len(samples) - 1)
            flat = grew <= args.tolerance * arrived + 10
            say(
                f"    step {step_rate:g}/s: released {arrived} in {args.step / 2:.0f}s "
                f"({arrived / (args.step / 2):.1f}/s), backlog {backlog0} -> {backlog1} "
                f"(trend {grew:+.0f}: {'flat' if flat else 'growing'}); {_lags(ops_ports)}; {_load()}"
            )
            if not flat:
                break
            held = step_rate
        rate.value = 0.0
        say(
            f"(b) highest sustained rate with a flat backlog: {held:g} articles/s"
            if held
            else "(b) no step held a flat backlog"
        )
        return 0
    finally:
        rate.value = 0.0
        sup.stop()
        inbox.stop()
        server.terminate()
        server.join(5)
        wipe(prefix, stack, work)
        obs.http.close()


if __name__ == "__main__":
    sys.exit(main())
