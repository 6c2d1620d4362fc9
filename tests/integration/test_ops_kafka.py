"""Ops tools against the real broker: the dead-letter list and replay, the lag monitor while a
consumer does not poll, and the README's recovery recipe run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from devtools.stack import Stack
from storywire.app.cli import main
from storywire.bus import Record, Topics, client_config, ensure_topics, make_consumer, make_producer
from storywire.config import KafkaSettings
from storywire.delivery import Delivery, Limits
from storywire.lag import LagMonitor
from storywire.messages import MalformedMessage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _records(kafka: KafkaSettings, topic: str, expect: int, timeout_s: float = 30) -> list[Record]:
    """Every record of ``topic`` (at least ``expect`` of them), read without a group."""
    consumer = KafkaConsumer(**client_config(kafka), group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expect and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                out += recs
        end = time.monotonic() + 1.0  # and nothing more arrives
        while time.monotonic() < end:
            for recs in consumer.poll(timeout_ms=200).values():
                out += recs
        return out
    finally:
        consumer.close()


def _env(monkeypatch: pytest.MonkeyPatch, kafka: KafkaSettings) -> None:
    monkeypatch.setenv("STORYWIRE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("STORYWIRE_KAFKA_TOPIC_PREFIX", kafka.topic_prefix)


def test_dead_letters_are_listed_and_replayed_to_their_topic(
    kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    producer = make_producer(kafka_settings)
    poison, big = b'{"id": "a1", "title": ', b"x" * 950_000
    producer.send(topics.raw, key=b"a1", value=poison).get(timeout=30)
    producer.send(topics.raw, key=b"a2", value=big).get(timeout=30)
    # Dead-letter them the way the stages do: the real Delivery on the consumed records, here
    # with a dead-letter topic that takes 500 kB, so the big one is cut to fit.
    dead = Delivery(producer, topics, "embed", limits=Limits(500_000))
    for rec in _records(kafka_settings, topics.raw, 2):
        dead.dead_letter(rec, MalformedMessage(f"not JSON at offset {rec.offset}"))  # type: ignore[arg-type]
    dead.settle()
    _env(monkeypatch, kafka_settings)

    assert main(["dlq", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2
    first = next(d for d in listed if d["key"] == "a1")
    assert first["topic"] == topics.raw and first["stage"] == "embed" and first["error_type"] == "MalformedMessage"
    assert first["value"] == poison.decode() and first["truncated_from"] is None and first["time"]
    assert isinstance(first["partition"], int) and isinstance(first["offset"], int)
    cut = next(d for d in listed if d["key"] == "a2")
    assert cut["truncated_from"] == len(big) and 499_000 < cut["bytes"] < 500_000

    assert main(["dlq", "list", "--limit", "1", "--stage", "embed"]) == 0
    table = capsys.readouterr().out
    assert "1 dead letters" in table and "MalformedMessage" in table

    # --all includes the truncated letter: refused before anything is sent.
    assert main(["dlq", "replay", "--all"]) == 1
    assert "cannot be replayed" in capsys.readouterr().err
    assert main(["dlq", "replay", "--offset", first["id"], "--dry-run"]) == 0
    assert f"would replay {first['id']} -> {topics.raw}" in capsys.readouterr().out
    assert len(_records(kafka_settings, topics.raw, 2)) == 2  # nothing was sent so far

    assert main(["dlq", "replay", "--offset", first["id"]]) == 0
    assert f"replayed {first['id']} -> {topics.raw}" in capsys.readouterr().out
    raw = _records(kafka_settings, topics.raw, 3)
    assert len(raw) == 3
    again = [r for r in raw if dict(r.headers or []).get("storywire.replayed_from")]  # type: ignore[attr-defined]
    assert len(again) == 1
    assert (again[0].key, again[0].value) == (b"a1", poison)  # type: ignore[attr-defined]
    assert dict(again[0].headers)["storywire.replayed_from"] == f"{topics.dlq}:{first['id']}".encode()  # type: ignore[attr-defined]

    assert main(["dlq", "replay", "--offset", "0:999999"]) == 1  # names nothing: one error line
    assert "no dead letter 0:999999" in capsys.readouterr().err
    producer.close()


def test_lag_keeps_moving_while_the_group_does_not_poll(kafka_settings: KafkaSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    group = f"{kafka_settings.topic_prefix}-index"
    producer = make_producer(kafka_settings)
    for i in range(10):
        producer.send(topics.enriched, key=f"k{i}".encode(), value=b"{}", partition=0)
    producer.flush()
    # The group read and committed four records, then stopped polling (an Elasticsearch outage).
    consumer = make_consumer(kafka_settings, group)
    tp = TopicPartition(topics.enriched, 0)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(4, "", -1)})
    consumer.close()

    monitor = LagMonitor(kafka_settings, group, [topics.enriched], interval_s=0.2)
    try:
        lags = monitor.measure()
        assert lags[(topics.enriched, 0)] == 6 and lags[(topics.enriched, 1)] == 0
        monitor.start()
        for i in range(5):  # the backlog grows while nobody polls
            producer.send(topics.enriched, key=f"m{i}".encode(), value=b"{}", partition=0)
        producer.flush()
        labels = {"group": group, "topic": topics.enriched, "partition": "0"}
        deadline = time.monotonic() + 20
        while REGISTRY.get_sample_value("storywire_consumer_lag", labels) != 11 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert REGISTRY.get_sample_value("storywire_consumer_lag", labels) == 11
    finally:
        monitor.close()
        producer.close()


def _recipe() -> str:
    """The README's recovery command (the kafka-consumer-groups.sh lines of its recovery block)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- recovery -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no recovery block"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    commands = [line for line in lines if "kafka-consumer-groups.sh" in line and not line.lstrip().startswith("#")]
    assert len(commands) == 1, commands
    return commands[0]


def test_the_readme_recovery_recipe_rewinds_the_index_group(
    kafka_settings: KafkaSettings, stack: Stack, tmp_path: Path
) -> None:
    recipe = _recipe()
    for part in ("--bootstrap-server", "--group storywire-index", "--topic storywire.articles.enriched",
                 "--topic storywire.stories", "--reset-offsets", "--to-earliest", "--execute"):  # fmt: skip
        assert part in recipe, part
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    group = f"{kafka_settings.topic_prefix}-index"
    producer = make_producer(kafka_settings)
    for i in range(6):
        producer.send(topics.enriched, key=f"a{i}".encode(), value=b"{}")
        producer.send(topics.stories, key=f"s{i}".encode(), value=b"{}")
    producer.close()
    consumer = make_consumer(kafka_settings, group, [topics.enriched, topics.stories])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 12 and time.monotonic() < deadline:
        seen += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
    consumer.commit()
    consumer.close()  # the writer is stopped, as the recipe says
    admin = KafkaAdminClient(**client_config(kafka_settings))
    try:
        before = admin.list_group_offsets({group: None})[group]
        assert sum(m.offset for m in before.values()) == 12

        # As written, with this test's prefix and broker in place of the defaults.
        command = (
            recipe.replace("storywire-index", group)
            .replace("storywire.", f"{kafka_settings.topic_prefix}.")
            .replace("127.0.0.1:9092", kafka_settings.bootstrap_servers)
        )
        env = os.environ | {"KAFKA_BIN": str(stack.kafka.tools())}
        run = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        after = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    assert {tp.topic for tp in after} == {topics.enriched, topics.stories}
    assert all(m.offset == 0 for m in after.values()), after
