"""The one rule of every consuming stage: no record stops it, and no send is assumed.

    poll                     (a broker outage is a pause: storywire.bus.poll_records)
    decode and validate      a record that is not a valid message -> dead letter, reason MessageError
    handle                   the stage's core on the batch (``Outputs``: what to send, what to reject)
      raises on the batch    -> each record alone again; one that raises alone -> dead letter,
                                reason its exception type; the others go on
      raises a ``fatal`` type, or ``max_failures`` records in a row fail
                             -> the stage, not a record, is at fault: not ready, back off,
                                handle the batch again (nothing is dead-lettered or committed)
    raises an ``abort`` type -> raised to the stage's caller (nothing committed): for a core
                                whose state a half-handled batch leaves unsure
    send                     every output and dead letter through ``Delivery`` (storywire.delivery):
                             too large -> its source dead-lettered, cut to fit; not acknowledged
                             -> not ready, renew the producer, back off, send again
    commit                   the batch's own offsets, only after all of that was acknowledged

A handler gets the decoded batch and an ``Outputs`` to fill; nothing it adds is sent
until it returns, so a handler that raises half-way has sent nothing and can be run
again on each record. Cores stay pure: they never see Kafka, only messages.

    StageFailure   the stage cannot handle this batch now (a dependency, not a record)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter

from storywire.backoff import delay_s
from storywire.bus import Consumer, Decoded, Record, decode_records, poll_records
from storywire.delivery import Delivery, Stopped
from storywire.messages import Message
from storywire.runtime import commit_after_batch, mark_success

log = logging.getLogger(__name__)

STAGE_FAILURES = Counter("storywire_stage_failures_total", "Batches a stage had to handle again", ["stage"])

M = TypeVar("M", bound=Message)


class StageFailure(Exception):
    """The stage, not a record, is at fault: the batch is handled again after a backoff."""


@dataclass
class Outputs:
    """What a handler decided for a batch: records to send and records to reject."""

    sends: list[tuple[str, bytes | None, bytes, Record | None]] = field(default_factory=list)
    rejects: list[tuple[Record, BaseException | str]] = field(default_factory=list)

    def send(self, topic: str, key: bytes | None, value: bytes, source: Decoded[Message] | None = None) -> None:
        """Produce ``value``; ``source`` is the input it was made from (dead-lettered if it cannot fit)."""
        self.sends.append((topic, key, value, source.record if source is not None else None))

    def reject(self, item: Decoded[Message], error: BaseException | str) -> None:
        """Dead-letter ``item`` with ``error`` as the reason."""
        self.rejects.append((item.record, error))


Handler = Callable[[list[Decoded[M]], Outputs], None]


def batch_offsets(records: Iterable[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offsets that commit exactly these records (not the consumer's position, which may be ahead)."""
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if tp not in offsets or offsets[tp].offset <= r.offset:
            offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
    return offsets


class StageLoop:
    """Poll, decode, handle, send, settle and commit for one stage (see the module)."""

    def __init__(
        self,
        stage: str,
        consumer: Consumer,
        delivery: Delivery,
        *,
        fatal: tuple[type[BaseException], ...] = (),
        abort: tuple[type[BaseException], ...] = (),
        max_failures: int = 50,
        backoff_s: tuple[float, float] = (1.0, 30.0),
        stop: threading.Event | None = None,
    ) -> None:
        self.stage = stage
        self.consumer = consumer
        self.delivery = delivery
        self.fatal: tuple[type[BaseException], ...] = (MemoryError, StageFailure, *fatal)
        self.abort = abort
        self.max_failures = max_failures
        self.backoff_s = backoff_s
        self.stop = stop or delivery.stop
        self.last_poll: float | None = None  # monotonic time of the last poll, for the readiness check
        self.failures_in_a_row = 0
        self.problem: str | None = None

    # -- the whole rule ---------------------------------------------------------------------
    def poll(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[Record]:
        self.last_poll = time.monotonic()
        return poll_records(self.consumer, timeout_ms=timeout_ms, max_records=max_records)

    def process(self, records: Sequence[Record], model: type[M], handler: Handler[M]) -> int:
        """Decode, handle, send, settle and commit one batch; return how many records were handled
        (neither dead-lettered nor rejected by the handler).

        Raises ``storywire.delivery.Stopped`` when stopped before the batch was delivered
        (nothing committed).
        """
        if not records:
            mark_success(self.stage)  # caught up: nothing to do is progress too
            return 0
        items = self.decode(records, model)
        out, handled = self.handle(items, handler)
        self.emit(out)
        self.delivery.settle()
        self.commit(records)
        return handled

    # -- its steps, for a stage with a loop of its own (the index writer) ------------------
    def decode(self, records: Iterable[Record], model: type[M]) -> list[Decoded[M]]:
        return decode_records(records, model, self.delivery.dead_letter)

    def handle(self, items: list[Decoded[M]], handler: Handler[M]) -> tuple[Outputs, int]:
        """Run ``handler`` on the batch, else on each record alone; retry while the stage is at fault."""
        attempt = 0
        while True:
            try:
                out, handled = self._isolated(items, handler)
            except self.fatal as exc:
                self.problem = f"{type(exc).__name__}: {exc}"[:300]
                STAGE_FAILURES.labels(self.stage).inc()
                log.error("batch failed; handling it again", extra={"stage": self.stage, "error": self.problem})
                delay = delay_s(attempt, *self.backoff_s)
                attempt += 1
                if self.stop.wait(delay):
                    raise Stopped(f"stopped while the stage was failing: {self.problem}") from exc
                continue
            self.problem = None
            return out, handled

    def emit(self, out: Outputs) -> None:
        for topic, key, value, source in out.sends:
            self.delivery.send(topic, key, value, source)
        for record, error in out.rejects:
            self.delivery.dead_letter(record, error)

    def commit(self, records: Iterable[Record]) -> bool:
        """Commit exactly these records' offsets (their outputs are acknowledged): progress."""
        done = commit_after_batch(self.consumer, log, offsets=batch_offsets(records))
        mark_success(self.stage)
        return done

    def health(self) -> tuple[bool, dict[str, str]]:
        reasons = dict(self.delivery.health()[1])
        if self.problem:
            reasons["stage"] = self.problem
        return not reasons, reasons

    # -- inside -----------------------------------------------------------------------------
    def _isolated(self, items: list[Decoded[M]], handler: Handler[M]) -> tuple[Outputs, int]:
        if not items:
            return Outputs(), 0
        out = Outputs()
        try:
            handler(items, out)
        except self.abort:
            raise
        except self.fatal:
            raise
        except Exception as exc:
            if len(items) == 1:
                return self._failed(items[0], exc), 0
            log.warning(
                "batch raised; handling its records one by one",
                extra={"stage": self.stage, "records": len(items), "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
        else:
            self.failures_in_a_row = 0
            return out, len(items) - len(out.rejects)
        out, handled = Outputs(), 0
        for item in items:
            one = Outputs()
            try:
                handler([item], one)
            except self.abort:
                raise
            except self.fatal:
                raise
            except Exception as exc:
                one = self._failed(item, exc)
            else:
                self.failures_in_a_row = 0
                handled += 1 - len(one.rejects)
            out.sends += one.sends
            out.rejects += one.rejects
        return out, handled

    def _failed(self, item: Decoded[Message], exc: Exception) -> Outputs:
        """A record its handler raised on: a dead letter, unless so many failed in a row that
        the stage itself must be at fault (a broken dependency would dead-letter the stream)."""
        self.failures_in_a_row += 1
        if self.failures_in_a_row > self.max_failures:
            self.failures_in_a_row = 0
            raise StageFailure(f"{self.max_failures} records in a row failed; last: {type(exc).__name__}: {exc}")
        log.warning(
            "record failed",
            extra={"stage": self.stage, "topic": item.topic, "offset": item.offset, "error_type": type(exc).__name__},
            exc_info=exc,
        )
        out = Outputs()
        out.reject(item, exc)
        return out
