"""Online story clustering: the pure core (numpy only; no Kafka, no model, no environment).

An article is compared with the stories whose span [first, last] comes within
``window_days`` of its own date, never with a clock of the stream: a report that arrives
late, from a lagging feed or a backfill, is compared with its event's reports by their
dates. The candidates are pre-screened by the cosine of the article's embedding with
each story's centroid; each is then given the probability that the article reports its
event, from a handful of features (``enrich.scoring``: meaning, terms weighted by a
background frequency, a conflict between the two sides' most salient name or figure,
distance in days to the story's span, language, the story's size) and weights learned
from labelled pairs of one development set (``enrich.train``). The article joins the most
probable story at ``join_probability`` or more, else it opens a new story. When it
qualifies for a second story too, and the two stories are one event by the same
decision (``merge_probability``), the smaller is merged into the larger ("merged into
X"; ``resolve`` keeps its id working).

Dormancy is memory management. A story not seen for ``dormant_after_days`` before the
stream's position (the median date of the last ``_CLOCK_ARTICLES`` articles, which only
moves forward, so one article from the future or a backlog of old ones does not move it)
leaves memory as ``dormant``. An article whose window reaches back past that horizon
also asks the ``StoryLookup`` (``enrich.lookup``) for dormant stories near it in time
and meaning; the one it joins is revived, exactly as it was.

Final scores are computed in float64 from the stored values, so they do not depend on
how the stream was cut into batches: the same input order gives the same stories, also
after ``restore`` from the snapshots this clusterer emitted (they carry the exact values).

    ClusterError
     +-- DimensionMismatch   an embedding's size differs from the stories' centroids
     +-- InvalidEmbedding    empty, not finite, or all zeros
"""

from __future__ import annotations

import hashlib
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from enrich import scoring
from enrich.centroids import F32, CentroidTable
from enrich.features import article_terms
from enrich.lookup import StoryLookup
from enrich.settings import EnrichSettings
from enrich.story_state import MICROS_PER_DAY, StoryState, Top, from_micros, to_micros
from storywire.config import defaults
from storywire.messages import EmbeddedArticle, StorySnapshot, StoryStatus, utcnow

F64 = npt.NDArray[np.float64]
HOUR_MICROS = 3_600_000_000
_PRESCREEN_CELLS = 4_000_000  # chunk rows x stories per pre-screen grid (16 MB of float32)
_CLOCK_ARTICLES = 64  # the stream's position is the median date of this many last articles


class ClusterError(Exception):
    """An article could not be clustered."""


class DimensionMismatch(ClusterError):
    """The embedding has a different size than the centroids (a model change?)."""


class InvalidEmbedding(ClusterError):
    """The embedding is empty, not finite, or zero."""


def embedding_problem(article: EmbeddedArticle, dim: int) -> ClusterError | None:
    """Why this article's embedding cannot be clustered against centroids of size ``dim`` (0: any)."""
    size = len(article.embedding)
    if size == 0:
        return InvalidEmbedding("embedding is empty")
    if dim and size != dim:
        return DimensionMismatch(f"embedding has {size} values, the stories' centroids have {dim}")
    vec = np.asarray(article.embedding, dtype=np.float64)
    if not np.isfinite(vec).all() or not vec.any():
        return InvalidEmbedding("embedding has non-finite values or is all zeros")
    return None


class Assignment(NamedTuple):
    article_id: str
    story_id: str
    similarity: float
    label: str
    new_story: bool
    duplicate: bool


class _Candidate(NamedTuple):
    probability: float
    story_id: str
    state: StoryState
    unit: F64  # the story's unit centroid
    dormant: bool  # found through the lookup: revive it before it changes


class Clusterer:
    """The clustering state and its update rule. Not thread-safe; one instance per consumer."""

    def __init__(
        self,
        settings: EnrichSettings | None = None,
        lookup: StoryLookup | None = None,
        model: scoring.Model | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings if settings is not None else defaults(EnrichSettings)
        self.model = model or scoring.load_model()
        self.lookup = lookup
        self._now = now
        self._table = CentroidTable()
        self.stories: dict[str, StoryState] = {}  # in memory (active) only
        self._resolve: dict[str, str] = {}  # merged story -> story it was merged into
        self._member_of: dict[str, str] = {}  # article id -> story id (stories in memory)
        self.background = scoring.Background()
        self._seq = 0  # stories ever opened; part of the next story id
        self._recent: deque[int] = deque(maxlen=_CLOCK_ARTICLES)
        self._clock = -(2**62)
        self._sweep_bucket = -(2**62)
        self._changed: dict[str, None] = {}
        # Stories that left memory since the last take_changes (their last snapshot is not
        # out yet, so no lookup can know them): searched too, and revived from here.
        self._retired: dict[str, tuple[StoryState, F64]] = {}
        # While assign_batch runs: the chunk's vectors and its pre-screen grid, and where we are.
        self._chunk: tuple[F32, F32] | None = None
        self._chunk_pos = 0

    # ----------------------------------------------------------------------------- public
    @property
    def dim(self) -> int:
        """Size of the centroids (0 until the first vector is seen)."""
        return self._table.dim

    @property
    def active_count(self) -> int:
        return len(self.stories)

    def resolve(self, story_id: str) -> str:
        """The story an id stands for now, following "merged into" links."""
        seen = 0
        while story_id in self._resolve and seen < 1000:
            story_id = self._resolve[story_id]
            seen += 1
        return story_id

    def assign(self, article: EmbeddedArticle) -> Assignment:
        return self.assign_batch([article])[0]

    def assign_batch(self, articles: Sequence[EmbeddedArticle]) -> list[Assignment]:
        """Assign articles in order; the result is the same as assigning them one by one.

        The batch is cut into chunks whose pre-screen against every centroid is one
        matrix product; columns of stories changed inside a chunk are computed again.
        """
        if not articles:
            return []
        vecs = self._vectors(articles)
        out: list[Assignment] = []
        i = 0
        while i < len(articles):
            step = max(1, min(len(articles) - i, _PRESCREEN_CELLS // max(1, self._table.rows)))
            out += self._assign_chunk(articles[i : i + step], vecs[i : i + step])
            i += step
        return out

    def _assign_chunk(self, articles: Sequence[EmbeddedArticle], chunk: F32) -> list[Assignment]:
        """One chunk against its pre-screen grid, which is freed before the next chunk's is made
        (two grids side by side were the memory peak with 100,000 stories)."""
        grid = self._table.scan(chunk, spare=len(chunk))
        self._chunk = (chunk, grid)
        out: list[Assignment] = []
        try:
            for k, art in enumerate(articles):
                self._chunk_pos = k
                out.append(self._assign_one(art, chunk[k], grid[k]))
        finally:
            self._chunk = None
        return out

    def take_changes(self) -> list[StorySnapshot]:
        """Snapshots (latest version) of every story changed since the last call, in order."""
        now = self._now()
        out: list[StorySnapshot] = []
        for sid in self._changed:
            st = self.stories.get(sid)
            if st is not None:
                out.append(st.snapshot(self._table.u[st.row], now, self.settings.max_snapshot_members))
            elif sid in self._retired:
                old, unit = self._retired[sid]
                out.append(old.snapshot(unit.astype(np.float16), now, self.settings.max_snapshot_members))
        self._changed.clear()
        self._retired.clear()
        return out

    def snapshot(self, story_id: str) -> StorySnapshot | None:
        st = self.stories.get(self.resolve(story_id))
        if st is None:
            return None
        return st.snapshot(self._table.u[st.row], self._now(), self.settings.max_snapshot_members)

    def restore(self, snapshots: Iterable[StorySnapshot]) -> None:
        """Rebuild the state from the snapshots this core emitted (a compacted topic read to its end).

        Streams: only the newest version of each story is kept, so a long topic does not
        have to fit in memory as messages. Dormant stories stay out of memory: the lookup
        is rebuilt from the same snapshots and finds them. The stream's position is the
        median last date of the active ones.
        """
        if self._seq or self.stories:
            raise ClusterError("restore needs an empty clusterer")
        if self.lookup is not None:
            self.lookup.clear()
        versions: dict[str, int] = {}
        # The newest profile of each story not merged; None: an active story's, read from its
        # state at the end (not a second tuple per story while 100,000 are restored).
        profiles: dict[str, tuple[str, ...] | None] = {}
        pending: list[StorySnapshot] = []  # for the lookup, a thousand at a time
        for snap in snapshots:
            if self.lookup is not None:
                pending.append(snap)
                if len(pending) >= 1000:
                    self.lookup.add(pending)
                    pending.clear()
            if snap.version < versions.get(snap.id, 0):
                continue
            versions[snap.id] = snap.version
            if snap.status is StoryStatus.MERGED:
                profiles.pop(snap.id, None)
            elif snap.status is StoryStatus.ACTIVE and snap.centroid:
                profiles[snap.id] = None
            else:
                profiles[snap.id] = tuple(snap.restore.profile) if snap.restore else ()
            old = self.stories.get(snap.id)
            if old is not None:
                self._detach(old)
            self._resolve.pop(snap.id, None)
            if snap.status is StoryStatus.MERGED and snap.merged_into:
                self._resolve[snap.id] = snap.merged_into
            elif snap.status is StoryStatus.ACTIVE and snap.centroid:
                self._ensure_dim(len(snap.centroid))
                self._attach(StoryState.from_snapshot(snap), np.asarray(snap.centroid, dtype=np.float32))
        if self.lookup is not None:
            self.lookup.add(pending)
        self._seq = len(versions)
        for sid, terms in profiles.items():
            self.background.add(self.stories[sid].terms if terms is None else terms)
        self.background.stories = len(profiles)
        lasts = sorted(st.last for st in self.stories.values())
        if lasts:
            self._clock = lasts[len(lasts) // 2]
            self._sweep_bucket = self._clock // HOUR_MICROS

    # ------------------------------------------------------------------------ assignment
    def _vectors(self, articles: Sequence[EmbeddedArticle]) -> F32:
        """The articles' embeddings as unit rows, checked all at once."""
        sizes = dict.fromkeys(len(a.embedding) for a in articles)  # in order of appearance
        if 0 in sizes:
            bad = next(a for a in articles if not a.embedding)
            raise InvalidEmbedding(f"{bad.id}: embedding is empty")
        for size in sizes:
            self._ensure_dim(size)  # raises DimensionMismatch for a second size
        vecs = np.array([a.embedding for a in articles], dtype=np.float32)
        ok = np.isfinite(vecs).all(axis=1) & vecs.any(axis=1)
        if not ok.all():
            bad = articles[int(np.argmin(ok))]
            raise InvalidEmbedding(f"{bad.id}: embedding has non-finite values or is all zeros")
        return vecs

    def _ensure_dim(self, dim: int) -> None:
        if self._table.dim == 0:
            self._table.set_dim(dim)
        elif dim != self._table.dim:
            raise DimensionMismatch(f"embedding has {dim} values, the stories' centroids have {self._table.dim}")

    def _touch(self, row: int) -> None:
        """A centroid changed or was added: refresh its pre-screen column for the rest of the chunk."""
        if self._chunk is not None:
            vecs, grid = self._chunk
            self._table.refresh(grid, vecs, self._chunk_pos + 1, row)

    def _assign_one(self, art: EmbeddedArticle, v: F32, row_sims: F32) -> Assignment:
        s = self.settings
        v64 = v.astype(np.float64)
        v64 /= np.linalg.norm(v64)
        known = self._member_of.get(art.id)
        if known is not None:
            st = self.stories[self.resolve(known)]
            return Assignment(art.id, st.id, float(np.dot(self._table.unit64(st.row), v64)), st.label, False, True)
        t = to_micros(art.published)
        self._advance(t)
        weights, names = self._terms(art)
        window = int(s.window_days * MICROS_PER_DAY)
        cands: list[tuple[StoryState, F64, bool]] = []
        for r in self._table.candidates(row_sims, t, s.semantic_floor, window, s.max_candidates):
            cands.append((self.stories[self._table.row_ids[r] or ""], self._table.unit64(r), False))
        if t - window < self._clock - int(s.dormant_after_days * MICROS_PER_DAY):
            cands += self._dormant(v64, t, window)
        mine = scoring.Evidence(weights, names, self.background)
        scored = []
        for st, unit, dormant in cands:
            x = scoring.pair_features(mine, v64, t, art.language, st, unit, self.background, s.window_days)
            scored.append(_Candidate(self.model.probability(x), st.id, st, unit, dormant))
        scored.sort(key=lambda c: (-c.probability, c.story_id))
        if not scored or scored[0].probability < s.join_probability:
            st = self._open(art, v64, weights, t, names)
            return Assignment(art.id, st.id, 1.0, st.label, True, False)
        best = scored[0]
        if best.dormant and art.id in best.state.members:  # a replay of a dormant story's report
            return Assignment(art.id, best.story_id, best.probability, best.state.label, False, True)
        st = self._revive(best) if best.dormant else best.state
        self._join(st, art, v64, weights, best.probability, t, names)
        for other in scored[1:]:
            if other.probability < s.join_probability:
                break
            if other.story_id in self.stories or (other.dormant and other.story_id not in self._resolve):
                target = self._revive(other) if other.story_id not in self.stories else other.state
                st = self._maybe_merge(st, target)
        return Assignment(art.id, st.id, best.probability, st.label, False, False)

    def _terms(self, art: EmbeddedArticle) -> tuple[dict[str, float], frozenset[str]]:
        """The article's weighted terms and the names among them: the embed worker's, else our own."""
        if art.terms:
            return art.terms, frozenset(art.names)
        names: set[str] = set()
        weights = article_terms(art, self.settings.lead_chars, names=names)
        return weights, frozenset(names)

    def _advance(self, t: int) -> None:
        """The stream's position: the median date of the last articles, never moving back."""
        self._recent.append(t)
        mid = sorted(self._recent)[len(self._recent) // 2]
        if mid > self._clock:
            self._clock = mid
            bucket = mid // HOUR_MICROS
            if bucket > self._sweep_bucket:
                self._sweep_bucket = bucket
                limit = mid - int(self.settings.dormant_after_days * MICROS_PER_DAY)
                for r in self._table.stale(limit):
                    self._retire(self.stories[self._table.row_ids[r] or ""], StoryStatus.DORMANT)

    def _dormant(self, v64: F64, t: int, window: int) -> list[tuple[StoryState, F64, bool]]:
        """Stories out of memory within ``window`` of ``t`` and close in meaning: those that
        left it since the last take_changes, and those the lookup finds."""
        s = self.settings
        found: dict[str, tuple[StoryState, F64, bool]] = {}
        for sid, (st, unit) in self._retired.items():
            if st.status is StoryStatus.DORMANT and scoring.gap_days(t, st.first, st.last) * MICROS_PER_DAY <= window:
                found[sid] = (st, unit, True)
        if self.lookup is not None:
            vec = v64.astype(np.float32)
            for snap in self.lookup.find(vec, from_micros(t - window), from_micros(t + window), s.max_candidates):
                if snap.id in found or snap.id in self.stories or snap.id in self._resolve or not snap.centroid:
                    continue
                if snap.status is not StoryStatus.DORMANT:
                    continue
                unit = np.asarray(snap.centroid, dtype=np.float16).astype(np.float64)
                found[snap.id] = (StoryState.from_snapshot(snap), unit, True)
        return [c for c in found.values() if float(np.dot(c[1], v64)) >= s.semantic_floor]

    def _revive(self, cand: _Candidate) -> StoryState:
        """Bring a dormant story back into memory, exactly as it left."""
        st = cand.state
        self._retired.pop(st.id, None)
        st.status = StoryStatus.ACTIVE
        self._attach(st, cand.unit.astype(np.float32))
        self._touch(st.row)
        st.version += 1
        self._changed[st.id] = None
        return st

    def _open(
        self, art: EmbeddedArticle, v64: F64, weights: Mapping[str, float], t: int, names: frozenset[str]
    ) -> StoryState:
        digest = hashlib.blake2b(f"{art.id}\x00{self._seq}".encode(), digest_size=8).hexdigest()
        self._seq += 1
        st = StoryState(f"st-{digest}", t)
        st.scale = 1.0
        self._attach(st, v64.astype(np.float32))
        self.background.stories += 1
        self._add_member(st, art, weights, 1.0, t, names)
        self._touch(st.row)
        return st

    def _join(
        self,
        st: StoryState,
        art: EmbeddedArticle,
        v64: F64,
        weights: Mapping[str, float],
        p: float,
        t: int,
        names: frozenset[str],
    ) -> None:
        self._set_centroid(st, self._table.unit64(st.row) * st.scale + v64)
        st.first = min(st.first, t)
        st.last = max(st.last, t)
        self._table.set_times(st.row, st.first, st.last)
        self._add_member(st, art, weights, p, t, names)
        self._touch(st.row)

    def _add_member(
        self,
        st: StoryState,
        art: EmbeddedArticle,
        weights: Mapping[str, float],
        sim: float,
        t: int,
        names: frozenset[str],
    ) -> None:
        s = self.settings
        st.members.append(art.id)
        self._member_of[art.id] = st.id
        if art.source not in st.sources:
            st.sources += (sys.intern(art.source),)
        st.add_language(art.language)
        self.background.update(st.add_terms(weights, s.profile_terms, names), st.terms)
        top = Top(sim, art.id, art.title, art.url, art.source, t, art.language)
        # Names follow the titles they are cut from (the most similar members', see StoryState.add_title):
        # at every change while the story is small, at every other one after (a relabel reads them
        # all), when the closest member changes, and at the story's growth (sizes 1, 2, 4, 8...).
        size = st.size
        titles = st.add_title(art, sim)
        closest = st.add_top(top, s.top_articles)
        if closest or (titles and (size <= 4 or size % 2 == 0)) or size & (size - 1) == 0:
            st.relabel(self.background.idf, s.keywords, s.label_max_words)
        st.version += 1
        self._changed[st.id] = None

    def _set_centroid(self, st: StoryState, total: F64) -> None:
        norm = self._table.set_unit(st.row, total)
        if norm > 0.0:
            st.scale = norm

    # ------------------------------------------------------------------- merge, dormancy
    def merge_probability(self, a: StoryState, b: StoryState) -> float:
        """P(one event) of two stories in memory, by the same decision as an article's: the
        smaller story in the article's place."""
        sem = float(np.dot(self._table.unit64(a.row), self._table.unit64(b.row)))
        x = scoring.story_pair_features(a, b, sem, self.background, self.settings.window_days)
        return self.model.probability(x)

    def _maybe_merge(self, a: StoryState, b: StoryState) -> StoryState:
        s = self.settings
        if self.merge_probability(a, b) < s.merge_probability:
            return a
        keep, gone = (a, b) if (-a.size, a.first, a.id) <= (-b.size, b.first, b.id) else (b, a)
        table = self._table
        self._set_centroid(keep, table.unit64(keep.row) * keep.scale + table.unit64(gone.row) * gone.scale)
        keep.first = min(keep.first, gone.first)
        keep.last = max(keep.last, gone.last)
        table.set_times(keep.row, keep.first, keep.last)
        for aid in gone.members:
            keep.members.append(aid)
            self._member_of[aid] = keep.id
        keep.sources += tuple(x for x in gone.sources if x not in keep.sources)
        for lang, n in zip(gone.languages, gone.language_counts, strict=True):
            keep.add_language(lang, n)
        self.background.update(keep.add_terms(gone.profile, s.profile_terms, gone.names), keep.terms)
        self.background.remove(gone.terms)  # counted in the story it went into
        self.background.stories -= 1
        keep.merge_titles(gone.naming_titles())  # before the top articles, which stand in for titles
        for top in gone.top:
            keep.add_top(top, s.top_articles)
        keep.absorbed += (gone.id,)
        keep.relabel(self.background.idf, s.keywords, s.label_max_words)
        keep.version += 1
        self._changed[keep.id] = None
        self._touch(keep.row)
        gone.merged_into = keep.id
        self._resolve[gone.id] = keep.id
        self._retire(gone, StoryStatus.MERGED)
        return keep

    def _retire(self, st: StoryState, status: StoryStatus) -> None:
        self._retired[st.id] = (st, self._table.unit64(st.row))
        st.status = status
        st.version += 1
        self._changed[st.id] = None
        self._detach(st)

    def _detach(self, st: StoryState) -> None:
        """Take a story out of memory: its row and its members' entries."""
        for aid in st.members:
            if self._member_of.get(aid) == st.id:
                del self._member_of[aid]
        del self.stories[st.id]
        self._table.remove(st.row)
        st.row = -1

    def _attach(self, st: StoryState, unit: F32) -> None:
        st.row = self._table.add(st.id, unit, st.first, st.last)
        self.stories[st.id] = st
        for aid in st.members:
            self._member_of[aid] = st.id
