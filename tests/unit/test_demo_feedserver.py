"""The local demo feed server: valid feeds, released entries only, conditional GETs.

The server listens on 127.0.0.1 with an injected clock, so time moves by hand.
"""

from __future__ import annotations

import calendar
import html
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx
import pytest

from devtools.demo import DemoArticle, DemoFeedServer, FeedServerError, Outlet, load_demo_articles
from devtools.fakes import FakeWallClock

START = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
ARTICLES = load_demo_articles()


@pytest.fixture
def clock() -> FakeWallClock:
    return FakeWallClock(START)


@pytest.fixture
def server(clock: FakeWallClock) -> Iterator[DemoFeedServer]:
    with DemoFeedServer(clock=clock) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _parse(resp: httpx.Response) -> Any:
    """The feed as feedparser sees it (XML), or the JSON Feed document."""
    if "json" in resp.headers["content-type"]:
        return json.loads(resp.content)
    return feedparser.parse(io.BytesIO(resp.content), response_headers={"content-type": resp.headers["content-type"]})


def _entries(server: DemoFeedServer, http: httpx.Client) -> dict[str, list[tuple[str, str, datetime]]]:
    """(title, link, published) of every entry served, by outlet host; asserts each feed is valid."""
    found: dict[str, list[tuple[str, str, datetime]]] = {}
    for outlet in server.outlets:
        resp = http.get(server.url + outlet.feed_path)
        assert resp.status_code == 200
        doc = _parse(resp)
        if outlet.format == "json":
            assert resp.headers["content-type"] == "application/feed+json; charset=utf-8"
            assert doc["version"] == "https://jsonfeed.org/version/1.1"
            assert doc["title"] == outlet.name and doc["language"] == outlet.language
            assert doc["feed_url"] == server.url + outlet.feed_path
            assert doc["home_page_url"] == f"https://{outlet.host}/"
            rows = []
            for item in doc["items"]:
                assert item["id"] == item["url"]
                assert item["summary"] and item["content_text"]
                rows.append((item["title"], item["url"], datetime.fromisoformat(item["date_published"])))
        else:
            kind = "rss" if outlet.format == "rss" else "atom"
            assert resp.headers["content-type"] == f"application/{kind}+xml; charset=utf-8"
            assert not doc.bozo, doc.get("bozo_exception")
            assert doc.version == ("rss20" if outlet.format == "rss" else "atom10")
            assert doc.feed.title == outlet.name
            assert doc.feed.get("language") == outlet.language
            assert doc.feed.link == f"https://{outlet.host}/"  # the outlet's site, one per source
            rows = []
            for entry in doc.entries:
                assert entry.summary and entry.id == entry.link
                published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
                rows.append((entry.title, entry.link, published))
        found[outlet.host] = rows
    return found


def _expected(server: DemoFeedServer, now: datetime) -> dict[str, set[tuple[str, str, datetime]]]:
    want: dict[str, set[tuple[str, str, datetime]]] = {o.host: set() for o in server.outlets}
    for a in ARTICLES:
        if a.is_released(server.started_at, now):
            want[a.outlet.host].add((a.title, server.article_url(a), a.published_at(server.started_at)))
    return want


def test_every_feed_parses_and_lists_only_released_entries(
    server: DemoFeedServer, clock: FakeWallClock, http: httpx.Client
) -> None:
    assert server.started_at == START.replace(microsecond=0)
    for elapsed in (0, 25, 200):
        clock.now = server.started_at + timedelta(seconds=elapsed)
        served = _entries(server, http)
        want = _expected(server, clock.now)
        assert {host: set(rows) for host, rows in served.items()} == want
        for rows in served.values():  # newest first, as real feeds are
            assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    assert sum(len(rows) for rows in served.values()) == len(ARTICLES)


def test_the_breaking_story_grows_with_the_clock(server: DemoFeedServer, clock: FakeWallClock) -> None:
    def breaking() -> list[DemoArticle]:
        return [a for a in server.released() if a.story == "quake-serrano-valley"]

    assert len(breaking()) == 1
    assert "elfarodiario.example" not in {a.outlet.host for a in server.released()}
    clock.advance(45)
    assert len({a.outlet for a in breaking()}) == 3  # enough for a breaking alert
    clock.advance(60)
    assert len(breaking()) == 6
    latest = breaking()[0]
    assert latest.published_at(server.started_at) == server.started_at + timedelta(seconds=latest.release_after_s)


def test_feed_urls_name_every_outlet(server: DemoFeedServer, http: httpx.Client) -> None:
    urls = server.feed_urls()
    assert len(urls) == len(server.outlets) >= 9
    assert [name for name, _, _ in urls] == [o.name for o in server.outlets]
    for name, url, language in urls:
        assert url.startswith("http://127.0.0.1:") and url.endswith(("/feed.xml", "/feed.json"))
        assert language in ("en", "de", "es"), name
    assert "Storywire demo feeds" in http.get(server.url + "/").text


def test_304_on_matching_etag_and_200_once_the_feed_changes(
    server: DemoFeedServer, clock: FakeWallClock, http: httpx.Client
) -> None:
    url = server.url + "/harbourtimes.example/feed.xml"  # gets a quake article at +20 s
    first = http.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "max-age=5"
    again = http.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert http.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert http.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    clock.advance(21)
    changed = http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert http.get(url, headers={"If-None-Match": changed.headers["etag"]}).status_code == 304


def test_304_on_if_modified_since_until_an_article_is_released(
    server: DemoFeedServer, clock: FakeWallClock, http: httpx.Client
) -> None:
    url = server.url + "/meridianpost.example/feed.json"  # gets a quake article at +40 s
    last_modified = http.get(url).headers["last-modified"]
    assert http.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert http.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200
    clock.advance(41)
    resp = http.get(url, headers={"If-Modified-Since": last_modified})
    assert resp.status_code == 200
    assert resp.headers["last-modified"] != last_modified
    assert http.get(url, headers={"If-Modified-Since": resp.headers["last-modified"]}).status_code == 304


def test_article_links_serve_a_page_once_released(
    server: DemoFeedServer, clock: FakeWallClock, http: httpx.Client
) -> None:
    early = next(a for a in ARTICLES if a.release_after_s == 0)
    late = next(a for a in ARTICLES if a.release_after_s > 0)
    page = http.get(server.article_url(early))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert early.summary.split()[0] in page.text
    assert http.get(server.article_url(late)).status_code == 404
    clock.advance(late.release_after_s)
    assert http.get(server.article_url(late)).status_code == 200


def test_unknown_paths_and_wrong_extensions_are_404(server: DemoFeedServer, http: httpx.Client) -> None:
    for path in (
        "/nowhere.example/feed.xml",
        "/harbourtimes.example/feed.json",  # an RSS outlet
        "/wirepoint.example/feed.xml",  # a JSON Feed outlet
        "/harbourtimes.example/articles/no-such-story.html",
        "/harbourtimes.example/",
    ):
        assert http.get(server.url + path).status_code == 404, path
    # A query string does not change what is served.
    assert http.get(server.url + "/harbourtimes.example/feed.xml?utm_source=x").status_code == 200


def test_head_has_the_headers_and_no_body(server: DemoFeedServer, http: httpx.Client) -> None:
    url = server.url + "/northgateherald.example/feed.xml"
    get, head = http.get(url), http.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))


def test_story_keys_are_never_served(server: DemoFeedServer, clock: FakeWallClock, http: httpx.Client) -> None:
    clock.advance(3600)
    bodies = b"".join(http.get(url).content for _, url, _ in server.feed_urls())
    bodies = re.sub(rb"http://[^\s\"<]+\.html", b"", bodies)  # slugs may echo a story's words
    assert b"/articles/" not in bodies
    for story in {a.story for a in ARTICLES}:
        assert story.encode() not in bodies


TRICKY = 'Tom & Jerry <b>"bold"</b> \'quoted\' ]]> </summary> {"json": 1} naïve – €5'


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_markup_and_quotes_are_escaped(fmt: str, clock: FakeWallClock, http: httpx.Client) -> None:
    outlet = Outlet(name="A & B <News>", host="ab.example", format=fmt, language="en")  # type: ignore[arg-type]
    article = DemoArticle(
        outlet=outlet,
        story="s",
        title=TRICKY,
        summary="Lead. " + TRICKY,
        slug="tricky",
        published_hours_ago=1,
        release_after_s=0,
    )
    with DemoFeedServer([article], clock=clock) as server:
        resp = http.get(server.url + outlet.feed_path)
        doc = _parse(resp)
        page = http.get(server.article_url(article))
    if fmt == "json":
        assert doc["title"] == outlet.name
        assert doc["items"][0]["title"] == TRICKY
        assert doc["items"][0]["summary"] == "Lead. " + TRICKY
    else:
        assert not doc.bozo, doc.get("bozo_exception")
        assert doc.feed.title == outlet.name
        # feedparser hands back text with markup characters re-escaped as entities; undo that to compare.
        assert html.unescape(doc.entries[0].title) == TRICKY
    assert "<b>" not in page.text and "&lt;b&gt;" in page.text


def test_lifecycle(clock: FakeWallClock) -> None:
    server = DemoFeedServer(clock=clock)
    with pytest.raises(FeedServerError):
        _ = server.url
    server.start()
    try:
        with pytest.raises(FeedServerError, match="already started"):
            server.start()
        url = server.url
    finally:
        server.stop()
    server.stop()  # twice is fine
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=2) as client:
        client.get(url + "/")


def test_a_fixed_port_that_is_taken_is_a_clear_error(server: DemoFeedServer, clock: FakeWallClock) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(FeedServerError, match="cannot listen"):
        DemoFeedServer(clock=clock, port=port).start()
