"""Alert latency: from the story update that crosses a threshold to delivery at a webhook.

Runs the real alert service (in a thread) against the real broker of `storywire stack`
and a local webhook receiver. For each story it produces an update below the breaking
threshold, then the update that crosses it, and times from handing that update to the
producer until the receiver has the alert.

    sequential  one crossing update at a time (the latency of an idle service)
    burst       all crossing updates at once (queueing in one service included)

    python bench/alert_latency.py [--alerts 120]

Every alert also goes to the alerts topic before the webhook (the audit channel is
first), so its acknowledgement is inside the figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka.admin import KafkaAdminClient

from alert.rules import parse_rules
from alert.service import AlertService
from alert.settings import AlertSettings
from devtools.receivers import WebhookReceiver
from devtools.samples import story
from storywire.bus import Topics, client_config, encode, key_bytes, make_producer
from storywire.config import KafkaSettings
from storywire.messages import Story, utcnow

RULES = parse_rules("- {name: brk, kind: breaking, min_articles: 3, min_sources: 2, window: 1h}")
SOURCES = ("a.example", "b.example", "c.example")


def snapshot(sid: str, version: int, size: int) -> Story:
    now = utcnow()
    return story(sid, version, size=size, sources=SOURCES[:size], first_seen=now, last_seen=now, updated=now)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name:<10} n={len(ms):<4} p50={percentile(ms, 0.50):7.1f} ms  p95={percentile(ms, 0.95):7.1f} ms  "
        f"p99={percentile(ms, 0.99):7.1f} ms  max={max(ms):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=120, help="alerts per mode (at least 100 for the note)")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=prefix, partitions=3)
    topics = Topics(prefix)
    hook = WebhookReceiver()
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as state_dir:
        settings = AlertSettings.model_validate(
            {"state_dir": state_dir, "group_id": f"{prefix}-alert", "webhook_urls": hook.url, "poll_timeout_ms": 250}
        )
        service = AlertService(kafka, settings, RULES)
        worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
        worker.start()
        producer = make_producer(kafka)
        try:
            # warm up: the consumer joins its group and the first fetches are made
            producer.send(topics.stories, key=b"warm", value=encode(snapshot("warm", 1, 3))).get(timeout=30)
            hook.wait_for(1, timeout=60)
            base = len(hook.received)

            sequential = []
            for i in range(args.alerts):
                sid = f"seq{i}"
                producer.send(topics.stories, key=key_bytes(sid), value=encode(snapshot(sid, 1, 1)))
                crossing = encode(snapshot(sid, 2, 3))
                t0 = time.perf_counter()
                producer.send(topics.stories, key=key_bytes(sid), value=crossing)
                producer.flush()
                got = hook.wait_for(base + i + 1, timeout=30)
                if len(got) < base + i + 1:
                    print(f"alert for {sid} not delivered within 30 s", file=sys.stderr)
                    return 1
                sequential.append((got[-1].at - t0) * 1000)

            base = len(hook.received)
            sent: dict[str, float] = {}
            for i in range(args.alerts):
                producer.send(topics.stories, key=key_bytes(f"burst{i}"), value=encode(snapshot(f"burst{i}", 1, 1)))
            producer.flush()
            time.sleep(1)  # let the below-threshold updates be consumed first
            base = len(hook.received)
            for i in range(args.alerts):
                sid = f"burst{i}"
                value = encode(snapshot(sid, 2, 3))
                sent[sid] = time.perf_counter()
                producer.send(topics.stories, key=key_bytes(sid), value=value)
            producer.flush()
            got = hook.wait_for(base + args.alerts, timeout=120)[base:]
            burst = [(r.at - sent[r.body["blocks"][-2]["elements"][0]["url"].rsplit("/", 1)[1]]) * 1000 for r in got]
        finally:
            stop.set()
            worker.join(timeout=30)
            service.close()
            producer.close()
            hook.close()
            admin = KafkaAdminClient(**client_config(kafka))
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix + ".")])
            admin.close()

    print(f"alert latency, crossing update produced -> webhook received ({args.alerts} alerts per mode)")
    report("sequential", sequential)
    report("burst", burst)
    print(f"burst p50 / sequential p50 = {percentile(burst, 0.5) / percentile(sequential, 0.5):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
