"""The index stage's pure core: documents, bulk outcomes, backoff, query bodies, fusion."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from devtools.samples import T0, enriched, story
from index.documents import Outcome, article_action, article_doc, article_json, classify, growth, story_action
from index.mappings import article_mappings, story_mappings
from search import query as s
from storywire.backoff import Backoff
from storywire.messages import StoryStatus


def test_article_action_uses_the_article_id_and_fits_the_mapping() -> None:
    header, doc = article_action("p-articles", enriched(7, story_id="s9"))
    assert header == {"index": {"_index": "p-articles", "_id": "a0007"}}
    assert doc["story_id"] == "s9"
    assert doc["published"] == "2023-05-03T09:00:00Z"
    assert set(doc) == set(article_mappings(4)["properties"])
    json.dumps(doc)  # plain JSON all the way down


def test_article_without_embedding_is_still_a_document() -> None:
    assert "embedding" not in article_doc(enriched(1, embedding=()))
    assert "embedding" not in json.loads(article_json(enriched(1, embedding=())))


def test_serialised_article_is_the_same_document() -> None:
    a = enriched(5, embedding=(0.25, -0.5, 1e-7, 0.0), language="de", warnings=("odd date",))
    assert json.loads(article_json(a)) == article_doc(a)


def test_story_action_is_an_external_version_with_member_titles() -> None:
    header, doc = story_action("p-stories", story("s1", 4, size=6, last_seen=T0 + timedelta(hours=3)))
    assert header == {"index": {"_index": "p-stories", "_id": "s1", "version": 4, "version_type": "external"}}
    assert doc["titles"] == ["Drones hit the Kremlin"]
    assert doc["source_count"] == 2
    assert doc["growth"] == 2.0
    assert set(doc) == set(story_mappings(4)["properties"])


def test_merged_story_keeps_where_it_went() -> None:
    _, doc = story_action("p", story("s2", 9, status=StoryStatus.MERGED, merged_into="s1", centroid=()))
    assert (doc["status"], doc["merged_into"]) == ("merged", "s1")
    assert "centroid" not in doc


def test_growth_counts_at_least_one_hour() -> None:
    assert growth(story(size=5)) == 5.0


@pytest.mark.parametrize(
    ("item", "outcome"),
    [
        ({"index": {"status": 201}}, Outcome.OK),
        ({"index": {"status": 200}}, Outcome.OK),
        ({"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}}, Outcome.STALE),
        ({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}}, Outcome.RETRY),
        ({"index": {"status": 503, "error": "unavailable"}}, Outcome.RETRY),
        (
            {"index": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "bad dims"}}},
            Outcome.REJECT,
        ),
    ],
)
def test_bulk_items_are_classified(item: dict[str, object], outcome: Outcome) -> None:
    assert classify(item)[0] is outcome


def test_reject_carries_the_reason_and_cause() -> None:
    item = {
        "index": {
            "status": 400,
            "error": {"type": "x", "reason": "failed to parse", "caused_by": {"type": "y", "reason": "dims 5 != 4"}},
        }
    }
    assert classify(item) == (Outcome.REJECT, "x: failed to parse (caused by y: dims 5 != 4)")


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 3.0, rand=lambda: 1.0)
    assert [b.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next_delay() == 0.5
    assert Backoff(1.0, 8.0, rand=lambda: 0.0).next_delay() == 0.5  # never zero


def test_rrf_rewards_agreement_and_is_deterministic() -> None:
    fused = s.rrf([["a", "b", "c"], ["c", "a"], ["d"]], k=60)
    assert [d for d, _ in fused] == ["a", "c", "d", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert s.rrf([]) == []


def _walk(obj: object) -> list[str]:
    if isinstance(obj, dict):
        return [k for k in obj] + [x for v in obj.values() for x in _walk(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _walk(v)]
    return []


def test_user_text_only_reaches_multi_match() -> None:
    evil = 'kremlin AND title:(x OR "y) {"query": 1} \\ / *:*'
    q = s.StoryQuery(q=evil)
    bodies = [s.story_text_body(q, 10), s.member_body(evil, 10), s.story_knn_body(q, [1.0, 0.0], 10, 0.3)]
    bodies += [s.article_text_body(s.ArticleQuery(q=evil), 10)]
    for body in bodies:
        keys = _walk(body)
        assert "query_string" not in keys and "simple_query_string" not in keys
    should = s.story_text_body(q, 10)["query"]["bool"]["must"][0]["bool"]["should"]
    assert should[0]["multi_match"]["query"] == evil
    # The stems clause gets the client's analysis of the words, never the raw text.
    assert should[1]["match"]["stems"]["query"] == "kremlin titl x y queri 1"


def test_story_filters() -> None:
    q = s.StoryQuery(
        start=T0,
        end=T0 + timedelta(days=1),
        sources=("a.example",),
        languages=("en", "de"),
        min_size=3,
        status=StoryStatus.ACTIVE,
    )
    assert s.story_filters(q) == [
        {"range": {"last_seen": {"gte": "2023-05-03T09:00:00+00:00"}}},
        {"range": {"first_seen": {"lte": "2023-05-04T09:00:00+00:00"}}},
        {"terms": {"sources": ["a.example"]}},
        {"terms": {"languages": ["en", "de"]}},
        {"range": {"size": {"gte": 3}}},
        {"term": {"status": "active"}},
    ]
    assert s.story_filters(s.StoryQuery()) == [{"bool": {"must_not": [{"term": {"status": "merged"}}]}}]


def test_article_filters_and_knn_body() -> None:
    q = s.ArticleQuery(story="s1", sources=("b",))
    filters = s.article_filters(q)
    assert filters == [{"term": {"story_id": "s1"}}, {"terms": {"source": ["b"]}}]
    knn = s.article_knn_body(q, [0.5, 0.5], 30, 0.3)["knn"]
    assert (knn["field"], knn["k"], knn["num_candidates"], knn["filter"]) == ("embedding", 30, 100, filters)


def test_browse_pages_and_sorts() -> None:
    body = s.browse_stories_body(s.StoryQuery(sort=s.SortBy.GROWTH, page=3, size=10))
    assert (body["from"], body["size"]) == (20, 10)
    assert body["sort"][0] == {"growth": "desc"}
    assert s.browse_articles_body(s.ArticleQuery(sort=s.SortBy.GROWTH))["sort"][0] == {"published": "desc"}


def test_window_covers_the_page_but_is_capped() -> None:
    assert s.window(1, 20, 100) == 100
    assert s.window(10, 50, 100) == 500
    assert s.window(100, 100, 100) == s.MAX_WINDOW


def test_histogram_interval_follows_the_span() -> None:
    assert s.histogram_interval(T0, T0 + timedelta(hours=5)) == "1h"
    assert s.histogram_interval(T0, T0 + timedelta(days=2)) == "1d"  # a two-day story: 3 bars, not 49
    assert s.histogram_interval(T0, T0 + timedelta(days=5)) == "1d"
    assert s.histogram_interval(T0, T0 + timedelta(days=30)) == "1d"
    assert s.histogram_interval(T0, T0 + timedelta(days=300)) == "7d"


def test_order_fused_drops_filtered_and_sorts() -> None:
    fused = [("a", 0.3), ("b", 0.2), ("c", 0.1)]
    docs: dict[str, dict[str, Any]] = {
        "a": {"last_seen": "2023-01-01T00:00:00Z", "growth": 1.0},
        "c": {"last_seen": "2023-02-01T00:00:00Z"},
    }
    assert [d for d, _ in s.order_fused(fused, docs, s.SortBy.RELEVANCE, "last_seen")] == [docs["a"], docs["c"]]
    assert [d for d, _ in s.order_fused(fused, docs, s.SortBy.RECENCY, "last_seen")] == [docs["c"], docs["a"]]
    assert [d for d, _ in s.order_fused(fused, docs, s.SortBy.GROWTH, "last_seen")] == [docs["a"], docs["c"]]


def test_hits_map_to_our_types() -> None:
    _, doc = story_action("p", story("s1", 2))
    hit = s.story_hit(doc, 0.5)
    assert (hit.id, hit.version, hit.source_count, hit.score) == ("s1", 2, 2, 0.5)
    assert hit.top_articles[0].title == "Drones hit the Kremlin"
    art = s.article_hit(article_doc(enriched(3)))
    assert (art.id, art.story_id, art.published) == ("a0003", "s1", T0)
    resp = {"aggregations": {"timeline": {"buckets": [{"key_as_string": "2023-05-03T09:00:00.000Z", "doc_count": 2}]}}}
    assert s.timeline(resp)[0].start == T0


def test_documents_carry_client_stems_and_a_plain_text_snippet() -> None:
    import json as _json

    from devtools.samples import enriched
    from index.documents import article_doc, article_json, derived_article, snippet

    art = enriched(title="Drones hit the Kremlin", content="<p>Two drones were shot down. Nobody was hurt.</p>")
    doc = article_doc(art)
    assert "drone" in doc["stems"].split() and "kremlin" in doc["stems"].split()
    assert doc["snippet"] == "Two drones were shot down. Nobody was hurt."
    assert _json.loads(article_json(art)) == doc
    assert derived_article({k: v for k, v in doc.items() if k not in ("stems", "snippet")}) == doc
    long = "First sentence here. " * 40
    assert len(snippet(long)) <= 320 and snippet(long).startswith("First sentence here.")
