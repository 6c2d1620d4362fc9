"""The bundled demo news file: enough outlets, articles and stories, shaped for the demo."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from devtools.demo import DemoArticle, DemoDataError, load_demo_articles, load_demo_outlets
from devtools.demo.corpus import parse_demo_data

ARTICLES = load_demo_articles()
OUTLETS = load_demo_outlets()


def _stories() -> dict[str, list[DemoArticle]]:
    stories: dict[str, list[DemoArticle]] = defaultdict(list)
    for article in ARTICLES:
        stories[article.story].append(article)
    return stories


STORIES = _stories()
MULTI = {key: members for key, members in STORIES.items() if len(members) > 1}
SINGLE = {key: members for key, members in STORIES.items() if len(members) == 1}

# Sentence ends: ., ! or ? (optionally before a closing quote) then a capital; "2 a.m. and" is not one.
_SENTENCE_END = re.compile(r"""(?<=[.!?])["”]?\s+(?=["“]?[A-ZÁÉÍÓÚÄÖÜ])""")


def test_counts_of_articles_outlets_and_stories() -> None:
    assert len(ARTICLES) >= 48
    assert len(OUTLETS) >= 9
    assert len({o.name for o in OUTLETS}) == len(OUTLETS)
    assert all(o.host.endswith(".example") for o in OUTLETS)
    assert {a.outlet for a in ARTICLES} == set(OUTLETS)  # every outlet publishes something
    assert len(MULTI) >= 9
    assert 3 <= len(SINGLE) <= 4
    assert {o.format for o in OUTLETS} == {"rss", "atom", "json"}


def test_each_story_is_reported_by_3_to_8_outlets_in_their_own_words() -> None:
    for key, members in MULTI.items():
        outlets = [a.outlet.host for a in members]
        assert 3 <= len(members) <= 8, key
        assert len(set(outlets)) == len(outlets), f"{key}: one article per outlet"
        assert len({a.title for a in members}) == len(members), key
        leads = [_SENTENCE_END.split(a.summary)[0] for a in members]
        assert len(set(leads)) == len(leads), f"{key}: every outlet writes its own lead"


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.slug)
def test_summaries_are_2_to_4_sentences_of_40_to_90_words(article: DemoArticle) -> None:
    words = len(article.summary.split())
    sentences = len(_SENTENCE_END.split(article.summary))
    assert 40 <= words <= 90, words
    assert 2 <= sentences <= 4, sentences
    assert re.search(r"\d", article.summary), "rich in numbers"
    assert article.title == article.title.strip()


def test_some_articles_are_not_in_english() -> None:
    languages = {a.outlet.language for a in ARTICLES}
    assert "en" in languages
    assert len(languages) >= 2
    # A non-English article reports a story that English outlets also report.
    for article in ARTICLES:
        if article.outlet.language != "en":
            assert any(o.outlet.language == "en" for o in STORIES[article.story])


def _numbers(members: list[DemoArticle]) -> set[str]:
    return {n for a in members for n in re.findall(r"\d[\d,.]*\d|\d", a.summary + " " + a.title)}


def test_two_stories_share_a_topic_but_are_different_events() -> None:
    calder, bremly = STORIES["fire-port-calder"], STORIES["fire-bremly-docks"]
    for members in (calder, bremly):
        assert len(members) >= 3
        for article in members:
            text = (article.title + " " + article.summary).lower()
            assert "warehouse" in text or "blaze" in text or "fire" in text
            assert "fire" in text or "blaze" in text
    # Different names and places ...
    calder_text = " ".join(a.title + " " + a.summary for a in calder)
    bremly_text = " ".join(a.title + " " + a.summary for a in bremly)
    for name in ("Port Calder", "Ostrand", "Quay Road", "Whitcombe", "Lowmarsh"):
        assert name in calder_text and name not in bremly_text
    for name in ("Bremly", "Kestrel Freight", "Pier 9", "Saltgate", "Reyna"):
        assert name in bremly_text and name not in calder_text
    # ... different numbers ...
    assert not _numbers(calder) & _numbers(bremly)
    # ... and about three weeks apart.
    gap_hours = min(a.published_hours_ago for a in calder) - max(a.published_hours_ago for a in bremly)
    assert 14 * 24 <= gap_hours <= 28 * 24
    assert all(a.release_after_s == 0 for a in calder + bremly)


def test_one_story_breaks_during_the_demo() -> None:
    growing = [
        members
        for members in MULTI.values()
        if sum(a.release_after_s == 0 for a in members) == 1 and len({a.outlet for a in members}) >= 4
    ]
    growing = [m for m in growing if sum(a.release_after_s > 0 for a in m) >= 3]
    assert len(growing) == 1
    (members,) = growing
    releases = sorted(a.release_after_s for a in members)
    assert releases[0] == 0
    assert 15 <= releases[1] <= 30  # the second outlet arrives after about 20 s
    assert 60 <= releases[-1] <= 120  # the story keeps growing for a minute or more
    # By the time three articles are out, they come from three different outlets: a breaking alert.
    first_three = sorted(members, key=lambda a: a.release_after_s)[:3]
    assert len({a.outlet for a in first_three}) == 3
    # Articles that arrive during the demo are published when they arrive.
    assert all(a.published_hours_ago == 0 for a in members)


def test_published_times_are_relative_and_plausible() -> None:
    started = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for key, members in STORIES.items():
        for article in members:
            published = article.published_at(started)
            if article.release_after_s > 0:
                assert article.published_hours_ago == 0
                assert published == article.released_at(started) > started
            elif key != "fire-port-calder":
                assert article.published_hours_ago <= 72, article.slug
            assert published.tzinfo is not None
    # Every older multi-article story except the breaking one lies 2 to 72 hours back.
    for key, members in MULTI.items():
        if key == "fire-port-calder" or any(a.release_after_s > 0 for a in members):
            continue
        assert all(2 <= a.published_hours_ago <= 72 for a in members), key


def test_article_paths_are_unique_and_clean() -> None:
    paths = [a.path for a in ARTICLES]
    assert len(set(paths)) == len(paths)
    assert all(re.fullmatch(r"/[a-z0-9.-]+/articles/[a-z0-9-]+\.html", p) for p in paths)


_VALID = """
outlets:
  - {name: A Paper, host: apaper.example, format: rss, language: en}
articles:
  - {outlet: apaper.example, story: s, title: T, summary: S, slug: one, published_hours_ago: 1, release_after_s: 0}
"""


def test_parse_accepts_a_minimal_file() -> None:
    outlets, articles = parse_demo_data(_VALID)
    assert outlets[0].feed_path == "/apaper.example/feed.xml"
    assert articles[0].outlet is outlets[0]
    assert articles[0].published_hours_ago == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("outlet: apaper.example", "outlet: other.example"), "unknown outlet"),
        (("format: rss", "format: rdf"), "format"),
        (("slug: one", "slug: One Two"), "slug"),
        (("title: T, ", ""), "missing field 'title'"),
        (("published_hours_ago: 1", "published_hours_ago: -1"), "negative"),
        (("release_after_s: 0", "release_after_s: soon"), "must be float"),
        (("host: apaper.example", "host: apaper.com"), ".example"),
        (("articles:", "articles: 3\nx:"), "mapping with"),
    ],
)
def test_parse_names_the_problem(change: tuple[str, str], message: str) -> None:
    with pytest.raises(DemoDataError, match=re.escape(message)):
        parse_demo_data(_VALID.replace(*change))


def test_parse_refuses_duplicate_slugs_and_bad_yaml() -> None:
    doubled = _VALID + _VALID.split("articles:\n", 1)[1]
    with pytest.raises(DemoDataError, match="duplicate slug"):
        parse_demo_data(doubled)
    with pytest.raises(DemoDataError, match="not valid YAML"):
        parse_demo_data("outlets: [")
