"""The index writer against the real Kafka and Elasticsearch."""

from __future__ import annotations

import gc
import threading
from datetime import timedelta
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from devtools.samples import T0, enriched, story
from index.client import IndexNames, make_client
from index.documents import story_doc
from index.mappings import ensure_indices, migrate, story_mappings
from index.settings import IndexSettings
from search.query import StoryQuery
from search.service import SearchService
from storywire.bus import Topics
from storywire.config import ElasticsearchSettings, KafkaSettings
from storywire.memory import reclaim
from storywire.messages import StoryArticle, StorySnapshot, StoryStatus
from tests.integration.test_index_helpers import (
    Proxy,
    committed,
    count,
    docs,
    drain,
    produce,
    read_all,
    wait_for,
    writer,
)

pytestmark = pytest.mark.integration


def _articles(n: int, start: int = 1, story_id: str = "s1") -> list:  # type: ignore[type-arg]
    return [
        enriched(i, story_id=story_id, source=f"src{i % 3}.example", published=T0 + timedelta(minutes=10 * i))
        for i in range(start, start + n)
    ]


def test_round_trip_and_replay(kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    names = IndexNames(es_settings.index_prefix)
    bank = story(
        "s2",
        1,
        label="Central bank raises interest rates",
        keywords=("bank", "rates"),
        centroid=(0.0, 1.0, 0.0, 0.0),
        top_articles=(
            StoryArticle(id="b1", title="Rates go up again", url="https://b/1", source="b.example", published=T0),
        ),
    )
    # As the clusterer writes it: the public story plus its restore state, which the index never keeps.
    restore = {"centroid_scale": 2.0, "profile": {"kremlin": 4.0}, "members": ["a1"]}
    kremlin = StorySnapshot.model_validate(story("s1", 1).model_dump() | {"restore": restore})
    with writer(kafka_settings, es_settings) as w:
        produce(kafka_settings, topics.stories, [kremlin, bank])  # topics exist once the writer is built
        produce(kafka_settings, topics.enriched, _articles(6))
        drain(w, 8)
    es = make_client(es_settings)
    first_articles, first_stories = docs(es, names.articles), docs(es, names.stories)
    assert sorted(first_articles) == [f"a{i:04d}" for i in range(1, 7)]
    assert first_stories["s1"]["label"] == "Kremlin drone attack"
    assert not {"restore", "clusterer", "profile", "members"} & set(first_stories["s1"])
    assert committed(kafka_settings, "index", topics.enriched) == 6

    service = SearchService(es, names, IndexSettings())
    page = service.search_stories(StoryQuery(q="kremlin"))
    assert [h.id for h in page.results] == ["s1"]
    assert page.results[0].top_articles[0].title == "Drones hit the Kremlin"
    detail = service.story("s1")
    assert [a.id for a in detail.articles.results] == [f"a{i:04d}" for i in range(1, 7)]  # oldest first
    assert {b.key: b.count for b in detail.sources} == {"src0.example": 2, "src1.example": 2, "src2.example": 2}
    assert sum(b.count for b in detail.histogram) == 6
    assert detail.interval == "1h"

    # Replay everything with a fresh consumer group: same documents, same counts.
    with writer(kafka_settings, es_settings, group="replay") as w:
        drain(w, 8)
    again_articles, again_stories = docs(es, names.articles), docs(es, names.stories)

    def strip(d: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {k: {f: v for f, v in doc.items() if f != "_version"} for k, doc in d.items()}

    assert strip(again_articles) == strip(first_articles)
    assert again_stories == first_stories  # stories keep even their external version
    assert count(es, names.articles) == 6
    assert count(es, names.stories) == 2
    es.close()


def test_batches_held_by_kafka_pythons_reference_cycles_are_reclaimed(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings
) -> None:
    """A poll whose wait times out leaves a cycle (the exception, its traceback, the frames on it) whose
    frames reach the writer's: a batch of records then outlives its bulk until a full collection, which
    Python runs rarely (every ~35 minutes in the soak). The writer's periodic ``reclaim`` frees them."""

    def live_records() -> int:
        # type(), not isinstance(): the latter reads __class__, which some objects (torch's) answer with a warning
        return sum(1 for o in gc.get_objects() if type(o) is ConsumerRecord)

    was = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection at a random moment would hide the cycles
    try:
        with writer(kafka_settings, es_settings, flush_ms=100) as w:
            produce(kafka_settings, Topics(kafka_settings.topic_prefix).enriched, _articles(30))
            drain(w, 30)
            for _ in range(3):
                w.run_once()  # polls that time out on an empty topic
            held = live_records()
            assert held > 0, "kafka-python no longer leaves batches in cycles: reclaim's collection may be moot"
            reclaim()
            assert live_records() == 0
    finally:
        if was:
            gc.enable()


def test_story_snapshots_never_go_backwards(kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    names = IndexNames(es_settings.index_prefix)
    with writer(kafka_settings, es_settings) as w:
        produce(kafka_settings, topics.stories, [story("s1", 3, label="Newest label", size=9)])
        drain(w, 1)
        produce(kafka_settings, topics.stories, [story("s1", 2, label="Older label", size=4)])
        drain(w, 1)
        produce(
            kafka_settings,
            topics.stories,
            [story("s7", 5, status=StoryStatus.MERGED, merged_into="s1", centroid=()), story("s7", 4)],
        )
        drain(w, 2)
    es = make_client(es_settings)
    got = docs(es, names.stories)
    assert (got["s1"]["version"], got["s1"]["label"], got["s1"]["size"], got["s1"]["_version"]) == (
        3,
        "Newest label",
        9,
        3,
    )
    assert (got["s7"]["status"], got["s7"]["merged_into"], got["s7"]["version"]) == ("merged", "s1", 5)
    assert committed(kafka_settings, "index", topics.stories) == 4  # the stale ones count as done
    es.close()


def test_refused_documents_and_poison_go_to_the_dead_letter_topic(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    names = IndexNames(es_settings.index_prefix)
    bad_dims = enriched(2, embedding=(1.0, 0.0, 0.0, 0.0, 0.0))  # the mapping says 4 dims
    with writer(kafka_settings, es_settings) as w:
        produce(kafka_settings, topics.enriched, [enriched(1), bad_dims, enriched(3)], raw=[b"not json"])
        drain(w, 4)
    dead = read_all(kafka_settings, topics.dlq, 2)
    errors = {dict(r.headers)["storywire.error"].decode() for r in dead}
    assert len(dead) == 2
    assert any("elasticsearch refused the document" in e and "dimensions" in e for e in errors), errors
    assert any("not JSON" in e for e in errors)
    es = make_client(es_settings)
    assert sorted(docs(es, names.articles)) == ["a0001", "a0003"]
    assert committed(kafka_settings, "index", topics.enriched) == 4
    es.close()


def test_outage_pauses_then_every_article_is_there_once(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    names = IndexNames(es_settings.index_prefix)
    proxy = Proxy(es_settings.url)
    es = make_client(es_settings)
    try:
        with writer(kafka_settings, es_settings, es_url=proxy.url) as w:
            produce(kafka_settings, topics.enriched, _articles(20))
            drain(w, 20)
            assert count(es, names.articles) == 20

            proxy.cut()
            produce(kafka_settings, topics.enriched, _articles(30, start=21))
            produce(kafka_settings, topics.stories, [story("s1", 1)])
            thread = threading.Thread(target=w.run, daemon=True)
            thread.start()
            wait_for(lambda: w.retries >= 3, "the writer to retry against the cut proxy")
            assert w.paused
            assert committed(kafka_settings, "index", topics.enriched) == 20  # nothing committed early

            proxy.restore()
            wait_for(lambda: committed(kafka_settings, "index", topics.enriched) == 50, "the backlog to be committed")
            w.stop.set()
            thread.join(timeout=30)
            assert not thread.is_alive()
            assert not w.paused
        got = docs(es, names.articles)
        assert sorted(got) == [f"a{i:04d}" for i in range(1, 51)]
        assert count(es, names.articles) == 50
        assert count(es, names.stories) == 1
    finally:
        proxy.close()
        es.close()


def test_migrate_drops_the_clusterer_state_older_stories_indices_kept(
    kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings
) -> None:
    """For a while the stories index kept the clusterer's restore state (an unindexed
    ``clusterer`` object); the mappings no longer have it, and migrate copies what they have."""
    names = IndexNames(es_settings.index_prefix)
    es = make_client(es_settings)
    old = story_mappings(4)
    old["properties"]["clusterer"] = {"type": "object", "enabled": False}
    es.indices.create(index=f"{names.stories}-v1", mappings=old, aliases={names.stories: {"is_write_index": True}})
    ensure_indices(es, names, 4)  # the articles index
    doc = story_doc(story("s1", 3)) | {"clusterer": {"profile": {"kremlin": 4.0}, "members": ["a1"]}}
    es.index(index=names.stories, id="s1", document=doc, version=3, version_type="external")
    migrate(es, names, delete_old=True)
    got = es.get(index=names.stories, id="s1")
    assert got["_index"] == f"{names.stories}-v2" and got["_version"] == 3
    assert "clusterer" not in got["_source"]
    assert got["_source"]["label"] == "Kremlin drone attack"
    es.close()
