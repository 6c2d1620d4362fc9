"""The feeds file, OPML import/export and the persistent feed state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.errors import FeedListError
from ingest.feeds import FeedSpec, feed_scheme, load_feeds, merge, parse_opml, read_opml, save_feeds, to_opml
from ingest.state import StateStore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="World">
    <outline type="rss" text="A News" title="A News" xmlUrl="https://a.example/rss" language="en"/>
    <outline type="rss" text="B" xmlUrl="https://b.example/atom" category="/Tech,Science"/>
  </outline>
  <outline type="link" text="not a feed" url="https://c.example/"/>
  <outline type="rss" text="bad" xmlUrl="file:///etc/passwd"/>
</body></opml>"""


def test_yaml_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    assert load_feeds(path) == []
    feeds = [
        FeedSpec(url="https://a.example/rss", name="A", tags=("world",), language="en", interval=300),
        FeedSpec(url="https://b.example/atom"),
    ]
    save_feeds(path, feeds)
    assert load_feeds(path) == feeds
    assert "interval: 300" in path.read_text()


def test_yaml_errors_name_the_feed(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://a.example/rss\n  - url: file:///etc/passwd\n")
    with pytest.raises(FeedListError, match="feed #2"):
        load_feeds(path)
    path.write_text("feeds: [unclosed\n")
    with pytest.raises(FeedListError):
        load_feeds(path)


def test_plain_url_list_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("- https://a.example/rss\n- https://a.example/rss\n- url: https://b.example/x\n")
    assert [f.url for f in load_feeds(path)] == ["https://a.example/rss", "https://b.example/x"]


def test_opml_import_and_export() -> None:
    feeds = parse_opml(OPML)
    assert [f.url for f in feeds] == ["https://a.example/rss", "https://b.example/atom"]
    assert feeds[0].name == "A News" and feeds[0].tags == ("World",) and feeds[0].language == "en"
    assert feeds[1].tags == ("World", "Tech", "Science")
    again = parse_opml(to_opml(feeds))
    assert [(f.url, f.name, f.language) for f in again] == [(f.url, f.name, f.language) for f in feeds]
    merged, added = merge(feeds[:1], feeds)
    assert added == 1 and len(merged) == 2


SUBSCRIPTIONS = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>from a reader</title></head><body>
  <outline text="News" title="News">
    <outline text="World">
      <outline type="rss" text="A" xmlUrl="https://a.example/rss" htmlUrl="https://a.example/"/>
    </outline>
    <outline type="rss" text="B" xmlUrl="feed://b.example/feed.xml" htmlUrl="https://b.example/" category="/politics"/>
  </outline>
  <outline type="rss" text="C" xmlUrl="feed:http://c.example/rss"/>
  <outline type="link" text="a page" url="https://d.example/"/>
  <outline type="rss" text="E" xmlUrl="javascript:alert(1)"/>
  <outline text="Empty folder"/>
</body></opml>"""


def test_opml_keeps_folders_and_sites_reads_feed_urls_and_says_what_it_skipped() -> None:
    got = read_opml(SUBSCRIPTIONS)
    assert [(f.url, f.folder, f.html_url, f.tags) for f in got.feeds] == [
        ("https://a.example/rss", "News/World", "https://a.example/", ("News", "World")),
        ("https://b.example/feed.xml", "News", "https://b.example/", ("News", "politics")),
        ("http://c.example/rss", "", "", ()),
    ]
    assert got.skipped == [
        ("a page", "no xmlUrl: not a feed"),
        ("E", "javascript:alert(1): must be an http(s) URL with a host"),
        ("Empty folder", "no xmlUrl: not a feed"),
    ]
    assert got.notes == ["2 feed:// URLs read as https://"]
    assert feed_scheme("FEED://x.example/a") == ("https://x.example/a", True)
    assert feed_scheme("https://x.example/a") == ("https://x.example/a", False)


def test_opml_round_trip_keeps_folders_sites_tags_and_order() -> None:
    feeds = read_opml(SUBSCRIPTIONS).feeds
    feeds.insert(1, FeedSpec(url="https://root.example/rss", name="Root", tags=("mine",), language="de"))
    out = to_opml(feeds)
    again = read_opml(out)
    assert again.feeds == feeds and again.skipped == []
    assert b'htmlUrl="https://a.example/"' in out and b'<outline text="World" title="World">' in out


def test_opml_refuses_garbage_and_external_entities() -> None:
    with pytest.raises(FeedListError):
        parse_opml(b"<opml><body><outline")
    xxe = b"""<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<opml><body><outline xmlUrl="https://a.example/rss" text="&x;"/></body></opml>"""
    with pytest.raises(FeedListError, match="external entity"):
        parse_opml(xxe)


def test_state_survives_reopen_and_seen_is_bounded(tmp_path: Path) -> None:
    store = StateStore(tmp_path, seen_per_feed=10)
    url = "https://a.example/rss"
    st = store.get(url)
    assert st.due(NOW) and st.error_count == 0
    st = st.with_(etag='"v1"', next_poll=NOW + timedelta(minutes=10), current_url="https://a.example/new")
    store.commit_success(st, [f"id{i}" for i in range(25)], NOW)
    store.close()

    store = StateStore(tmp_path, seen_per_feed=10)
    st = store.get(url)
    assert st.etag == '"v1"' and st.fetch_url == "https://a.example/new" and not st.due(NOW)
    assert st.next_poll == NOW + timedelta(minutes=10)
    known = 25 - len(store.unseen(f"id{i}" for i in range(25)))
    assert known == 10
    store.save(st.with_(disabled=True, disabled_reason="410 Gone"))
    assert not store.get(url).due(NOW + timedelta(days=1))
    store.forget(url)
    assert store.get(url).etag is None and len(store.unseen(["id1", "id2"])) == 2
    store.close()
