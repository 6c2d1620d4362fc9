"""Stories and articles the browser tests index: relative to now, so the "Now" view has them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from devtools.samples import enriched, story
from storywire.messages import EnrichedArticle, Story, StoryArticle, StoryStatus

NOW = datetime.now(UTC).replace(microsecond=0)


def _unit(*xs: float) -> tuple[float, ...]:
    n = math.sqrt(sum(x * x for x in xs))
    return tuple(x / n for x in xs)


# id -> label, keywords, centroid, [(minutes ago, source, language, title)]
STORIES: dict[str, tuple[str, tuple[str, ...], tuple[float, ...], list[tuple[int, str, str, str]]]] = {
    "s1": (
        "Kremlin drone attack",
        ("kremlin", "drone", "moscow"),
        _unit(1, 0, 0, 0),
        [
            (290, "reuters.example", "en", "Drones hit the Kremlin overnight, Moscow says"),
            (250, "tass.example", "ru", "Kremlin reports two drones downed over Senate Palace"),
            (170, "bbc.example", "en", "What we know about the Kremlin drone incident"),
            (120, "reuters.example", "en", "Kremlin calls drone attack an assassination attempt"),
            (60, "lemonde.example", "fr", "Attaque de drones sur le Kremlin : ce que l'on sait"),
            (12, "bbc.example", "en", "Video appears to show drone exploding above Kremlin dome"),
        ],
    ),
    "s2": (
        "Drone strike on Moscow oil refinery",
        ("refinery", "drone", "moscow"),
        _unit(0.9, 0.3, 0, 0),
        [
            (200, "reuters.example", "en", "Fire at Moscow refinery after drone strike"),
            (95, "tass.example", "ru", "Refinery fire extinguished, ministry says"),
        ],
    ),
    "s3": (
        "Central bank raises interest rates",
        ("bank", "rates", "inflation"),
        _unit(0, 1, 0, 0),
        [
            (1500, "ft.example", "en", "Central bank lifts rates to fight inflation"),
            (1400, "bbc.example", "en", "Mortgage costs climb after rate rise"),
            (1300, "reuters.example", "en", "Markets shrug off the hike"),
        ],
    ),
    "s4": (
        "Floods in northern Italy",
        ("floods", "italy"),
        _unit(0, 0, 1, 0),
        [
            (3000, "ansa.example", "it", "Alluvione in Emilia-Romagna, nove vittime"),
            (2900, "bbc.example", "en", "Rivers burst their banks in northern Italy"),
        ],
    ),
    "m1": (
        "Debris found near Red Square",
        ("debris", "square"),
        _unit(1, 0.05, 0, 0),
        [(230, "meduza.example", "ru", "Drone debris found near Red Square")],
    ),
}


# A story to build: label, keywords, centroid, and its articles (minutes ago, source, language, title).
StorySpec = tuple[str, tuple[str, ...], tuple[float, ...], list[tuple[int, str, str, str]]]


def build(
    stories: dict[str, StorySpec],
    start: int = 1,
    now: datetime = NOW,
    **story_kw: object,
) -> tuple[list[EnrichedArticle], list[Story]]:
    """Messages as the enrich stage would write them; ``m1`` is merged into ``s1``."""
    articles: list[EnrichedArticle] = []
    snapshots: list[Story] = []
    n = start
    for sid, (label, keywords, centroid, members) in stories.items():
        tops = []
        for minutes, source, lang, title in members:
            t = now - timedelta(minutes=minutes)
            a = enriched(
                n,
                story_id=sid,
                title=title,
                summary="",
                source=source,
                language=lang,
                url=f"https://{source}/news/{n}",
                canonical_url=f"https://{source}/news/{n}",
                published=t,
                fetched=t,
                story_label=label,
            )
            articles.append(a)
            tops.append(StoryArticle(id=a.id, title=title, url=a.url, source=source, published=t))
            n += 1
        merged = sid == "m1"
        kw: dict[str, object] = {
            "label": label,
            "keywords": keywords,
            "size": len(members) + (1 if sid == "s1" and "m1" in stories else 0),
            "sources": tuple(dict.fromkeys(m[1] for m in members)),
            "languages": tuple(dict.fromkeys(m[2] for m in members)),
            "first_seen": tops[0].published,
            "last_seen": tops[-1].published,
            "updated": tops[-1].published,
            "centroid": centroid,
            "top_articles": tuple(reversed(tops[-3:])),
            "status": StoryStatus.MERGED if merged else StoryStatus.ACTIVE,
            "merged_into": "s1" if merged else None,
            "absorbed": ("m1",) if sid == "s1" and "m1" in stories else (),
        }
        kw.update(story_kw)
        snapshots.append(story(sid, 1, **kw))
    return articles, snapshots
