"""Ops against the real stack: SIGTERM ends a stage cleanly with its work committed (doctor: test_doctor.py)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from devtools.samples import enriched
from index.client import IndexNames, make_client
from index.mappings import ensure_indices
from storywire.bus import Topics, client_config, encode, ensure_topics, key_bytes, make_producer
from storywire.config import ElasticsearchSettings, KafkaSettings

pytestmark = pytest.mark.integration

# The stage's contract: SIGTERM finishes the batch in hand, commits and exits well within this.
STOP_BOUND_S = 60


def _env(kafka: KafkaSettings, es: ElasticsearchSettings) -> dict[str, str]:
    return os.environ | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "STORYWIRE_KAFKA_PARTITIONS": str(kafka.partitions),
        "STORYWIRE_ES_URL": es.url,
        "STORYWIRE_ES_INDEX_PREFIX": es.index_prefix,
    }


def _produce(kafka: KafkaSettings, topic: str, first: int, count: int) -> None:
    producer = make_producer(kafka)
    try:
        for n in range(first, first + count):
            msg = enriched(n, story_id=f"s{n % 5}", embedding=(1.0, 0.0, 0.0, 0.0))
            producer.send(topic, key=key_bytes(msg.id), value=encode(msg))
        producer.flush()
    finally:
        producer.close()


def _indexed_ids(es: ElasticsearchSettings) -> set[str]:
    httpx.post(f"{es.url}/{es.index_prefix}-articles/_refresh", timeout=30)
    resp = httpx.post(
        f"{es.url}/{es.index_prefix}-articles/_search",
        json={"query": {"match_all": {}}, "size": 10_000, "_source": False},
        timeout=30,
    )
    if resp.status_code != 200:
        return set()
    return {h["_id"] for h in resp.json()["hits"]["hits"]}


def _ids_below_committed(kafka: KafkaSettings, group: str, topic: str) -> tuple[int, set[str]]:
    """(total committed offset, the keys of every record below the group's committed offsets)."""
    reader = KafkaConsumer(**client_config(kafka), group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        committed = {tp: reader.committed(tp) or 0 for tp in parts}
    finally:
        reader.close()
    consumer = KafkaConsumer(**client_config(kafka), enable_auto_commit=False, consumer_timeout_ms=2000)
    keys: set[str] = set()
    try:
        for tp, offset in committed.items():
            consumer.assign([tp])
            consumer.seek(tp, 0)
            while consumer.position(tp) < offset:
                for rec in consumer.poll(timeout_ms=1000).get(tp, []):
                    if rec.offset < offset:
                        keys.add(rec.key.decode())
    finally:
        consumer.close()
    return sum(committed.values()), keys


def test_sigterm_finishes_the_batch_commits_and_exits_zero(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, tmp_path: Path
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    group = f"{kafka_settings.topic_prefix}-index"
    env = _env(kafka_settings, es_settings) | {
        "STORYWIRE_INDEX_GROUP_ID": group,
        "STORYWIRE_INDEX_DIMS": "4",
        "STORYWIRE_INDEX_OPS_PORT": "0",
    }
    _produce(kafka_settings, topics.enriched, 1, 30)
    with (tmp_path / "index.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "storywire.app.cli", "index", "run"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 120
        while len(_indexed_ids(es_settings)) < 30:  # the stage is up and working
            assert proc.poll() is None, (tmp_path / "index.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "index.log").read_text()
            time.sleep(0.5)
        _produce(kafka_settings, topics.enriched, 31, 200)  # a batch in flight when the signal lands
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, (tmp_path / "index.log").read_text()
    committed, keys = _ids_below_committed(kafka_settings, group, topics.enriched)
    assert committed >= 30
    # Every record the stage committed is in Elasticsearch: commits follow acknowledged writes.
    assert keys <= _indexed_ids(es_settings)
    assert len(keys) == committed


def test_index_migrate_logs_its_copy_progress(
    es_settings: ElasticsearchSettings, caplog: pytest.LogCaptureFixture
) -> None:
    from index.mappings import migrate

    names = IndexNames(es_settings.index_prefix)
    es = make_client(es_settings)
    try:
        ensure_indices(es, names, 4)
        for n in range(1, 4):
            doc = {"id": f"a{n}", "title": f"report {n}", "embedding": [1.0, 0.0, 0.0, 0.0]}
            es.index(index=names.articles, id=f"a{n}", document=doc, refresh=True)
        with caplog.at_level(logging.INFO, logger="index.mappings"):
            migrate(es, names)
    finally:
        es.close()
    done = [
        (r.__dict__["task"], r.__dict__["items"], r.__dict__["total"])
        for r in caplog.records
        if r.getMessage() == "progress" and r.__dict__["state"] == "done"
    ]
    articles_v1 = IndexNames.versioned(names.articles, 1)
    assert (f"copy {articles_v1} to {IndexNames.versioned(names.articles, 2)}", 3, 3) in done
