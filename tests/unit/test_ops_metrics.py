"""The metrics and probes an operator watches: no _created series, build info, liveness apart from
readiness, the fetch buckets, freshness, last-success timestamps, lag arithmetic, API HTTP metrics."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, Counter

from devtools.fakes import FakeClock, FakeConsumer, FakeProducer, FakeRecord
from devtools.samples import enriched
from index.client import IndexNames
from index.settings import IndexSettings
from index.writer import IndexWriter
from ingest.metrics import FETCH_SECONDS
from ingest.settings import IngestSettings
from search.api import create_app
from search.errors import StoryNotFound
from storywire import __version__
from storywire.bus import Topics
from storywire.lag import group_lag
from storywire.runtime import OpsServer, heartbeat_live, mark_success, metrics_payload
from tests.unit.test_observability import BulkOk

PROBE_COUNTER = Counter("storywire_test_probe_total", "A counter only this test increments")


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_counters_and_histograms_export_no_created_series() -> None:
    PROBE_COUNTER.inc()
    text = metrics_payload()[0].decode()
    assert "storywire_test_probe_total 1.0" in text
    assert "_created" not in text


def test_build_info_names_the_version() -> None:
    text = metrics_payload()[0].decode()
    line = next(x for x in text.splitlines() if x.startswith("storywire_build_info{"))
    assert f'version="{__version__}"' in line and line.endswith(" 1.0")


def test_fetch_buckets_reach_past_the_fetch_deadline() -> None:
    deadline = IngestSettings.model_fields["deadline_s"].default
    bounds = [b for b in FETCH_SECONDS._upper_bounds if b != float("inf")]
    assert max(bounds) > deadline and deadline in bounds
    assert sum(1 for b in bounds if 10 < b <= deadline) >= 2  # slow feeds are told apart, not all in +Inf


def test_last_success_is_a_unix_timestamp_per_stage() -> None:
    before = time.time()
    mark_success("probe-stage")
    value = _sample("storywire_last_success_timestamp_seconds", {"stage": "probe-stage"})
    assert before <= value <= time.time()


def test_liveness_counts_start_up_as_alive_and_fails_only_a_stuck_loop() -> None:
    clock = FakeClock(1000.0)
    beat: list[float | None] = [None]
    live = heartbeat_live(lambda: beat[0], max_age_s=600, clock=clock)
    assert live() == (True, {})  # loading the model, restoring state
    beat[0] = clock.t
    clock.t += 599
    assert live() == (True, {})
    clock.t += 2
    ok, reasons = live()
    assert not ok and "stuck" in reasons["loop"]


def test_ops_server_keeps_liveness_apart_from_readiness() -> None:
    down = lambda: (False, {"elasticsearch": "connection refused"})  # noqa: E731
    ops = OpsServer(0, health=down, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{ops.port}"
        live = httpx.get(url + "/livez")
        assert live.status_code == 200 and live.json() == {"live": True, "reasons": {}}
        for path in ("/readyz", "/health"):
            resp = httpx.get(url + path)
            assert resp.status_code == 503 and resp.json()["reasons"] == {"elasticsearch": "connection refused"}
        assert httpx.get(url + "/nothing").status_code == 404
    finally:
        ops.close()


def test_ops_server_liveness_fails_when_the_live_check_does() -> None:
    ops = OpsServer(0, host="127.0.0.1", live=lambda: (False, {"loop": "stuck: no progress for 700s"}))
    try:
        resp = httpx.get(f"http://127.0.0.1:{ops.port}/livez")
        assert resp.status_code == 503 and resp.json()["reasons"]["loop"].startswith("stuck")
        assert httpx.get(f"http://127.0.0.1:{ops.port}/readyz").status_code == 200
    finally:
        ops.close()


def test_group_lag_is_end_minus_committed_or_minus_the_first_offset() -> None:
    end = {("t", 0): 100, ("t", 1): 50, ("t", 2): 7}
    committed = {("t", 0): 90, ("t", 1): 50}
    first = {("t", 2): 2}
    assert group_lag(end, committed, first) == {("t", 0): 10, ("t", 1): 0, ("t", 2): 5}


def test_index_writer_observes_fetch_to_indexed_latency_and_success() -> None:
    topics = Topics("fresh")
    arts = [enriched(n) for n in range(1, 4)]
    records = [FakeRecord(topics.enriched, 0, i, a.id.encode(), a.to_json()) for i, a in enumerate(arts)]
    writer = IndexWriter(
        BulkOk(),  # type: ignore[arg-type]
        FakeConsumer(records),
        FakeProducer(),
        topics,
        IndexNames("fresh"),
        IndexSettings(flush_ms=0),
    )
    count = _sample("storywire_index_article_latency_seconds_count")
    started = time.time()
    assert writer.run_once() == 3
    assert _sample("storywire_index_article_latency_seconds_count") == count + 3
    newest = max(a.fetched.timestamp() for a in arts)
    assert writer.newest_fetched == newest
    assert _sample("storywire_index_newest_article_fetched_timestamp_seconds") >= newest
    assert _sample("storywire_last_success_timestamp_seconds", {"stage": "index"}) >= started
    assert writer.last_beat is not None


class NoStories:
    def story_articles(self, story_id: str, page: int = 1, size: int = 50) -> Any:
        raise StoryNotFound(f"no story {story_id}")


def test_api_probes_and_http_metrics_by_route_template() -> None:
    app = create_app(NoStories(), lambda: (False, {"elasticsearch": "down"}))  # type: ignore[arg-type]
    route = "/api/stories/{story_id}/articles"
    labels = {"route": route, "method": "GET", "status": "404"}
    before = _sample("storywire_http_requests_total", labels)
    with TestClient(app) as client:
        assert client.get("/livez").json() == {"live": True, "reasons": {}}
        assert client.get("/readyz").status_code == 503
        assert client.get("/health").json()["reasons"] == {"elasticsearch": "down"}
        for sid in ("s-1", "s-2", "s-3"):
            assert client.get(f"/api/stories/{sid}/articles").status_code == 404
        assert client.get("/no/such/path").status_code == 404
        text = client.get("/metrics").text
    assert _sample("storywire_http_requests_total", labels) == before + 3  # one series, not one per story
    assert _sample("storywire_http_request_seconds_count", {"route": route}) >= 3
    assert _sample("storywire_http_requests_total", {"route": "unmatched", "method": "GET", "status": "404"}) >= 1
    assert "s-1" not in text and "_created" not in text
