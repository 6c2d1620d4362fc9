"""Search quality on a labelled set: does the story search find the story of an event?

``evaluate_search`` writes a replayed set (articles with their predicted stories, and the
stories' last snapshots) into Elasticsearch under a temporary index prefix, through the
index writer's own documents, then asks the real ``SearchService`` for each event with two
or more articles, twice: by its ``event_label`` with the date removed, and by the first
few words of it. The answer that counts is the story holding most of that event's
articles (a near-duplicate folded into a hit counts at that hit's rank). Figures: mean
reciprocal rank over the first ``depth`` hits, and recall at 3. The temporary indices are
deleted afterwards, also after a failure.

    {"search": {"mrr": 0.93, "recall_at_3": 0.98, "queries": 52}}   (``storywire eval --search --json``)
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, helpers

from index.client import IndexNames
from index.documents import article_action, story_action
from index.mappings import ensure_indices
from index.settings import IndexSettings
from search.query import StoryHit, StoryQuery
from search.service import EmbedFn, SearchService
from storywire.messages import EnrichedArticle, Story

log = logging.getLogger(__name__)

# "(7 Sep 2022)", "(26-27 Sep 2024)", "(13-14 Jan 2023)": the gold label's date.
_DATE = re.compile(r"\s*\((?:[^()]*\d{4})\)\s*$")
SHORT_WORDS = 4  # "a few words" of the label


@dataclass(frozen=True)
class EventQuery:
    event: str
    text: str
    kind: str  # "label" or "words"
    target: str  # the story holding most of the event's articles


@dataclass(frozen=True)
class SearchReport:
    figures: dict[str, Any]  # mrr, recall_at_3, queries
    rows: tuple[dict[str, Any], ...]  # query, kind, event, rank (0: not in the first ``depth``)

    def by_kind(self, kind: str) -> dict[str, Any]:
        return figures([r["rank"] for r in self.rows if r["kind"] == kind])


def strip_date(label: str) -> str:
    return _DATE.sub("", label).strip()


def first_words(text: str, n: int = SHORT_WORDS) -> str:
    return " ".join(text.replace(":", " ").split()[:n])


def event_queries(events: Sequence[str], labels: Mapping[str, str], story_of: Sequence[str]) -> list[EventQuery]:
    """Two queries per event with two or more articles (``events[i]`` and ``story_of[i]`` are the
    gold event and the predicted story of article i; ``labels`` gold event -> event label)."""
    stories: dict[str, Counter[str]] = defaultdict(Counter)
    for event, story in zip(events, story_of, strict=True):
        stories[event][story] += 1
    out = []
    for event in sorted(stories):
        counts = stories[event]
        if sum(counts.values()) < 2 or event not in labels:
            continue
        target = min(counts, key=lambda s: (-counts[s], s))
        text = strip_date(labels[event])
        out.append(EventQuery(event, text, "label", target))
        out.append(EventQuery(event, first_words(text), "words", target))
    return out


def rank_of(target: str, hits: Sequence[StoryHit]) -> int:
    """1-based rank of the hit that is the target or shows it folded in; 0 when absent."""
    for rank, hit in enumerate(hits, start=1):
        if hit.id == target or target in hit.absorbed or any(s.id == target for s in hit.siblings):
            return rank
    return 0


def figures(ranks: Sequence[int]) -> dict[str, Any]:
    n = len(ranks)
    mrr = sum(1.0 / r for r in ranks if r) / n if n else 0.0
    recall = sum(1 for r in ranks if 0 < r <= 3) / n if n else 0.0
    return {"mrr": round(mrr, 4), "recall_at_3": round(recall, 4), "queries": n}


def write_set(
    es: Elasticsearch, names: IndexNames, articles: Sequence[EnrichedArticle], stories: Sequence[Story]
) -> None:
    """Bulk-write the articles and stories as the index writer would (same documents and versions)."""
    actions: list[dict[str, Any]] = []
    for art in articles:
        head, doc = article_action(names.articles, art)
        actions.append({"_op_type": "index", "_index": names.articles, "_id": head["index"]["_id"], "_source": doc})
    for story in stories:
        head, doc = story_action(names.stories, story)
        meta = head["index"]
        actions.append(
            {
                "_op_type": "index",
                "_index": names.stories,
                "_id": meta["_id"],
                "version": meta["version"],
                "version_type": "external",
                "_source": doc,
            }
        )
    _, errors = helpers.bulk(es, actions, raise_on_error=False, stats_only=False, chunk_size=500)
    if errors:
        raise RuntimeError(f"{len(errors) if isinstance(errors, list) else errors} documents failed: {errors!r:.300}")
    es.indices.refresh(index=list(names.aliases()))


def evaluate_search(
    es: Elasticsearch,
    settings: IndexSettings,
    articles: Sequence[EnrichedArticle],
    stories: Sequence[Story],
    events: Sequence[str],
    labels: Mapping[str, str],
    embed: EmbedFn | None,
    depth: int = 20,
) -> SearchReport:
    """Index the set under a fresh prefix, run the queries, delete the indices; the figures."""
    prefix = f"sweval-{uuid.uuid4().hex[:10]}"
    names = IndexNames(prefix)
    dims = next((len(a.embedding) for a in articles if a.embedding), 0) or 384
    try:
        ensure_indices(es, names, dims)
        write_set(es, names, articles, stories)
        service = SearchService(es, names, settings, embed)
        queries = event_queries(events, labels, [a.story_id for a in articles])
        ranks = []
        rows = []
        for q in queries:
            hits = service.search_stories(StoryQuery(q=q.text, size=depth)).results
            rank = rank_of(q.target, hits)
            ranks.append(rank)
            rows.append({"query": q.text, "kind": q.kind, "event": q.event, "rank": rank})
        return SearchReport(figures(ranks), tuple(rows))
    finally:
        for alias in names.aliases():
            es.indices.delete(index=IndexNames.versioned(alias, 1), ignore_unavailable=True)
