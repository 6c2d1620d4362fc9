"""Property tests: no record, however hostile, stops a stage or gets lost.

Each stage's decode-and-process path (the real service on the shared fakes, with its real
core) takes a batch of ``good, hostile, good``, where the hostile record is random bytes or
a valid message with one part replaced by something extreme: every float edge (NaN, the
infinities, 1e308, 5e-324, float32's limits), integers past 2^53 and 2^63, huge strings,
wrong shapes, missing fields. Then:

- the stage does not raise and stays ready;
- both good records come out, and the hostile one comes out or is dead-lettered with a reason;
- the batch's offsets are committed;
- what the stage emitted decodes again (no NaN, no overflow, no null where a number was).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.structs import TopicPartition

from alert.rules import parse_rules
from alert.service import AlertService
from alert.settings import AlertSettings
from devtools.fakes import FakeConsumer, FakeProducer, FakeRecord, Sent
from devtools.samples import T0, article, story
from enrich.cluster import Clusterer
from enrich.cluster_service import ClusterService, restorable
from enrich.embed_worker import EmbedWorker
from enrich.settings import EnrichSettings
from index.client import IndexNames
from index.settings import IndexSettings
from index.writer import IndexWriter
from storywire.bus import Topics
from storywire.config import KafkaSettings
from storywire.messages import EmbeddedArticle, EnrichedArticle, MessageError, StorySnapshot, decode

TOPICS = Topics("h")
DIMS = 8
RUNS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- hostile values ---------------------------------------------------------------------------
FLOAT_EDGES = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    5e-324,
    1e-45,
    1e-40,
    3.4028235e38,
    3.5e38,
    1e39,
    -0.0,
    0.0,
    1.0,
    2.0,
]
INT_EDGES = [2**63, 2**63 - 1, 2**64, 2**53, 2**53 + 1, -1, 0, -(2**63) - 1, 10**30]
HUGE = ["", "x" * 100_000, "\U0001f600" * 50_000, "\x00\u202e\ud7ff", "a" * 300]
# times that overflow when made UTC, and the ends of the calendar
TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
EXTREME: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(FLOAT_EDGES),
    st.floats(),
    st.sampled_from(INT_EDGES),
    st.integers(),
    st.sampled_from(HUGE),
    st.sampled_from(TIMES),
    st.text(max_size=20),
    st.none(),
    st.booleans(),
    st.lists(st.sampled_from(FLOAT_EDGES), max_size=DIMS + 2),
    st.dictionaries(st.text(max_size=8), st.sampled_from(FLOAT_EDGES), max_size=3),
    st.just({"nested": [[[[]]]]}),
)


def unit(seed: str, dims: int = DIMS) -> tuple[float, ...]:
    v = np.random.default_rng(zlib.crc32(seed.encode())).normal(size=dims)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def _set(obj: Any, path: Sequence[str | int], value: Any) -> Any:
    """A copy of ``obj`` with the part at ``path`` replaced (or removed, for ``...``)."""
    if not path:
        return None if value is ... else value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict) and isinstance(head, str):
        out = dict(obj)
        if rest or value is not ...:
            out[head] = _set(obj.get(head), rest, value)
        else:
            out.pop(head, None)
        return out
    if isinstance(obj, list) and isinstance(head, int) and obj:
        out_list = list(obj)
        out_list[head % len(obj)] = _set(obj[head % len(obj)], rest, value)
        return out_list
    return value


def _paths(obj: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list) and obj:
        out += [*_paths(obj[0], (*prefix, 0)), (*prefix, -1)]
    return out


def hostile(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Random bytes, or ``base`` with one part replaced by an extreme value, removed, or a vector scaled."""
    paths = _paths(base)
    vectors: list[str] = [k for k in ("embedding", "centroid") if k in base]
    mutated = st.builds(_set, st.just(base), st.sampled_from(paths), st.one_of(EXTREME, st.just(...)))
    scaled = st.builds(
        lambda k, f: base | {k: [x * f for x in base[k]]},
        st.sampled_from(vectors or ["id"]),
        st.sampled_from([0.0, 1e-300, 1e-40, 1e30, 1e300, -1.0]),
    )
    as_json = st.one_of(mutated, scaled if vectors else mutated).map(lambda o: json.dumps(o).encode())
    return st.one_of(st.binary(max_size=300), as_json, st.just(b"{" * 50_000), st.just(b"[" * 1000 + b"]" * 1000))


# -- the accounting every stage must keep ------------------------------------------------------
def run_batch(
    topic: str, good: list[bytes], bad: bytes, step: Callable[[FakeConsumer, FakeProducer], object]
) -> tuple[FakeConsumer, FakeProducer]:
    batch = [FakeRecord(topic, 0, i, f"k{i}".encode(), v) for i, v in enumerate([good[0], bad, good[1]])]
    consumer, producer = FakeConsumer(batch), FakeProducer()
    step(consumer, producer)
    assert consumer.commits == [{TopicPartition(topic, 0): 3}]
    letters = producer.to(TOPICS.dlq)
    assert all(s.headers["storywire.offset"] == b"1" and s.headers["storywire.error"] for s in letters)
    assert len(letters) <= 1
    return consumer, producer


def dead(producer: FakeProducer) -> bool:
    return bool(producer.to(TOPICS.dlq))


def outputs(producer: FakeProducer, topic: str) -> list[Sent]:
    return producer.to(topic)


# -- embed --------------------------------------------------------------------------------------
class FakeEmbedder:
    """Deterministic unit vectors per text: the model is not the point here (the embed worker's
    integration test runs the real one)."""

    name = "fake"
    dim = DIMS

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Any:
        return np.array([unit(t) for t in texts], dtype=np.float32)


RAW = json.loads(article(5).to_json())


@RUNS
@given(bad=hostile(RAW))
def test_embed_survives_any_raw_record(bad: bytes) -> None:
    worker: list[EmbedWorker] = []

    def step(consumer: FakeConsumer, producer: FakeProducer) -> None:
        worker.append(EmbedWorker(EnrichSettings(), TOPICS, FakeEmbedder(), consumer, producer))
        worker[0].process(worker[0].loop.poll())

    good = [article(1).to_json(), article(2).to_json()]
    _, producer = run_batch(TOPICS.raw, good, bad, step)
    out = [decode(EmbeddedArticle, s.value) for s in outputs(producer, TOPICS.embedded)]
    assert {"a0001", "a0002"} <= {a.id for a in out}
    assert len(out) == 3 - dead(producer)
    assert worker[0].loop.health() == (True, {})


# -- cluster ------------------------------------------------------------------------------------
def embedded(n: int, seed: str = "kremlin") -> EmbeddedArticle:
    return EmbeddedArticle.model_validate(json.loads(article(n).to_json()) | {"embedding": unit(seed), "model": "m"})


EMBEDDED = json.loads(embedded(5).to_json()) | {"terms": {"kremlin": 4.0, "drone": 1.0}}


@RUNS
@given(bad=hostile(EMBEDDED))
def test_cluster_survives_any_embedded_record(bad: bytes) -> None:
    service: list[ClusterService] = []

    def step(consumer: FakeConsumer, producer: FakeProducer) -> None:
        service.append(ClusterService(EnrichSettings(), TOPICS, Clusterer(EnrichSettings()), consumer, producer))
        service[0].poll_once(timeout_ms=1)

    good = [embedded(1).to_json(), embedded(2, "other").to_json()]
    _, producer = run_batch(TOPICS.embedded, good, bad, step)
    out = [decode(EnrichedArticle, s.value) for s in outputs(producer, TOPICS.enriched)]
    assert {"a0001", "a0002"} <= {a.id for a in out}
    assert len({a.id for a in out}) == 3 - dead(producer)
    for s in outputs(producer, TOPICS.stories):  # never re-emits a bad value
        decode(StorySnapshot, s.value)
    assert service[0].loop.health() == (True, {})


SNAPSHOT = json.loads(story("s1", 3, centroid=unit("kremlin"), updated=T0).model_dump_json()) | {
    "restore": {"centroid_scale": 2.0, "profile": {"kremlin": 8.0}, "members": ["a0001", "a0002"]}
}


@RUNS
@given(bad=hostile(SNAPSHOT))
def test_restore_survives_any_snapshot_and_emits_only_valid_ones(bad: bytes) -> None:
    snaps = []
    for data in (json.dumps(SNAPSHOT).encode(), bad):
        try:  # as enrich.cluster_service.read_snapshots does: an undecodable snapshot is skipped
            snaps.append(decode(StorySnapshot, data))
        except MessageError:
            continue
    core = Clusterer(EnrichSettings())
    core.restore(restorable(snaps))
    core.assign_batch([embedded(7)])
    for snap in core.take_changes():
        again = decode(StorySnapshot, snap.to_json())
        assert again.version < 2**53 and all(math.isfinite(x) for x in again.centroid)


# -- index --------------------------------------------------------------------------------------
class StrictBulk:
    """Elasticsearch as far as the bulk body goes: it must be strict JSON (no NaN, no Infinity)."""

    def bulk(self, operations: list[Any], **kw: Any) -> dict[str, Any]:
        for op in operations:
            json.loads(op) if isinstance(op, bytes | str) else json.dumps(op, allow_nan=False)
        return {"errors": False, "items": [{"index": {"status": 201}} for _ in operations[0::2]]}


ENRICHED = json.loads(embedded(5).to_json()) | {"story_id": "s1", "similarity": 0.8, "story_label": "Drones"}


@RUNS
@given(bad=st.one_of(hostile(ENRICHED), hostile(SNAPSHOT)), on_stories=st.booleans())
def test_index_survives_any_record(bad: bytes, on_stories: bool) -> None:
    topic = TOPICS.stories if on_stories else TOPICS.enriched
    good = (
        [story("s1", 1).to_json(), story("s2", 1).to_json()]
        if on_stories
        else [EnrichedArticle.model_validate(ENRICHED | {"id": f"a{i}"}).to_json() for i in (1, 2)]
    )

    def step(consumer: FakeConsumer, producer: FakeProducer) -> None:
        w = IndexWriter(StrictBulk(), consumer, producer, TOPICS, IndexNames("h"), IndexSettings(flush_ms=0))  # type: ignore[arg-type]
        assert w.run_once() == 3
        assert w.loop.health() == (True, {})

    run_batch(topic, good, bad, step)


# -- alert --------------------------------------------------------------------------------------
RULES = parse_rules("- {name: brk, kind: breaking, min_articles: 2, min_sources: 1, window: 1h}")


@RUNS
@given(bad=hostile(json.loads(story("s9", 2).to_json())))
def test_alert_survives_any_story_record(bad: bytes, tmp_path: Path) -> None:
    good = [story("s1", 1, size=3).to_json(), story("s2", 1).to_json()]

    def step(consumer: FakeConsumer, producer: FakeProducer) -> None:
        settings = AlertSettings(state_dir=tmp_path, max_update_age_s=1e9)
        svc = AlertService(KafkaSettings(topic_prefix="h"), settings, RULES, clients=(consumer, producer))
        try:
            svc.step()
            assert svc.loop.health() == (True, {})
        finally:
            svc.http.close()
            svc.state.close()

    run_batch(TOPICS.stories, good, bad, step)
