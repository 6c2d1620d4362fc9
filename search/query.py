"""Search, the pure part: typed queries and results, query bodies, rank fusion, hit mapping.

Nothing here talks to Elasticsearch; ``searcher.SearchService`` sends these bodies and
hands the answers to the mappers below, so no hit dict leaves this package.

Story search with text runs three ranked lists and fuses them with reciprocal rank
fusion in the client (RRF is not in the free licence):

    1. BM25 over the story's label, keywords and member titles
    2. kNN of the query's embedding against story centroids
    3. BM25 over the articles, collapsed to their stories (titles of every member,
       not only the few the snapshot carries)

User text only ever goes into ``multi_match`` (never ``query_string``), so query syntax
typed by a user is just words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storywire import analysis
from storywire.messages import StoryArticle, StoryStatus

MAX_WINDOW = 1000  # deepest result a search can page to (page * size)
LIVE_WINDOW = timedelta(hours=24)


class SortBy(StrEnum):
    RELEVANCE = "relevance"
    RECENCY = "recency"
    GROWTH = "growth"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoryQuery(_Frozen):
    q: str = ""
    start: datetime | None = None
    end: datetime | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_size: int = Field(default=0, ge=0)
    status: StoryStatus | None = None
    sort: SortBy = SortBy.RELEVANCE
    page: int = Field(default=1, ge=1)
    size: int = Field(default=20, ge=1, le=100)


class ArticleQuery(_Frozen):
    q: str = ""
    story: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sort: SortBy = SortBy.RELEVANCE
    page: int = Field(default=1, ge=1)
    size: int = Field(default=20, ge=1, le=100)


class Sibling(_Frozen):
    """A near-duplicate story of the same event, shown inside the hit it was folded into."""

    id: str
    label: str
    headline: str = ""
    size: int
    languages: tuple[str, ...] = ()


class StoryHit(_Frozen):
    id: str
    version: int
    label: str
    headline: str = ""
    keywords: tuple[str, ...]
    size: int
    source_count: int
    sources: tuple[str, ...]
    languages: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    growth: float
    status: StoryStatus
    merged_into: str | None
    absorbed: tuple[str, ...]
    top_articles: tuple[StoryArticle, ...]
    # Relevance in 0..1 (``search.rank``), only for a search with text.
    score: float | None = None
    siblings: tuple[Sibling, ...] = ()
    # Active and seen within ``LIVE_WINDOW`` of the newest story (stream time, not the wall clock):
    # only then do growth and "breaking" mean anything.
    live: bool = False


class ArticleHit(_Frozen):
    id: str
    url: str
    source: str
    title: str
    summary: str
    language: str | None
    published: datetime
    published_precision: str = "second"  # "day": only the date is known
    story_id: str
    story_label: str
    snippet: str = ""  # the opening sentences, plain text
    score: float | None = None


class StoryPage(_Frozen):
    total: int
    page: int
    size: int
    results: tuple[StoryHit, ...]


class ArticlePage(_Frozen):
    total: int
    page: int
    size: int
    results: tuple[ArticleHit, ...]


class Bucket(_Frozen):
    key: str
    count: int


class TimeBucket(_Frozen):
    start: datetime
    count: int


class StoryDetail(_Frozen):
    story: StoryHit
    articles: ArticlePage  # in time order, oldest first
    sources: tuple[Bucket, ...]
    interval: str
    histogram: tuple[TimeBucket, ...]


# ---------------------------------------------------------------- query bodies

_STORY_TEXT_FIELDS = ["label^3", "headline^2", "keywords^2", "titles"]
_ARTICLE_TEXT_FIELDS = ["title^3", "story_label^2", "summary", "content"]
_STORY_SOURCE_EXCLUDES = ["centroid", "titles", "stems"]
_ARTICLE_SOURCE_EXCLUDES = ["embedding", "content", "stems"]


def _text(q: str, fields: list[str]) -> dict[str, Any]:
    """The words as typed (the standard analyzer's fields) or by their stems (``stems``, analysed
    here with ``storywire.analysis``, as the writer analysed the documents); a document with
    every stem scores more."""
    words = {"multi_match": {"query": q, "fields": fields, "type": "best_fields", "tie_breaker": 0.3}}
    stems = " ".join(analysis.terms(q))
    if not stems:
        return words
    return {
        "bool": {
            "should": [
                words,
                {"match": {"stems": {"query": stems}}},
                {"match": {"stems": {"query": stems, "operator": "and", "boost": 2.0}}},
            ],
            "minimum_should_match": 1,
        }
    }


def date_range(field: str, gte: datetime | None = None, lte: datetime | None = None) -> dict[str, Any]:
    bounds = {}
    if gte is not None:
        bounds["gte"] = gte.isoformat()
    if lte is not None:
        bounds["lte"] = lte.isoformat()
    return {"range": {field: bounds}}


def story_filters(q: StoryQuery) -> list[dict[str, Any]]:
    """A story matches a time range when it overlaps it; merged stories only when asked for."""
    out: list[dict[str, Any]] = []
    if q.start is not None:
        out.append(date_range("last_seen", gte=q.start))
    if q.end is not None:
        out.append(date_range("first_seen", lte=q.end))
    if q.sources:
        out.append({"terms": {"sources": list(q.sources)}})
    if q.languages:
        out.append({"terms": {"languages": list(q.languages)}})
    if q.min_size:
        out.append({"range": {"size": {"gte": q.min_size}}})
    if q.status is not None:
        out.append({"term": {"status": q.status.value}})
    else:
        # A merged story lives on in the one that absorbed it; listing both shows the event twice.
        out.append({"bool": {"must_not": [{"term": {"status": StoryStatus.MERGED.value}}]}})
    return out


def article_filters(q: ArticleQuery) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if q.story:
        out.append({"term": {"story_id": q.story}})
    if q.start is not None or q.end is not None:
        out.append(date_range("published", q.start, q.end))
    if q.sources:
        out.append({"terms": {"source": list(q.sources)}})
    if q.languages:
        out.append({"terms": {"language": list(q.languages)}})
    return out


def window(page: int, size: int, candidates: int) -> int:
    """How many candidates each ranked list contributes so the requested page can be filled."""
    return min(MAX_WINDOW, max(candidates, page * size))


def text_body(q: str, fields: list[str], filters: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return {"query": {"bool": {"must": [_text(q, fields)], "filter": filters}}, "size": n, "_source": False}


def knn_body(
    field: str, vector: Sequence[float], filters: list[dict[str, Any]], n: int, min_sim: float
) -> dict[str, Any]:
    knn: dict[str, Any] = {
        "field": field,
        "query_vector": [float(x) for x in vector],
        "k": n,
        "num_candidates": min(10_000, max(2 * n, 100)),
        "similarity": min_sim,
    }
    if filters:
        knn["filter"] = filters
    return {"knn": knn, "size": n, "_source": False}


def story_text_body(q: StoryQuery, n: int) -> dict[str, Any]:
    return text_body(q.q, _STORY_TEXT_FIELDS, story_filters(q), n)


def story_knn_body(q: StoryQuery, vector: Sequence[float], n: int, min_sim: float) -> dict[str, Any]:
    return knn_body("centroid", vector, story_filters(q), n, min_sim)


def member_body(q: str, n: int) -> dict[str, Any]:
    """Articles matching the text, one (the best) per story, best first. Each query stem is also a
    named clause that adds nothing to the score: the hit's ``matched_queries`` say which of the
    query's words the article holds anywhere in its text (``member_words``)."""
    body = text_body(q, ["title^3", "summary"], [], n)
    named = [{"term": {"stems": {"value": t, "_name": t, "boost": 0.0}}} for t in dict.fromkeys(analysis.terms(q))]
    body["query"]["bool"]["should"] = named
    body |= {"collapse": {"field": "story_id"}, "_source": ["story_id", "title"]}
    return body


def member_words(response: Mapping[str, Any]) -> dict[str, set[str]]:
    """Story id -> the query's stems its best matching article holds (title or text)."""
    out: dict[str, set[str]] = {}
    for h in response["hits"]["hits"]:
        words = out.setdefault(str(h["_source"]["story_id"]), set())
        words.update(analysis.stems_of(str(h["_source"].get("title") or "")))
        words.update(str(m) for m in h.get("matched_queries") or ())
    return out


def member_knn_body(vector: Sequence[float], n: int, min_sim: float) -> dict[str, Any]:
    """Articles nearest the query's meaning (their stories, in order, are a ranked list: a
    paraphrase close to one member's words finds its story even when the centroid is not)."""
    body = knn_body("embedding", vector, [], n, min_sim)
    body["_source"] = ["story_id"]
    return body


def article_text_body(q: ArticleQuery, n: int) -> dict[str, Any]:
    return text_body(q.q, _ARTICLE_TEXT_FIELDS, article_filters(q), n)


def article_knn_body(q: ArticleQuery, vector: Sequence[float], n: int, min_sim: float) -> dict[str, Any]:
    return knn_body("embedding", vector, article_filters(q), n, min_sim)


def fetch_body(ids: Sequence[str], filters: list[dict[str, Any]], excludes: list[str]) -> dict[str, Any]:
    """The candidates that pass the filters, with their documents."""
    return {
        "query": {"bool": {"filter": [{"ids": {"values": list(ids)}}, *filters]}},
        "size": len(ids),
        "_source": {"excludes": excludes},
    }


def fetch_stories_body(ids: Sequence[str], q: StoryQuery) -> dict[str, Any]:
    """With the centroid and member titles: ranking folds near-duplicates and looks for every word."""
    return fetch_body(ids, story_filters(q), ["stems"])


def fetch_articles_body(ids: Sequence[str], q: ArticleQuery) -> dict[str, Any]:
    return fetch_body(ids, article_filters(q), _ARTICLE_SOURCE_EXCLUDES)


def _sort(sort: SortBy, time_field: str, growth: bool) -> list[dict[str, Any]]:
    if sort is SortBy.GROWTH and growth:
        return [{"growth": "desc"}, {time_field: "desc"}, {"id": "asc"}]
    return [{time_field: "desc"}, {"id": "asc"}]


def browse_stories_body(q: StoryQuery) -> dict[str, Any]:
    """No text: filter and sort (relevance means most recent first)."""
    return {
        "query": {"bool": {"filter": story_filters(q)}},
        "sort": _sort(q.sort, "last_seen", growth=True),
        "from": (q.page - 1) * q.size,
        "size": q.size,
        "track_total_hits": True,
        "_source": {"excludes": _STORY_SOURCE_EXCLUDES},
    }


def browse_articles_body(q: ArticleQuery) -> dict[str, Any]:
    return {
        "query": {"bool": {"filter": article_filters(q)}},
        "sort": _sort(q.sort, "published", growth=False),
        "from": (q.page - 1) * q.size,
        "size": q.size,
        "track_total_hits": True,
        "_source": {"excludes": _ARTICLE_SOURCE_EXCLUDES},
    }


def histogram_interval(first: datetime, last: datetime) -> str:
    """Hourly bars for a story of a day or less, daily ones for a multi-day story, weekly past
    four months (a two-day story is 3 bars, not 49 mostly empty hours)."""
    span = last - first
    if span <= timedelta(days=1):
        return "1h"
    if span <= timedelta(days=120):
        return "1d"
    return "7d"


def newest_body() -> dict[str, Any]:
    """The newest story's last_seen: the stream's "now" (a replay of 2023 news is live in 2023)."""
    return {"size": 0, "aggs": {"newest": {"max": {"field": "last_seen"}}}}


def newest(response: Mapping[str, Any]) -> datetime | None:
    value = response.get("aggregations", {}).get("newest", {}).get("value_as_string")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def is_live(source: Mapping[str, Any], now: datetime | None) -> bool:
    if now is None or source.get("status", "active") != StoryStatus.ACTIVE.value:
        return False
    last = datetime.fromisoformat(str(source["last_seen"]).replace("Z", "+00:00"))
    return now - last <= LIVE_WINDOW


def story_articles_body(story_ids: Sequence[str], page: int, size: int, interval: str | None) -> dict[str, Any]:
    """A story's articles oldest first; with ``interval``, its sources and timeline too."""
    body: dict[str, Any] = {
        "query": {"bool": {"filter": [{"terms": {"story_id": list(story_ids)}}]}},
        "sort": [{"published": "asc"}, {"id": "asc"}],
        "from": (page - 1) * size,
        "size": size,
        "track_total_hits": True,
        "_source": {"excludes": _ARTICLE_SOURCE_EXCLUDES},
    }
    if interval is not None:
        body["aggs"] = {
            "sources": {"terms": {"field": "source", "size": 100}},
            "timeline": {"date_histogram": {"field": "published", "fixed_interval": interval, "min_doc_count": 0}},
        }
    return body


# ---------------------------------------------------------------- fusion and mapping


def rrf(rankings: Iterable[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = sum over lists of 1 / (k + rank), rank from 1.

    Ties keep the order in which documents were first seen, so the result is deterministic.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    order = {doc_id: i for i, doc_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def hit_ids(response: Mapping[str, Any]) -> list[str]:
    return [str(h["_id"]) for h in response["hits"]["hits"]]


def member_story_ids(response: Mapping[str, Any]) -> list[str]:
    """The stories of the article hits, each once, in order."""
    ids = (str(h["_source"]["story_id"]) for h in response["hits"]["hits"])
    return list(dict.fromkeys(ids))


def total_hits(response: Mapping[str, Any]) -> int:
    return int(response["hits"]["total"]["value"])


def story_hit(
    source: Mapping[str, Any],
    score: float | None = None,
    siblings: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> StoryHit:
    """``now``: the stream's newest time (``newest``); without it no story is live."""
    fields = {k: source[k] for k in StoryHit.model_fields if k in source}
    sibs = [{k: sib[k] for k in Sibling.model_fields if k in sib} for sib in siblings]
    return StoryHit.model_validate(fields | {"score": score, "siblings": sibs, "live": is_live(source, now)})


def article_hit(source: Mapping[str, Any], score: float | None = None) -> ArticleHit:
    fields = {k: source.get(k) for k in ArticleHit.model_fields if k in source}
    fields.setdefault("summary", "")
    return ArticleHit.model_validate(fields | {"score": score})


def order_fused(
    fused: Sequence[tuple[str, float]], sources: Mapping[str, Mapping[str, Any]], sort: SortBy, time_field: str
) -> list[tuple[Mapping[str, Any], float]]:
    """Fused candidates that survived the filters, in the requested order."""
    kept = [(sources[doc_id], score) for doc_id, score in fused if doc_id in sources]
    if sort is SortBy.RECENCY:
        kept.sort(key=lambda item: str(item[0][time_field]), reverse=True)
    elif sort is SortBy.GROWTH:
        kept.sort(key=lambda item: (float(item[0].get("growth", 0.0)), str(item[0][time_field])), reverse=True)
    return kept


def reorder(
    ranked: Sequence[tuple[Mapping[str, Any], float]], sort: SortBy, time_field: str
) -> list[tuple[Mapping[str, Any], float]]:
    """Scored candidates in the requested order (relevance: as scored)."""
    kept = list(ranked)
    if sort is SortBy.RECENCY:
        kept.sort(key=lambda item: str(item[0][time_field]), reverse=True)
    elif sort is SortBy.GROWTH:
        kept.sort(key=lambda item: (float(item[0].get("growth", 0.0)), str(item[0][time_field])), reverse=True)
    return kept


def sources_of(response: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(h["_id"]): h["_source"] for h in response["hits"]["hits"]}


def buckets(response: Mapping[str, Any]) -> tuple[Bucket, ...]:
    raw = response.get("aggregations", {}).get("sources", {}).get("buckets", [])
    return tuple(Bucket(key=str(b["key"]), count=int(b["doc_count"])) for b in raw)


def timeline(response: Mapping[str, Any]) -> tuple[TimeBucket, ...]:
    raw = response.get("aggregations", {}).get("timeline", {}).get("buckets", [])
    return tuple(TimeBucket(start=b["key_as_string"], count=int(b["doc_count"])) for b in raw)
