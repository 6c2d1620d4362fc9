"""The adapter: canonical URLs, ids, clean text, dates, and only AdapterError on any input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.adapter import FeedContext, adapt_entry, article_id, canonical_url, normalise_language
from ingest.errors import AdapterError
from ingest.text import html_to_text, plain
from storywire.messages import PublishedFrom

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CTX = FeedContext(
    feed_url="https://news.example/feed.xml", base_url="https://news.example/feed.xml", source="news.example"
)


def ts(*fields: int) -> time.struct_time:
    return time.struct_time((*fields, 0, 0, 0, 0, 0, 0)[:9])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://News.Example/a?utm_source=x&id=3&fbclid=y#top", "https://news.example/a?id=3"),
        ("HTTP://news.example:80/a", "http://news.example/a"),
        ("https://news.example:443", "https://news.example/"),
        ("https://news.example:8443/a?gclid=1&UTM_MEDIUM=z", "https://news.example:8443/a"),
        ("https://user:pw@news.example./a?b=2&a=1", "https://news.example/a?b=2&a=1"),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
        ("javascript:alert(1)", None),
        ("ftp://news.example/a", None),
        ("/relative/path", None),
        ("https://[broken/x", None),
        ("", None),
    ],
)
def test_canonical_url(url: str, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_id_prefers_canonical_url_then_guid_then_text() -> None:
    by_url = article_id("https://a.example/1", "g", "f", "t", "c")
    assert by_url == article_id("https://a.example/1", "other", "f2", "x", "y")
    assert len(by_url) == 32
    by_guid = article_id(None, "g", "f", "t", "c")
    assert by_guid == article_id(None, "g", "f", "x", "y") != article_id(None, "g", "f2", "t", "c")
    assert article_id(None, "", "f", "t", "c") == article_id(None, "", "f2", "t", "c")


def test_same_url_with_tracking_params_is_the_same_article() -> None:
    a = adapt_entry({"title": "x", "link": "https://a.example/s?utm_source=rss"}, CTX, FETCHED)
    b = adapt_entry({"title": "y", "link": "https://A.example/s#comments"}, CTX, FETCHED)
    assert a.id == b.id and a.canonical_url == "https://a.example/s"


def test_html_to_text_drops_scripts_styles_and_decodes_entities() -> None:
    html = (
        "<style>p{color:red}</style><p onclick='x()'>Caf&eacute; &amp; bar</p>"
        "<script>alert('x')</script><ul><li>one</li><li>two</li></ul>"
    )
    assert html_to_text(html) == "Café & bar\none\ntwo"


def test_double_escaped_markup_is_stripped_too() -> None:
    assert html_to_text("a &lt;script&gt;alert(1)&lt;/script&gt; b &lt;b&gt;c&lt;/b&gt;") == "a b c"
    assert "javascript" not in plain("click javascript:alert(1) now").lower()
    assert plain("javajavascript:script:x") == "x"


def test_entry_fields() -> None:
    entry: dict[str, Any] = {
        "title": "Drones &amp; the Kremlin",
        "title_detail": {"type": "text/html", "language": "en-GB"},
        "link": "/2024/05/drones?utm_campaign=rss",
        "id": "tag:news.example,2024:1",
        "summary": "<p>Two drones <b>shot down</b>.</p>",
        "content": [{"type": "text/html", "value": "<p>Full text.</p><script>bad()</script>"}],
        "authors": [{"name": "Ann Lee"}, {"name": "Ann Lee"}, {"email": "x@y"}],
        "tags": [{"term": "World"}, {"term": None}],
        "published": "Wed, 01 May 2024 09:00:00 +0200",
        "published_parsed": ts(2024, 5, 1, 7, 0, 0),
    }
    ctx = FeedContext(**(CTX.__dict__ | {"tags": ("news",)}))
    a = adapt_entry(entry, ctx, FETCHED)
    assert a.title == "Drones & the Kremlin"
    assert a.url == "https://news.example/2024/05/drones?utm_campaign=rss"
    assert a.canonical_url == "https://news.example/2024/05/drones"
    assert a.summary == "Two drones shot down." and a.content == "Full text."
    assert a.authors == ("Ann Lee",) and a.tags == ("news", "World")
    assert a.language == "en-gb"
    assert a.published == datetime(2024, 5, 1, 7, tzinfo=UTC) and a.published_from is PublishedFrom.ENTRY
    assert a.warnings == ()


def test_missing_date_falls_back_to_feed_then_fetch_and_says_so() -> None:
    feed_date = datetime(2024, 4, 30, tzinfo=UTC)
    with_feed = FeedContext(**(CTX.__dict__ | {"published": feed_date}))
    a = adapt_entry({"title": "t", "link": "https://a.example/1"}, with_feed, FETCHED)
    assert (a.published, a.published_from) == (feed_date, PublishedFrom.FEED)
    b = adapt_entry({"title": "t", "link": "https://a.example/1"}, CTX, FETCHED)
    assert (b.published, b.published_from) == (FETCHED, PublishedFrom.FETCH)


@pytest.mark.parametrize("fields", [(2099, 1, 1, 0, 0, 0), (1970, 1, 1, 0, 0, 0), (1899, 12, 31, 0, 0, 0)])
def test_absurd_dates_are_recorded_not_used(fields: tuple[int, ...]) -> None:
    a = adapt_entry(
        {"title": "t", "link": "https://a.example/1", "published": "x", "published_parsed": ts(*fields)}, CTX, FETCHED
    )
    assert a.published_from is PublishedFrom.FETCH
    assert any("absurd" in w for w in a.warnings)


def test_unparseable_date_is_recorded() -> None:
    a = adapt_entry({"title": "t", "link": "https://a.example/1", "published": "yesterday-ish"}, CTX, FETCHED)
    assert a.published_from is PublishedFrom.FETCH and any("unparseable" in w for w in a.warnings)


def test_link_falls_back_to_enclosure_and_refuses_javascript() -> None:
    podcast = {"title": "Ep 1", "links": [{"rel": "enclosure", "href": "ep1.mp3"}]}
    assert adapt_entry(podcast, CTX, FETCHED).url == "https://news.example/ep1.mp3"
    evil = adapt_entry({"title": "t", "id": "g1", "link": "javascript:alert(1)"}, CTX, FETCHED)
    assert evil.url.startswith("https://news.example/") and "link refused" in " ".join(evil.warnings)


def test_empty_entry_is_an_adapter_error() -> None:
    with pytest.raises(AdapterError):
        adapt_entry({"author": "someone"}, CTX, FETCHED)
    with pytest.raises(AdapterError):
        adapt_entry(["not", "a", "dict"], CTX, FETCHED)


@pytest.mark.parametrize(("raw", "lang"), [("en-US", "en-us"), ("fr_CA", "fr-ca"), ("english", None), (3, None)])
def test_language(raw: object, lang: str | None) -> None:
    assert normalise_language(raw) == lang


_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), st.binary(max_size=10))
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.sampled_from(["href", "rel", "name", "term", "type", "value", "language"]), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "title",
        "title_detail",
        "link",
        "links",
        "id",
        "guidislink",
        "summary",
        "summary_detail",
        "content",
        "authors",
        "author",
        "tags",
        "enclosures",
        "published",
        "published_parsed",
        "updated_parsed",
        "created_parsed",
        "language",
    ]
)
_struct = st.tuples(*[st.integers(-10, 10_000)] * 9)


@settings(max_examples=400, deadline=None)
@given(entry=st.dictionaries(st.one_of(_keys, st.text(max_size=8)), st.one_of(_value, _struct), max_size=10))
def test_adapter_raises_only_adapter_error(entry: dict[str, Any]) -> None:
    try:
        article = adapt_entry(entry, CTX, FETCHED)
    except AdapterError:
        return
    assert article.id and article.url.startswith("http")


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(
            [
                "<script>",
                "</script>",
                "<SCRIPT src=x>",
                "&lt;script&gt;",
                "&amp;lt;script&amp;gt;",
                "javascript:",
                "java",
                "script:",
                "<a href='",
                "' onclick='x()'>",
                "<p>",
                "&#60;",
                "&#x3C;",
                "<",
                ">",
                "&",
                "text ",
                "\n",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_no_script_or_javascript_survives_text_cleaning(text: str) -> None:
    for out in (html_to_text(text), plain(text)):
        assert "<script" not in out.lower() and "javascript:" not in out.lower()
