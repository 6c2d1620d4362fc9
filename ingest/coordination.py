"""Which poller polls which feed: partitions of ``<prefix>.feeds`` handed out by a consumer group.

Every feed maps to one partition of the feeds topic by a stable hash of its URL. Each
poller joins the consumer group ``<prefix>.ingest`` on that topic and polls only the
feeds of the partitions the group assigned to it. Kafka's group protocol gives each
partition to exactly one live member; when a poller dies (or stops heartbeating) its
partitions move to the others after the session timeout, so its feeds keep being
polled. The topic carries no records: the group membership is the lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from storywire.bus import client_config, make_consumer
from storywire.config import KafkaSettings

log = logging.getLogger(__name__)


def feeds_topic(kafka: KafkaSettings) -> str:
    return f"{kafka.topic_prefix}.feeds"


def partition_for(url: str, partitions: int) -> int:
    return int.from_bytes(hashlib.sha256(url.encode("utf-8")).digest()[:8], "big") % partitions


def ensure_feeds_topic(kafka: KafkaSettings, partitions: int) -> None:
    admin = KafkaAdminClient(**client_config(kafka))
    try:
        if feeds_topic(kafka) not in set(admin.list_topics()):
            topic = NewTopic(
                feeds_topic(kafka), partitions, kafka.replication_factor, topic_configs={"cleanup.policy": "compact"}
            )
            with contextlib.suppress(TopicAlreadyExistsError):  # another poller won the race
                admin.create_topics([topic])
    finally:
        admin.close()


class GroupOwnership:
    """Feed ownership from a consumer group; call ``refresh`` at least every few seconds."""

    def __init__(self, kafka: KafkaSettings, partitions: int, **consumer_overrides: Any) -> None:
        ensure_feeds_topic(kafka, partitions)
        self.topic = feeds_topic(kafka)
        overrides = {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 3_000, "max_poll_interval_ms": 600_000}
        self.consumer = make_consumer(
            kafka, f"{kafka.topic_prefix}.ingest", [self.topic], **(overrides | consumer_overrides)
        )
        found = self.consumer.partitions_for_topic(self.topic)
        self.partitions = len(found) if found else partitions
        self.assigned: frozenset[int] = frozenset()

    def refresh(self, timeout_ms: int = 0) -> frozenset[int]:
        """Take part in the group (join, rebalance, heartbeat) and return the partitions held."""
        self.consumer.poll(timeout_ms=timeout_ms)
        assigned = frozenset(tp.partition for tp in self.consumer.assignment() if tp.topic == self.topic)
        if assigned != self.assigned:
            log.info("feed partitions assigned", extra={"topic": self.topic, "partitions": sorted(assigned)})
        self.assigned = assigned
        return self.assigned

    def owns(self, url: str) -> bool:
        return partition_for(url, self.partitions) in self.assigned

    def close(self) -> None:
        self.consumer.close()
