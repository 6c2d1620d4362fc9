"""The writer's pure core: messages to bulk actions, bulk item outcomes, backoff.

No Elasticsearch or Kafka import here; ``writer.py`` is the thin service around it.

Outcome of one bulk item:

    OK       acknowledged (for stories a 409 also counts: a newer version is there)
    RETRY    429 or a 5xx on this item: send it again after a pause
    REJECT   refused for good (400 mapping error, ...): dead-letter it with the error
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from storywire import analysis
from storywire.messages import EnrichedArticle, Story

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
        "published_precision",
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
        "headline",
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


_TAG = re.compile(r"<[^>]{0,200}>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9À-Ý])")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def snippet(text: str, min_chars: int = 160, max_chars: int = 320) -> str:
    """The opening sentences of an article's text, as plain text (tags dropped; the page sets it
    as text anyway): whole sentences until ``min_chars``, cut at a word under ``max_chars``."""
    flat = " ".join(_MD_LINK.sub(r"\1", _TAG.sub(" ", text[: max_chars * 8])).split())
    out = ""
    for sentence in _SENTENCE_END.split(flat):
        out = f"{out} {sentence}".strip()
        if len(out) >= min_chars:
            break
    if len(out) > max_chars:
        cut = out.rfind(" ", 0, max_chars - 1)
        out = out[: cut if cut > max_chars // 2 else max_chars - 1].rstrip(" ,;:") + "…"
    return out


def _article_extra(title: str, summary: str, content: str, language: str | None) -> dict[str, str]:
    # The stems cover the title, the summary and the body's opening, like the embedding.
    body = content[:_STEM_BODY_CHARS] if content else ""
    return {
        "stems": analysis.analyse_all([(title, language), (summary, language), (body, language)]),
        "snippet": snippet(content or summary),
    }


_STEM_BODY_CHARS = 2000


def article_doc(article: EnrichedArticle) -> dict[str, Any]:
    doc = article.model_dump(mode="json", include=set(ARTICLE_FIELDS))
    if not doc["embedding"]:
        del doc["embedding"]  # a dense_vector cannot be empty; the article is still searchable by text
    doc |= _article_extra(article.title, article.summary, article.content, article.language)
    return doc


def article_json(article: EnrichedArticle) -> bytes:
    """``article_doc`` serialised by pydantic's Rust core: the writer's hot path skips Python's json."""
    exclude = None if article.embedding else {"embedding"}
    body = article.model_dump_json(include=set(ARTICLE_FIELDS), exclude=exclude).encode()
    extra = json.dumps(_article_extra(article.title, article.summary, article.content, article.language))
    return body[:-1] + b"," + extra[1:].encode()


def derived_article(source: dict[str, Any]) -> dict[str, Any]:
    """An indexed article with its derived fields computed again (``migrate``)."""
    extra = _article_extra(
        str(source.get("title") or ""),
        str(source.get("summary") or ""),
        str(source.get("content") or ""),
        source.get("language"),
    )
    return {**source, **extra}


def derived_story(source: dict[str, Any]) -> dict[str, Any]:
    """An indexed story with its derived fields computed again (``migrate``)."""
    tops = source.get("top_articles") or []
    return {
        **source,
        "stems": _story_stems(
            str(source.get("label") or ""),
            str(source.get("headline") or ""),
            source.get("keywords") or [],
            [(str(a.get("title") or ""), a.get("language")) for a in tops if isinstance(a, dict)],
        ),
    }


def _story_stems(label: str, headline: str, keywords: list[str], titles: list[tuple[str, str | None]]) -> str:
    return analysis.analyse_all([(label, None), (headline, None), (" ".join(keywords), None), *titles])


def growth(story: Story) -> float:
    """Articles per hour over the story's life so far (at least one hour)."""
    hours = max(1.0, (story.last_seen - story.first_seen).total_seconds() / 3600.0)
    return round(story.size / hours, 4)


def story_doc(story: Story) -> dict[str, Any]:
    doc = story.model_dump(mode="json", include=set(STORY_FIELDS))
    doc["titles"] = [a.title for a in story.top_articles]
    doc["stems"] = _story_stems(
        story.label, story.headline, list(story.keywords), [(a.title, a.language) for a in story.top_articles]
    )
    doc["source_count"] = len(set(story.sources))
    doc["growth"] = growth(story)
    if not doc["centroid"]:
        del doc["centroid"]
    return doc


def article_action(index: str, article: EnrichedArticle) -> tuple[dict[str, Any], dict[str, Any]]:
    """(action line, document) for the bulk API; ``_id`` is the article id, so a replay overwrites."""
    return {"index": {"_index": index, "_id": article.id}}, article_doc(article)


def article_lines(index: str, article: EnrichedArticle) -> tuple[dict[str, Any], bytes]:
    """``article_action`` with the document already serialised (what the writer sends)."""
    return {"index": {"_index": index, "_id": article.id}}, article_json(article)


def story_action(index: str, story: Story) -> tuple[dict[str, Any], dict[str, Any]]:
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
