"""The stages' one rule (storywire.consume, storywire.delivery) with the shared fakes.

What a real broker cannot be made to do on demand (refuse one send, fail a future, fail a
dependency for one batch) is scripted here; tests/integration/test_hostile_records.py runs
the same rule against the real broker.
"""

from __future__ import annotations

import threading

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition

from devtools.fakes import FakeConsumer, FakeProducer, FakeRecord, records
from devtools.samples import article
from storywire.bus import Decoded, Topics
from storywire.consume import Outputs, StageFailure, StageLoop
from storywire.delivery import Delivery, Limits, RenewableProducer, Stopped
from storywire.messages import Article

TOPICS = Topics("t")


def _loop(
    producer: FakeProducer | RenewableProducer, *batches: list[FakeRecord], limit: int = 1_048_576, **kw: object
) -> tuple[StageLoop, FakeConsumer]:
    consumer = FakeConsumer(*batches)
    delivery = Delivery(producer, TOPICS, "test", limits=Limits(limit), backoff_s=(0.0, 0.0))
    return StageLoop("test", consumer, delivery, backoff_s=(0.0, 0.0), **kw), consumer  # type: ignore[arg-type]


def echo(items: list[Decoded[Article]], out: Outputs) -> None:
    for d in items:
        if d.value.title == "raise":
            raise ValueError(f"cannot take {d.value.id}")
        out.send(TOPICS.embedded, d.value.id.encode(), d.value.to_json(), d)


def _good(n: int, **kw: object) -> bytes:
    return article(n, **kw).to_json()


def test_poison_is_dead_lettered_with_its_reason_and_the_batch_committed() -> None:
    producer = FakeProducer()
    batch = records(TOPICS.raw, [_good(1), b"{not json", None, _good(2)])
    loop, consumer = _loop(producer, batch)
    assert loop.process(loop.poll(), Article, echo) == 2
    assert [s.key for s in producer.to(TOPICS.embedded)] == [b"a0001", b"a0002"]
    letters = producer.to(TOPICS.dlq)
    assert [(s.key, s.value, s.headers["storywire.offset"]) for s in letters] == [
        (b"k1", b"{not json", b"1"),
        (b"k2", b"", b"2"),
    ]
    assert letters[0].headers["storywire.error_type"] == b"MalformedMessage"
    assert b"tombstone" in letters[1].headers["storywire.error"]
    assert consumer.commits == [{TopicPartition(TOPICS.raw, 0): 4}]
    assert loop.health() == (True, {})


def test_a_record_the_handler_raises_on_is_dead_lettered_alone() -> None:
    producer = FakeProducer()
    batch = records(TOPICS.raw, [_good(1), _good(2, title="raise"), _good(3)])
    loop, consumer = _loop(producer, batch)
    assert loop.process(loop.poll(), Article, echo) == 2
    assert [s.key for s in producer.to(TOPICS.embedded)] == [b"a0001", b"a0003"]  # sent once each
    (letter,) = producer.to(TOPICS.dlq)
    assert letter.headers["storywire.error_type"] == b"ValueError"
    assert letter.headers["storywire.error"] == b"cannot take a0002"
    assert letter.value == _good(2, title="raise")
    assert consumer.commits == [{TopicPartition(TOPICS.raw, 0): 3}]


def test_a_fatal_error_is_the_stages_the_batch_is_handled_again_and_nothing_dead_lettered() -> None:
    producer = FakeProducer()
    loop, consumer = _loop(producer, records(TOPICS.raw, [_good(1)]), fatal=(OSError,))
    seen: list[bool] = []

    def flaky(items: list[Decoded[Article]], out: Outputs) -> None:
        seen.append(loop.health()[0])
        if len(seen) < 3:
            raise OSError("disk full")
        echo(items, out)

    assert loop.process(loop.poll(), Article, flaky) == 1
    assert seen == [True, False, False]  # not ready while it failed
    assert producer.to(TOPICS.dlq) == [] and len(producer.to(TOPICS.embedded)) == 1
    assert len(consumer.commits) == 1 and loop.health() == (True, {})


def test_stopped_while_the_stage_fails_commits_nothing() -> None:
    loop, consumer = _loop(FakeProducer(), records(TOPICS.raw, [_good(1)]), fatal=(OSError,))
    loop.stop.set()

    def broken(items: list[Decoded[Article]], out: Outputs) -> None:
        raise OSError("disk full")

    with pytest.raises(Stopped):
        loop.process(loop.poll(), Article, broken)
    assert consumer.commits == []


def test_records_failing_in_a_row_past_the_limit_are_the_stages_fault() -> None:
    batch = records(TOPICS.raw, [_good(i, title="raise") for i in range(5)])
    loop, consumer = _loop(FakeProducer(), batch, max_failures=3)
    loop.stop.set()  # so the retry ends the test
    with pytest.raises(Stopped, match="3 records in a row failed"):
        loop.process(loop.poll(), Article, echo)
    assert consumer.commits == []
    assert isinstance(StageFailure("x"), Exception)


def test_an_output_over_its_topics_limit_dead_letters_its_source_cut_to_fit() -> None:
    producer = FakeProducer()
    big = _good(2, content="é" * 30_000)
    loop, consumer = _loop(producer, records(TOPICS.raw, [_good(1), big, _good(3)]), limit=40_000)
    assert loop.process(loop.poll(), Article, echo) == 3
    assert [s.key for s in producer.to(TOPICS.embedded)] == [b"a0001", b"a0003"]
    (letter,) = producer.to(TOPICS.dlq)
    assert letter.headers["storywire.error_type"] == b"OutputTooLarge"
    assert b"over the 40000-byte limit of t.articles.embedded" in letter.headers["storywire.error"]
    # the source itself (60 kB) is cut to fit the dead-letter topic, and says so
    assert letter.headers["storywire.truncated_from"] == str(len(big)).encode()
    assert len(letter.value) < 40_000 and big.startswith(letter.value)
    assert consumer.commits == [{TopicPartition(TOPICS.raw, 0): 3}]


def test_a_send_the_client_refuses_as_too_large_dead_letters_the_source() -> None:
    producer = FakeProducer(max_request_size=50_000)  # below the setting: a misconfigured producer
    mid = _good(2, content="x" * 30_000)

    def doubled(items: list[Decoded[Article]], out: Outputs) -> None:
        for d in items:
            out.send(TOPICS.embedded, d.value.id.encode(), d.value.to_json() * 2, d)

    loop, consumer = _loop(producer, records(TOPICS.raw, [_good(1), mid, _good(3)]))
    assert loop.process(loop.poll(), Article, doubled) == 3
    assert [s.key for s in producer.to(TOPICS.embedded)] == [b"a0001", b"a0003"]
    (letter,) = producer.to(TOPICS.dlq)
    assert letter.value == mid and "truncated_from" not in str(letter.headers)
    assert letter.headers["storywire.error_type"] == b"OutputTooLarge"
    assert b"refused by the producer" in letter.headers["storywire.error"]
    assert len(consumer.commits) == 1


def test_unacknowledged_records_are_sent_again_by_a_renewed_producer_then_committed() -> None:
    made: list[FakeProducer] = []

    def make() -> FakeProducer:
        made.append(FakeProducer())
        if len(made) == 1:  # the first producer fails its futures, as kafka-python's does after a refusal
            made[0].fail = KafkaTimeoutError("no acknowledgement")
            made[0].fail_when = lambda s: s.key == b"a0002"
        return made[-1]

    producer = RenewableProducer(make)
    loop, consumer = _loop(producer, records(TOPICS.raw, [_good(1), _good(2), _good(3)]))
    readiness: list[bool] = []

    def wait(timeout: float | None = None) -> bool:
        readiness.append(loop.health()[0])
        return False

    loop.delivery.stop.wait = wait  # type: ignore[method-assign]
    assert loop.process(loop.poll(), Article, echo) == 3
    assert readiness == [False]  # not ready while records were unacknowledged
    assert producer.renewals == 1 and made[0].closed
    assert [s.key for s in made[0].sent] == [b"a0001", b"a0003"]
    assert [s.key for s in made[1].sent] == [b"a0002"]  # only the unacknowledged one again
    assert consumer.commits == [{TopicPartition(TOPICS.raw, 0): 3}] and loop.health() == (True, {})


def test_stopped_while_records_are_unacknowledged_commits_nothing() -> None:
    producer = FakeProducer()
    producer.fail = KafkaTimeoutError("broker gone")
    stop = threading.Event()
    stop.set()
    consumer = FakeConsumer(records(TOPICS.raw, [_good(1)]))
    loop = StageLoop("test", consumer, Delivery(producer, TOPICS, "test", stop=stop, backoff_s=(0.0, 0.0)))
    with pytest.raises(Stopped, match="1 records unacknowledged"):
        loop.process(loop.poll(), Article, echo)
    assert consumer.commits == []
    assert not loop.health()[0] and "KafkaTimeoutError" in loop.health()[1]["delivery"]
