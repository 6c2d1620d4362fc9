"""Hybrid story and article search over the real Elasticsearch with the real embedding model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from devtools.samples import T0, enriched, story
from index.client import IndexNames, make_client
from index.mappings import migrate
from index.settings import IndexSettings
from search.query import ArticleQuery, SortBy, StoryQuery
from search.service import SearchService
from storywire.config import ElasticsearchSettings, ModelSettings
from storywire.embedder import Embedder, load_embedder
from storywire.messages import EnrichedArticle, Story, StoryArticle, StoryStatus
from tests.integration.test_index_helpers import count, load

pytestmark = pytest.mark.integration

# story id -> (label, keywords, article titles); the first two titles go into top_articles.
STORIES = {
    "s1": (
        "Kremlin drone attack",
        ("kremlin", "drone"),
        [
            "Drones hit the Kremlin overnight",
            "Kremlin says drones were downed",
            "Sobyanin reports debris near Red Square",
        ],
    ),
    "s2": (
        "Central bank raises interest rates",
        ("bank", "rates"),
        [
            "Central bank lifts rates to fight inflation",
            "Mortgage costs climb after rate rise",
            "Markets shrug off hike",
        ],
    ),
    "s3": (
        "Floods in northern Italy",
        ("floods", "italy"),
        ["Emilia-Romagna floods kill nine", "Rivers burst their banks in Italy", "Grand Prix cancelled by flooding"],
    ),
}
PARAPHRASE = "unmanned aircraft assault Moscow citadel"  # no word in common with s1's texts


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(ModelSettings())


def _corpus(embedder: Embedder) -> tuple[list[EnrichedArticle], list[Story]]:
    articles, stories = [], []
    n = 0
    for sid, (label, keywords, titles) in STORIES.items():
        vectors = embedder.encode(titles)
        members = []
        for i, (title, vec) in enumerate(zip(titles, vectors, strict=True)):
            n += 1
            t = T0 + timedelta(hours=i, days=int(sid[1:]))
            a = enriched(
                n, story_id=sid, title=title, summary="", source=f"{sid}-{i}.example", published=t, story_label=label
            )
            a = a.model_copy(update={"embedding": tuple(float(x) for x in vec)})
            articles.append(a)
            members.append(StoryArticle(id=a.id, title=title, url=a.url, source=a.source, published=t))
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid)
        stories.append(
            story(
                sid,
                1,
                label=label,
                keywords=keywords,
                size=len(titles),
                sources=tuple(m.source for m in members),
                languages=("en",),
                first_seen=members[0].published,
                last_seen=members[-1].published,
                centroid=tuple(float(x) for x in centroid),
                top_articles=tuple(members[:2]),
            )
        )
    return articles, stories


@pytest.fixture
def service(es_settings: ElasticsearchSettings, embedder: Embedder) -> Iterator[tuple[SearchService, SearchService]]:
    articles, stories = _corpus(embedder)
    load(es_settings, articles, stories, embedder.dim)
    es = make_client(es_settings)
    names = IndexNames(es_settings.index_prefix)

    def embed(text: str) -> Sequence[float]:
        row: list[float] = embedder.encode([text])[0].tolist()
        return row

    yield SearchService(es, names, IndexSettings(), embed), SearchService(es, names, IndexSettings())
    es.close()


def _ids(page: Any) -> list[str]:
    return [h.id for h in page.results]


def test_a_word_only_in_member_titles_finds_the_story(service: tuple[SearchService, SearchService]) -> None:
    hybrid, _ = service
    assert _ids(hybrid.search_stories(StoryQuery(q="sobyanin")))[0] == "s1"  # only in a non-top article title
    assert _ids(hybrid.search_stories(StoryQuery(q="overnight")))[0] == "s1"  # only in a top article title


def test_a_paraphrase_with_no_shared_word_finds_the_story(service: tuple[SearchService, SearchService]) -> None:
    hybrid, text_only = service
    words = {w.lower() for label, kws, titles in [STORIES["s1"]] for w in " ".join([label, *kws, *titles]).split()}
    assert not words & set(PARAPHRASE.lower().split())
    assert "s1" not in _ids(text_only.search_stories(StoryQuery(q=PARAPHRASE)))
    assert _ids(hybrid.search_stories(StoryQuery(q=PARAPHRASE)))[0] == "s1"
    assert _ids(hybrid.search_stories(StoryQuery(q="monetary policy tightening")))[0] == "s2"


def test_filters_sort_and_pages(service: tuple[SearchService, SearchService]) -> None:
    hybrid, _ = service
    everything = hybrid.search_stories(StoryQuery(sort=SortBy.RECENCY))
    assert (_ids(everything), everything.total) == (["s3", "s2", "s1"], 3)
    assert _ids(hybrid.search_stories(StoryQuery(size=1, page=2, sort=SortBy.RECENCY))) == ["s2"]
    assert _ids(hybrid.search_stories(StoryQuery(sources=("s2-1.example",)))) == ["s2"]
    assert _ids(hybrid.search_stories(StoryQuery(q="floods", languages=("de",)))) == []
    assert _ids(hybrid.search_stories(StoryQuery(q="floods", min_size=4))) == []
    assert _ids(hybrid.search_stories(StoryQuery(status=StoryStatus.MERGED))) == []
    window = StoryQuery(start=T0 + timedelta(days=2), end=T0 + timedelta(days=2, hours=1))
    assert _ids(hybrid.search_stories(window)) == ["s2"]
    hit = hybrid.search_stories(StoryQuery(q="kremlin drone")).results[0]
    assert (hit.id, hit.size, hit.source_count, hit.languages) == ("s1", 3, 3, ("en",))
    assert [a.title for a in hit.top_articles] == list(STORIES["s1"][2][:2])


def test_query_syntax_is_just_text(service: tuple[SearchService, SearchService]) -> None:
    hybrid, text_only = service
    for q in ['kremlin" AND (title:*', "kremlin OR *:*", "{kremlin}", "kremlin\\", "/kremlin/ [0 TO *]"]:
        assert _ids(text_only.search_stories(StoryQuery(q=q)))[0] == "s1"
        assert _ids(hybrid.search_articles(ArticleQuery(q=q)))[0] in {"a0001", "a0002"}


def test_article_search_with_story_filter(service: tuple[SearchService, SearchService]) -> None:
    hybrid, _ = service
    page = hybrid.search_articles(ArticleQuery(q="rivers flooding", story="s3"))
    assert {a.story_id for a in page.results} == {"s3"}
    assert _ids(page)[0] in {"a0008", "a0009"}
    assert _ids(hybrid.search_articles(ArticleQuery(story="s2", sort=SortBy.RECENCY))) == ["a0006", "a0005", "a0004"]
    assert _ids(hybrid.search_articles(ArticleQuery(q=PARAPHRASE)))[0] in {"a0001", "a0002", "a0003"}


def test_migrate_swaps_the_alias_and_keeps_versions(
    es_settings: ElasticsearchSettings, service: tuple[SearchService, SearchService]
) -> None:
    es = make_client(es_settings)
    names = IndexNames(es_settings.index_prefix)
    es.index(index=names.stories, id="s1", document={"id": "s1"}, version=7, version_type="external")
    done = migrate(es, names, delete_old=True)
    assert [(m.old.rsplit("-", 1)[1], m.new.rsplit("-", 1)[1]) for m in done] == [("v1", "v2"), ("v1", "v2")]
    assert list(es.indices.get_alias(name=names.stories).body) == [f"{names.stories}-v2"]
    assert count(es, names.articles) == 9
    assert es.get(index=names.stories, id="s1")["_version"] == 7
    es.close()
