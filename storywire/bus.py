"""The Kafka boundary, typed: topic names, clients, serde, polling and decoding.

kafka-python has no type information, so the parts of its clients Storywire uses are
stated here as protocols (``Record``, ``Consumer``, ``Producer``, ``SendFuture``): every
stage is written against them, and ``devtools.fakes`` implements them for the unit tests
(mypy checks both sides).

Delivery is at least once: producers use ``acks=all`` with idempotence and retries;
consumers never auto-commit, and a stage commits only after what it produced was
acknowledged (``storywire.consume``). A record that cannot be decoded is a poison message:
``decode_records`` hands it to the stage's ``reject`` with the reason and leaves it out;
what it keeps are ``Decoded`` messages that carry their record, so a later step can
dead-letter one directly. Dead letters (``storywire.delivery``):

    dead-letter record:  key = original key, value = original bytes (cut to fit, see truncated_from)
    headers: storywire.topic, .partition, .offset, .error, .error_type, .stage, .time[, .truncated_from]

``ensure_topics`` creates the pipeline's topics and raises an existing topic's
``max.message.bytes`` to the setting (a topic made before the setting was raised would
refuse what the producers now send); ``topic_limits`` reads the limits back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter, Gauge

from storywire.config import KafkaSettings
from storywire.messages import Message, MessageError, decode

log = logging.getLogger(__name__)

# Shared by every consuming stage (they all poll through poll_records).
# Set by storywire.lag.LagMonitor on a timer (from the broker), not on the hot path: a stage
# that stops polling (the index writer during an outage) would freeze it.
CONSUMER_LAG = Gauge(
    "storywire_consumer_lag",
    "Records between the group's committed offset and the end of a partition (as kafka-consumer-groups shows)",
    ["group", "topic", "partition"],
)
RECORDS_IN = Counter("storywire_consumer_records_total", "Records polled", ["group", "topic"])
BROKER_UNREACHABLE = Counter("storywire_consumer_broker_unreachable_total", "Polls that found no broker", ["group"])

M = TypeVar("M", bound=Message)
M_co = TypeVar("M_co", bound=Message, covariant=True)


# --- what Storywire uses of kafka-python's clients ------------------------------------------
class Record(Protocol):
    """A consumed record (kafka-python's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


class SendFuture(Protocol):
    """What ``Producer.send`` returns: ``get`` waits for the acknowledgement or raises why not."""

    def get(self, timeout: float | None = None) -> object: ...


class Producer(Protocol):
    """A KafkaProducer made by ``make_producer`` (acks=all, idempotent)."""

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> SendFuture: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class Consumer(Protocol):
    """A KafkaConsumer in a group, as the stages' loops use it."""

    @property
    def config(self) -> Mapping[str, Any]: ...

    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Record]]: ...

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata] | None = None) -> None: ...

    def position(self, partition: TopicPartition) -> int: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def close(self, autocommit: bool = True) -> None: ...


class ReadingConsumer(Consumer, Protocol):
    """A consumer that also reads partitions it assigns itself (the clusterer's restore)."""

    def subscribe(self, topics: Sequence[str]) -> None: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    def assign(self, partitions: Sequence[TopicPartition]) -> None: ...

    def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]: ...

    def assignment(self) -> set[TopicPartition]: ...


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


def ensure_topics(settings: KafkaSettings, topics: Topics | None = None) -> dict[str, str]:
    """Create the pipeline's topics if missing (the broker does not auto-create them), and raise
    an existing topic's ``max.message.bytes`` below ``settings.max_message_bytes`` to it.

    Returns what it did per topic ("created", "max.message.bytes 1000000 -> 1048576");
    a limit it cannot raise (no permission) is reported, not hidden: the stages then budget
    records for the lower limit (``topic_limits``).
    """
    topics = topics or Topics(settings.topic_prefix)
    limit = settings.max_message_bytes
    done: dict[str, str] = {}
    admin = KafkaAdminClient(**client_config(settings))
    try:
        existing = set(admin.list_topics())
        new = []
        for name in topics.all():
            if name in existing:
                continue
            configs = {"max.message.bytes": str(limit)}
            if name in topics.compacted():
                configs |= {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
            new.append(NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=configs))
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                admin.create_topics(new)
            done |= {t.name: "created" for t in new}
        low = {t: n for t, n in _limits(admin, [t for t in topics.all() if t in existing]).items() if n < limit}
        if low:
            resources = [ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": str(limit)}) for t in low]
            results = admin.alter_configs(resources).get("topic", {})
            for t, was in low.items():
                result = results.get(t, "no answer")
                done[t] = (
                    f"max.message.bytes {was} -> {limit}" if result == "OK" else f"max.message.bytes {was}: {result}"
                )
                log.info("topic limit", extra={"topic": t, "change": done[t]})
    finally:
        admin.close()
    return done


def topic_limits(settings: KafkaSettings, names: Sequence[str]) -> dict[str, int]:
    """Each topic's ``max.message.bytes`` as the broker has it now."""
    admin = KafkaAdminClient(**client_config(settings))
    try:
        return _limits(admin, names)
    finally:
        admin.close()


def _limits(admin: Any, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": None}) for t in names]
    described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    # A topic created a moment ago can be described without its configs yet: left out.
    return {t: int(c["max.message.bytes"]["value"]) for t, c in described.items() if "max.message.bytes" in c}


def make_producer(settings: KafkaSettings, **overrides: Any) -> Producer:
    """A producer that does not lose acknowledged records: acks=all, idempotent, retrying."""
    cfg = client_config(settings) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_request_size": settings.max_message_bytes,
        "compression_type": None,
    }
    producer: Producer = KafkaProducer(**(cfg | overrides))
    return producer


def group_id(settings: KafkaSettings, configured: str, stage: str) -> str:
    """A stage's consumer group: the configured id, else ``<topic prefix>-<stage>``
    (``storywire-embed`` with the default prefix), so that two deployments sharing a
    broker under different prefixes never share a group."""
    return configured or f"{settings.topic_prefix}-{stage}"


def make_consumer(
    settings: KafkaSettings, group_id: str | None, topics: Sequence[str] = (), **overrides: Any
) -> ReadingConsumer:
    """A consumer with manual commits; it starts at the earliest offset the group has not committed."""
    cfg = client_config(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
    }
    kafka_consumer = KafkaConsumer(**(cfg | overrides))
    if topics:
        kafka_consumer.subscribe(list(topics))
        # The group is joined at the first poll with whatever topic metadata the client has
        # then. A leader without it assigns nothing ("No partition metadata for topic") and
        # counts on a rebalance once the metadata arrives; on a busy machine that rebalance
        # once did not come within two minutes (kafka-python issue #2377 reports the same).
        # A blocking metadata fetch first: the first join then assigns the partitions.
        for topic in topics:
            kafka_consumer.partitions_for_topic(topic)
    consumer: ReadingConsumer = kafka_consumer
    return consumer


def encode(message: Message) -> bytes:
    return message.to_json()


def key_bytes(key: str) -> bytes:
    return key.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Decoded(Generic[M_co]):
    """A decoded message with the record it came from (dead letters carry the record's bytes)."""

    value: M_co
    record: Record

    @property
    def key(self) -> str | None:
        key = self.record.key
        return key.decode("utf-8", errors="replace") if key is not None else None

    @property
    def topic(self) -> str:
        return self.record.topic

    @property
    def partition(self) -> int:
        return self.record.partition

    @property
    def offset(self) -> int:
        return self.record.offset


def decode_record(record: Record, model: type[M]) -> Decoded[M]:
    """One record as ``model``; MessageError (never anything else) when it is not one."""
    if record.value is None:
        raise MessageError("empty value (tombstone) where a message was expected")
    return Decoded(decode(model, record.value), record)


def decode_records(
    records: Iterable[Record], model: type[M], reject: Callable[[Record, MessageError], object]
) -> list[Decoded[M]]:
    """Decode a polled batch; each poison record goes to ``reject`` with the reason and is left out."""
    out: list[Decoded[M]] = []
    for rec in records:
        try:
            out.append(decode_record(rec, model))
        except MessageError as exc:
            reject(rec, exc)
    return out


def poll_records(consumer: Consumer, timeout_ms: int = 1000, max_records: int | None = None) -> list[Record]:
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
    records: list[Record] = []
    for part in sorted(batches, key=lambda tp: (tp.topic, tp.partition)):
        records.extend(batches[part])
        RECORDS_IN.labels(group, part.topic).inc(len(batches[part]))
    return records
