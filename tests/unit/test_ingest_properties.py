"""The generic proof for ingest: whatever the bytes or the HTTP response, only our named errors, never a crash.

Hypothesis feeds each step of the decode-and-process path arbitrary and extreme input:

- bytes -> ``parse_feed``: random bytes, mutated real feeds (the golden files, cut, spliced
  and overwritten), generated RSS/Atom whose fields hold huge, control, bidi, entity and
  markup-laden strings and extreme dates, and JSON Feeds of wrong shapes with every float
  edge (NaN, infinities, -0.0, subnormals, 1e308), integers past any float and past
  Python's 4,300-digit limit, and lone surrogates; a good item among junk siblings must
  still be delivered;
- HTTP responses -> ``Fetcher.fetch`` -> ``parse_feed``: any status, any Content-Length,
  Content-Encoding, Location, Retry-After, ETag, any body;
- the same bytes through the parse pool's worker process, where a result must also cross
  a process boundary.

The contract checked: ``parse_feed`` returns a ParsedFeed or raises ParseError; ``fetch``
returns a FetchResult or raises FetchError; every Article is a valid message whose URLs
are http(s), within MAX_URL_CHARS, and whose title holds no bidi control.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import FetchError, ParseError
from ingest.feeds import FeedSpec
from ingest.fetch import Fetcher
from ingest.parse import ParsedFeed, parse_feed
from ingest.parsepool import ParseJob, ParsePool
from ingest.settings import IngestSettings
from ingest.text import MAX_URL_CHARS
from storywire.messages import Article, decode

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC = FeedSpec(url="https://news.example/feed.xml")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
GOLDEN = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if not p.name.endswith(".expected.json")]
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def check(body: bytes, headers: dict[str, str] | None = None) -> ParsedFeed | None:
    """parse_feed's contract on one input; None when it refused the bytes with a ParseError."""
    try:
        parsed = parse_feed(body, SPEC.url, headers or {}, SPEC, FETCHED, max_entries=50, max_text_chars=5000)
    except ParseError:
        return None
    for article in parsed.articles:
        check_article(article)
    return parsed


def check_article(article: Article) -> None:
    assert decode(Article, article.to_json()) == article  # a valid message, round-trips
    for url in (article.url, article.canonical_url):
        assert url.startswith(("http://", "https://")) and len(url) <= MAX_URL_CHARS, url[:200]
    assert not _BIDI.search(article.title)
    assert len(article.summary) <= 5000 and len(article.content) <= 5000


# -- bytes -> parse ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=2000),
    ctype=st.sampled_from(["", "application/rss+xml", "application/json; charset=utf-8", "text/html; charset=koi8-r"]),
)
def test_random_bytes(body: bytes, ctype: str) -> None:
    check(body, {"content-type": ctype} if ctype else {})


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A golden feed, cut, spliced, overwritten or with a span repeated."""
    body = bytearray(draw(st.sampled_from(GOLDEN)))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(body)))
        j = draw(st.integers(i, min(len(body), i + 200)))
        op = draw(st.sampled_from(["cut", "insert", "overwrite", "repeat", "truncate"]))
        if op == "cut":
            del body[i:j]
        elif op == "insert":
            body[i:i] = draw(st.binary(min_size=1, max_size=50))
        elif op == "overwrite":
            body[i:j] = draw(st.binary(min_size=j - i, max_size=j - i))
        elif op == "repeat":
            body[i:i] = body[i:j] * draw(st.integers(1, 50))
        else:
            del body[i:]
    return bytes(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated())
def test_mutated_real_feeds(body: bytes) -> None:
    check(body)


_nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "x" * 200_000,
            "\u202eevil\u202c",
            "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
            "<![CDATA[<b>bold</b>",
            "&#0;&#xD800;&#x110000;&#99999999999;",
            "<svg><script>",
            "\x00\x01\x1f\x7f\ufffe",
            "javascript:alert(1)",
            "<" * 5000,
            "<a>" * 3000,
        ]
    ),
)
_dates = st.one_of(
    st.sampled_from(
        [
            "Wed, 01 May 2024 09:00:00 +0000",
            "Mon, 31 Dec 9999 23:59:59 +9999",
            "0000-00-00T00:00:00Z",
            "-0001-01-01",
            "1e308",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "2024-02-30T25:61:61+99:99",
        ]
    ),
    st.text(max_size=40),
)
_links = st.one_of(
    st.sampled_from(
        [
            "https://news.example/a",
            "javascript:alert(1)",
            "https://news.example/" + "a" * (MAX_URL_CHARS + 10),
            "https://news.example/\u202egnp.exe",
            "//evil.example/x",
            "https://[::1/x",
            "https://news.example:99999/",
            "data:text/html,hi",
            "",
        ]
    ),
    st.text(max_size=60),
)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("]]>", "]]&gt;")


@st.composite
def generated_xml(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rss", "atom"]))
    raw = draw(st.booleans())  # the strings inserted as they are, breaking the XML when they hold markup
    put = (lambda t: t) if raw else _esc
    items = []
    for _ in range(draw(st.integers(0, 4))):
        title, summary, link, date = (
            draw(_nasty_text),
            draw(_nasty_text),
            draw(_links),
            draw(_dates),
        )
        if kind == "rss":
            items.append(
                f"<item><title>{put(title)}</title><link>{put(link)}</link><guid>{put(link)}</guid>"
                f"<pubDate>{put(date)}</pubDate><description>{put(summary)}</description></item>"
            )
        else:
            items.append(
                f"<entry><title type='html'>{put(title)}</title><link href='{put(link)}'/><id>{put(link)}</id>"
                f"<updated>{put(date)}</updated><content type='html'>{put(summary)}</content></entry>"
            )
    if kind == "rss":
        doc = f"<rss version='2.0'><channel><title>t</title>{''.join(items)}</channel></rss>"
    else:
        doc = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>{''.join(items)}</feed>"
    encoding = draw(st.sampled_from(["utf-8", "windows-1251", "latin-1", "utf-16"]))
    return doc.encode(encoding, "replace")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=generated_xml())
def test_generated_feeds_with_hostile_fields(body: bytes) -> None:
    check(body)


_HUGE = "__huge_integer__"


def _dumps(doc: Any) -> bytes:
    """JSON with NaN/Infinity as Python writes (and reads) them, and a 5,001-digit integer for each _HUGE."""
    return json.dumps(doc, allow_nan=True).replace(f'"{_HUGE}"', "1" + "0" * 5000).encode()


_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 1e-320])
_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.just(10**400),
        st.floats(),
        _floats,
        st.text(max_size=30),
        st.text(alphabet=st.characters(categories=["Cs", "Cc", "Lo"]), max_size=5),  # lone surrogates too
        st.sampled_from(["https://a.example/1", "https://a.example/\ud800", "\u202e", "2024-05-01T09:00:00Z"]),
        st.just(_HUGE),  # an integer past Python's 4,300-digit limit, written into the JSON below
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "url",
                    "title",
                    "content_html",
                    "content_text",
                    "summary",
                    "date_published",
                    "authors",
                    "name",
                    "tags",
                    "attachments",
                    "items",
                    "version",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    items=st.one_of(_json, st.lists(_json, max_size=5)),
    version=st.one_of(st.just("https://jsonfeed.org/version/1.1"), _json),
)
def test_json_feeds_of_wrong_shapes_and_float_edges(items: Any, version: Any) -> None:
    body = _dumps({"version": version, "title": "t", "items": items})
    check(body, {"content-type": "application/feed+json"})


@settings(max_examples=300, deadline=None)
@given(junk=st.lists(_json, max_size=5), at=st.integers(0, 5))
def test_a_good_json_item_is_delivered_whatever_its_siblings_hold(junk: list[Any], at: int) -> None:
    good = {"id": "good", "url": "https://a.example/good", "title": "The good one"}
    items = [*junk[:at], good, *junk[at:]]
    body = _dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    parsed = check(body, {"content-type": "application/feed+json"})
    assert parsed is not None, "a JSON Feed with a good item was refused whole"
    assert "https://a.example/good" in {a.url for a in parsed.articles}
    assert len(parsed.articles) + len(parsed.errors) + parsed.duplicates == len(items)


def test_deep_nesting_is_a_parse_error_or_a_feed_never_a_crash() -> None:
    deep_json = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert check(deep_json, {"content-type": "application/json"}) is None
    deep_xml = b"<rss version='2.0'><channel>" + b"<x>" * 50_000 + b"</x>" * 50_000 + b"</channel></rss>"
    check(deep_xml)


def test_huge_fields_are_capped() -> None:
    huge = "word " * 1_000_000
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>" + huge + "</title>"
        "<link>https://news.example/1</link><description>" + huge + "</description></item></channel></rss>"
    ).encode()
    parsed = check(body)
    assert parsed is not None and len(parsed.articles[0].title) <= 1000
    assert "text truncated to 5000 characters" in parsed.articles[0].warnings


# -- HTTP responses -> fetch -> parse ------------------------------------------------------

_header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.sampled_from(
        [
            "-1",
            "0",
            "99999999999999999999",
            "gzip",
            "deflate",
            "br",
            "gzip, gzip",
            "identity",
            "3600",
            "Wed, 21 Oct 2099 07:28:00 GMT",
        ]
    ),
)
_response = st.fixed_dictionaries(
    {
        "status": st.one_of(
            st.sampled_from([200, 200, 200, 301, 302, 304, 307, 308, 410, 429, 503]), st.integers(100, 599)
        ),
        "headers": st.dictionaries(
            st.sampled_from(
                [
                    "Content-Length",
                    "Content-Encoding",
                    "Location",
                    "Retry-After",
                    "ETag",
                    "Last-Modified",
                    "Content-Type",
                    "Cache-Control",
                ]
            ),
            _header_values,
            max_size=5,
        ),
        "body": st.one_of(st.binary(max_size=500), st.sampled_from(GOLDEN), mutated()),
    }
)


@pytest.fixture(scope="module")
def port_free_settings() -> IngestSettings:
    return IngestSettings(allow_private=False, deadline_s=5, max_body_bytes=1024 * 1024, max_redirects=3)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(responses=st.lists(_response, min_size=1, max_size=4))
def test_any_http_response_gives_a_named_error_or_a_feed(
    responses: list[dict[str, Any]], port_free_settings: IngestSettings
) -> None:
    served = iter(responses * 10)

    def handler(request: httpx.Request) -> httpx.Response:
        r = next(served)
        headers = [(k, v) for k, v in r["headers"].items()]
        return httpx.Response(r["status"], headers=headers, stream=httpx.ByteStream(r["body"]))

    fetcher = Fetcher(
        port_free_settings,
        transport=httpx.MockTransport(handler),
        resolver=lambda host, port: ["93.184.216.34"],
    )
    try:
        result = fetcher.fetch("https://news.example/feed.xml", etag='"e"', last_modified="x")
    except FetchError:
        return
    finally:
        fetcher.close()
    if result.not_modified:
        assert result.body == b""
        return
    check(result.body, result.headers)


# -- through the worker process ------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    p = ParsePool(workers=1, memory_mb=1024)
    p.warm()
    yield p
    p.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(mutated(), generated_xml(), st.binary(max_size=300)))
def test_the_worker_process_keeps_the_contract(body: bytes, pool: ParsePool) -> None:
    job = ParseJob(body, SPEC.url, {}, SPEC, FETCHED, 50, 5000)
    try:
        parsed = pool.parse(job, 20.0)
    except ParseError:
        return
    for article in parsed.articles:
        check_article(article)
