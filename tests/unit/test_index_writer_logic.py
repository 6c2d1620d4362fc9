"""The writer's retry, dead-letter and commit decisions, with scripted Elasticsearch answers.

The real servers are exercised in tests/integration/test_index_writer.py; here Elasticsearch
answers what is hard to provoke from a real node on demand (a 429 on one item, a 413 for
the whole request), and Kafka is a recorder of what the writer commits and dead-letters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import ConnectionError as ESConnectionError
from kafka.structs import TopicPartition

from devtools.fakes import FakeConsumer, FakeProducer, FakeRecord
from devtools.samples import enriched, story
from index.client import IndexNames
from index.settings import IndexSettings
from index.writer import IndexWriter
from storywire.bus import Topics

TOPICS = Topics("t")


def _record(topic: str, offset: int, value: bytes, partition: int = 0) -> FakeRecord:
    return FakeRecord(topic, partition, offset, b"k", value)


class ScriptedES:
    """Answers each bulk call from a script: a function of the ids in the request."""

    def __init__(self, script: Iterator[Any]) -> None:
        self.script = script
        self.requests: list[list[str]] = []

    def bulk(self, operations: list[Any], **kw: Any) -> dict[str, Any]:
        ids = [op["index"]["_id"] for op in operations[0::2]]
        self.requests.append(ids)
        answer = next(self.script)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer(ids))


def _items(statuses: dict[str, int]) -> Any:
    def answer(ids: list[str]) -> dict[str, Any]:
        items = []
        for i in ids:
            status = statuses.get(i, 201)
            error = {"type": "x", "reason": f"status {status}"} if status >= 300 else None
            items.append({"index": {"status": status, **({"error": error} if error else {})}})
        return {"errors": any(statuses.get(i, 201) >= 300 for i in ids), "items": items}

    return answer


def _writer(es: ScriptedES, records: list[FakeRecord]) -> tuple[IndexWriter, FakeConsumer, FakeProducer, list[float]]:
    consumer, producer = FakeConsumer(records, group_id="fake-index"), FakeProducer()
    sleeps: list[float] = []
    settings = IndexSettings(retry_initial_s=1.0, retry_max_s=4.0, flush_ms=0)
    w = IndexWriter(es, consumer, producer, TOPICS, IndexNames("p"), settings, sleep=sleeps.append)  # type: ignore[arg-type]
    w.backoff.rand = lambda: 1.0
    return w, consumer, producer, sleeps


def _api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
    return ApiError("refused", meta, {"error": {"type": "too_large"}})


def test_item_429_is_retried_alone_and_400_is_dead_lettered() -> None:
    records = [_record(TOPICS.enriched, i, enriched(i).to_json()) for i in range(1, 4)]
    records.append(_record(TOPICS.stories, 0, story("s1", 2).to_json(), partition=1))
    es = ScriptedES(iter([_items({"a0002": 429, "a0003": 400}), _items({})]))
    w, consumer, producer, sleeps = _writer(es, records)
    assert w.run_once() == 4
    assert es.requests == [["a0001", "a0002", "a0003", "s1"], ["a0002"]]
    assert sleeps == [1.0]
    assert [(s.topic, s.headers["storywire.offset"]) for s in producer.sent] == [(TOPICS.dlq, b"3")]
    assert consumer.commits == [{TopicPartition(TOPICS.enriched, 0): 4, TopicPartition(TOPICS.stories, 1): 1}]
    assert not w.paused


def test_outage_backs_off_and_nothing_is_committed_until_it_ends() -> None:
    records = [_record(TOPICS.enriched, 0, enriched(1).to_json())]
    script: list[Any] = [
        ESConnectionError("refused"),
        _api_error(503),
        _api_error(429),
        ESConnectionError("x"),
        _items({}),
    ]
    es = ScriptedES(iter(script))
    w, consumer, _, sleeps = _writer(es, records)
    assert w.run_once() == 1
    assert sleeps == [1.0, 2.0, 4.0, 4.0]  # doubling, capped
    assert w.retries == 4
    assert len(consumer.commits) == 1


def test_whole_request_refused_is_split_to_find_the_culprit() -> None:
    records = [_record(TOPICS.enriched, i, enriched(i).to_json()) for i in range(1, 5)]

    def too_large_if_has_a0003(ids: list[str]) -> Any:
        return _api_error(413) if "a0003" in ids else _items({})(ids)

    class SplitES(ScriptedES):
        def bulk(self, operations: list[Any], **kw: Any) -> dict[str, Any]:
            ids = [op["index"]["_id"] for op in operations[0::2]]
            self.requests.append(ids)
            answer = too_large_if_has_a0003(ids)
            if isinstance(answer, Exception):
                raise answer
            return dict(answer)

    es = SplitES(iter([]))
    w, consumer, producer, sleeps = _writer(es, records)
    assert w.run_once() == 4
    assert es.requests == [
        ["a0001", "a0002", "a0003", "a0004"],
        ["a0001", "a0002"],
        ["a0003", "a0004"],
        ["a0003"],
        ["a0004"],
    ]
    assert [s.headers["storywire.offset"] for s in producer.sent] == [b"3"]
    assert sleeps == []
    assert consumer.commits == [{TopicPartition(TOPICS.enriched, 0): 5}]


def test_stop_during_an_outage_leaves_the_batch_uncommitted() -> None:
    records = [_record(TOPICS.enriched, 0, enriched(1).to_json())]
    es = ScriptedES(iter([ESConnectionError("refused")] * 5))
    w, consumer, _, _ = _writer(es, records)
    w._sleep = lambda s: w.stop.set()
    w.run()
    assert consumer.commits == []
    assert w.processed == 0
