"""The web page's pure queries: bodies, the Now ranking, folding merged stories, related."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.samples import T0, story
from search import query as s
from search import views as wq


def _hit(sid: str, **kw: Any) -> s.StoryHit:
    return s.story_hit(story(sid, **kw).model_dump(mode="json") | {"source_count": 2, "growth": 1.0})


def _bucket(key: str, recent: int, total: int, hist: list[tuple[str, int]]) -> dict[str, Any]:
    buckets = [{"key_as_string": t, "doc_count": c} for t, c in hist]
    return {"key": key, "doc_count": total, "recent": {"doc_count": recent, "timeline": {"buckets": buckets}}}


def test_now_body_counts_two_windows_and_orders_by_the_recent_one() -> None:
    until = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    body = wq.now_body(until, 6, 20)
    (outer,) = body["query"]["bool"]["filter"]
    assert outer["range"]["published"] == {"gte": "2026-01-01T00:00:00+00:00", "lte": "2026-01-01T12:00:00+00:00"}
    terms = body["aggs"]["stories"]["terms"]
    assert terms == {"field": "story_id", "size": 20, "order": [{"recent": "desc"}, {"_key": "asc"}]}
    recent = body["aggs"]["stories"]["aggs"]["recent"]
    assert recent["filter"]["range"]["published"]["gte"] == "2026-01-01T06:00:00+00:00"
    hist = recent["aggs"]["timeline"]["date_histogram"]
    assert hist["fixed_interval"] == "30m"
    assert hist["extended_bounds"] == {"min": 1767247200000, "max": 1767268799999}
    assert (body["size"], wq.now_interval(1), wq.now_interval(24)) == (0, "5m", "120m")


def test_now_counts_skip_stories_quiet_in_the_recent_window() -> None:
    resp = {
        "aggregations": {
            "stories": {
                "buckets": [
                    _bucket("s1", 3, 5, [("2026-01-01T11:00:00.000Z", 3)]),
                    _bucket("s2", 0, 4, [("2026-01-01T11:00:00.000Z", 0)]),
                ]
            }
        }
    }
    counts = wq.now_counts(resp)
    assert list(counts) == ["s1"]
    assert (counts["s1"].recent, counts["s1"].total, counts["s1"].histogram[0].count) == (3, 5, 3)
    assert wq.now_counts({}) == {}


def test_a_merged_story_counts_for_the_story_that_absorbed_it() -> None:
    t1, t2 = "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"
    counts = {
        "s1": wq.Counts(recent=2, total=3, histogram=(s.TimeBucket(start=t1, count=2),)),
        "m1": wq.Counts(
            recent=1, total=1, histogram=(s.TimeBucket(start=t1, count=0), s.TimeBucket(start=t2, count=1))
        ),
    }
    stories = {"s1": _hit("s1", absorbed=("m1",)), "m1": _hit("m1", status="merged", merged_into="s1")}
    folded = wq.fold_merged(counts, stories)
    assert list(folded) == ["s1"]
    assert (folded["s1"].recent, folded["s1"].total) == (3, 4)
    assert [(str(b.start.hour), b.count) for b in folded["s1"].histogram] == [("10", 2), ("11", 1)]


def test_now_ranking_most_recent_articles_then_biggest_jump_then_newest() -> None:
    def c(recent: int, total: int) -> wq.Counts:
        return wq.Counts(recent=recent, total=total, histogram=())

    counts = {"a": c(5, 10), "b": c(5, 6), "c": c(9, 9), "d": c(5, 6), "gone": c(50, 50)}
    stories = {
        "a": _hit("a"),
        "b": _hit("b", last_seen=T0),
        "c": _hit("c"),
        "d": _hit("d", last_seen=T0 + timedelta(hours=1)),
    }
    ranked = wq.rank_now(counts, stories, hours=2, size=3)
    assert [e.story.id for e in ranked] == ["c", "d", "b"]  # "gone" has no snapshot: left out
    assert (ranked[0].recent, ranked[0].previous, ranked[0].per_hour) == (9, 0, 4.5)


def test_related_body_leaves_out_the_story_what_it_absorbed_and_merged_stories() -> None:
    hit = _hit("s1", absorbed=("m1", "m2"))
    body = wq.related_body(hit, [1.0, 0.0], 6, 0.3)
    knn = body["knn"]
    assert (knn["field"], knn["k"], knn["query_vector"], knn["similarity"]) == ("centroid", 6, [1.0, 0.0], 0.3)
    must_not = knn["filter"][0]["bool"]["must_not"]
    assert {"ids": {"values": ["s1", "m1", "m2"]}} in must_not
    assert {"term": {"status": "merged"}} in must_not
    assert body["_source"] == {"excludes": ["centroid", "titles", "stems"]}


def test_related_turns_the_cosine_score_back_into_a_cosine() -> None:
    source = story("s2").model_dump(mode="json") | {"source_count": 2, "growth": 1.0}
    (r,) = wq.related({"hits": {"hits": [{"_id": "s2", "_score": 0.975, "_source": source}]}})
    assert (r.story.id, r.similarity) == ("s2", 0.95)
    assert wq.centroid_of({"centroid": [1, 0]}) == [1.0, 0.0]
    assert wq.centroid_of({}) == []


def test_timeline_body_counts_the_absorbed_stories_articles_too() -> None:
    hit = _hit("s1", absorbed=("m1",), first_seen=T0, last_seen=T0 + timedelta(days=3))
    interval, body = wq.timeline_body(hit)
    assert interval == "1d"
    assert body["query"]["bool"]["filter"] == [{"terms": {"story_id": ["s1", "m1"]}}]
    assert (body["size"], "sort" in body, list(body["aggs"])) == (0, False, ["timeline"])
    assert body["aggs"]["timeline"]["date_histogram"]["fixed_interval"] == "1d"


def test_stories_body_fetches_by_id_without_vectors() -> None:
    body = wq.stories_body(["s1", "s2"])
    assert body == {
        "query": {"ids": {"values": ["s1", "s2"]}},
        "size": 2,
        "_source": {"excludes": ["centroid", "titles", "stems"]},
    }
