"""Every file of feedparser's test corpus through fetch -> parse -> normalise, over local HTTP.

The corpus (../shared/corpora/feedparser) holds well-formed, ill-formed, encoding and
sanitizer cases. Each file is served with the HTTP headers its ``Header:`` comment
lines name; its ``Expect:`` lines document feedparser's own result and are not
evaluated here. What we require of our path: no exception but our named errors, each
file gives a parsed feed (Articles, possibly none) or an IngestError, and nothing
executable (<script>, on*= handlers, javascript: URLs) reaches an Article. Our text
cleaning keeps words about markup as words (issue 14); in this corpus none survives
because feedparser's sanitizer removes the elements themselves.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from devtools.httpserver import FeedServer, Response
from ingest.errors import IngestError
from ingest.feeds import FeedSpec
from ingest.fetch import Fetcher
from ingest.parse import ParsedFeed, parse_feed
from ingest.settings import IngestSettings
from storywire.messages import Article

FETCHED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
_HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):[ \t]*(.*?)\s*$", re.MULTILINE)
_UNSAFE = [
    re.compile(r"<\s*/?\s*script", re.IGNORECASE),
    re.compile(r"javascript\s*:", re.IGNORECASE),
    re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
]


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))


def headers_of(body: bytes) -> dict[str, str]:
    out = {}
    for name, value in _HEADER.findall(body[:2000]):
        try:
            out[name.decode("ascii")] = value.decode("latin-1")
        except UnicodeDecodeError:
            continue
    return out


def unsafe_fields(article: Article) -> list[str]:
    bad = []
    for name, value in article.model_dump().items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, str) and any(p.search(v) for p in _UNSAFE):
                bad.append(f"{name}={v[:120]!r}")
    for name in ("url", "canonical_url"):
        if not getattr(article, name).startswith(("http://", "https://")):
            bad.append(f"{name} not http(s): {getattr(article, name)[:120]!r}")
    return bad


def test_feedparser_corpus(shared_dir: Path) -> None:
    root = shared_dir / "corpora" / "feedparser"
    if not root.is_dir():
        pytest.skip(f"shared corpus not present at {root}")
    files = corpus_files(root)
    assert len(files) > 2000
    settings = IngestSettings(allow_private=True, read_timeout_s=10, deadline_s=30, concurrency=8)

    with FeedServer() as server:
        urls = {}
        for path in files:
            body = path.read_bytes()
            rel = path.relative_to(root).as_posix()
            urls[path] = server.add("/" + quote(rel), Response(body, headers=headers_of(body)))
        fetcher = Fetcher(settings)

        def run(path: Path) -> ParsedFeed | IngestError:
            spec = FeedSpec(url=urls[path])
            try:
                res = fetcher.fetch(spec.url)
                return parse_feed(res.body, res.url, res.headers, spec, FETCHED, settings.max_entries)
            except IngestError as exc:  # named errors are a result; anything else fails the test
                return exc

        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = dict(zip(files, pool.map(run, files), strict=True))
        finally:
            fetcher.close()

    parsed = {p: r for p, r in results.items() if isinstance(r, ParsedFeed)}
    errors = {p: r for p, r in results.items() if isinstance(r, IngestError)}
    assert len(parsed) + len(errors) == len(files)
    # Every entry is accounted for: an Article, a named AdapterError, or a duplicate.
    unaccounted = [
        p.name
        for p, r in parsed.items()
        if len(r.articles) + len(r.errors) + r.duplicates != min(r.entries, settings.max_entries)
    ]
    assert not unaccounted, unaccounted[:10]
    articles = [a for r in parsed.values() for a in r.articles]
    with_articles = sum(1 for r in parsed.values() if r.articles)
    # Many corpus files test feed-level elements or entries without content; hundreds still
    # make Articles, and whole-feed errors stay exceptional (empty documents, bare CDF).
    assert with_articles > 500, (with_articles, len(errors))
    assert len(errors) < 50, sorted(f"{p.name}: {e.kind}: {e}" for p, e in errors.items())[:20]
    assert all(e.kind for e in errors.values())
    unsafe = {a.id: bad for a in articles if (bad := unsafe_fields(a))}
    assert not unsafe, list(unsafe.items())[:10]
