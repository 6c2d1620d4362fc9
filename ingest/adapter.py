"""The edge where feedparser's entry dicts become our Article; nothing else sees them.

``adapt_entry`` takes one entry dict (feedparser's, or the JSON Feed reader's in the
same shape) plus what we know about the feed, and returns an Article or raises
AdapterError, never anything else, whatever the dict holds. A bad field (an absurd
date, a link with a javascript: scheme or over MAX_URL_CHARS, bidi controls in the title
or a link) is recorded in ``Article.warnings``, and so is what was wrong with the whole
document (``FeedContext.warnings``: a body re-decoded from a legacy encoding).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import ValidationError

from ingest.errors import AdapterError
from ingest.text import MAX_URL_CHARS, html_to_text, plain, strip_bidi
from storywire.messages import Article, PublishedFrom, TimePrecision

ID_HEX = 32  # 128 bits of sha256: collision-free in practice, short in logs

_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt_mc",
        "cmpid",
        "ocid",
        "ncid",
        "sr_share",
        "at_medium",
        "at_campaign",
    }
)
_TRACKING_PREFIXES = ("utm_", "__twitter", "pk_", "mtm_")
_RSS_AUTHOR = re.compile(r"^\s*[^\s()@]+@[^\s()]+\s*\(([^()]+)\)\s*$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,3}$")
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)


@dataclass(frozen=True)
class FeedContext:
    """What the adapter knows about the feed an entry came from."""

    feed_url: str  # the feed's identity (the URL in feeds.yaml)
    base_url: str  # where the bytes actually came from, for relative links
    source: str
    tags: tuple[str, ...] = ()
    language: str | None = None  # declared by the feed document or the feeds file
    published: datetime | None = None  # the feed-level date
    link: str = ""  # the feed's home page
    warnings: tuple[str, ...] = ()  # about the whole document, copied onto every Article


def canonical_url(url: str) -> str | None:
    """http(s) URL without tracking parameters, fragment, userinfo or default port; None if unusable."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in host):
        return None
    if _SURROGATE.search(url):
        return None  # not valid Unicode: it could not even be written as UTF-8
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in _TRACKING or k.startswith(_TRACKING_PREFIXES)


def article_id(canonical: str | None, guid: str, feed_url: str, title: str, text: str) -> str:
    """DESIGN.md's id: canonical URL, else the feed's GUID, else title and content."""
    if canonical:
        basis = "url\x00" + canonical
    elif guid:
        basis = "guid\x00" + feed_url + "\x00" + guid  # GUIDs are only unique within a feed
    else:
        basis = "text\x00" + title + "\x00" + text
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:ID_HEX]


def normalise_language(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    lang = value.strip().lower().replace("_", "-")
    return lang if _LANG.match(lang) else None


def struct_to_datetime(value: object) -> datetime | None:
    """feedparser's UTC struct_time (or a 9-tuple) as an aware datetime; None if invalid."""
    if isinstance(value, time.struct_time | tuple) and len(value) >= 6:
        f = value[:6]
        if all(isinstance(x, int) and not isinstance(x, bool) for x in f):
            try:
                return datetime(f[0], f[1], f[2], f[3], f[4], f[5], tzinfo=UTC)
            except (ValueError, OverflowError):
                return None
    return None


def _str(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def _dicts(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _is_html(detail: object, default: bool = True) -> bool:
    if isinstance(detail, Mapping):
        kind = detail.get("type")
        if isinstance(kind, str):
            return "html" in kind.lower()
    return default


def _link(entry: Mapping[str, Any], base: str, warnings: list[str]) -> tuple[str, str] | None:
    """The entry's page (else its enclosure), absolute, with its canonical form."""
    candidates = [_str(entry, "link")]
    links = _dicts(entry.get("links"))
    candidates += [_str(lk, "href") for lk in links if lk.get("rel", "alternate") == "alternate"]
    if entry.get("guidislink") is True:
        candidates.append(_str(entry, "id"))
    candidates += [_str(lk, "href") for lk in links if lk.get("rel") == "enclosure"]
    candidates += [_str(e, "href") or _str(e, "url") for e in _dicts(entry.get("enclosures"))]
    for raw in candidates:
        raw = raw.strip()
        if not raw:
            continue
        if len(raw) > MAX_URL_CHARS:
            warnings.append(f"link refused: over {MAX_URL_CHARS} characters")
            continue
        raw, had_bidi = strip_bidi(raw)
        if had_bidi:
            warnings.append("bidi control characters removed from the link")
        absolute = raw
        if base and not raw.startswith(("http://", "https://")):  # feedparser resolved most already
            with contextlib.suppress(ValueError):  # an unusable link is refused just below
                absolute = urljoin(base, raw)
        canonical = canonical_url(absolute)
        if canonical and len(absolute) <= MAX_URL_CHARS and len(canonical) <= MAX_URL_CHARS:
            return absolute, canonical
        if canonical:
            warnings.append(f"link refused: over {MAX_URL_CHARS} characters")
            continue
        warnings.append("link refused: not an http(s) URL")
    return None


# A clock time in a date string ("10:30", "T08:00"); a date without one is known to the day only.
_CLOCK = re.compile(r"\d{1,2}:\d{2}")


def _published(
    entry: Mapping[str, Any], ctx: FeedContext, fetched: datetime, warnings: list[str]
) -> tuple[datetime, PublishedFrom, TimePrecision]:
    latest = fetched + FUTURE_SLACK
    tried: set[str] = set()
    for key in ("published", "updated", "created"):
        parsed = struct_to_datetime(entry.get(key + "_parsed"))
        raw = _str(entry, key)
        if raw and raw in tried:
            continue  # feedparser copies one date into several keys
        tried.add(raw)
        if parsed is None:
            if raw.strip():
                warnings.append(f"{key} date unparseable: {raw.strip()[:60]!r}")
            continue
        if EARLIEST <= parsed <= latest:
            precise = not raw.strip() or _CLOCK.search(raw) is not None
            return parsed, PublishedFrom.ENTRY, TimePrecision.SECOND if precise else TimePrecision.DAY
        warnings.append(f"{key} date absurd: {parsed.isoformat()}")
    if ctx.published is not None and EARLIEST <= ctx.published <= latest:
        return ctx.published, PublishedFrom.FEED, TimePrecision.SECOND
    return fetched, PublishedFrom.FETCH, TimePrecision.SECOND


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    # RSS's "email (Name)": read it ourselves, feedparser's e-mail pattern cuts long TLDs short.
    rss_author = _RSS_AUTHOR.match(_str(entry, "author"))
    if rss_author:
        return (plain(rss_author.group(1), 200),)
    names = [plain(_str(a, "name"), 200) for a in _dicts(entry.get("authors"))]
    if not any(names):
        names.append(plain(_str(entry, "author"), 200))
    return _unique(n for n in names if n)[:20]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return tuple(seen)


def _content(entry: Mapping[str, Any], limit: int) -> str:
    parts = []
    for block in _dicts(entry.get("content")):
        value = block.get("value")
        if isinstance(value, str) and value.strip():
            parts.append(html_to_text(value, limit) if _is_html(block) else plain(value, limit, multiline=True))
    return "\n\n".join(_unique(parts))[:limit]


def adapt_entry(entry: object, ctx: FeedContext, fetched: datetime, max_text_chars: int = 100_000) -> Article:
    """One entry -> one Article, or AdapterError (never another exception)."""
    if not isinstance(entry, Mapping):
        raise AdapterError(f"entry is a {type(entry).__name__}, not a mapping")
    try:
        return _adapt(entry, ctx, fetched, max_text_chars)
    except AdapterError:
        raise
    except ValidationError as exc:
        raise AdapterError(f"entry does not make a valid Article: {exc.error_count()} field errors") from exc
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
        # Safety net for shapes nobody foresaw; the property test hunts for them.
        raise AdapterError(f"entry could not be read: {type(exc).__name__}: {exc}") from exc


def _adapt(entry: Mapping[str, Any], ctx: FeedContext, fetched: datetime, limit: int) -> Article:
    warnings: list[str] = []
    title_raw = _str(entry, "title")
    title = html_to_text(title_raw, 1000, multiline=False) if _is_html(entry.get("title_detail"), False) else ""
    title = title or plain(title_raw, 1000)
    title, had_bidi = strip_bidi(title)
    if had_bidi:
        warnings.append("bidi control characters removed from the title")
    summary_raw = _str(entry, "summary")
    summary_html = _is_html(entry.get("summary_detail"))
    summary = html_to_text(summary_raw, limit) if summary_html else plain(summary_raw, limit, multiline=True)
    content = _content(entry, limit)
    if len(summary_raw) > limit or len(content) >= limit:
        warnings.append(f"text truncated to {limit} characters")

    found = _link(entry, ctx.base_url, warnings)
    link, canonical = found if found else ("", None)
    guid = plain(_str(entry, "id"), 2000)
    if not (canonical or guid or title or summary or content):
        raise AdapterError("entry has no link, no id, no title and no text")
    aid = article_id(canonical, guid, ctx.feed_url, title, content or summary)
    if not found:
        warnings.append("entry has no usable link; url is the feed's")
        link = _feed_page(ctx)
    if not title:
        warnings.append("entry has no title")

    published, published_from, precision = _published(entry, ctx, fetched, warnings)
    language = None
    for detail in ("title_detail", "summary_detail"):
        d = entry.get(detail)
        if isinstance(d, Mapping) and (language := normalise_language(d.get("language"))):
            break
    language = language or normalise_language(entry.get("language")) or ctx.language
    terms = [plain(_str(t, "label") or _str(t, "term"), 100) for t in _dicts(entry.get("tags"))]
    return Article(
        id=aid,
        url=link,
        canonical_url=canonical or link,
        feed_url=ctx.feed_url,
        source=ctx.source,
        title=title,
        summary=summary,
        content=content,
        authors=_authors(entry),
        tags=_unique(t for t in (*ctx.tags, *terms) if t)[:30],
        language=language,
        published=published,
        published_from=published_from,
        published_precision=precision,
        fetched=fetched,
        warnings=_unique([*ctx.warnings, *warnings]),
    )


def _feed_page(ctx: FeedContext) -> str:
    """The feed's home page, else the feed's own URL, for an entry without a usable link."""
    for url in (ctx.link, ctx.feed_url):
        canonical = canonical_url(strip_bidi(url)[0]) if len(url) <= MAX_URL_CHARS else None
        if canonical:
            return canonical
    return ctx.feed_url
