"""Views of the stories beyond a search, the pure part: bodies and answer mapping.

Three things the pages need besides search and a story's page:

    related    stories whose centroid is nearest this story's (kNN on the stories alias),
               then stories of the same days sharing its names (reports in other languages)
    timelines  articles over time for each story of a result page (one body per story)
    now        stories ranked by articles published in the last hours (the wall screen)

Nothing here talks to Elasticsearch: ``SearchService.related``, ``absorbed``, ``timelines``
and ``now`` send these bodies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from search import query as s
from storywire import analysis

_STORY_EXCLUDES = ["centroid", "titles", "stems"]
NOW_BUCKETS = 12  # bars in a "Now" sparkline


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Related(_Frozen):
    story: s.StoryHit
    # Cosine between the two centroids; None for a story found by the names it shares
    # (``names_body``), which is how a report in another language is found.
    similarity: float | None


class Timeline(_Frozen):
    story_id: str
    interval: str
    histogram: tuple[s.TimeBucket, ...]


class NowEntry(_Frozen):
    story: s.StoryHit
    recent: int  # articles published in the window
    previous: int  # articles published in the window before it
    per_hour: float
    histogram: tuple[s.TimeBucket, ...]  # the window, NOW_BUCKETS bars


class NowPage(_Frozen):
    hours: int
    since: datetime
    until: datetime
    interval: str
    results: tuple[NowEntry, ...]


# ---------------------------------------------------------------- related


def centroid_of(source: Mapping[str, Any]) -> list[float]:
    return [float(x) for x in source.get("centroid") or ()]


def related_body(story: s.StoryHit, centroid: Sequence[float], size: int, min_sim: float) -> dict[str, Any]:
    """Nearest centroids (cosine at least ``min_sim``), leaving out the story itself, what it
    absorbed and merged stories."""
    skip = [story.id, *story.absorbed]
    knn = {
        "field": "centroid",
        "query_vector": [float(x) for x in centroid],
        "k": size,
        "num_candidates": max(100, 4 * size),
        "similarity": min_sim,
        "filter": [{"bool": {"must_not": [{"ids": {"values": skip}}, {"term": {"status": "merged"}}]}}],
    }
    return {"knn": knn, "size": size, "_source": {"excludes": _STORY_EXCLUDES}}


def related(response: Mapping[str, Any]) -> tuple[Related, ...]:
    # Elasticsearch's cosine score is (1 + cos) / 2; the page shows the cosine.
    out = []
    for h in response["hits"]["hits"]:
        score = float(h.get("_score") or 0.0)
        out.append(Related(story=s.story_hit(h["_source"]), similarity=round(2 * score - 1, 4)))
    return tuple(out)


def names_body(story: s.StoryHit, size: int, days: int = 3) -> dict[str, Any]:
    """Stories of the same days sharing the story's words by stem (names and figures mostly: the
    words an article in another language keeps), most shared first; none of the story's own."""
    text = " ".join([story.label, story.headline, *story.keywords])
    stems = " ".join(dict.fromkeys(analysis.terms(text)))
    window = timedelta(days=days)
    return {
        "query": {
            "bool": {
                "must": [{"match": {"stems": {"query": stems, "minimum_should_match": "30%"}}}],
                "filter": [
                    s.date_range("last_seen", gte=story.first_seen - window),
                    s.date_range("first_seen", lte=story.last_seen + window),
                ],
                "must_not": [{"ids": {"values": [story.id, *story.absorbed]}}, {"term": {"status": "merged"}}],
            }
        },
        "size": size,
        "_source": {"excludes": _STORY_EXCLUDES},
    }


def by_names(response: Mapping[str, Any]) -> tuple[Related, ...]:
    return tuple(Related(story=s.story_hit(h["_source"]), similarity=None) for h in response["hits"]["hits"])


def stories_body(ids: Sequence[str]) -> dict[str, Any]:
    return {
        "query": {"ids": {"values": list(ids)}},
        "size": len(ids),
        "_source": {"excludes": _STORY_EXCLUDES},
    }


def stories_by_id(response: Mapping[str, Any]) -> dict[str, s.StoryHit]:
    return {str(h["_id"]): s.story_hit(h["_source"]) for h in response["hits"]["hits"]}


# ---------------------------------------------------------------- timelines


def timeline_body(story: s.StoryHit) -> tuple[str, dict[str, Any]]:
    """(interval, body): the story's articles (absorbed stories' too) per bucket, no hits."""
    interval = s.histogram_interval(story.first_seen, story.last_seen)
    body = s.story_articles_body([story.id, *story.absorbed], 1, 1, interval)
    body |= {"size": 0, "track_total_hits": False}
    del body["sort"]
    del body["aggs"]["sources"]
    return interval, body


# ---------------------------------------------------------------- now


def now_interval(hours: int) -> str:
    """A bucket width giving NOW_BUCKETS bars over the window (whole minutes)."""
    return f"{max(1, hours * 60 // NOW_BUCKETS)}m"


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def now_body(until: datetime, hours: int, size: int) -> dict[str, Any]:
    """Stories with articles in the last ``hours``, most articles first, with the window before.

    The query covers two windows; the ``recent`` sub-aggregation counts the last one and
    orders the stories, the difference is what came before.
    """
    since = until - timedelta(hours=hours)
    before = since - timedelta(hours=hours)
    timeline = {
        "date_histogram": {
            "field": "published",
            "fixed_interval": now_interval(hours),
            "min_doc_count": 0,
            "extended_bounds": {"min": _ms(since), "max": _ms(until) - 1},
        }
    }
    recent = {"range": {"published": {"gte": since.isoformat(), "lte": until.isoformat()}}}
    return {
        "query": {
            "bool": {"filter": [{"range": {"published": {"gte": before.isoformat(), "lte": until.isoformat()}}}]}
        },
        "size": 0,
        "aggs": {
            "stories": {
                "terms": {"field": "story_id", "size": size, "order": [{"recent": "desc"}, {"_key": "asc"}]},
                "aggs": {"recent": {"filter": recent, "aggs": {"timeline": timeline}}},
            }
        },
    }


class Counts(_Frozen):
    recent: int
    total: int  # both windows
    histogram: tuple[s.TimeBucket, ...]


def now_counts(response: Mapping[str, Any]) -> dict[str, Counts]:
    """Story id -> counts, for stories with at least one article in the recent window."""
    out: dict[str, Counts] = {}
    for b in response.get("aggregations", {}).get("stories", {}).get("buckets", []):
        recent = b["recent"]
        if not recent["doc_count"]:
            continue
        hist = tuple(
            s.TimeBucket(start=t["key_as_string"], count=int(t["doc_count"])) for t in recent["timeline"]["buckets"]
        )
        out[str(b["key"])] = Counts(recent=int(recent["doc_count"]), total=int(b["doc_count"]), histogram=hist)
    return out


def _add(a: Counts, b: Counts) -> Counts:
    counts = {t.start: t.count for t in a.histogram}
    for t in b.histogram:
        counts[t.start] = counts.get(t.start, 0) + t.count
    hist = tuple(s.TimeBucket(start=k, count=v) for k, v in sorted(counts.items()))
    return Counts(recent=a.recent + b.recent, total=a.total + b.total, histogram=hist)


def fold_merged(counts: Mapping[str, Counts], stories: Mapping[str, s.StoryHit]) -> dict[str, Counts]:
    """Articles of a merged story count for the story that absorbed it (one hop, as the snapshot says)."""
    out: dict[str, Counts] = {}
    for sid, c in counts.items():
        hit = stories.get(sid)
        target = hit.merged_into if hit is not None and hit.merged_into else sid
        out[target] = _add(out[target], c) if target in out else c
    return out


def rank_now(
    counts: Mapping[str, Counts], stories: Mapping[str, s.StoryHit], hours: int, size: int
) -> tuple[NowEntry, ...]:
    """Most articles in the window first, then the bigger jump over the window before, then newest."""
    entries = [
        NowEntry(
            story=stories[sid],
            recent=c.recent,
            previous=c.total - c.recent,
            per_hour=round(c.recent / hours, 2),
            histogram=c.histogram,
        )
        for sid, c in counts.items()
        if sid in stories
    ]
    entries.sort(key=lambda e: (-e.recent, -(e.recent - e.previous), -e.story.last_seen.timestamp(), e.story.id))
    return tuple(entries[:size])
