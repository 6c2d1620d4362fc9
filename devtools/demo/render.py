"""Render an outlet's released demo articles as RSS 2.0, Atom 1.0 or JSON Feed 1.1, and
an article as a tiny HTML page.

Pure functions of their inputs (no clock, no sockets): the feed server decides which
articles are released and what time the feed last changed. XML is built with
ElementTree and JSON with ``json.dumps``, so every title and summary is escaped by the
serialiser rather than by hand.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from devtools.demo.corpus import DemoArticle, Outlet

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def http_date(when: datetime) -> str:
    """RFC 9110 date (``Sun, 06 Nov 1994 08:49:37 GMT``), also RSS's RFC 822 form."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def _xml(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def render_rss(
    outlet: Outlet, entries: Sequence[DemoArticle], base_url: str, started_at: datetime, changed_at: datetime
) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", outlet.name)
    _sub(channel, "link", outlet.site_url)
    _sub(channel, "description", f"Latest news from {outlet.name} (Storywire demo feed)")
    _sub(channel, "language", outlet.language)
    _sub(channel, "lastBuildDate", http_date(changed_at))
    for entry in entries:
        link = base_url + entry.path
        item = _sub(channel, "item")
        _sub(item, "title", entry.title)
        _sub(item, "link", link)
        _sub(item, "guid", link, isPermaLink="true")
        _sub(item, "description", entry.summary)
        _sub(item, "pubDate", http_date(entry.published_at(started_at)))
    return _xml(rss)


def render_atom(
    outlet: Outlet, entries: Sequence[DemoArticle], base_url: str, started_at: datetime, changed_at: datetime
) -> bytes:
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: outlet.language})
    _sub(feed, "id", outlet.site_url)
    _sub(feed, "title", outlet.name)
    _sub(feed, "updated", rfc3339(changed_at))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url}{outlet.feed_path}")
    _sub(feed, "link", rel="alternate", type="text/html", href=outlet.site_url)
    author = _sub(feed, "author")
    _sub(author, "name", outlet.name)
    for entry in entries:
        link = base_url + entry.path
        published = rfc3339(entry.published_at(started_at))
        item = _sub(feed, "entry")
        _sub(item, "id", link)
        _sub(item, "title", entry.title, type="text")
        _sub(item, "link", rel="alternate", type="text/html", href=link)
        _sub(item, "published", published)
        _sub(item, "updated", published)
        _sub(item, "summary", entry.summary, type="text")
    return _xml(feed)


def render_json_feed(
    outlet: Outlet, entries: Sequence[DemoArticle], base_url: str, started_at: datetime, changed_at: datetime
) -> bytes:
    del changed_at  # JSON Feed has no feed-level date; the response headers carry it
    doc = {
        "version": JSON_FEED_VERSION,
        "title": outlet.name,
        "home_page_url": outlet.site_url,
        "feed_url": f"{base_url}{outlet.feed_path}",
        "description": f"Latest news from {outlet.name} (Storywire demo feed)",
        "language": outlet.language,
        "authors": [{"name": outlet.name}],
        "items": [
            {
                "id": base_url + entry.path,
                "url": base_url + entry.path,
                "title": entry.title,
                "summary": entry.summary,
                "content_text": entry.summary,
                "date_published": rfc3339(entry.published_at(started_at)),
                "language": outlet.language,
            }
            for entry in entries
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


RENDERERS = {"rss": render_rss, "atom": render_atom, "json": render_json_feed}


def render_feed(
    outlet: Outlet, entries: Sequence[DemoArticle], base_url: str, started_at: datetime, changed_at: datetime
) -> bytes:
    """The outlet's feed, in its own format, listing ``entries`` in the order given."""
    return RENDERERS[outlet.format](outlet, entries, base_url, started_at, changed_at)


def render_article_page(article: DemoArticle, base_url: str, started_at: datetime) -> bytes:
    """A minimal HTML page for an article link, so links in the demo resolve locally."""
    e = html.escape
    published = article.published_at(started_at)
    return f"""<!doctype html>
<html lang="{e(article.outlet.language)}">
<head>
<meta charset="utf-8">
<title>{e(article.title)} | {e(article.outlet.name)}</title>
<link rel="canonical" href="{e(base_url + article.path)}">
<meta name="description" content="{e(article.summary)}">
</head>
<body>
<p><a href="{e(base_url + article.outlet.feed_path)}">{e(article.outlet.name)}</a></p>
<h1>{e(article.title)}</h1>
<p><time datetime="{e(rfc3339(published))}">{e(http_date(published))}</time></p>
<p>{e(article.summary)}</p>
<p><small>An invented article from the Storywire demo.</small></p>
</body>
</html>
""".encode()


def render_index(outlets: Sequence[Outlet], base_url: str) -> bytes:
    """The server's home page: one link per feed."""
    e = html.escape
    rows = "\n".join(
        f'<li><a href="{e(base_url + o.feed_path)}">{e(o.name)}</a> ({e(o.format)}, {e(o.language)})</li>'
        for o in outlets
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Storywire demo feeds</title></head>
<body>
<h1>Storywire demo feeds</h1>
<ul>
{rows}
</ul>
</body>
</html>
""".encode()
