"""Real events through the real embedder and the real core (the model loads once here).

Our own invented reports (tests/fixtures/enrich) and the two seed reports of the
Kremlin drone incident in ../shared/seeds, written very differently, which must end in
one story.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enrich.cluster import Clusterer
from enrich.embed_worker import embed_articles
from enrich.eval import concurrent, load_dataset
from enrich.lookup import MemoryLookup
from enrich.orders import ORDERS, arrival, seeds_of
from storywire.config import ModelSettings
from storywire.embedder import Embedder, load_embedder
from storywire.messages import Article, PublishedFrom

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "enrich"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(ModelSettings())


def seed_article(path: Path, published: datetime) -> Article:
    """A seed report as an Article: its heading, else its first sentence, is the title."""
    text = path.read_text(encoding="utf-8")
    heading = re.search(r"^#+\s*(.+)$", text, re.MULTILINE)
    if heading:
        title, body = heading.group(1).strip(), text.replace(heading.group(0), "", 1)
    else:
        title, body = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0], text
    return Article(
        id=path.stem,
        url=f"https://seed.example/{path.stem}",
        canonical_url=f"https://seed.example/{path.stem}",
        feed_url="https://seed.example/feed",
        source=path.stem,
        title=title,
        content=body,
        published=published,
        published_from=PublishedFrom.ENTRY,
        fetched=published,
    )


def test_the_two_seed_reports_of_the_kremlin_drone_incident_are_one_story(shared_dir: Path, embedder: Embedder) -> None:
    seeds = sorted((shared_dir / "seeds").glob("*.txt"))
    if len(seeds) < 2:
        pytest.skip("../shared/seeds is not present")
    reports = [seed_article(p, datetime(2023, 5, 3 + i, 12, tzinfo=UTC)) for i, p in enumerate(seeds[:2])]
    others = [it.article for it in load_dataset(FIXTURES / "events.jsonl") if not it.event.startswith("kremlin")]
    stream = embed_articles(sorted([*reports, *others], key=lambda a: a.published), embedder, 500)
    for order in ORDERS:  # every arrival order a live pipeline meets, each seed the eval replays
        for seed in seeds_of(order):
            core = Clusterer(None, MemoryLookup())
            got = {a.article_id: a for a in core.assign_batch(arrival(stream, order, seed))}
            kremlin = core.resolve(got[reports[0].id].story_id)
            assert core.resolve(got[reports[1].id].story_id) == kremlin, (order, seed)
            assert all(core.resolve(got[o.id].story_id) != kremlin for o in others), (order, seed)


def test_one_event_in_different_words_joins_and_a_same_topic_event_stays_apart(
    embedder: Embedder,
) -> None:
    items = load_dataset(FIXTURES / "events.jsonl")
    stream = embed_articles([it.article for it in items], embedder, 500)
    assert len(stream[0].embedding) == embedder.dim  # the size comes from the model
    for articles in (stream, concurrent(stream)):  # weeks apart, and all on one day
        core = Clusterer()
        got = core.assign_batch(articles)
        story_of = {it.article.id: g.story_id for it, g in zip(items, got, strict=True)}
        assert story_of["f1"] == story_of["f2"]  # Kremlin drone incident, two outlets
        assert story_of["f3"] == story_of["f4"]  # drones on Moscow's districts, four weeks later
        assert story_of["f1"] != story_of["f3"]
        assert len(set(story_of.values())) == 3
        label = got[1].label  # the Kremlin story's label once both reports are in
        assert "kremlin" in label.lower()
        assert len(label.split()) <= 6
