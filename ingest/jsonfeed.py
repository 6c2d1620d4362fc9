"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1) into feedparser's result shape.

feedparser 6.0 reads only XML feeds, so this reader returns the same kind of dict
(``feed``, ``entries`` with ``title``, ``link``, ``id``, ``summary``, ``content``,
``published_parsed``, ``authors``, ``tags``, ``enclosures``) and the adapter stays the
one place that maps entries to Articles. Raises ParseError when it is not a JSON Feed.

A field of the wrong type (``"tags": true``, an id of 10**5000) is left out of its
entry, never a reason to lose the feed; an item that is not an object is handed on as
it is, so the adapter counts it as an AdapterError beside the good items.
"""

from __future__ import annotations

import json
from typing import Any

import feedparser

from ingest.errors import ParseError


def looks_like_json(body: bytes, content_type: str) -> bool:
    ctype = content_type.lower()
    if "json" in ctype:
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _date(value: object) -> Any:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return feedparser.datetimes._parse_date(value)
    except Exception:  # a third-party date parser on hostile text: no date, not a lost feed
        return None


def _int(digits: str) -> int | float:
    # Python refuses to read integers of over 4,300 digits (ValueError, the whole document
    # lost); no field of a feed needs more than 40.
    return int(digits) if len(digits) <= 40 else float(digits)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _id(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**40:
        return str(value)
    return ""


def _authors(item: dict[str, Any]) -> list[dict[str, str]]:
    raw = item.get("authors")
    if not isinstance(raw, list):
        raw = [item.get("author")]
    return [{"name": a["name"]} for a in raw if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _entry(item: dict[str, Any], language: object) -> dict[str, Any]:
    def text(key: str) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    entry: dict[str, Any] = {
        "id": _id(item.get("id")),
        "link": text("url") or text("external_url"),
        "title": text("title"),
        "title_detail": {"type": "text/plain", "language": language},
        "summary": text("summary"),
        "summary_detail": {"type": "text/plain", "language": language},
        "published": text("date_published"),
        "published_parsed": _date(item.get("date_published")),
        "updated": text("date_modified"),
        "updated_parsed": _date(item.get("date_modified")),
        "authors": _authors(item),
        "tags": [{"term": t} for t in _list(item.get("tags")) if isinstance(t, str)],
        "enclosures": [
            {"href": a["url"], "type": a.get("mime_type", "")}
            for a in _list(item.get("attachments"))
            if isinstance(a, dict) and isinstance(a.get("url"), str)
        ],
    }
    content = []
    if text("content_html"):
        content.append({"type": "text/html", "value": text("content_html")})
    elif text("content_text"):
        content.append({"type": "text/plain", "value": text("content_text")})
    entry["content"] = content
    return entry


def parse_json_feed(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body.decode("utf-8-sig"), parse_int=_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"JSON feed is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError("JSON document is not a JSON Feed (no items list)")
    version = doc.get("version")
    bozo = not (isinstance(version, str) and version.startswith("https://jsonfeed.org/version/"))
    language = doc.get("language") if isinstance(doc.get("language"), str) else None
    feed = {
        "title": doc.get("title") if isinstance(doc.get("title"), str) else "",
        "link": doc.get("home_page_url") if isinstance(doc.get("home_page_url"), str) else "",
        "language": language,
    }
    entries = [_entry(i, language) if isinstance(i, dict) else i for i in doc["items"]]
    return {
        "feed": feed,
        "entries": entries,
        "bozo": bozo,
        "bozo_exception": ParseError("unknown JSON Feed version") if bozo else None,
        "version": "json1",
    }
