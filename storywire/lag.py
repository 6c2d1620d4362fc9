"""Consumer lag measured from the broker on a timer, so it keeps moving while a stage does not poll.

``storywire_consumer_lag{group, topic, partition}`` is what ``kafka-consumer-groups.sh
--describe`` shows as LAG: the partition's log end offset minus the offset the group has
committed (a partition the group never committed counts from its first offset, since the
group starts there). It was set on the hot path from the consumer's own position, which
froze exactly when it mattered: the index writer stops polling while Elasticsearch is
down, and the gauge kept its last value while the backlog grew. A ``LagMonitor`` thread
asks the broker every ``interval_s`` instead, with clients of its own (kafka-python's
clients are not thread-safe), and does not care whether the stage polls.

Every member of a scaled group reports the whole group's lag: aggregate with
``max by (group, topic, partition)`` before summing (the shipped rules and dashboard do).

    LagMonitor(kafka, group, topics).start()   ... .close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter

from storywire.bus import CONSUMER_LAG, client_config
from storywire.config import KafkaSettings

log = logging.getLogger(__name__)

LAG_ERRORS = Counter(
    "storywire_consumer_lag_errors_total", "Lag measurements that failed (broker unreachable)", ["group"]
)

Offsets = Mapping[tuple[str, int], int]


def group_lag(end: Offsets, committed: Offsets, beginning: Offsets) -> dict[tuple[str, int], int]:
    """Lag per (topic, partition): end minus committed, or minus the first offset when nothing is committed."""
    return {tp: max(0, last - committed.get(tp, beginning.get(tp, 0))) for tp, last in end.items()}


class LagMonitor:
    """Sets ``storywire_consumer_lag`` for one group and its topics every ``interval_s`` on a daemon thread."""

    def __init__(
        self,
        kafka: KafkaSettings,
        group: str,
        topics: Sequence[str],
        interval_s: float = 10.0,
        clients: Callable[[], tuple[Any, Any]] | None = None,
    ) -> None:
        self.kafka, self.group, self.topics, self.interval_s = kafka, group, list(topics), interval_s
        self._clients_factory = clients or self._make_clients
        self._admin: Any = None
        self._consumer: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lag-{group}", daemon=True)
        self.measured = 0  # successful measurements, for tests and logs

    def start(self) -> LagMonitor:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 10)
        self._drop_clients()

    def _make_clients(self) -> tuple[Any, Any]:
        from kafka import KafkaAdminClient, KafkaConsumer

        cfg = client_config(self.kafka) | {"request_timeout_ms": 5000}
        admin = KafkaAdminClient(**cfg)
        try:
            consumer = KafkaConsumer(**cfg, group_id=None, enable_auto_commit=False)
        except Exception:
            admin.close()
            raise
        return admin, consumer

    def _drop_clients(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:  # closing a client of a dead broker may fail too; nothing to keep
                    log.debug("closing a lag client failed", exc_info=True)
        self._admin = self._consumer = None

    def measure(self) -> dict[tuple[str, int], int]:
        """One measurement; sets the gauge and returns the lag per (topic, partition)."""
        from kafka import TopicPartition

        if self._admin is None:
            self._admin, self._consumer = self._clients_factory()
        parts = [
            TopicPartition(t, p) for t in self.topics for p in sorted(self._consumer.partitions_for_topic(t) or ())
        ]
        end = {(tp.topic, tp.partition): int(o) for tp, o in self._consumer.end_offsets(parts).items()}
        first = {(tp.topic, tp.partition): int(o) for tp, o in self._consumer.beginning_offsets(parts).items()}
        offsets = self._admin.list_group_offsets({self.group: parts}).get(self.group, {})
        committed = {(tp.topic, tp.partition): int(m.offset) for tp, m in offsets.items() if m.offset >= 0}
        lags = group_lag(end, committed, first)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(lag)
        self.measured += 1
        return lags

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.measure()
            except Exception as exc:  # an outage: the gauge keeps its last value, the counter says why
                LAG_ERRORS.labels(self.group).inc()
                log.warning("consumer lag not measured", extra={"group": self.group, "error": str(exc)[:200]})
                self._drop_clients()
            self._stop.wait(self.interval_s)
