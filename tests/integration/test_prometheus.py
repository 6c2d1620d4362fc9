"""A real Prometheus (Debian's `prometheus` binary) scraping every stage of a running pipeline, with
the shipped alert rules loaded and every dashboard query evaluated; and the probes of real stage
processes: the index writer stays alive while Elasticsearch is down, the API's readiness ignores Kafka.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from devtools.samples import enriched
from search.cli import api_app
from storywire.app.supervisor import STAGES, Supervisor
from storywire.bus import Topics, encode, ensure_topics, key_bytes, make_producer
from storywire.config import ElasticsearchSettings, KafkaSettings
from tests.integration.test_observability_stages import _free_base
from tests.unit.test_observability_pack import _dashboard_exprs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "rules.yml"
BOUND_S = 240  # start-up of six stages (the model loads) and the first scrapes: a contract, not a speed claim


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(kafka: KafkaSettings, es: ElasticsearchSettings, tmp_path: Path) -> dict[str, str]:
    feeds, rules = tmp_path / "feeds.yaml", tmp_path / "rules.yaml"
    feeds.write_text("feeds: []\n")
    rules.write_text("rules:\n  - {name: brk, kind: breaking, min_articles: 3, min_sources: 3, window: 1h}\n")
    p = kafka.topic_prefix
    return dict(os.environ) | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": p,
        "STORYWIRE_KAFKA_PARTITIONS": str(kafka.partitions),
        "STORYWIRE_ES_URL": es.url,
        "STORYWIRE_ES_INDEX_PREFIX": es.index_prefix,
        "STORYWIRE_INGEST_FEEDS_FILE": str(feeds),
        "STORYWIRE_INGEST_STATE_DIR": str(tmp_path / "ingest"),
        "STORYWIRE_INGEST_COORDINATION": "none",
        "STORYWIRE_ENRICH_EMBED_GROUP": f"{p}-embed",
        "STORYWIRE_ENRICH_CLUSTER_GROUP": f"{p}-cluster",
        "STORYWIRE_INDEX_GROUP_ID": f"{p}-index",
        "STORYWIRE_INDEX_DIMS": "4",  # the sample article's vector
        "STORYWIRE_ALERT_GROUP_ID": f"{p}-alert",
        "STORYWIRE_ALERT_RULES_FILE": str(rules),
        "STORYWIRE_ALERT_STATE_DIR": str(tmp_path / "alert"),
        "STORYWIRE_LOG_JSON": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def _until(what: str, check: Callable[[], Any], bound_s: float, sup: Supervisor | None = None) -> Any:
    deadline = time.monotonic() + bound_s
    while True:
        try:
            got = check()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        if sup is not None:
            procs = [c for c in sup.children if c.proc is not None]
            exited = {c.name: c.proc.returncode for c in procs if c.proc is not None and c.proc.poll() is not None}
            assert not exited, exited
        assert time.monotonic() < deadline, f"{what}: not within {bound_s:.0f}s"
        time.sleep(1)


class Prometheus:
    """Debian's prometheus binary on a free local port, scraping the given jobs every second."""

    def __init__(self, jobs: dict[str, int], workdir: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found: apt-get install prometheus (./sw test installs it)")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]} for job, port in jobs.items()
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert resp["status"] == "success", (expr, resp)
        result: list[dict[str, Any]] = resp["data"]["result"]
        return result

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_prometheus_scrapes_every_stage_of_a_running_pipeline(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    base = _free_base(6)
    api_port = base + 5
    stages = dict(STAGES) | {"api": ["api", "--host", "127.0.0.1", "--port", str(api_port), "--no-embed"]}
    ports = {name: base + i for i, name in enumerate(stages)}  # what `storywire run` gives each stage
    sup = Supervisor(stages, _env(kafka_settings, es_settings, tmp_path), ops_base_port=base, stop_timeout=BOUND_S)
    prom = Prometheus({f"storywire-{name}": port for name, port in ports.items()}, tmp_path)
    sup.start()
    try:
        # Something to measure: an article fresh from a fetch for the writer, a poison record for embed.
        producer = make_producer(kafka_settings)
        article = enriched(1, fetched=datetime.now(UTC))
        producer.send(topics.enriched, key=key_bytes(article.id), value=encode(article)).get(timeout=30)
        producer.send(topics.raw, key=b"poison", value=b"{not json").get(timeout=30)
        producer.close()

        def all_up() -> bool:
            targets = httpx.get(f"{prom.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            return len(targets) == len(stages) and all(t["health"] == "up" for t in targets)

        _until("every stage's target up", all_up, BOUND_S, sup)
        up = prom.query('up{job=~"storywire-.*"}')
        assert sorted(r["metric"]["job"] for r in up) == sorted(f"storywire-{n}" for n in stages)
        assert all(r["value"][1] == "1" for r in up)
        builds = prom.query("count by (job) (storywire_build_info)")
        assert len(builds) == len(stages)  # a storywire metric from every stage, through Prometheus

        # The data went through and its metrics arrived: freshness, the dead letter, the lag, progress.
        _until("fetch-to-indexed latency", lambda: prom.query("storywire_index_article_latency_seconds_count > 0"), 120)
        dead = _until("the dead letter", lambda: prom.query('storywire_dead_letters_total{stage="embed"} > 0'), 120)
        assert dead[0]["metric"]["job"] == "storywire-embed"
        lag = _until("lag series", lambda: prom.query("storywire_consumer_lag"), 60)
        assert {r["metric"]["group"] for r in lag} >= {f"{kafka_settings.topic_prefix}-{s}" for s in ("embed", "index")}
        stalled = prom.query("time() - storywire_last_success_timestamp_seconds")
        assert {r["metric"]["stage"] for r in stalled} >= {"ingest", "embed", "cluster", "index", "alert"}
        assert not prom.query('{__name__=~"storywire_.*_created"}')  # no _created series anywhere

        # Every dashboard query and every alert rule evaluates against the real series.
        for expr in _dashboard_exprs():
            prom.query(expr.replace("$__rate_interval", "1m"))
        groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 8 and all(r["health"] != "err" for r in rules), rules
    finally:
        prom.close()
        sup.stop()
    codes = {c.name: c.proc.returncode for c in sup.children if c.proc is not None}
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit -15) by design.
    assert codes == dict.fromkeys(stages, 0) | {"api": codes["api"]} and codes["api"] in (0, -15)


def test_the_index_writer_stays_alive_while_elasticsearch_is_down(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    """Liveness apart from readiness: a liveness probe must not restart the writer for an outage."""
    port = _free_port()
    env = _env(kafka_settings, es_settings, tmp_path) | {
        "STORYWIRE_ES_URL": f"http://127.0.0.1:{_free_port()}",  # nobody listens there
        "STORYWIRE_INDEX_OPS_PORT": str(port),
    }
    sup = Supervisor({"index": STAGES["index"]}, env, ops_base_port=None, stop_timeout=60)
    sup.start()
    try:
        live = _until("/livez", lambda: httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5), 120, sup)
        assert live.status_code == 200 and live.json() == {"live": True, "reasons": {}}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.status_code == 503 and "elasticsearch" in ready.json()["reasons"]
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 503  # /health = readiness
        assert "storywire_build_info" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        sup.stop()
    assert sup.children[0].proc is not None and sup.children[0].proc.returncode == 0


def test_the_api_is_ready_without_kafka(es_settings: ElasticsearchSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API never uses Kafka, so its readiness does not ask it."""
    monkeypatch.setenv("STORYWIRE_ES_URL", es_settings.url)
    monkeypatch.setenv("STORYWIRE_ES_INDEX_PREFIX", es_settings.index_prefix)
    monkeypatch.setenv("STORYWIRE_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{_free_port()}")  # nothing there
    with TestClient(api_app(no_embed=True)) as client:
        assert client.get("/livez").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["reasons"] == {}
        assert client.get("/health").status_code == 200
    monkeypatch.setenv("STORYWIRE_ES_URL", f"http://127.0.0.1:{_free_port()}")
    with TestClient(api_app(no_embed=True)) as client:
        down = client.get("/readyz")
        assert down.status_code == 503 and "elasticsearch" in down.json()["reasons"]
        assert client.get("/livez").status_code == 200
