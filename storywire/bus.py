"""Kafka helpers shared by every stage: topic names, clients, serde, dead letters.

Delivery is at least once: producers use ``acks=all`` with idempotence and retries;
consumers never auto-commit, and a service commits only after what it produced was
acknowledged (``flush``). A record that cannot be decoded is a poison message: it goes
to the dead-letter topic with its provenance in headers and the consumer goes on.

    dead-letter record:  key = original key, value = original bytes
    headers: storywire.topic, .partition, .offset, .error, .error_type, .stage, .time
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from prometheus_client import Counter, Gauge

from storywire.config import KafkaSettings
from storywire.messages import Message, MessageError, decode, utcnow

log = logging.getLogger(__name__)

# Shared by every consuming stage (they all poll through poll_records / DeadLetters).
# Set by storywire.lag.LagMonitor on a timer (from the broker), not on the hot path: a stage
# that stops polling (the index writer during an outage) would freeze it.
CONSUMER_LAG = Gauge(
    "storywire_consumer_lag",
    "Records between the group's committed offset and the end of a partition (as kafka-consumer-groups shows)",
    ["group", "topic", "partition"],
)
RECORDS_IN = Counter("storywire_consumer_records_total", "Records polled", ["group", "topic"])
BROKER_UNREACHABLE = Counter("storywire_consumer_broker_unreachable_total", "Polls that found no broker", ["group"])
DEAD_LETTERS = Counter("storywire_dead_letters_total", "Records sent to the dead-letter topic", ["stage", "error_type"])

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix, so test runs can share a broker."""

    prefix: str

    @property
    def raw(self) -> str:
        return f"{self.prefix}.articles.raw"

    @property
    def embedded(self) -> str:
        return f"{self.prefix}.articles.embedded"

    @property
    def enriched(self) -> str:
        return f"{self.prefix}.articles.enriched"

    @property
    def stories(self) -> str:
        return f"{self.prefix}.stories"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def all(self) -> list[str]:
        return [self.raw, self.embedded, self.enriched, self.stories, self.alerts, self.dlq]

    def compacted(self) -> set[str]:
        return {self.stories}


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security options common to producers, consumers and admin."""
    cfg: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        # kafka-python backs off up to 30 s between reconnects by default, so after a
        # broker restart a stage could sit idle that long with the broker already back.
        "reconnect_backoff_max_ms": 5000,
    }
    if settings.sasl_mechanism:
        cfg["sasl_mechanism"] = settings.sasl_mechanism
        cfg["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            cfg["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_cafile:
        cfg["ssl_cafile"] = settings.ssl_cafile
    return cfg


def ensure_topics(settings: KafkaSettings, topics: Topics | None = None) -> None:
    """Create the pipeline's topics if missing (the broker does not auto-create them)."""
    topics = topics or Topics(settings.topic_prefix)
    admin = KafkaAdminClient(**client_config(settings))
    try:
        existing = set(admin.list_topics())
        new = []
        for name in topics.all():
            if name in existing:
                continue
            configs = {"max.message.bytes": str(settings.max_message_bytes)}
            if name in topics.compacted():
                configs |= {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
            new.append(NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=configs))
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                admin.create_topics(new)
    finally:
        admin.close()


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A producer that does not lose acknowledged records: acks=all, idempotent, retrying."""
    cfg = client_config(settings) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_request_size": settings.max_message_bytes,
        "compression_type": None,
    }
    return KafkaProducer(**(cfg | overrides))


def group_id(settings: KafkaSettings, configured: str, stage: str) -> str:
    """A stage's consumer group: the configured id, else ``<topic prefix>-<stage>``
    (``storywire-embed`` with the default prefix), so that two deployments sharing a
    broker under different prefixes never share a group."""
    return configured or f"{settings.topic_prefix}-{stage}"


def make_consumer(
    settings: KafkaSettings, group_id: str | None, topics: Sequence[str] = (), **overrides: Any
) -> KafkaConsumer:
    """A consumer with manual commits; it starts at the earliest offset the group has not committed."""
    cfg = client_config(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
    }
    consumer = KafkaConsumer(**(cfg | overrides))
    if topics:
        consumer.subscribe(list(topics))
    return consumer


def encode(message: Message) -> bytes:
    return message.to_json()


def key_bytes(key: str) -> bytes:
    return key.encode("utf-8")


@dataclass(frozen=True)
class Decoded(Generic[M]):
    """A decoded message with where it came from."""

    value: M
    key: str | None
    topic: str
    partition: int
    offset: int


class DeadLetters:
    """Sends undecodable or unprocessable records to the dead-letter topic."""

    def __init__(self, producer: KafkaProducer, topics: Topics, stage: str) -> None:
        self.producer = producer
        self.topic = topics.dlq
        self.stage = stage
        self.count = 0

    def send(self, record: ConsumerRecord, error: BaseException | str) -> None:
        """Send one record and wait for the acknowledgement, so committing after it is safe."""
        err_type = type(error).__name__ if isinstance(error, BaseException) else "Rejected"
        headers = [
            ("storywire.topic", record.topic.encode()),
            ("storywire.partition", str(record.partition).encode()),
            ("storywire.offset", str(record.offset).encode()),
            ("storywire.error", str(error)[:2000].encode()),
            ("storywire.error_type", err_type.encode()),
            ("storywire.stage", self.stage.encode()),
            ("storywire.time", utcnow().isoformat().encode()),
        ]
        value = record.value if record.value is not None else b""
        if len(value) > 900_000:  # keep the dead letter itself deliverable
            headers.append(("storywire.truncated_from", str(len(value)).encode()))
            value = value[:900_000]
        self.producer.send(self.topic, key=record.key, value=value, headers=headers).get(timeout=60)
        self.count += 1
        DEAD_LETTERS.labels(self.stage, err_type).inc()
        log.warning(
            "dead-lettered",
            extra={
                "stage": self.stage,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_type": err_type,
                "error": str(error)[:300],
            },
        )


def decode_records(records: Iterable[ConsumerRecord], model: type[M], dead: DeadLetters) -> list[Decoded[M]]:
    """Decode a polled batch; poison records go to the dead-letter topic and are left out."""
    out: list[Decoded[M]] = []
    for rec in records:
        try:
            if rec.value is None:
                raise MessageError("empty value (tombstone) where a message was expected")
            value = decode(model, rec.value)
        except MessageError as exc:
            dead.send(rec, exc)
            continue
        key = rec.key.decode("utf-8", errors="replace") if rec.key is not None else None
        out.append(Decoded(value, key, rec.topic, rec.partition, rec.offset))
    return out


def poll_records(
    consumer: KafkaConsumer, timeout_ms: int = 1000, max_records: int | None = None
) -> list[ConsumerRecord]:
    """Poll once and return the records of every partition in offset order."""
    group = str(consumer.config.get("group_id") or "-")
    try:
        batches = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
    except KafkaConnectionError as exc:
        # A broker outage is a pause, not a crash: nothing was consumed, so nothing is lost;
        # the caller's loop polls again and kafka-python reconnects.
        BROKER_UNREACHABLE.labels(group).inc()
        log.warning("broker unreachable; polling again", extra={"group": group, "error": str(exc)[:200]})
        time.sleep(min(1.0, timeout_ms / 1000))
        return []
    records: list[ConsumerRecord] = []
    for part in sorted(batches, key=lambda tp: (tp.topic, tp.partition)):
        records.extend(batches[part])
        RECORDS_IN.labels(group, part.topic).inc(len(batches[part]))
    return records
