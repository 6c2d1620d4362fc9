"""`storywire doctor` against the real Kafka and Elasticsearch: it names what to fix, then
reads the running pipeline (stages' readiness, consumer lag, dead letters, disabled feeds,
disk) and never prints a credential from the settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from index.client import IndexNames, make_client
from index.mappings import ensure_indices
from ingest.state import StateStore
from storywire.bus import Topics, client_config, ensure_topics, make_producer
from storywire.config import ElasticsearchSettings, KafkaSettings
from storywire.runtime import OpsServer

pytestmark = pytest.mark.integration

PASSWORD = "pw-never-shown-42"


def _env(kafka: KafkaSettings, es: ElasticsearchSettings, tmp: Path) -> dict[str, str]:
    # Security is off on the local node, so it ignores the credentials; doctor must still hide them.
    host = es.url.split("://", 1)[1]
    return os.environ | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "STORYWIRE_ES_URL": f"http://elastic:{PASSWORD}@{host}",
        "STORYWIRE_ES_INDEX_PREFIX": es.index_prefix,
        "STORYWIRE_INGEST_STATE_DIR": str(tmp / "ingest"),
        "STORYWIRE_ALERT_STATE_DIR": str(tmp / "alert"),
    }


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "storywire.app.cli", "doctor", "--skip-model", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc


@pytest.fixture
def stages() -> Iterator[tuple[str, str]]:
    """Two stages' ops servers: one ready, one not ready with a reason."""
    ready = OpsServer(0, host="127.0.0.1")
    stuck = OpsServer(0, health=lambda: (False, {"loop": "no poll for 300s"}), host="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{ready.port}", f"http://127.0.0.1:{stuck.port}"
    finally:
        ready.close()
        stuck.close()


def test_doctor_names_what_to_fix(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    env = _env(kafka_settings, es_settings, tmp_path)
    proc = _doctor(env, "--skip-pipeline")
    assert proc.returncode == 1, proc.stderr
    lines = {line.split(":")[0]: line for line in proc.stdout.splitlines()}
    assert lines["FAIL kafka"].endswith("; fix: `storywire topics ensure`") and "topics missing" in lines["FAIL kafka"]
    es_line = lines["FAIL elasticsearch"]
    assert "aliases are missing" in es_line and "fix: start `storywire index run` once" in es_line
    assert "http://***@" in es_line
    assert all(lines[f"ok   config {s}"] for s in ("kafka", "es", "ingest", "enrich", "index", "alert", "stack"))


def test_doctor_refuses_bad_values_in_every_section(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    env = _env(kafka_settings, es_settings, tmp_path) | {
        "STORYWIRE_INGEST_CONCURRENCY": "0",
        "STORYWIRE_INGEST_READ_TIMEOUT_S": "-1",
        "STORYWIRE_INDEX_DIMS": "0",
        "STORYWIRE_ALERT_SMTP_PORT": "70000",
    }
    proc = _doctor(env, "--skip-pipeline", "--json")
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    ingest = checks["config ingest"]
    assert ingest["status"] == "fail" and "STORYWIRE_INGEST_CONCURRENCY='0'" in ingest["detail"]
    assert "STORYWIRE_INGEST_READ_TIMEOUT_S='-1': Input should be greater than 0" in ingest["detail"]
    assert checks["config index"]["status"] == "fail" and "STORYWIRE_INDEX_DIMS" in checks["config index"]["detail"]
    assert (
        checks["config alert"]["status"] == "fail" and "STORYWIRE_ALERT_SMTP_PORT" in checks["config alert"]["detail"]
    )
    assert checks["config enrich"]["status"] == "ok"


def test_doctor_reads_the_running_pipeline(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path, stages: tuple[str, str]
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    es = make_client(es_settings)
    try:
        ensure_indices(es, IndexNames(es_settings.index_prefix), 4)
    finally:
        es.close()
    producer = make_producer(kafka_settings)
    try:
        for n in range(5):
            producer.send(topics.raw, key=f"k{n}".encode(), value=b"{}", partition=0)
        for n in range(2):
            producer.send(topics.dlq, key=f"d{n}".encode(), value=b"poison")
        producer.flush()
    finally:
        producer.close()
    # The embed group has read 2 of the 5 raw records: 3 behind.
    group = f"{kafka_settings.topic_prefix}-embed"
    consumer = KafkaConsumer(**client_config(kafka_settings), group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topics.raw, 0): OffsetAndMetadata(2, "", -1)})
    finally:
        consumer.close()
    store = StateStore(tmp_path / "ingest")
    store.save(store.get("https://gone.example/rss").with_(disabled=True, disabled_reason="410 Gone"))
    store.save(store.get("https://flaky.example/rss").with_(error_count=2, next_poll=datetime(2030, 1, 1, tzinfo=UTC)))
    store.close()

    ready, stuck = stages
    env = _env(kafka_settings, es_settings, tmp_path)
    args = ["--stage", f"ingest={ready}", "--stage", f"index={stuck}", "--stage", "embed=off", "--stage", "cluster=off"]
    args += ["--stage", "alert=off", "--stage", "api=off", "--max-lag", "2"]
    proc = _doctor(env, *args, "--json")
    assert proc.returncode == 1, proc.stderr  # the stuck stage fails; warnings alone would not
    result = json.loads(proc.stdout)
    assert result["ok"] is False
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["kafka"]["status"] == checks["elasticsearch"]["status"] == "ok"
    assert checks["stage ingest"]["status"] == "ok"
    assert checks["stage index"]["status"] == "fail" and "no poll for 300s" in checks["stage index"]["detail"]
    assert checks["stage embed"]["status"] == "skip"
    lag = checks[f"lag {group}"]
    assert lag["status"] == "warn" and lag["data"]["lag"] == 3 and lag["data"]["by_topic"] == {topics.raw: 3}
    assert checks[f"lag {kafka_settings.topic_prefix}-index"]["detail"].startswith("no committed offsets yet")
    assert checks["dead letters"]["status"] == "warn" and checks["dead letters"]["data"]["records"] == 2
    feeds = checks["feeds"]
    assert feeds["status"] == "warn" and feeds["data"]["disabled"] == ["https://gone.example/rss"]
    assert feeds["data"]["failing"] == ["https://flaky.example/rss"]
    assert checks["disk ingest"]["status"] == "ok" and checks["disk ingest"]["data"]["free_bytes"] > 0

    plain = _doctor(env, *args)
    assert plain.returncode == 1
    assert "FAIL stage index: not ready at http://127.0.0.1:" in plain.stdout
    assert f"warn dead letters: 2 records in {topics.dlq}" in plain.stdout
    assert "ok   elasticsearch: http://***@" in plain.stdout
