"""The adapter: canonical URLs, ids, clean text, dates, and only AdapterError on any input."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.adapter import FeedContext, adapt_entry, article_id, canonical_url, normalise_language
from ingest.errors import AdapterError
from ingest.text import MAX_URL_CHARS, html_to_text, looks_like_markup, plain
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
    assert html_to_text("line&lt;br/&gt;next") == "line\nnext"
    assert plain("a &lt;b&gt;bold&lt;/b&gt; word") == "a bold word"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Why javascript: frameworks keep changing", "Why javascript: frameworks keep changing"),
        ("vbscript: the 1996 language, explained", "vbscript: the 1996 language, explained"),
        ("javajavascript:script:x", "javajavascript:script:x"),
        ("The <script> tag, explained", "The <script> tag, explained"),
        ("a < b and c > d", "a < b and c > d"),
        ("AT&amp;T and &lt;svg&gt; icons", "AT&T and <svg> icons"),
        ("<p>Hello", "<p>Hello"),  # a text field: one lone tag is a word, not markup
    ],
)
def test_plain_keeps_every_word(text: str, expected: str) -> None:
    assert plain(text) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>x &lt;script&gt; tag explained</p>", "x <script> tag explained"),
        ("<p>Why javascript: frameworks keep changing</p>", "Why javascript: frameworks keep changing"),
        ("<p>use &lt;iframe&gt; and &lt;svg&gt; with care</p>", "use <iframe> and <svg> with care"),
    ],
)
def test_html_to_text_keeps_words_about_markup(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # html.parser reports the rest of the text as the svg's children: given back at the end.
        ("<p>Intro <svg><path d='M0'/>", "Intro"),
        (
            "<p>Intro</p><svg width=10><p>The rest of the story.</p><p>And more.</p>",
            "Intro\nThe rest of the story.\nAnd more.",
        ),
        # After an unclosed <script> html.parser keeps (3.11) or reports (newer) the raw rest: given back, stripped.
        ("<p>Before</p><script>var x = 1;<p>After the script</p>", "Before\nvar x = 1;\nAfter the script"),
        ("<p>Cut at <script", "Cut at <script"),
        ("<p>Cut at <svg", "Cut at <svg"),
        ("a <style>b { color: red }", "a b { color: red }"),
        # Closed, they are dropped with what they hold, as before.
        ("<p>One</p><svg><text>icon</text></svg><script>x()</script><p>Two</p>", "One\nTwo"),
        ("<svg><svg>a</svg>b</svg>c", "c"),
    ],
)
def test_an_unclosed_element_does_not_swallow_the_rest(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_bidi_controls_are_removed_from_title_and_link_and_recorded() -> None:
    entry = {"title": "Evil \u202etxt.exe\u202c news", "link": "https://a.example/\u202egnp.exe"}
    a = adapt_entry(entry, CTX, FETCHED)
    assert a.title == "Evil txt.exe news"
    assert a.url == "https://a.example/gnp.exe" and a.canonical_url == "https://a.example/gnp.exe"
    assert "bidi control characters removed from the title" in a.warnings
    assert "bidi control characters removed from the link" in a.warnings
    rtl = adapt_entry({"title": "\u05e9\u05dc\u05d5\u05dd \u2067x\u2069", "link": "https://a.example/1"}, CTX, FETCHED)
    assert rtl.title == "\u05e9\u05dc\u05d5\u05dd x"  # the letters stay, only the controls go


def test_an_overlong_link_is_refused_and_the_next_one_used() -> None:
    long_link = "https://a.example/" + "x" * MAX_URL_CHARS
    entry = {"title": "t", "link": long_link, "links": [{"rel": "enclosure", "href": "https://a.example/ok.mp3"}]}
    a = adapt_entry(entry, CTX, FETCHED)
    assert a.url == "https://a.example/ok.mp3"
    assert f"link refused: over {MAX_URL_CHARS} characters" in a.warnings
    alone = adapt_entry({"title": "t", "id": "g", "link": long_link}, CTX, FETCHED)
    assert alone.url == "https://news.example/feed.xml" and len(alone.canonical_url) <= MAX_URL_CHARS


def test_document_warnings_go_on_every_article() -> None:
    ctx = FeedContext(**(CTX.__dict__ | {"warnings": ("body re-decoded",)}))
    a = adapt_entry({"title": "t", "link": "https://a.example/1", "published": "nonsense"}, ctx, FETCHED)
    assert a.warnings[0] == "body re-decoded" and any("unparseable" in w for w in a.warnings)


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


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf"]), max_size=5),  # lone surrogates, bidi
    st.sampled_from(["https://a.example/\ud800", "https://\ud800.example/", "https://a.example/\u202e"]),
    st.binary(max_size=10),
)
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
    article.to_json()  # always a message the producer can write


_words = st.lists(
    st.sampled_from(
        [
            "<script>",
            "</script",
            "<SCRIPT src=x>",
            "javascript:",
            "vbscript:",
            "<svg",
            "<iframe>",
            "<p>",
            "< b",
            "a>",
            "&",
            "x & y",
            "word",
            "Москва",
            "\u202e",
            "\n",
            "  ",
        ]
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text=_words)
def test_text_cleaning_drops_no_word(text: str) -> None:
    """Whatever a text says about markup, as a text field or as escaped HTML, every word of it stays."""
    words = [w for w in re.split(r"\s+", text) if w]
    kept_plain = plain(text, multiline=True)
    kept_html = html_to_text(html.escape(text))
    if not looks_like_markup(text):  # a start tag and its end tag would be markup, which is stripped
        assert re.split(r"\s+", kept_plain) == words or kept_plain == " ".join(words) == ""
        assert kept_html.split() == words


@settings(max_examples=300, deadline=None)
@given(
    markup=st.text(
        alphabet=st.sampled_from(list("<>/='\" &;#x0123abcdefghijklmnopqrstuvwxyzSCRIPTSVG\n")), max_size=200
    )
)
def test_html_cleaning_never_raises_and_stays_bounded(markup: str) -> None:
    for out in (html_to_text(markup, limit=50), plain(markup, limit=50)):
        assert len(out) <= 50


def test_a_date_without_a_time_is_known_to_the_day_only() -> None:
    from storywire.messages import TimePrecision

    def one(raw: str, parsed: time.struct_time) -> TimePrecision:
        entry = {"title": "Quake", "link": "https://a.example/q", "published": raw, "published_parsed": parsed}
        return adapt_entry(entry, CTX, FETCHED).published_precision

    assert one("2023-09-08", ts(2023, 9, 8)) is TimePrecision.DAY
    assert one("Fri, 08 Sep 2023", ts(2023, 9, 8)) is TimePrecision.DAY
    assert one("Fri, 08 Sep 2023 22:11:00 GMT", ts(2023, 9, 8, 22, 11)) is TimePrecision.SECOND
