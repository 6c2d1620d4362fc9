"""The writer's pure core: messages to bulk actions, bulk item outcomes, backoff.

No Elasticsearch or Kafka import here; ``writer.py`` is the thin service around it.

Outcome of one bulk item:

    OK       acknowledged (for stories a 409 also counts: a newer version is there)
    RETRY    429 or a 5xx on this item: send it again after a pause
    REJECT   refused for good (400 mapping error, ...): dead-letter it with the error
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from storywire.messages import EnrichedArticle, Story, StorySnapshot

# The message fields each index holds. Named, not "everything": a field added to a message
# later (clusterer state, say) must not turn every document into a strict-mapping error.
ARTICLE_FIELDS = frozenset(
    [
        "id",
        "url",
        "canonical_url",
        "feed_url",
        "source",
        "title",
        "summary",
        "content",
        "authors",
        "tags",
        "language",
        "published",
        "published_from",
        "fetched",
        "warnings",
        "embedding",
        "model",
        "story_id",
        "similarity",
        "story_label",
    ]
)
STORY_FIELDS = frozenset(
    [
        "id",
        "version",
        "label",
        "keywords",
        "size",
        "sources",
        "languages",
        "first_seen",
        "last_seen",
        "updated",
        "centroid",
        "top_articles",
        "status",
        "merged_into",
        "absorbed",
    ]
)


def article_doc(article: EnrichedArticle) -> dict[str, Any]:
    doc = article.model_dump(mode="json", include=set(ARTICLE_FIELDS))
    if not doc["embedding"]:
        del doc["embedding"]  # a dense_vector cannot be empty; the article is still searchable by text
    return doc


def article_json(article: EnrichedArticle) -> bytes:
    """``article_doc`` serialised by pydantic's Rust core: the writer's hot path skips Python's json."""
    exclude = None if article.embedding else {"embedding"}
    return article.model_dump_json(include=set(ARTICLE_FIELDS), exclude=exclude).encode()


def growth(story: Story) -> float:
    """Articles per hour over the story's life so far (at least one hour)."""
    hours = max(1.0, (story.last_seen - story.first_seen).total_seconds() / 3600.0)
    return round(story.size / hours, 4)


def story_doc(story: Story | StorySnapshot) -> dict[str, Any]:
    doc = story.model_dump(mode="json", include=set(STORY_FIELDS))
    doc["titles"] = [a.title for a in story.top_articles]
    doc["source_count"] = len(set(story.sources))
    doc["growth"] = growth(story)
    # From a StorySnapshot: what the clusterer revives a dormant story from (enrich.es_lookup).
    restore = getattr(story, "restore", None)
    doc["clusterer"] = restore.model_dump(mode="json") if restore is not None else {}
    if not doc["centroid"]:
        del doc["centroid"]
    return doc


def article_action(index: str, article: EnrichedArticle) -> tuple[dict[str, Any], dict[str, Any]]:
    """(action line, document) for the bulk API; ``_id`` is the article id, so a replay overwrites."""
    return {"index": {"_index": index, "_id": article.id}}, article_doc(article)


def article_lines(index: str, article: EnrichedArticle) -> tuple[dict[str, Any], bytes]:
    """``article_action`` with the document already serialised (what the writer sends)."""
    return {"index": {"_index": index, "_id": article.id}}, article_json(article)


def story_action(index: str, story: Story | StorySnapshot) -> tuple[dict[str, Any], dict[str, Any]]:
    """An external-version index: Elasticsearch keeps the highest version it has seen."""
    header = {"_index": index, "_id": story.id, "version": story.version, "version_type": "external"}
    return {"index": header}, story_doc(story)


class Outcome(StrEnum):
    OK = "ok"
    STALE = "stale"  # a story snapshot older than (or equal to) the indexed one: fine, nothing to do
    RETRY = "retry"
    REJECT = "reject"


def classify(item: dict[str, Any]) -> tuple[Outcome, str]:
    """Outcome and error text of one entry of a bulk response's ``items``."""
    result = next(iter(item.values()))
    status = int(result.get("status", 0))
    error = result.get("error")
    if 200 <= status < 300 and not error:
        return Outcome.OK, ""
    text = _error_text(error) or f"status {status}"
    if status == 409:
        return Outcome.STALE, text
    if status == 429 or status >= 500 or status == 0:
        return Outcome.RETRY, text
    return Outcome.REJECT, text


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        cause = error.get("caused_by")
        extra = f" (caused by {cause.get('type')}: {cause.get('reason')})" if isinstance(cause, dict) else ""
        return f"{kind}: {reason}{extra}"
    return str(error) if error else ""
