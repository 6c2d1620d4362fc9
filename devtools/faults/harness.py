"""One supervised pipeline on its own stack, a stream of synthetic articles, faults on a schedule.

``FaultRun`` starts a separate Kafka and Elasticsearch on free ports (so a broker restart
disturbs no other test), serves the stream from ``StreamFeeds``, runs ingest, embed,
cluster, index and alert through ``storywire.app.supervisor.Supervisor`` (index talks to
Elasticsearch through ``Proxy429``), releases the articles over ``stream_s`` seconds and
fires the faults of ``schedule()`` on the way. A sampler thread records how many articles
Elasticsearch holds each second, so each fault's recovery time can be read afterwards:
the time from the end of the fault until every article released before that end is
searchable (so it includes the pipeline's normal latency).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kafka import KafkaProducer

from devtools.faults.checks import es_articles, es_count
from devtools.faults.corpus import make_stream
from devtools.faults.diskfull import DataDisk, fill_disk, put_block, watch_recovery
from devtools.faults.hostile import hostile_records
from devtools.faults.servers import Proxy429, StreamFeeds, WebhookReceiver
from devtools.stack import Stack
from devtools.stack.settings import StackSettings
from storywire.app.supervisor import STAGES, Supervisor
from storywire.bus import Topics, client_config, ensure_topics
from storywire.config import KafkaSettings, cache_dir

PIPELINE = ("ingest", "embed", "cluster", "index", "alert")
RULES = {
    "rules": [
        {
            "name": "breaking",
            "kind": "breaking",
            "min_articles": 3,
            "min_sources": 2,
            "window": "6h",
            "channels": ["webhook"],
        },
        {"name": "watch-quake", "kind": "watch", "query": "earthquake", "new_within": "30d", "channels": ["webhook"]},
    ]
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fault:
    name: str
    start: float  # seconds after the stream started
    end: float | None = None
    released_at_start: int = 0
    released_at_end: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    # URLs released but not yet searchable when the fault began (set for the disk fault, which
    # comes while the pipeline drains its backlog, when no new article is released).
    in_flight: list[str] = field(default_factory=list)


@dataclass
class Step:
    at: float
    name: str
    action: Callable[[Fault], None]
    done: bool = False
    # Elasticsearch faults wait (up to 20 s) until articles are flowing into it, so they
    # hit a writer with a bulk in flight rather than one still waiting upstream.
    when_writing: bool = False


def make_stack(name: str = "faults") -> Stack:
    ports = [free_port() for _ in range(4)]
    settings = StackSettings(
        kafka_port=ports[0],
        kafka_controller_port=ports[1],
        es_port=ports[2],
        es_transport_port=ports[3],
        dir=cache_dir() / f"{name}-{ports[2]}",  # artifacts are found next to it, in the cache
        kafka_heap="384m",
        es_heap="512m",
    )
    return Stack(settings, progress=False)


def stack_cli(stack: Stack, *args: str) -> None:
    """``storywire stack ARGS`` for this stack, in a child process.

    The readiness probe leaves kafka-python sockets unclosed while the broker is still
    starting; in a child they cannot surface as unraisable-exception warnings in pytest.
    """
    s = stack.settings
    env = dict(os.environ) | {
        "STORYWIRE_STACK_DIR": str(s.dir),
        "STORYWIRE_STACK_KAFKA_PORT": str(s.kafka_port),
        "STORYWIRE_STACK_KAFKA_CONTROLLER_PORT": str(s.kafka_controller_port),
        "STORYWIRE_STACK_ES_PORT": str(s.es_port),
        "STORYWIRE_STACK_ES_TRANSPORT_PORT": str(s.es_transport_port),
        "STORYWIRE_STACK_KAFKA_HEAP": s.kafka_heap,
        "STORYWIRE_STACK_ES_HEAP": s.es_heap,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "storywire.app.cli", "stack", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"storywire stack {' '.join(args)} failed: {(proc.stdout + proc.stderr)[-1000:]}")


def remove_stack(stack: Stack, disk: DataDisk | None = None) -> None:
    try:
        stack.down()
    finally:
        if disk is not None:
            disk.unmount()  # after Elasticsearch stopped, before its directory goes; also when down failed
    shutil.rmtree(stack.settings.dir, ignore_errors=True)
    shutil.rmtree(stack.elasticsearch.root, ignore_errors=True)


class FaultRun:
    def __init__(
        self,
        stack: Stack,
        workdir: Path,
        articles: int = 2000,
        events: int = 200,
        stream_s: float = 170.0,
        seed: int = 9,
        prefix: str | None = None,
        disk: DataDisk | None = None,
    ) -> None:
        self.stack = stack
        self.disk = disk  # Elasticsearch's data path on a tmpfs of its own (fault 7), when mounted
        self.workdir = workdir
        self.stream = make_stream(articles, events, seed)
        self.stream_s = stream_s
        self.rng = random.Random(seed)
        self.prefix = prefix or f"faults{seed}"
        self.kafka = KafkaSettings(bootstrap_servers=stack.kafka.bootstrap, topic_prefix=self.prefix)
        self.topics = Topics(self.prefix)
        self.es_url = stack.elasticsearch.url
        self.faults: list[Fault] = []
        self.samples: list[tuple[float, int, int]] = []  # (seconds after start, articles in ES, released)
        self.t0 = 0.0
        self.t0_monotonic = 0.0
        self.poison: list[tuple[str, str, int]] = []  # (topic, key, offset)
        self.hostile_reasons: dict[tuple[str, str], str] = {}  # (topic, key) -> the error type its dead letter carries
        self._sampling = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- set-up ------------------------------------------------------------------------

    def start(self) -> None:
        ensure_topics(self.kafka, self.topics)
        self.feeds = StreamFeeds(self.stream)
        self.hook = WebhookReceiver()
        self.proxy = Proxy429(self.es_url)
        feeds_file = self.workdir / "feeds.yaml"
        feeds_file.write_text(
            yaml.safe_dump(
                {
                    "feeds": [
                        {"url": u, "name": n, "source": n, "language": "en", "interval": 2}
                        for n, u in self.feeds.feed_urls()
                    ]
                }
            )
        )
        rules_file = self.workdir / "alerts.yaml"
        rules_file.write_text(yaml.safe_dump(RULES))
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        env = dict(os.environ) | {
            "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka.bootstrap,
            "STORYWIRE_KAFKA_TOPIC_PREFIX": self.prefix,
            "STORYWIRE_ES_URL": self.es_url,
            "STORYWIRE_ES_INDEX_PREFIX": self.prefix,
            "STORYWIRE_ES_REQUEST_TIMEOUT_S": "10",
            "STORYWIRE_INGEST_FEEDS_FILE": str(feeds_file),
            "STORYWIRE_INGEST_STATE_DIR": str(self.workdir / "ingest"),
            "STORYWIRE_INGEST_ALLOW_PRIVATE": "true",
            "STORYWIRE_INGEST_COORDINATION": "none",
            "STORYWIRE_INGEST_MIN_INTERVAL_S": "1",
            "STORYWIRE_INGEST_TICK_S": "0.5",
            "STORYWIRE_INGEST_READ_TIMEOUT_S": "5",
            "STORYWIRE_INGEST_DEADLINE_S": "10",
            "STORYWIRE_INGEST_MAX_BODY_BYTES": str(5 * 1024 * 1024),
            "STORYWIRE_INGEST_BACKOFF_BASE_S": "5",
            "STORYWIRE_INGEST_BACKOFF_MAX_S": "20",
            "STORYWIRE_INGEST_OPS_PORT": "0",
            "STORYWIRE_ENRICH_EMBED_OPS_PORT": "0",
            "STORYWIRE_ENRICH_CLUSTER_OPS_PORT": "0",
            "STORYWIRE_INDEX_OPS_PORT": "0",
            "STORYWIRE_INDEX_DIMS": "384",
            "STORYWIRE_INDEX_RETRY_MAX_S": "4",
            "STORYWIRE_ALERT_OPS_PORT": "0",
            "STORYWIRE_ALERT_RULES_FILE": str(rules_file),
            "STORYWIRE_ALERT_STATE_DIR": str(self.workdir / "alert"),
            "STORYWIRE_ALERT_WEBHOOK_URLS": self.hook.url,
            "STORYWIRE_ALERT_WEBHOOK_RETRIES": "1",
            "STORYWIRE_ALERT_REDELIVER_BACKOFF_S": "2",
            "STORYWIRE_ALERT_REDELIVER_BACKOFF_MAX_S": "5",
            "STORYWIRE_ALERT_SESSION_TIMEOUT_MS": "6000",
            # Consumer groups are not named after the topic prefix: without these, two
            # deployments on one broker would share (and rebalance) one group per stage.
            "STORYWIRE_ENRICH_EMBED_GROUP": f"{self.prefix}-embed",
            "STORYWIRE_ENRICH_CLUSTER_GROUP": f"{self.prefix}-cluster",
            "STORYWIRE_INDEX_GROUP_ID": f"{self.prefix}-index",
            "STORYWIRE_ALERT_GROUP_ID": f"{self.prefix}-alert",
            "STORYWIRE_LOG_LEVEL": os.environ.get("STORYWIRE_FAULTS_LOG_LEVEL", "WARNING"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        # Each stage's output goes to logs/<stage>.log; `exec` keeps the pid the supervisor knows.
        shell = f'exec "$0" -m storywire.app.cli "$@" >>"{logs}/$1.log" 2>&1'
        stages = {k: STAGES[k] for k in PIPELINE}
        self.sup = Supervisor(stages, env, ops_base_port=None, argv_prefix=("sh", "-c", shell, sys.executable))
        self.child("index").env["STORYWIRE_ES_URL"] = self.proxy.url
        for child in self.sup.children:
            child.backoff.backoff.base_s = 0.5
        self.sup.start()

    def child(self, name: str) -> Any:
        return next(c for c in self.sup.children if c.name == name)

    def stop(self) -> None:
        self._sampling.set()
        for t in self._threads:
            t.join(timeout=120)
        if hasattr(self, "sup"):
            self.sup.stop()
        for part in ("feeds", "proxy"):
            if hasattr(self, part):
                getattr(self, part).close()
        if hasattr(self, "hook"):
            self.hook.down()

    # -- the faults --------------------------------------------------------------------

    def now(self) -> float:
        return time.time() - self.t0

    def schedule(self) -> list[Step]:
        s = self.stream_s
        steps = [Step(6, "poison messages", lambda f: self.inject_poison(f))]
        # After the stream, while the writer drains the backlog: the one time it is sure to be busy
        # (earlier, the first kills and the broker restart leave it without input for a minute or more).
        if self.disk is not None and self.disk.mode == "tmpfs":
            disk = Step(s + 5, "disk full: tmpfs 100 % 15 s, then flood stage", self.disk_full, when_writing=True)
        else:
            disk = Step(s + 5, "disk full: flood-stage block 15 s (simulated)", self.flood_stage(15), when_writing=True)
        steps.append(disk)
        for stage in PIPELINE:
            steps.append(Step(self.rng.uniform(10, 55), f"SIGKILL {stage} (1)", self.killer(stage)))
            steps.append(Step(self.rng.uniform(140, s - 5), f"SIGKILL {stage} (2)", self.killer(stage)))
        steps += [
            Step(15, "webhook receiver down 60 s", self.webhook_down(60)),
            Step(20, "hostile feed", self.hostile(s - 20)),
            Step(45, "Kafka broker restart", lambda f: self.background(f, self.restart_kafka)),
            Step(80, "Elasticsearch frozen 30 s (SIGSTOP)", self.freeze_es(30), when_writing=True),
            Step(118, "Elasticsearch answers 429 for 15 s", self.refuse(15), when_writing=True),
        ]
        return sorted(steps, key=lambda st: st.at)

    def killer(self, stage: str) -> Callable[[Fault], None]:
        def act(f: Fault) -> None:
            child = self.child(stage)
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGKILL)
                f.detail["pid"] = child.proc.pid
                f.detail["stage"] = stage
            f.end = f.start
            f.released_at_end = f.released_at_start

        return act

    def background(self, f: Fault, body: Callable[[], None]) -> None:
        def run() -> None:
            try:
                body()
            except Exception as exc:  # recorded and reported; the run goes on
                f.detail["error"] = repr(exc)
            if f.end is None:  # unless the body ended the fault itself
                f.end = self.now()
                f.released_at_end = self.feeds.released

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._threads.append(t)

    def restart_kafka(self) -> None:
        stack_cli(self.stack, "down", "--only", "kafka")
        stack_cli(self.stack, "up", "--only", "kafka")

    def later(self, f: Fault, after: float, body: Callable[[], None]) -> None:
        def run() -> None:
            self._sampling.wait(after)
            body()

        self.background(f, run)

    def webhook_down(self, secs: float) -> Callable[[Fault], None]:
        def act(f: Fault) -> None:
            self.hook.down()
            self.later(f, secs, self.hook.up)

        return act

    def hostile(self, secs: float) -> Callable[[Fault], None]:
        def act(f: Fault) -> None:
            self.feeds.turn_hostile(True)
            self.later(f, secs, lambda: self.feeds.turn_hostile(False))

        return act

    def freeze_es(self, secs: float) -> Callable[[Fault], None]:
        def act(f: Fault) -> None:
            pid = self.stack.elasticsearch.pid()
            assert pid is not None, "Elasticsearch is not running"
            os.kill(pid, signal.SIGSTOP)
            self.later(f, secs, lambda: os.kill(pid, signal.SIGCONT))

        return act

    def refuse(self, secs: float) -> Callable[[Fault], None]:
        def act(f: Fault) -> None:
            self.proxy.refusing.set()
            self.later(f, secs, self.proxy.refusing.clear)

        return act

    def flood_stage(self, secs: float) -> Callable[[Fault], None]:
        """Without a tmpfs: the flood-stage watermark's read-only-allow-delete block, put on by hand."""
        indices = f"{self.prefix}-articles,{self.prefix}-stories"

        def act(f: Fault) -> None:
            f.detail |= {"mode": "simulated", "why": self.disk.why if self.disk is not None else "no DataDisk"}
            with contextlib.suppress(httpx.HTTPError):
                f.in_flight = self.not_searchable()
            put_block(self.es_url, indices, True)
            self.later(f, secs, lambda: put_block(self.es_url, indices, False))

        return act

    def disk_full(self, f: Fault) -> None:
        """Fill Elasticsearch's data disk for real (``diskfull.fill_disk``); the fault ends when the ballast goes."""
        assert self.disk is not None
        disk, indices = self.disk, f"{self.prefix}-articles,{self.prefix}-stories"

        def body() -> None:
            f.in_flight = self.not_searchable()
            try:
                fill_disk(disk, self.es_url, indices, self._sampling.wait, f.detail)
            finally:
                f.end, f.released_at_end = self.now(), self.feeds.released
            watch_recovery(self.es_url, indices, self._sampling.wait, f.detail)

        self.background(f, body)

    def not_searchable(self) -> list[str]:
        """URLs of the articles released so far that Elasticsearch does not hold yet."""
        held = {d["_source"]["url"] for d in es_articles(self.es_url, self.prefix)}
        released = (self.feeds.article_url(a) for a in self.stream[: self.feeds.released])
        return [u for u in released if u not in held]

    def inject_poison(self, f: Fault) -> None:
        """Bad JSON, an unknown schema version and an oversized value on every consumed topic,
        and the hostile records of ``devtools.faults.hostile``."""
        producer = KafkaProducer(**client_config(self.kafka), acks="all", max_request_size=2 * 1024 * 1024)
        newer = json.dumps({"schema_version": 99, "id": "poison", "title": "from the future"}).encode()
        big = json.dumps({"schema_version": 1, "junk": "x" * 900_000}).encode()
        try:
            for topic in (self.topics.raw, self.topics.embedded, self.topics.enriched, self.topics.stories):
                for kind, value in (("bad-json", b"{not json"), ("schema-99", newer), ("oversized", big)):
                    key = f"poison-{kind}-{topic}"
                    meta = producer.send(topic, key=key.encode(), value=value).get(timeout=60)
                    self.poison.append((topic, key, meta.offset))
            for h in hostile_records(self.topics):  # valid JSON, values no stage may choke on (issue #14)
                key = f"poison-{h.kind}-{h.topic}"
                meta = producer.send(h.topic, key=key.encode(), value=h.value).get(timeout=60)
                self.poison.append((h.topic, key, meta.offset))
                self.hostile_reasons[(h.topic, key)] = h.error_type
        finally:
            producer.close()
        f.end = self.now()
        f.released_at_end = self.feeds.released

    # -- the run -----------------------------------------------------------------------

    def _sample(self) -> None:
        while not self._sampling.wait(1.0):
            if self.disk is not None:
                self.disk.note()
            count = es_count(self.es_url, self.prefix)
            if count is not None:
                self.samples.append((self.now(), count, self.feeds.released))

    def warm_up(self, count: int, timeout_s: float = 240.0) -> None:
        """Release the first ``count`` articles and wait until they are searchable (the model loads meanwhile)."""
        self.feeds.release_until(count)
        deadline = time.time() + timeout_s
        while time.time() < deadline and (es_count(self.es_url, self.prefix) or 0) < count:
            self.sup.tick()
            time.sleep(0.5)

    def writing(self) -> bool:
        """Whether Elasticsearch took in articles over the last ~3 s."""
        last = self.samples[-4:]
        return len(last) == 4 and last[-1][1] > last[0][1] and self.now() - last[-1][0] < 2

    def _note_restarts(self) -> None:
        for f in self.faults:
            if "stage" in f.detail and "restarted_after_s" not in f.detail:
                proc = self.child(f.detail["stage"]).proc
                if proc is not None and proc.pid != f.detail["pid"] and proc.poll() is None:
                    f.detail["restarted_after_s"] = round(self.now() - f.start, 1)

    def run(self, drain_s: float = 240.0, warm: int = 40) -> None:
        """Warm up, release the stream with the faults, then wait until every article is searchable (or drain_s)."""
        self.warm_up(warm)
        steps = self.schedule()
        self.t0 = time.time()
        self.t0_monotonic = time.monotonic()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        total = len(self.stream)
        while True:
            t = self.now()
            self.feeds.release_until(warm + int((total - warm) * min(1.0, t / self.stream_s)))
            for step in steps:
                if not step.done and t >= step.at and (not step.when_writing or self.writing() or t >= step.at + 20):
                    step.done = True
                    fault = Fault(step.name, t, released_at_start=self.feeds.released)
                    self.faults.append(fault)
                    step.action(fault)
            self.sup.tick()
            self._note_restarts()
            if t > self.stream_s and all(st.done for st in steps) and all(f.end is not None for f in self.faults):
                break
            time.sleep(0.2)
        self.released_s = self.now()
        deadline = time.time() + drain_s
        while time.time() < deadline:
            self.sup.tick()
            if self.samples and self.samples[-1][1] >= total and self.samples[-1][0] > self.released_s + 1:
                break
            time.sleep(0.5)
        time.sleep(8)  # the last story snapshots and alerts
        self.drained_s = self.now()

    def recovery(self, fault: Fault) -> float | None:
        """Seconds from the fault's end until every article released before it was searchable."""
        if fault.end is None:
            return None
        for t, count, _ in self.samples:
            if t >= fault.end and count >= fault.released_at_end:
                return round(t - fault.end, 1)
        return None

    def resumed(self, fault: Fault) -> float | None:
        """Seconds from the fault's end until Elasticsearch took in new articles again."""
        if fault.end is None:
            return None
        before = max((c for t, c, _ in self.samples if t <= fault.end), default=0)
        for t, count, _ in self.samples:
            if t > fault.end and count > before:
                return round(t - fault.end, 1)
        return None

    def released_by(self, t_s: float) -> int:
        """How many articles had been released ``t_s`` seconds after the start."""
        return max((r for t, _, r in self.samples if t <= t_s), default=0)
