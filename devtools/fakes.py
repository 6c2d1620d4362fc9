"""Test doubles for the Kafka boundary and the clock, one set for every test (mypy checks them).

They implement ``storywire.bus``'s protocols, so a stage built on a fake is type-checked
like one built on kafka-python's clients (see the assignments at the end). A fake is for
what a real broker cannot be made to do on demand (refuse one send, fail a commit with a
rebalance); anything about Kafka itself is tested against the real broker.

    FakeRecord      a consumed record (``ConsumerRecord``'s fields)
    FakeConsumer    hands out the batches it was given, records commits
    FakeProducer    records what is sent; ``fail`` fails the futures, ``refuse`` the sends
    FakeClock       monotonic seconds (``t``), FakeWallClock an aware datetime (``now``)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from kafka.errors import MessageSizeTooLargeError
from kafka.structs import OffsetAndMetadata, TopicPartition

from storywire.bus import Consumer, Producer, Record, SendFuture


@dataclass(frozen=True)
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()


def records(topic: str, values: Sequence[bytes | None], partition: int = 0, first: int = 0) -> list[FakeRecord]:
    """Records of ``values`` at consecutive offsets, keyed ``k<offset>``."""
    return [FakeRecord(topic, partition, first + i, f"k{first + i}".encode(), v) for i, v in enumerate(values)]


class FakeFuture:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> object:
        if self.error is not None:
            raise self.error
        return None


class Sent(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


class FakeProducer:
    """Records every send. ``fail``: each future raises it; ``refuse``: ``send`` raises it at once;
    ``fail_when``: only the sends it is true for fail (with ``fail``); ``max_request_size``:
    larger records are refused at once, as kafka-python's own check refuses them."""

    def __init__(self, max_request_size: int | None = None) -> None:
        self.sent: list[Sent] = []
        self.fail: BaseException | None = None
        self.refuse: BaseException | None = None
        self.fail_when: Callable[[Sent], bool] | None = None
        self.max_request_size = max_request_size
        self.flushes = 0
        self.closed = False

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> SendFuture:
        if self.refuse is not None:
            raise self.refuse
        size = len(key or b"") + len(value or b"")
        if self.max_request_size is not None and size > self.max_request_size:
            raise MessageSizeTooLargeError(f"The message is {size} bytes when serialized")
        sent = Sent(topic, key, value or b"", dict(headers or []))
        if self.fail is not None and (self.fail_when is None or self.fail_when(sent)):
            return FakeFuture(self.fail)
        self.sent.append(sent)
        return FakeFuture()

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


class FakeConsumer:
    """Hands out ``batches`` one per poll (then nothing) and records each commit's offsets
    (``{}`` for a commit of the consumer's position). ``commit_error`` / ``poll_error``
    make those calls raise."""

    def __init__(self, *batches: Sequence[Record], group_id: str = "fake") -> None:
        self.config: dict[str, Any] = {"group_id": group_id}
        self.batches = [list(b) for b in batches]
        self.commits: list[dict[TopicPartition, int]] = []
        self.commit_error: BaseException | None = None
        self.poll_error: BaseException | None = None
        self.positions: dict[TopicPartition, int] = {}
        self.closed = False

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Mapping[TopicPartition, Sequence[Record]]:
        if self.poll_error is not None:
            raise self.poll_error
        if not self.batches:
            return {}
        out: dict[TopicPartition, list[Record]] = {}
        for r in self.batches.pop(0):
            tp = TopicPartition(r.topic, r.partition)
            out.setdefault(tp, []).append(r)
            self.positions[tp] = r.offset + 1
        return out

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata] | None = None) -> None:
        self.commits.append({tp: o.offset for tp, o in (offsets or {}).items()})
        if self.commit_error is not None:
            raise self.commit_error

    def position(self, partition: TopicPartition) -> int:
        return self.positions.get(partition, 0)

    def highwater(self, partition: TopicPartition) -> int | None:
        return None  # nothing fetched from a broker, so no lag to report

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


@dataclass
class FakeClock:
    """Monotonic seconds, moved by hand."""

    t: float = 0.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeWallClock:
    """An aware datetime, moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# mypy checks that the fakes are what the stages take.
_consumer: Consumer = FakeConsumer()
_producer: Producer = FakeProducer()
_record: Record = FakeRecord("t", 0, 0, None, None)
