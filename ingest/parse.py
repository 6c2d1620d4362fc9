"""Feed bytes -> Articles: feedparser (or the JSON Feed reader), then the adapter.

``parse_feed`` is the pure middle of ingest: no network, no Kafka. It raises ParseError
when the bytes are not a feed or the parser itself fails (feedparser's exceptions
included); otherwise it returns every entry that made an Article (capped, duplicates
dropped) and the AdapterErrors of those that did not. A bozo feed with entries is used
and reported as bozo. A body labelled UTF-8 that is not is re-decoded first
(ingest.encoding) and every Article says so in its warnings.

The poller runs it in a worker process under the fetch deadline (ingest.parsepool):
parsing time grows with the document's nesting, so it is bounded from outside.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from ingest.adapter import FeedContext, adapt_entry, canonical_url, normalise_language, struct_to_datetime
from ingest.encoding import repair_utf8
from ingest.errors import AdapterError, ParseError
from ingest.feeds import FeedSpec
from ingest.jsonfeed import looks_like_json, parse_json_feed
from ingest.schedule import feed_hint_s
from ingest.text import plain
from storywire.messages import Article

# Response headers feedparser may use: charset, base URL, language.
_PASS_HEADERS = ("content-type", "content-language", "content-location")


@dataclass
class ParsedFeed:
    articles: list[Article]
    errors: list[AdapterError] = field(default_factory=list)
    entries: int = 0  # entries in the document, before the cap
    duplicates: int = 0  # entries that repeated an earlier entry's id
    bozo: str | None = None  # why feedparser called it ill-formed, when it did
    warnings: list[str] = field(default_factory=list)  # about the whole document, also on every Article
    title: str = ""
    hint_s: float | None = None  # the document's TTL / sy:updatePeriod


def source_name(spec: FeedSpec, site_link: str) -> str:
    if spec.source:
        return spec.source
    for url in (site_link, spec.url):
        canon = canonical_url(url) if url else None
        if canon:
            host = urlsplit(canon).hostname or ""
            return host.removeprefix("www.")
    return spec.url


def _plain(value: Any, depth: int = 0) -> Any:
    """feedparser's FeedParserDict as plain dicts: its .get maps some missing keys to others, with warnings."""
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in dict.items(value)}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return value


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _feedparser(body: bytes, url: str, headers: Mapping[str, str]) -> Any:
    response_headers = {k: v for k, v in headers.items() if k in _PASS_HEADERS}
    location = response_headers.get("content-location", "")
    # Relative links resolve against the URL the bytes came from (feedparser was given bytes).
    response_headers["content-location"] = urljoin(url, location) if location else url
    # BytesIO, never the bytes themselves: feedparser would try a bytes value as a file path.
    return feedparser.parse(io.BytesIO(body), response_headers=response_headers)


def _utf8_content_type(content_type: str) -> str:
    """The media type with its charset parameter set to utf-8."""
    params = [p for p in content_type.split(";") if p.strip() and not p.strip().lower().startswith("charset")]
    media = params[0].strip() if params and "=" not in params[0] else "application/xml"
    rest = [p.strip() for p in params[1:]] if params and "=" not in params[0] else [p.strip() for p in params]
    return "; ".join([media, *rest, "charset=utf-8"])


def parse_feed(
    body: bytes,
    url: str,
    headers: Mapping[str, str],
    spec: FeedSpec,
    fetched: datetime,
    max_entries: int = 200,
    max_text_chars: int = 100_000,
) -> ParsedFeed:
    if not body.strip():
        raise ParseError("empty body")
    repaired = repair_utf8(body, headers.get("content-type", ""))
    if repaired.warning is not None:  # the bytes are UTF-8 now, whatever the labels said
        body = repaired.body
        headers = {**headers, "content-type": _utf8_content_type(headers.get("content-type", ""))}
    doc_warnings = [repaired.warning] if repaired.warning else []
    try:
        if looks_like_json(body, headers.get("content-type", "")):
            result: Any = parse_json_feed(body)
        else:
            result = _feedparser(body, url, headers)
    except ParseError:
        raise
    except Exception as exc:  # feedparser's own failures, whatever they are, become ours
        raise ParseError(f"parser failed: {type(exc).__name__}: {exc}") from exc

    feed = _plain(result.get("feed")) if isinstance(result.get("feed"), Mapping) else {}
    entries = _plain(result.get("entries")) if isinstance(result.get("entries"), list) else []
    bozo = None
    if result.get("bozo"):
        why = result.get("bozo_exception")
        bozo = f"{type(why).__name__}: {why}"[:300] if why is not None else "ill-formed"
        if not entries and not result.get("version"):
            raise ParseError(f"not a feed: {bozo}")

    link = _text(feed, "link")
    ctx = FeedContext(
        feed_url=spec.url,
        base_url=url,
        source=source_name(spec, link),
        tags=spec.tags,
        language=normalise_language(feed.get("language")) or normalise_language(spec.language),
        published=struct_to_datetime(feed.get("published_parsed")) or struct_to_datetime(feed.get("updated_parsed")),
        link=link,
        warnings=tuple(doc_warnings),
    )
    parsed = ParsedFeed(
        articles=[],
        entries=len(entries),
        bozo=bozo,
        title=plain(_text(feed, "title"), 300),
        hint_s=feed_hint_s(feed),
        warnings=doc_warnings,
    )
    seen: set[str] = set()
    for entry in entries[:max_entries]:
        try:
            article = adapt_entry(entry, ctx, fetched, max_text_chars)
        except AdapterError as exc:
            parsed.errors.append(exc)
            continue
        if article.id in seen:
            parsed.duplicates += 1
        else:
            seen.add(article.id)
            parsed.articles.append(article)
    return parsed
