"""Small builders of valid messages for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storywire.bus import make_consumer, poll_records
from storywire.config import KafkaSettings
from storywire.messages import Article, EmbeddedArticle, EnrichedArticle, PublishedFrom, Story, StoryArticle

T0 = datetime(2023, 5, 3, 9, 0, tzinfo=UTC)


def article(n: int = 1, **kw: object) -> Article:
    fields: dict[str, object] = {
        "id": f"a{n:04d}",
        "url": f"https://news.example/{n}?utm_source=x",
        "canonical_url": f"https://news.example/{n}",
        "feed_url": "https://news.example/feed.xml",
        "source": "news.example",
        "title": f"Drones hit the Kremlin, report {n}",
        "summary": "Two drones were shot down over the Kremlin overnight.",
        "published": T0,
        "published_from": PublishedFrom.ENTRY,
        "fetched": T0,
    }
    fields.update(kw)
    return Article.model_validate(fields)


def oversized_article(size: int = 1_041_999, n: int = 9999) -> Article:
    """Issue #14's article: a 270 kB link and 100,000 emoji, its JSON exactly ``size`` bytes."""
    link = "https://news.example/" + "a" * 270_000
    emoji = "\U0001f600" * 100_000
    first = article(n, url=link, canonical_url=link, content=emoji)
    pad = size - len(first.to_json())
    if pad < 0:
        raise ValueError(f"an article with that link and text takes {len(first.to_json())} bytes")
    return article(n, url=link, canonical_url=link, content=emoji + "x" * pad)


def embedded(n: int = 1, dims: int = 4, **kw: object) -> EmbeddedArticle:
    base = article(n).model_dump()
    base.update({"embedding": tuple([1.0] + [0.0] * (dims - 1)), "model": "test-model"})
    base.update(kw)
    return EmbeddedArticle.model_validate(base)


def enriched(n: int = 1, story_id: str = "s1", **kw: object) -> EnrichedArticle:
    base = embedded(n).model_dump()
    base.update({"story_id": story_id, "similarity": 0.9, "story_label": "Kremlin drone attack"})
    base.update(kw)
    return EnrichedArticle.model_validate(base)


def story(sid: str = "s1", version: int = 1, **kw: object) -> Story:
    fields: dict[str, object] = {
        "id": sid,
        "version": version,
        "label": "Kremlin drone attack",
        "keywords": ("kremlin", "drone"),
        "size": 2,
        "sources": ("a.example", "b.example"),
        "languages": ("en",),
        "first_seen": T0,
        "last_seen": T0,
        "centroid": (1.0, 0.0, 0.0, 0.0),
        "top_articles": (
            StoryArticle(
                id="a0001", title="Drones hit the Kremlin", url="https://a.example/1", source="a.example", published=T0
            ),
        ),
        "updated": T0,
    }
    fields.update(kw)
    return Story.model_validate(fields)


def read_topic(settings: KafkaSettings, topic: str, want: int, polls: int = 60) -> list[Any]:
    """Read ``topic`` from the start (no group) until ``want`` records arrived or ``polls`` polls passed."""
    consumer = make_consumer(settings, None, [topic])
    got: list[Any] = []
    for _ in range(polls):
        got += poll_records(consumer, timeout_ms=500)
        if len(got) >= want:
            break
    consumer.close()
    return got
