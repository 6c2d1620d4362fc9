"""Every long-running stage as a real process: /health turns ready, /metrics names its figures, SIGTERM exits 0.

The stages run under ``storywire.app.supervisor.Supervisor`` (as ``storywire run`` starts
them), each with its own ops port, against the real stack with a unique prefix. Nothing
flows through them here; what is checked is the ops contract every stage shares.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

import httpx
import pytest

from storywire.app.supervisor import STAGES, Supervisor
from storywire.config import ElasticsearchSettings, KafkaSettings

pytestmark = pytest.mark.integration

# What each stage's /metrics must name (HELP lines appear before any sample does).
EXPECTED = {
    "ingest": ["storywire_ingest_fetch_seconds", "storywire_ingest_articles_total", "storywire_ingest_errors_total",
               "storywire_ingest_feeds"],
    "embed": ["storywire_embed_batch_seconds", "storywire_embed_batch_size", "storywire_embed_articles_total",
              "storywire_consumer_lag", "storywire_consumer_records_total", "storywire_dead_letters_total"],
    "cluster": ["storywire_cluster_batch_seconds", "storywire_cluster_batch_size", "storywire_cluster_articles_total",
                "storywire_consumer_lag", "storywire_dead_letters_total"],
    "index": ["storywire_index_bulk_seconds", "storywire_index_batch_size", "storywire_index_docs_total",
              "storywire_consumer_lag", "storywire_dead_letters_total"],
    "alert": ["storywire_alert_deliveries_total", "storywire_alert_delivery_seconds", "storywire_consumer_lag"],
}  # fmt: skip
BOUND_S = 180  # start-up (the model loads) and, separately, the stop: contracts, not speed claims


def _free_base(count: int) -> int:
    for _ in range(50):
        base = random.randrange(30_000, 50_000)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("0.0.0.0", port))  # the ops server binds there too
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


def test_every_stage_is_ready_exposes_its_metrics_and_stops_on_sigterm(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    feeds, rules = tmp_path / "feeds.yaml", tmp_path / "rules.yaml"
    feeds.write_text("feeds: []\n")
    rules.write_text("rules:\n  - {name: brk, kind: breaking, min_articles: 3, min_sources: 3, window: 1h}\n")
    p = kafka_settings.topic_prefix
    env = dict(os.environ) | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": p,
        "STORYWIRE_KAFKA_PARTITIONS": str(kafka_settings.partitions),
        "STORYWIRE_ES_URL": es_settings.url,
        "STORYWIRE_ES_INDEX_PREFIX": es_settings.index_prefix,
        "STORYWIRE_INGEST_FEEDS_FILE": str(feeds),
        "STORYWIRE_INGEST_STATE_DIR": str(tmp_path / "ingest"),
        "STORYWIRE_INGEST_COORDINATION": "none",
        "STORYWIRE_ENRICH_EMBED_GROUP": f"{p}-embed",
        "STORYWIRE_ENRICH_CLUSTER_GROUP": f"{p}-cluster",
        "STORYWIRE_INDEX_GROUP_ID": f"{p}-index",
        "STORYWIRE_INDEX_DIMS": "384",
        "STORYWIRE_ALERT_GROUP_ID": f"{p}-alert",
        "STORYWIRE_ALERT_RULES_FILE": str(rules),
        "STORYWIRE_ALERT_STATE_DIR": str(tmp_path / "alert"),
        "STORYWIRE_LOG_JSON": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    stages = {name: STAGES[name] for name in EXPECTED}
    base = _free_base(len(stages))
    ports = {name: base + i for i, name in enumerate(stages)}
    sup = Supervisor(stages, env, ops_base_port=base, stop_timeout=BOUND_S)
    sup.start()
    try:
        ready: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + BOUND_S
        while len(ready) < len(stages) and time.monotonic() < deadline:
            for name, port in ports.items():
                if name in ready:
                    continue
                try:
                    resp = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
                except httpx.HTTPError:
                    continue
                if resp.status_code == 200:
                    ready[name] = resp.json()
            exited = {
                c.name: c.proc.returncode for c in sup.children if c.proc is not None and c.proc.poll() is not None
            }
            assert not exited, exited
            time.sleep(0.5)
        assert sorted(ready) == sorted(stages)
        assert all(body == {"live": True, "ready": True, "reasons": {}} for body in ready.values())
        for name, port in ports.items():
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            missing = [m for m in EXPECTED[name] if f"# HELP {m} " not in text]
            assert not missing, (name, missing)
    finally:
        sup.stop()
    codes = {c.name: c.proc.returncode for c in sup.children if c.proc is not None}
    assert codes == dict.fromkeys(stages, 0)
