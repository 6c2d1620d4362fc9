"""The kernel's Kafka helpers against the real broker."""

import json
import logging
import time
from typing import Any

import pytest

from devtools.samples import article
from storywire.bus import (
    Topics,
    decode_records,
    encode,
    ensure_topics,
    key_bytes,
    make_consumer,
    make_producer,
    poll_records,
    topic_limits,
)
from storywire.config import KafkaSettings
from storywire.delivery import Delivery
from storywire.messages import Article

pytestmark = pytest.mark.integration


def _drain(consumer: Any, want: int, polls: int = 60) -> list[Any]:
    got: list[Any] = []
    for _ in range(polls):
        got += poll_records(consumer, timeout_ms=500)
        if len(got) >= want:
            break
    return got


def test_round_trip_and_poison_message_to_dead_letters(kafka_settings: KafkaSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    producer = make_producer(kafka_settings)
    good = [article(i) for i in range(5)]
    for a in good:
        producer.send(topics.raw, key=key_bytes(a.id), value=encode(a))
    newer = json.loads(article(99).to_json()) | {"schema_version": 7}
    producer.send(topics.raw, key=b"poison-1", value=b"{not json")
    producer.send(topics.raw, key=b"poison-2", value=json.dumps(newer).encode())
    producer.flush()

    group = f"{kafka_settings.topic_prefix}-g-test"  # its own group: other runs share the broker
    consumer = make_consumer(kafka_settings, group, [topics.raw])
    dead = Delivery(producer, topics, stage="test")
    decoded = decode_records(_drain(consumer, 7), Article, dead.dead_letter)
    dead.settle()
    consumer.commit()
    assert sorted(d.value.id for d in decoded) == sorted(a.id for a in good)
    assert all(d.key == d.value.id and d.record.value == encode(d.value) for d in decoded)
    assert dead.dead_letters == 2
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert sample("storywire_consumer_records_total", group=group, topic=topics.raw) == 7
    # Lag comes from the broker (storywire.lag), not the hot path: all committed, nothing behind.
    from storywire.lag import LagMonitor

    monitor = LagMonitor(kafka_settings, group, [topics.raw])
    try:
        assert monitor.measure() == {(topics.raw, p): 0 for p in range(3)}
    finally:
        monitor.close()
    lags = [sample("storywire_consumer_lag", group=group, topic=topics.raw, partition=str(p)) for p in range(3)]
    assert lags == [0, 0, 0]

    dlq = make_consumer(kafka_settings, None, [topics.dlq])
    letters = _drain(dlq, 2)
    assert sorted(r.key for r in letters) == [b"poison-1", b"poison-2"]
    by_key = {r.key: r for r in letters}
    assert by_key[b"poison-1"].value == b"{not json"  # original bytes kept
    headers = dict(by_key[b"poison-2"].headers)
    assert headers["storywire.topic"] == topics.raw.encode()
    assert headers["storywire.error_type"] == b"UnsupportedSchemaVersion"
    assert int(headers["storywire.offset"]) >= 0 and headers["storywire.partition"].isdigit()
    consumer.close()
    dlq.close()

    # committed: the same group sees nothing new
    again = make_consumer(kafka_settings, group, [topics.raw])
    assert _drain(again, 1, polls=6) == []
    again.close()
    producer.close()


def test_stories_topic_is_compacted(kafka_settings: KafkaSettings) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from storywire.bus import client_config

    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    ensure_topics(kafka_settings, topics)  # idempotent
    admin = KafkaAdminClient(**client_config(kafka_settings))
    text = ""
    for _ in range(40):  # a just-created topic's configs can take a moment to be described
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.stories)])
        text = repr(res)
        if "compact" in text:
            break
        time.sleep(0.25)
    admin.close()
    assert "'cleanup.policy', 'compact'" in text or "compact" in text, text


def test_ensure_topics_raises_a_lower_message_limit_and_reports_it(kafka_settings: KafkaSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    low = kafka_settings.model_copy(update={"max_message_bytes": 200_000})
    assert set(ensure_topics(low, topics).values()) == {"created"}
    for _ in range(40):  # a just-created topic's configs can take a moment to be described
        if len(limits := topic_limits(low, topics.all())) == len(topics.all()):
            break
        time.sleep(0.25)
    assert set(limits.values()) == {200_000}

    changes = ensure_topics(kafka_settings, topics)  # the setting was raised after the topics existed
    assert changes == {t: f"max.message.bytes 200000 -> {kafka_settings.max_message_bytes}" for t in topics.all()}
    for _ in range(40):  # the broker applies a change a moment after it acknowledged it
        if set((limits := topic_limits(kafka_settings, topics.all())).values()) == {kafka_settings.max_message_bytes}:
            break
        time.sleep(0.25)
    assert set(limits.values()) == {kafka_settings.max_message_bytes}
    assert ensure_topics(kafka_settings, topics) == {}  # nothing left to change
    assert ensure_topics(low, topics) == {}  # never lowered


def test_topics_ensure_says_what_it_changed(kafka_settings: KafkaSettings) -> None:
    import os
    import subprocess
    import sys

    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings.model_copy(update={"max_message_bytes": 300_000}), topics)
    for _ in range(40):  # a just-created topic's configs can take a moment to be described
        if len(topic_limits(kafka_settings, topics.all())) == len(topics.all()):
            break
        time.sleep(0.25)
    env = os.environ | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "STORYWIRE_KAFKA_MAX_MESSAGE_BYTES": "2000000",
    }
    cmd = [sys.executable, "-m", "storywire.app.cli", "topics", "ensure"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6 and all(line.endswith("present  (max.message.bytes 300000 -> 2000000)") for line in lines)
    for _ in range(40):
        if set((limits := topic_limits(kafka_settings, topics.all())).values()) == {2_000_000}:
            break
        time.sleep(0.25)
    assert set(limits.values()) == {2_000_000}


def test_a_consumer_made_right_after_its_topics_gets_their_partitions_at_its_first_join(
    kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the metadata fetched first, the first join assigned nothing ("No partition
    # metadata for topic", every time) and the stage waited on a rebalance that once never came.
    topics = Topics(kafka_settings.topic_prefix)
    ensure_topics(kafka_settings, topics)
    caplog.set_level(logging.WARNING, logger="kafka.coordinator")
    consumer = make_consumer(kafka_settings, f"{kafka_settings.topic_prefix}-first-join", [topics.raw])
    try:
        for _ in range(20):  # the polls that finish the join
            consumer.poll(timeout_ms=100)
            if consumer.assignment():
                break
        assert {tp.partition for tp in consumer.assignment()} == set(range(kafka_settings.partitions))
        assert not [r for r in caplog.records if "No partition metadata" in r.getMessage()]
    finally:
        consumer.close()
