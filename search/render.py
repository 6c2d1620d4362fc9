"""Plain-text tables of search results for the terminal (``--json`` prints the models instead)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from search.query import ArticlePage, StoryDetail, StoryPage, TimeBucket


def _when(t: datetime, precision: str = "second") -> str:
    """A time only as precise as it is known: a date-only report shows its date."""
    return t.strftime("%Y-%m-%d") if precision == "day" else t.strftime("%Y-%m-%d %H:%M")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def stories_table(page: StoryPage) -> str:
    rows = [
        [
            str(i),
            _cut(h.label, 48) + (f" (+{len(h.siblings)})" if h.siblings else ""),
            str(h.size),
            str(h.source_count),
            ",".join(h.languages),
            _when(h.first_seen),
            _when(h.last_seen),
            h.status.value,
            h.id,
        ]
        for i, h in enumerate(page.results, start=(page.page - 1) * page.size + 1)
    ]
    head = ["#", "story", "size", "sources", "lang", "first seen", "last seen", "status", "id"]
    footer = f"\n{len(page.results)} shown of {page.total} (page {page.page})"
    return (table(head, rows) if rows else "no stories found") + footer


def articles_table(page: ArticlePage) -> str:
    rows = [
        [_when(a.published, a.published_precision), a.source, _cut(a.title, 70), a.story_id, a.id] for a in page.results
    ]
    footer = f"\n{len(page.results)} shown of {page.total} (page {page.page})"
    head = ["published", "source", "title", "story", "id"]
    return (table(head, rows) if rows else "no articles found") + footer


def _trimmed(histogram: Sequence[TimeBucket]) -> Sequence[TimeBucket]:
    """The buckets from the first with articles to the last with articles."""
    full = [i for i, b in enumerate(histogram) if b.count]
    return histogram[full[0] : full[-1] + 1] if full else ()


def story_text(detail: StoryDetail) -> str:
    s = detail.story
    lines = [
        s.label,
        *([f"  {s.headline}"] if s.headline and s.headline != s.label else []),
        f"  id {s.id}  version {s.version}  status {s.status.value}"
        + (f" -> {s.merged_into}" if s.merged_into else ""),
        f"  {s.size} articles from {s.source_count} sources, languages {', '.join(s.languages) or '-'}",
        f"  first seen {_when(s.first_seen)}, last seen {_when(s.last_seen)}",
        f"  keywords: {', '.join(s.keywords) or '-'}",
        "",
        "Sources",
        table(["source", "articles"], [[b.key, str(b.count)] for b in detail.sources]),
        "",
        f"Timeline (per {detail.interval})",
    ]
    peak = max((b.count for b in detail.histogram), default=0) or 1
    daily = detail.interval.endswith("d")
    for b in _trimmed(detail.histogram):
        bar = "#" * max(1, round(30 * b.count / peak)) if b.count else ""
        lines.append(f"  {_when(b.start, 'day' if daily else 'second')}  {bar} {b.count}")
    lines += ["", "Articles (oldest first)", articles_table(detail.articles)]
    return "\n".join(lines)
