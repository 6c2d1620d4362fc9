"""Checked sends: nothing a stage produces is assumed delivered.

A stage hands its output records, and the records it dead-letters, to its ``Delivery``
and calls ``settle()`` before it commits. Per record:

    larger than its topic allows (``max.message.bytes`` as the broker has it, at most the
    setting), or refused at once by the client as too large
        -> not sent: the record it was made from is dead-lettered instead, with the reason
           ``OutputTooLarge`` and both sizes (an output made from no one record, a story
           snapshot, is dead-lettered itself)
    any other refusal, at once or in its future
        -> ``settle`` does not return: the stage is not ready (``health``), the producer
           is renewed (kafka-python's idempotent producer fails every later record after
           a broker refusal), the limits are read again, and after a backoff the records
           not acknowledged are sent again, until all are or the stop event is set
           (``Stopped``: the caller commits nothing)

A dead letter is the original key and bytes with the provenance in headers; bytes that
do not fit the dead-letter topic are cut, and ``storywire.truncated_from`` says how long
they were.

    DeliveryError
     +-- OutputTooLarge   the reason on a dead letter (never raised to the stage)
     +-- Stopped          stopped while a batch was undelivered: commit nothing
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from prometheus_client import Counter

from storywire.backoff import delay_s
from storywire.bus import Producer, Record, SendFuture, Topics, make_producer, topic_limits
from storywire.config import KafkaSettings
from storywire.messages import utcnow

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter("storywire_dead_letters_total", "Records sent to the dead-letter topic", ["stage", "error_type"])
UNDELIVERED = Counter(
    "storywire_undelivered_total", "Records a stage had to send again (not acknowledged)", ["stage", "error_type"]
)
TOO_LARGE = Counter("storywire_outputs_too_large_total", "Outputs over their topic's size limit", ["stage", "topic"])

FRAMING = 256  # a record's batch header and varints, on top of key, value and headers
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class DeliveryError(Exception):
    """A record could not be delivered."""


class OutputTooLarge(DeliveryError):
    """An output record is larger than its topic allows; its source was dead-lettered."""


class Stopped(DeliveryError):
    """The stop event was set while records were still unacknowledged; nothing may be committed."""


class RenewableProducer:
    """A Producer that can be replaced by a fresh one, for a failure that leaves the old one
    refusing every later record (kafka-python's idempotent producer after a broker refusal)."""

    def __init__(self, make: Callable[[], Producer]) -> None:
        self._make = make
        self.current = make()
        self.renewals = 0

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> SendFuture:
        return self.current.send(topic, value=value, key=key, headers=headers, partition=partition)

    def flush(self, timeout: float | None = None) -> None:
        self.current.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self.current.close(timeout=timeout)

    def renew(self) -> None:
        old, self.current = self.current, self._make()
        self.renewals += 1
        try:
            old.close(timeout=5)
        except Exception as exc:  # the old one is broken: that is why it is replaced
            log.warning("closing the old producer failed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})


class Limits:
    """The largest record each topic takes: the setting, or the broker's lower ``max.message.bytes``
    as last read (``refresh``, after a refusal).

    ``read`` returns the broker's limits for the named topics (``storywire.bus.topic_limits``);
    without it the setting alone applies (unit tests).
    """

    def __init__(self, setting: int, read: Callable[[Sequence[str]], Mapping[str, int]] | None = None) -> None:
        self.setting = setting
        self._read = read
        self._known: dict[str, int] = {}

    def of(self, topic: str) -> int:
        return min(self.setting, self._known.get(topic, self.setting))

    def refresh(self, topics: Sequence[str]) -> None:
        if self._read is None or not topics:
            return
        try:
            self._known |= dict(self._read(list(topics)))
        except Exception as exc:  # the broker is what fails right now; keep what we knew
            log.warning("topic limits not read", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})


def broker_limits(settings: KafkaSettings) -> Limits:
    """The setting, and the broker's limits once a record was refused (read then, not at start:
    just after ``ensure_topics`` raised a limit the broker may still describe the old one)."""
    return Limits(settings.max_message_bytes, read=lambda names: topic_limits(settings, names))


def renewable_producer(settings: KafkaSettings) -> RenewableProducer:
    """The producer a stage sends with: ``bus.make_producer``'s, renewed after a failure."""
    return RenewableProducer(lambda: make_producer(settings))


@dataclass(frozen=True)
class OutputRecord:
    """Provenance for a dead letter of an output made from no one input (a story snapshot)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int = -1
    offset: int = -1
    headers: Sequence[tuple[str, bytes | None]] = ()


@dataclass
class _Out:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    source: Record | None
    future: SendFuture | BaseException | None = None
    error: BaseException | None = field(default=None)


def record_size(key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()) -> int:
    return len(key or b"") + len(value) + sum(len(k) + len(v) + 8 for k, v in headers) + FRAMING


def dead_letter(record: Record, error: BaseException | str, stage: str, limit: int) -> _Out:
    """The dead letter of ``record``: its key and bytes (cut to fit ``limit``), provenance in headers."""
    err_type = type(error).__name__ if isinstance(error, BaseException) else "Rejected"
    headers = [
        ("storywire.topic", record.topic.encode()),
        ("storywire.partition", str(record.partition).encode()),
        ("storywire.offset", str(record.offset).encode()),
        ("storywire.error", str(error)[:2000].encode("utf-8", errors="replace")),
        ("storywire.error_type", err_type.encode()),
        ("storywire.stage", stage.encode()),
        ("storywire.time", utcnow().isoformat().encode()),
    ]
    value = record.value if record.value is not None else b""
    key = record.key if record.key is None or len(record.key) <= 4096 else record.key[:4096]
    room = limit - record_size(key, b"", headers) - 64  # 64: the truncated_from header itself
    if len(value) > room:
        headers.append(("storywire.truncated_from", str(len(value)).encode()))
        value = value[: max(0, room)]
    return _Out("", key, value, headers, record)


class Delivery:
    """A stage's sends and dead letters, each checked before the stage may commit (see the module)."""

    def __init__(
        self,
        producer: Producer,
        topics: Topics,
        stage: str,
        *,
        limits: Limits | None = None,
        stop: threading.Event | None = None,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        timeout_s: float = 60.0,
    ) -> None:
        self.producer = producer
        self.dlq = topics.dlq
        self.stage = stage
        self.limits = limits or Limits(1_048_576)
        self.stop = stop or threading.Event()
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.dead_letters = 0  # dead letters acknowledged, for tests and logs
        self.problem: str | None = None  # why the last settle is still retrying
        self._pending: list[_Out] = []
        self._lettered: set[tuple[str, int, int]] = set()  # records dead-lettered since the last settle
        self._lock = threading.Lock()  # the index writer dead-letters from its bulk thread too

    # -- what a stage calls -----------------------------------------------------------
    def send(self, topic: str, key: bytes | None, value: bytes, source: Record | None = None) -> None:
        """Send ``value`` to ``topic``; if it cannot fit, dead-letter ``source`` (or the value itself)."""
        self._start(_Out(topic, key, value, [], source))

    def dead_letter(self, record: Record, error: BaseException | str) -> None:
        """Send ``record`` to the dead-letter topic with ``error`` as the reason (once per settle)."""
        where = (record.topic, record.partition, record.offset)
        if record.offset >= 0 and where in self._lettered:
            return
        self._lettered.add(where)
        out = dead_letter(record, error, self.stage, self.limits.of(self.dlq))
        out.topic = self.dlq
        self._start(out)
        err_type = type(error).__name__ if isinstance(error, BaseException) else "Rejected"
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

    def settle(self) -> None:
        """Return once every record sent since the last settle is acknowledged (see the module)."""
        attempt = 0
        while True:
            failed = self._wait()
            if not failed:
                break
            errors = sorted({type(o.error).__name__ for o in failed})
            self.problem = f"{len(failed)} records not acknowledged ({', '.join(errors)}); sending them again"
            for o in failed:
                UNDELIVERED.labels(self.stage, type(o.error).__name__).inc()
            log.error(
                "records not acknowledged",
                extra={"stage": self.stage, "records": len(failed), "errors": ",".join(errors), "attempt": attempt},
            )
            if isinstance(self.producer, RenewableProducer):
                self.producer.renew()
            self.limits.refresh(sorted({o.topic for o in failed} | {self.dlq}))
            delay = delay_s(attempt, *self.backoff_s)
            attempt += 1
            if self.stop.wait(delay):
                raise Stopped(f"stopped with {len(failed)} records unacknowledged")
            for o in failed:
                o.future, o.error = None, None
                self._start(o)
        if self.problem is not None:
            log.info("records delivered again", extra={"stage": self.stage, "attempts": attempt})
        self.problem = None
        self._lettered.clear()

    def health(self) -> tuple[bool, dict[str, str]]:
        return (False, {"delivery": self.problem}) if self.problem else (True, {})

    # -- inside -----------------------------------------------------------------------
    def _start(self, out: _Out) -> None:
        limit = self.limits.of(out.topic)
        size = record_size(out.key, out.value, out.headers)
        if size > limit:
            self._too_large(out, f"{size} bytes, over the {limit}-byte limit of {out.topic}")
            return
        try:
            out.future = self.producer.send(out.topic, value=out.value, key=out.key, headers=out.headers or None)
        except _TOO_LARGE as exc:  # the client's own check (its max_request_size)
            self._too_large(out, f"{size} bytes, refused by the producer: {exc}")
            return
        except Exception as exc:  # buffer full, no metadata: settle sends it again
            out.future = exc
        with self._lock:
            self._pending.append(out)

    def _too_large(self, out: _Out, why: str) -> None:
        TOO_LARGE.labels(self.stage, out.topic).inc()
        if out.topic == self.dlq:  # a dead letter is cut to fit, so only a tiny limit gets here
            raise DeliveryError(f"a dead letter does not fit {self.dlq}: {why}")
        what = f"the output for {out.topic} is {why}"
        self.dead_letter(out.source or OutputRecord(out.topic, out.key, out.value), OutputTooLarge(what))

    def _wait(self) -> list[_Out]:
        """Flush, then collect every pending record's outcome; return the failed ones."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return []
        try:
            self.producer.flush(timeout=self.timeout_s)
        except Exception as exc:  # a timeout here shows again in the futures below
            log.warning("flush failed", extra={"stage": self.stage, "error": f"{type(exc).__name__}: {exc}"[:300]})
        failed = []
        deadline = time.monotonic() + self.timeout_s  # after a failed flush, not a minute per record
        for o in pending:
            if isinstance(o.future, BaseException):
                o.error = o.future
            else:
                try:
                    assert o.future is not None
                    o.future.get(timeout=max(0.0, deadline - time.monotonic()))
                except Exception as exc:
                    o.error = exc
            if o.error is not None:
                failed.append(o)
            elif o.topic == self.dlq:
                self.dead_letters += 1
        return failed
