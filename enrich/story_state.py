"""One story's mutable state inside the clusterer, its names (``enrich.labels``), and its snapshot.

The snapshot (``storywire.messages.StorySnapshot``) carries everything needed to rebuild the
state exactly after a restart: the unit centroid as float32 values and its scale (the
norm of the sum of member vectors), the term profile and which of its terms are names,
the members' language counts, the member ids, the top articles with their similarity and
the titles the names are cut from (the ``NAMING_TITLES`` most similar members', a URL
slug's cased from its text when it joined).
Times are kept as integer microseconds so a round trip through JSON changes nothing.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from enrich.features import top_terms
from enrich.label_casing import TEXT_CHARS, naming_title
from enrich.labels import Member, name_story
from storywire.messages import (
    Article,
    NamingTitle,
    StoryArticle,
    StoryRestore,
    StorySnapshot,
    StoryStatus,
    trusted,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_NAMES: frozenset[str] = frozenset()
_COUNTS: dict[tuple[int, ...], tuple[int, ...]] = {}


def _shared(counts: tuple[int, ...]) -> tuple[int, ...]:
    """One tuple object per distinct language count tuple ((1,), (2,), (3, 1)...): stories repeat them."""
    if len(_COUNTS) > 100_000:
        _COUNTS.clear()
    return _COUNTS.setdefault(counts, counts)


MICROS_PER_DAY = 86_400_000_000
# The titles a story's names are cut from: its most similar members'. More than the three top
# articles, since a good phrase is often in a fourth report's title; few, since relabelling
# reads them all.
NAMING_TITLES = 8


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
    language: str | None = None

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
        language=top.language,
    )


# A member's title as the namer reads it (``slug``: cased from its text, see ``naming_title``).
Title = NamingTitle


class StoryState:
    """A story while it is active (or the record of one that is not)."""

    __slots__ = (
        "absorbed",
        "first",
        "headline",
        "id",
        "keywords",
        "label",
        "language_counts",
        "languages",
        "last",
        "members",
        "merged_into",
        "name_mask",
        "row",
        "scale",
        "sources",
        "status",
        "terms",
        "titles",
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
        self.language_counts: tuple[int, ...] = ()  # members in each of ``languages``
        # The term profile as two compact sequences (a dict per story costs several times more).
        self.terms: tuple[str, ...] = ()
        # Weights are sums of small integers (see features.terms): exact in single precision.
        self.weights = array("f")
        # Bit i set: terms[i] is written as a name by a member. An int, not a set per story:
        # 100,000 stories in memory.
        self.name_mask = 0
        self.top: list[Top] = []
        self.titles: tuple[Title, ...] = ()  # empty: the top articles' titles stand in
        self.label = ""
        self.headline = ""
        self.keywords: tuple[str, ...] = ()
        self.version = 0
        self.status = StoryStatus.ACTIVE
        self.merged_into: str | None = None
        self.absorbed: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def names(self) -> frozenset[str]:
        """The profile's terms that a member wrote as a name."""
        mask = self.name_mask
        return frozenset(t for i, t in enumerate(self.terms) if mask >> i & 1) if mask else _NO_NAMES

    def add_language(self, language: str | None, n: int = 1) -> None:
        if not language:
            return
        if language in self.languages:
            i = self.languages.index(language)
            counts = list(self.language_counts)
            counts[i] += n
            self.language_counts = _shared(tuple(counts))
        else:
            self.languages += (sys.intern(language),)
            self.language_counts = _shared((*self.language_counts, n))

    def language_share(self, language: str | None) -> float:
        """The share of members (of known language) written in ``language``; 1 when unknown."""
        total = sum(self.language_counts)
        if not language or not total:
            return 1.0
        return self.language_counts[self.languages.index(language)] / total if language in self.languages else 0.0

    def add_terms(
        self, weights: Mapping[str, float], limit: int, names: Collection[str] = frozenset()
    ) -> tuple[str, ...]:
        """Add an article's (or a story's) terms, ``names`` among them, to the profile;
        returns the terms before."""
        before = self.terms
        named = self.names | frozenset(names) if names else self.names
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
        self.name_mask = sum(1 << i for i, t in enumerate(self.terms) if t in named) if named else 0
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

    def add_title(self, article: Article, similarity: float) -> bool:
        """Keep ``article``'s title among the ``NAMING_TITLES`` most similar members' (a URL
        slug's title cased as its text writes its words: the only time the text is at hand);
        True if it is among them."""
        pool = self.naming_titles()
        if len(pool) >= NAMING_TITLES and similarity <= pool[-1].similarity:
            return False
        title, slug = naming_title(article.title, article.content[:TEXT_CHARS] or article.summary)
        self.merge_titles((Title(similarity, title, article.language, sys.intern(article.source), slug),))
        return True

    def merge_titles(self, titles: Sequence[Title]) -> None:
        """Add titles (another story's, merged into this one) to the namer's pool."""
        merged = sorted((*self.naming_titles(), *titles), key=lambda t: (-t.similarity, t.title))
        self.titles = tuple(merged[:NAMING_TITLES])

    def naming_titles(self) -> tuple[Title, ...]:
        """The titles the names are cut from (a story restored from an older snapshot: its top articles')."""
        return self.titles or tuple(Title(a.similarity, a.title, a.language, a.source, False) for a in self.top)

    def relabel(self, idf: Callable[[str], float], n_keywords: int, max_words: int) -> None:
        """Keywords and label from the profile, each term's weight times ``idf(term)``."""
        terms = self.terms
        xs = [w * idf(t) for t, w in zip(terms, self.weights, strict=True)]
        weights = dict(zip(terms, xs, strict=True))
        self.keywords = tuple(top_terms(weights, n_keywords))
        members = [Member(t.title, t.similarity, t.language, t.source, t.slug) for t in self.naming_titles()]
        languages = dict(zip(self.languages, self.language_counts, strict=True))
        names = name_story(members, weights, max_words, languages)
        self.headline, self.label = names.headline, names.label

    def snapshot(
        self, centroid: npt.NDArray[np.floating[Any]] | None, updated: datetime, max_members: int
    ) -> StorySnapshot:
        """The message for this state. Built without re-validation: every value comes from
        this state, which only ever holds valid ones (and thousands are built per second)."""
        members = tuple(self.members)
        if len(members) > max_members:
            members = members[-max_members:]
        restore = trusted(
            StoryRestore,
            centroid_scale=self.scale,
            profile=self.profile,
            members=members,
            names=tuple(sorted(self.names)),
            language_counts=self.language_counts,
            titles=self.titles,
        )
        return trusted(
            StorySnapshot,
            id=self.id,
            version=self.version,
            label=self.label,
            headline=self.headline,
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
        counts = tuple(restore.language_counts)
        st.language_counts = _shared(counts if len(counts) == len(st.languages) else (1,) * len(st.languages))
        st.terms = tuple(sys.intern(t) for t in restore.profile)
        st.weights = array("f", restore.profile.values())
        named = set(restore.names)
        st.name_mask = sum(1 << i for i, t in enumerate(st.terms) if t in named)
        ids = {m: m for m in st.members}
        st.top = [
            Top(
                a.similarity or 0.0,
                ids.get(a.id, a.id),
                a.title,
                a.url,
                sys.intern(a.source),
                to_micros(a.published),
                a.language,
            )
            for a in story.top_articles
        ]
        st.titles = tuple(t._replace(source=sys.intern(t.source)) for t in restore.titles)
        st.label = story.label
        st.headline = story.headline
        st.keywords = tuple(sys.intern(k) for k in story.keywords)
        st.version = story.version
        st.status = story.status
        st.merged_into = story.merged_into
        st.absorbed = story.absorbed
        return st
