"""Observability without services: readiness checks, progress lines, stage metrics, JSON logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import numpy as np
import pytest
from kafka.errors import KafkaTimeoutError, RebalanceInProgressError
from prometheus_client import REGISTRY

from devtools.fakes import FakeClock, FakeConsumer, FakeProducer, FakeRecord
from devtools.samples import embedded, enriched
from enrich.cluster import Clusterer
from enrich.cluster_service import ClusterService
from enrich.settings import EnrichSettings
from index.client import IndexNames
from index.settings import IndexSettings
from index.writer import IndexWriter
from ingest.feeds import FeedSpec
from ingest.service import feed_states
from ingest.state import FeedState
from storywire.app.evaluate import _encode_with_progress
from storywire.bus import Topics
from storywire.config import ElasticsearchSettings
from storywire.logs import JsonFormatter, configure_logging
from storywire.messages import EmbeddedArticle
from storywire.runtime import OpsServer, Progress, commit_after_batch, heartbeat_health


def test_heartbeat_health_is_ready_only_while_the_loop_polls() -> None:
    clock = FakeClock(100.0)
    beat: list[float | None] = [None]
    check = heartbeat_health(lambda: beat[0], max_age_s=30, clock=clock)
    ready, reasons = check()
    assert not ready and "starting" in reasons["loop"]
    beat[0] = clock.t
    assert check() == (True, {})
    clock.t += 31
    ready, reasons = check()
    assert not ready and "no poll for 31s" in reasons["loop"]


def test_heartbeat_health_adds_the_stage_reasons() -> None:
    check = heartbeat_health(lambda: 0.0, 30, clock=lambda: 1.0, extra=lambda: (False, {"kafka": "down"}))
    assert check() == (False, {"kafka": "down"})


def test_ops_server_answers_503_with_the_reason_then_200() -> None:
    beat: list[float | None] = [None]
    ops = OpsServer(0, health=heartbeat_health(lambda: beat[0], 30), host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{ops.port}"
        resp = httpx.get(url + "/health")
        assert resp.status_code == 503 and resp.json()["reasons"]["loop"].startswith("not polling")
        beat[0] = __import__("time").monotonic()
        resp = httpx.get(url + "/health")
        assert resp.status_code == 200 and resp.json() == {"live": True, "ready": True, "reasons": {}}
        assert "storywire_cluster_batch_seconds" in httpx.get(url + "/metrics").text
    finally:
        ops.close()


def test_progress_logs_every_n_items_or_seconds_and_when_done(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(100.0)
    log = logging.getLogger("test.progress")
    progress = Progress("restore stories", log, total=25, every_n=10, every_s=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(9):
            progress.step()
        assert not caplog.records
        progress.step()  # the 10th item
        clock.t += 6  # and then time passes
        progress.step()
        progress.done()
    rows = [(r.getMessage(), r.__dict__["state"], r.__dict__["items"]) for r in caplog.records]
    assert rows == [("progress", "progress", 10), ("progress", "progress", 11), ("progress", "done", 11)]
    assert caplog.records[-1].__dict__["total"] == 25


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_cluster_batches_are_timed_and_sized() -> None:
    topics = Topics("obs")
    arts: list[EmbeddedArticle] = [embedded(n) for n in range(1, 4)]
    records = [FakeRecord(topics.embedded, 0, i, a.id.encode(), a.to_json()) for i, a in enumerate(arts)]
    consumer, producer = FakeConsumer(records, group_id="obs"), FakeProducer()
    service = ClusterService(EnrichSettings(), topics, Clusterer(EnrichSettings()), consumer, producer)
    before = (_sample("storywire_cluster_batch_seconds_count"), _sample("storywire_cluster_batch_size_sum"))
    assert service.last_poll is None
    assert service.poll_once(timeout_ms=1) == 3
    assert service.last_poll is not None
    assert _sample("storywire_cluster_batch_seconds_count") == before[0] + 1
    assert _sample("storywire_cluster_batch_size_sum") == before[1] + 3
    assert len(consumer.commits) == 1
    assert sum(1 for s in producer.sent if s.topic == topics.enriched) == 3


def test_feeds_are_counted_by_state() -> None:
    feeds = [FeedSpec(url=f"https://f{i}.example/feed") for i in range(4)]
    states = {
        feeds[1].url: FeedState(feeds[1].url, error_count=2),
        feeds[2].url: FeedState(feeds[2].url, error_count=1, disabled=True),
        feeds[3].url: FeedState(feeds[3].url),
    }
    assert feed_states(feeds, states) == {"ok": 2, "backoff": 1, "disabled": 1}


def test_json_logs_by_environment_and_no_secret_in_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORYWIRE_LOG_JSON", "true")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        es = ElasticsearchSettings(password="hunter2-secret", api_key="key-secret")  # type: ignore[arg-type]
        logging.getLogger("test.json").info("connecting", extra={"es": es, "index": "a-articles"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    obj = json.loads(line)
    assert obj["message"] == "connecting" and obj["index"] == "a-articles" and obj["level"] == "INFO"
    assert "hunter2" not in line and "key-secret" not in line


class BulkOk:
    """Elasticsearch that acknowledges every bulk item."""

    def bulk(self, operations: list[Any], **kw: Any) -> dict[str, Any]:
        return {"errors": False, "items": [{"index": {"status": 201}} for _ in operations[0::2]]}


def test_index_batches_are_sized() -> None:
    topics = Topics("obs")
    arts = [enriched(n) for n in range(1, 6)]
    records = [FakeRecord(topics.enriched, 0, i, a.id.encode(), a.to_json()) for i, a in enumerate(arts)]
    consumer = FakeConsumer(records, group_id="obs")
    writer = IndexWriter(BulkOk(), consumer, FakeProducer(), topics, IndexNames("obs"), IndexSettings(flush_ms=0))  # type: ignore[arg-type]
    before = (_sample("storywire_index_batch_size_count"), _sample("storywire_index_batch_size_sum"))
    assert writer.run_once() == 5
    assert len(consumer.commits) == 1
    assert _sample("storywire_index_batch_size_count") == before[0] + 1
    assert _sample("storywire_index_batch_size_sum") == before[1] + 5


class RowsEmbedder:
    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str], batch_size: int | None = None) -> Any:
        self.calls += 1
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_eval_embeds_in_chunks_with_a_progress_line(caplog: pytest.LogCaptureFixture) -> None:
    emb = RowsEmbedder()
    texts = ["x" * n for n in range(1, 601)]
    with caplog.at_level(logging.INFO, logger="storywire.app.evaluate"):
        vectors = _encode_with_progress(emb, texts, chunk=256)
    assert emb.calls == 3 and vectors.shape == (600, 2) and vectors[599, 0] == 600.0
    done = [r for r in caplog.records if r.getMessage() == "progress" and r.__dict__["state"] == "done"]
    assert [(r.__dict__["task"], r.__dict__["items"], r.__dict__["total"]) for r in done] == [("eval embed", 600, 600)]


def test_a_commit_refused_by_a_rebalance_does_not_stop_the_stage(caplog: pytest.LogCaptureFixture) -> None:
    topics = Topics("obs")
    arts = [embedded(n) for n in range(1, 3)]
    records = [FakeRecord(topics.embedded, 0, i, a.id.encode(), a.to_json()) for i, a in enumerate(arts)]
    consumer = FakeConsumer(records, group_id="obs")
    consumer.commit_error = RebalanceInProgressError("the group is rebalancing")
    service = ClusterService(EnrichSettings(), topics, Clusterer(EnrichSettings()), consumer, FakeProducer())
    with caplog.at_level(logging.WARNING, logger="storywire.consume"):
        assert service.poll_once(timeout_ms=1) == 2  # outputs flushed; the batch will be repeated
    assert len(consumer.commits) == 1
    assert any("rebalance" in r.getMessage() for r in caplog.records)


def test_other_commit_failures_still_raise() -> None:
    broken = FakeConsumer()
    broken.commit_error = KafkaTimeoutError("broker gone")
    with pytest.raises(KafkaTimeoutError):
        commit_after_batch(broken, logging.getLogger("test"))
