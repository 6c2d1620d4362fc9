"""One story's mutable state inside the clusterer, its label, and its snapshot.

The snapshot (``storywire.messages.StorySnapshot``) carries everything needed to rebuild the
state exactly after a restart: the unit centroid as float32 values and its scale (the
norm of the sum of member vectors), the term profile, the member ids and the top
articles with their similarity. Times are kept as integer microseconds so a round trip
through JSON changes nothing.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from enrich.features import STOPWORDS, fold, is_figure, title_words, top_terms
from storywire.messages import StoryArticle, StoryRestore, StorySnapshot, StoryStatus, trusted

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_DAY = 86_400_000_000


def to_micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class Top(NamedTuple):
    """A member among the closest to the story: a plain tuple, since there are many."""

    similarity: float
    id: str
    title: str
    url: str
    source: str
    published: int  # microseconds since the epoch

    def message(self) -> StoryArticle:
        return _story_article(self)


# A story's top articles rarely change between two of its snapshots: build each message once.
@functools.lru_cache(maxsize=1 << 14)
def _story_article(top: Top) -> StoryArticle:
    return trusted(
        StoryArticle,
        id=top.id,
        title=top.title,
        url=top.url,
        source=top.source,
        published=from_micros(top.published),
        similarity=top.similarity,
    )


class StoryState:
    """A story while it is active (or the record of one that is not)."""

    __slots__ = (
        "absorbed",
        "first",
        "id",
        "keywords",
        "label",
        "languages",
        "last",
        "members",
        "merged_into",
        "row",
        "scale",
        "sources",
        "status",
        "terms",
        "top",
        "version",
        "weights",
    )

    def __init__(self, story_id: str, first: int) -> None:
        self.id = story_id
        self.row = -1  # row in the clusterer's centroid matrix while active
        self.scale = 0.0
        self.first = first
        self.last = first
        # Lists, not sets: the clusterer's member map already rules out duplicates, and
        # 100,000 stories in memory make every container count.
        self.members: list[str] = []
        self.sources: tuple[str, ...] = ()  # tuples: smaller than lists, rarely extended
        self.languages: tuple[str, ...] = ()
        # The term profile as two compact sequences (a dict per story costs several times more).
        self.terms: tuple[str, ...] = ()
        # Weights are sums of small integers (see features.terms): exact in single precision.
        self.weights = array("f")
        self.top: list[Top] = []
        self.label = ""
        self.keywords: tuple[str, ...] = ()
        self.version = 0
        self.status = StoryStatus.ACTIVE
        self.merged_into: str | None = None
        self.absorbed: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.members)

    def add_terms(self, weights: dict[str, float], limit: int) -> tuple[str, ...]:
        """Add an article's (or a story's) terms to the profile; returns the terms before."""
        before = self.terms
        prof = self.profile
        get = prof.get
        # A full profile's weights only grow, so a term not in it makes the cut only with a
        # weight of at least the lightest one's now: the others need not be sorted.
        floor = min(self.weights) if len(prof) >= limit else -math.inf
        for term, w in weights.items():
            old = get(term)
            if old is not None:
                prof[term] = old + w
            elif w >= floor:
                prof[term] = 0.0 + w
        keys = top_terms(prof, limit)
        # Profiles keep these strings: one object per term across all stories.
        self.terms = tuple(map(sys.intern, keys))
        self.weights = array("f", map(prof.__getitem__, keys))
        return before

    @property
    def profile(self) -> dict[str, float]:
        """Term -> accumulated weight, heaviest first."""
        return dict(zip(self.terms, self.weights, strict=True))

    def add_top(self, article: Top, limit: int) -> bool:
        """Keep the ``limit`` members most similar to the story; True if ``article`` is now the closest."""
        if any(a.id == article.id for a in self.top):
            return False
        self.top.append(article)
        self.top.sort(key=lambda a: (-a.similarity, a.published, a.id))
        del self.top[limit:]
        return self.top[0] is article

    def relabel(self, idf: Callable[[str], float], n_keywords: int, max_words: int) -> None:
        """Keywords and label from the profile, each term's weight times ``idf(term)``."""
        terms = self.terms
        xs = [w * idf(t) for t, w in zip(terms, self.weights, strict=True)]
        weights = dict(zip(terms, xs, strict=True))
        # Figures separate events but make poor headlines ("3rd 2023 Russian media").
        words = {t: x * 0.25 if is_figure(t) else x for t, x in zip(terms, xs, strict=True)}
        self.keywords = tuple(top_terms(weights, n_keywords))
        self.label = choose_label([(a.similarity, a.title) for a in self.top], words, max_words)

    def snapshot(
        self, centroid: npt.NDArray[np.floating[Any]] | None, updated: datetime, max_members: int
    ) -> StorySnapshot:
        """The message for this state. Built without re-validation: every value comes from
        this state, which only ever holds valid ones (and thousands are built per second)."""
        members = tuple(self.members)
        if len(members) > max_members:
            members = members[-max_members:]
        restore = trusted(StoryRestore, centroid_scale=self.scale, profile=self.profile, members=members)
        return trusted(
            StorySnapshot,
            id=self.id,
            version=self.version,
            label=self.label,
            keywords=self.keywords,
            size=self.size,
            sources=self.sources,
            languages=self.languages,
            first_seen=from_micros(self.first),
            last_seen=from_micros(self.last),
            centroid=tuple(centroid.tolist()) if centroid is not None else (),
            top_articles=tuple(a.message() for a in self.top),
            status=self.status,
            merged_into=self.merged_into,
            absorbed=self.absorbed,
            updated=updated.astimezone(UTC),
            restore=restore,
        )

    @classmethod
    def from_snapshot(cls, story: StorySnapshot) -> StoryState:
        restore = story.restore or StoryRestore()
        st = cls(story.id, to_micros(story.first_seen))
        st.last = to_micros(story.last_seen)
        st.scale = restore.centroid_scale or 0.0
        # With 100,000 stories restored, shared strings count: sources and languages repeat
        # across stories (interned), and a top article's id is its member entry's string.
        st.members = list(restore.members)
        st.sources = tuple(sys.intern(x) for x in story.sources)
        st.languages = tuple(sys.intern(x) for x in story.languages)
        st.terms = tuple(sys.intern(t) for t in restore.profile)
        st.weights = array("f", restore.profile.values())
        ids = {m: m for m in st.members}
        st.top = [
            Top(
                a.similarity or 0.0,
                ids.get(a.id, a.id),
                a.title,
                a.url,
                sys.intern(a.source),
                to_micros(a.published),
            )
            for a in story.top_articles
        ]
        st.label = story.label
        st.keywords = tuple(sys.intern(k) for k in story.keywords)
        st.version = story.version
        st.status = story.status
        st.merged_into = story.merged_into
        st.absorbed = story.absorbed
        return st


@functools.lru_cache(maxsize=16384)
def _title_keys(title: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]:
    """A title's words as written, their folded keys, and which of them are function words."""
    words = tuple(title_words(title))
    if title.isascii():  # one lower() for the whole title; words have no spaces and never become empty
        keys = tuple(" ".join(words).lower().replace(",", "").split(" ")) if words else ()
    else:
        keys = tuple(fold(w).replace(",", "") for w in words)
    return words, keys, tuple(k in STOPWORDS for k in keys)


def _window_score(
    keys: tuple[str, ...], stop: tuple[bool, ...], weights: dict[str, float], max_words: int
) -> tuple[float, int, int]:
    """The best run of words by summed term weight, trimmed of function words at both ends.

    The first run (by start, then end) whose total beats every earlier one by more than
    1e-12. Weights are never negative, so a start whose next ``max_words`` weights
    together fall short of the best total so far cannot win and is skipped.
    """
    n = len(keys)
    get = weights.get
    ws = [get(k, 0.0) for k in keys]  # each word looked up once, not once per run
    best, bi, bj = 0.0, 0, min(n, 1)
    if not any(ws):
        return best, bi, bj
    ahead = [0.0] * (n + 1)  # ahead[i]: sum of ws[i:i + max_words]
    for i in range(n - 1, -1, -1):
        ahead[i] = ahead[i + 1] + ws[i] - (ws[i + max_words] if i + max_words < n else 0.0)
    for i in range(n):
        if stop[i] or ahead[i] * (1.0 + 1e-9) + 1e-9 < best:
            continue
        total = 0.0
        for j in range(i, min(n, i + max_words)):
            total += ws[j]
            if total > best + 1e-12 and not stop[j]:
                best, bi, bj = total, i, j + 1
    return best, bi, bj


def choose_label(titles: list[tuple[float, str]], weights: dict[str, float], max_words: int) -> str:
    """A short phrase from a member title, for closeness to the centroid and frequency.

    Each candidate title (the members closest to the centroid) is scored mostly by how much
    of the story's term weight (frequency across members) its best run of at most
    ``max_words`` words covers, and a little by its similarity to the centroid; the best
    run of the best title is the label.
    """
    if not titles:
        return ""
    mass = sum(sorted(weights.values(), reverse=True)[:max_words]) or 1.0
    best: tuple[float, str] = (-math.inf, titles[0][1])
    for sim, title in titles:
        words, keys, stop = _title_keys(title)
        if not words:
            continue
        cover, i, j = _window_score(keys, stop, weights, max_words)
        score = 0.2 * sim + 0.8 * cover / mass
        if score > best[0] + 1e-12:
            phrase = " ".join(words[i:j])
            best = (score, phrase[:1].upper() + phrase[1:])
    return best[1]
