"""Story ranking, the pure part: fused relevance weighed with size, sources and freshness, and
near-duplicates of one event folded into one hit.

The ranked lists (BM25 over the story, BM25 over its articles, kNN on its centroid, kNN on
its articles) are fused by reciprocal rank fusion; ``relevance`` is that fused score over
the best one possible (first in every list), so 1 means every ranker put the story first.
Half of a story's relevance is that rank agreement, half the share of the query's words its
texts hold (``coverage``); a story that holds every word (``storywire.analysis.Query.matches``,
the very test a watch rule fires on) gets the whole half.

The score shown is ``relevance x prior`` in 0..1, where the prior (0.8..1) grows with the
story's size, its distinct sources and its freshness. Freshness is measured against the newest
candidate, not the wall clock, so a search over an archive ranks as one over today's news.

Near-duplicates: a candidate whose centroid is within ``DUPLICATE_COSINE`` of a better-ranked
hit and whose time span touches it (within ``DUPLICATE_GAP``) is the same event told twice
(the clusterer split it, or has not merged it yet); it is shown inside that hit as a sibling,
not as a hit of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from storywire import analysis
from storywire.analysis import Query

DUPLICATE_COSINE = 0.86
DUPLICATE_GAP = timedelta(days=3)
_SIZE_FULL = 32  # articles at which the size prior is full
_SOURCES_FULL = 16
_FRESH_DAYS = 30.0


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def prior(source: Mapping[str, Any], newest: datetime) -> float:
    """0.8..1: bigger, more widely reported and fresher stories first among about equally relevant
    ones (a mild weight: a story that is plainly the answer stays first however old it is)."""
    size = min(1.0, math.log1p(int(source.get("size") or 0)) / math.log1p(_SIZE_FULL))
    sources = min(1.0, math.log1p(int(source.get("source_count") or 0)) / math.log1p(_SOURCES_FULL))
    age = max(0.0, (newest - _time(source["last_seen"])).total_seconds() / 86400.0)
    fresh = math.exp(-age / _FRESH_DAYS)
    return 0.8 + 0.2 * (0.45 * size + 0.25 * sources + 0.30 * fresh)


def story_fields(source: Mapping[str, Any]) -> list[str]:
    """The story's texts a query's words are looked for in (as a watch rule looks at a Story)."""
    titles = source.get("titles") or [a.get("title", "") for a in source.get("top_articles") or []]
    return [
        str(source.get("label") or ""),
        str(source.get("headline") or ""),
        *(str(k) for k in source.get("keywords") or ()),
        *(str(t) for t in titles),
    ]


def vocabulary(source: Mapping[str, Any]) -> set[str]:
    return {t for f in story_fields(source) for t in analysis.stems_of(f)}


def coverage(query: Query, source: Mapping[str, Any], known: set[str], more: set[str] | None = None) -> float:
    """The share of the query's words the story holds (1 when it matches, as a watch rule would):
    in its texts, or (``more``) in the text of its member that matched. Figures count double,
    since "iPhone 15" and "iPhone 16" differ only there. Words that no candidate holds (``known``
    lacks them: a place name nobody wrote) say nothing of any story and are not counted."""
    if query.matches(story_fields(source)):
        return 1.0
    words = vocabulary(source) | (more or set())
    weights = {t: 2.0 if t.isdigit() else 1.0 for t in query.all_terms if t in known}
    total = sum(weights.values())
    return 0.9 * sum(w for t, w in weights.items() if t in words) / total if total else 0.0


def score(
    fused: Sequence[tuple[str, float]],
    docs: Mapping[str, Mapping[str, Any]],
    lists: int,
    k: int,
    query: Query | None,
    matched: Mapping[str, set[str]] | None = None,
) -> list[tuple[Mapping[str, Any], float]]:
    """The fused candidates that passed the filters, best first, each with its 0..1 score."""
    kept = [(i, docs[i], r) for i, r in fused if i in docs]
    if not kept:
        return []
    newest = max(_time(src["last_seen"]) for _, src, _ in kept)
    known: set[str] = set()
    if query is not None:
        for i, src, _ in kept:
            known |= vocabulary(src) | (matched or {}).get(i, set())
    best = lists / (k + 1.0)
    out = []
    for i, src, r in kept:
        cover = coverage(query, src, known, (matched or {}).get(i)) if query is not None else 0.0
        relevance = 0.5 * min(1.0, r / best) + 0.5 * cover
        out.append((src, round(relevance * prior(src, newest), 4)))
    out.sort(key=lambda item: -item[1])  # stable: ties keep the fused order
    return out


def _unit(source: Mapping[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    vec = source.get("centroid")
    if not vec:
        return None
    v = np.asarray(vec, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else None


def _touch(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    a0, a1 = _time(a["first_seen"]), _time(a["last_seen"])
    b0, b1 = _time(b["first_seen"]), _time(b["last_seen"])
    return max(a0, b0) - min(a1, b1) <= DUPLICATE_GAP


def collapse(
    ranked: Sequence[tuple[Mapping[str, Any], float]],
) -> list[tuple[Mapping[str, Any], float, list[Mapping[str, Any]]]]:
    """Fold near-duplicate stories into the better-ranked one: (story, score, siblings) in order."""
    out: list[tuple[Mapping[str, Any], float, list[Mapping[str, Any]]]] = []
    units: list[np.ndarray[Any, np.dtype[np.float64]] | None] = []
    for src, sc in ranked:
        u = _unit(src)
        home = None
        if u is not None:
            for n, (kept, _, _) in enumerate(out):
                ku = units[n]
                if ku is not None and float(ku @ u) >= DUPLICATE_COSINE and _touch(kept, src):
                    home = n
                    break
        if home is None:
            out.append((src, sc, []))
            units.append(u)
        else:
            out[home][2].append(src)
    return out
