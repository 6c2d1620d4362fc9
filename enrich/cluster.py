"""Online story clustering: the pure core (numpy only; no Kafka, no model).

Each embedded article is compared with the active stories: those last seen within
``window_days`` of it. The score of article ``a`` against story ``s`` is

    (1 - λ) * cos(a, centroid_s) + λ * lexical(a, s) - time(a, s) - conflict(a, s) + language(a, s)

where ``lexical`` is the cosine of TF-IDF vectors of names, places, numbers and other
content words (IDF = inverse story frequency over active stories), ``time`` grows with
the gap between the article and the story's first/last seen (Gaussian, a few days
wide), ``conflict`` counts against an article whose figures ("iPhone 15") disagree
with the story's ("iPhone 16") and ``language`` lifts the first report in a new
language to a story of two or more reports that shares a term with it (an English-only
model gives two languages' reports of one event a low cosine). At or above
``join_threshold`` the article joins the best story, otherwise it opens a new one.
When an article qualifies for two stories and those stories score above
``merge_threshold`` against each other, the smaller one is merged into the larger
("merged into X"; ``resolve`` keeps its id working). Stories not seen for
``dormant_after_days`` of stream time (the latest published time seen) become dormant
and leave memory.

Speed and memory: centroids are rows of one half-precision matrix (100,000 stories at
384 dimensions in 77 MB). A batch is cut into chunks of articles, each pre-screened
against all the rows with one float32 matrix product; the next chunk's product runs in a
background thread while this chunk is assigned (``CentroidTable.start_scan``), and the
columns of stories changed since a product started are computed again, so
``assign_batch`` gives what one-by-one ``assign`` would. Final scores are computed in
float64 from the stored values, so they do not depend on how the stream was cut into
batches: the same input order gives the same stories, also after ``restore`` from the
snapshots this clusterer emitted (they carry the exact values).

    ClusterError
     +-- DimensionMismatch   an embedding's size differs from the stories' centroids
     +-- InvalidEmbedding    empty, not finite, or all zeros
"""

from __future__ import annotations

import gc
import hashlib
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from enrich.centroids import F16, F32, CentroidTable
from enrich.features import article_terms, is_figure
from enrich.settings import EnrichSettings
from enrich.story_state import MICROS_PER_DAY, StoryState, Top, to_micros
from storywire.config import defaults
from storywire.messages import EmbeddedArticle, StorySnapshot, StoryStatus, utcnow

HOUR_MICROS = 3_600_000_000
# The stories are a large, long-lived graph of small objects (some 40 per story) with no
# reference cycles, which the cyclic garbage collector would walk on every full
# collection (a tenth of the clusterer's time with 10,000 stories). With
# ``freeze_gc=True`` (the `storywire cluster` process) the objects alive after a restore
# and every this many stories opened are moved out of its sight with gc.freeze();
# reference counting still frees them as usual. The same mode lets 50,000 new containers
# (not 700) pile up before a young collection: an article makes dozens, and every early
# collection promotes the batch's live objects to older generations (3% here). It is off
# by default because it is process-wide: gc.get_referrers no longer sees frozen objects,
# which some libraries use.
_FREEZE_EVERY_STORIES = 5_000
_YOUNG_GC_THRESHOLD = 50_000
_PRESCREEN_CELLS = 4_000_000  # chunk rows x stories per pre-screen grid (16 MB of float32)
# Chunks of at most this many articles, so that the next chunk's scan overlaps this one's
# assignment (a scan takes about half as long per article as the assignment). Smaller
# first chunks, to shorten the one scan nothing overlaps, measured slower: each scan
# waits for the GIL to start.
_CHUNK_ARTICLES = 128
_SWITCH_INTERVAL_S = 0.0005


def _freeze() -> None:
    gc.collect()  # what is garbage now must not be frozen with the rest
    gc.freeze()


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


class Clusterer:
    """The clustering state and its update rule. Not thread-safe; one instance per consumer."""

    def __init__(
        self, settings: EnrichSettings | None = None, now: Callable[[], datetime] = utcnow, freeze_gc: bool = False
    ) -> None:
        self.settings = settings or defaults(EnrichSettings)
        self._freeze_gc = freeze_gc
        if freeze_gc:
            gc.set_threshold(max(gc.get_threshold()[0], _YOUNG_GC_THRESHOLD), *gc.get_threshold()[1:])
        self._now = now
        self._table = CentroidTable()
        self.stories: dict[str, StoryState] = {}  # active stories only
        self._resolve: dict[str, str] = {}  # merged story -> story it was merged into
        self._member_of: dict[str, str] = {}  # article id -> story id (active stories)
        self._sf: dict[str, int] = {}  # term -> number of active stories with it in their profile
        self._lsf: dict[str, float] = {}  # term -> log(1 + sf), kept with _sf
        self._seq = 0  # stories ever opened; part of the next story id
        self._clock = -(2**62)
        self._sweep_bucket = -(2**62)
        self._changed: dict[str, None] = {}
        self._retired: dict[str, tuple[StoryState, F16]] = {}
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

        The batch is cut into chunks; while one chunk is assigned, the next one's
        pre-screen runs in a background thread (``CentroidTable.start_scan``).
        """
        if not articles:
            return []
        vecs = self._vectors(articles)
        out: list[Assignment] = []
        table = self._table
        # The scan thread needs the GIL for a moment to start each product; by default it
        # would wait up to 5 ms for this thread to let go of it.
        switch = sys.getswitchinterval()
        i = 0
        try:
            sys.setswitchinterval(min(switch, _SWITCH_INTERVAL_S))
            step = self._chunk_size()
            grid = table.scan(vecs[:step], spare=step)  # split between the two threads
            while i < len(articles):
                nxt = self._chunk_size()
                if i + step < len(articles):
                    # Rows the current chunk opens get columns too: ``step`` more spare ones.
                    table.start_scan(vecs[i + step : i + step + nxt], spare=step + nxt)
                self._chunk = (vecs[i : i + step], grid)
                for k in range(min(step, len(articles) - i)):
                    self._chunk_pos = k
                    out.append(self._assign_one(articles[i + k], vecs[i + k], grid[k]))
                self._chunk = None
                del grid  # before the next chunk's grid is taken, not after (memory peak)
                i += step
                step = nxt
                if i < len(articles):
                    grid = table.finish_scan(vecs[i : i + step])
        finally:
            self._chunk = None
            table.drop_scan()  # after an error: the next batch starts clean
            sys.setswitchinterval(switch)
        return out

    def _chunk_size(self) -> int:
        """Articles in the next chunk: at most ``_CHUNK_ARTICLES``, and the grid's cells bounded."""
        return max(1, min(_CHUNK_ARTICLES, _PRESCREEN_CELLS // max(1, self._table.rows)))

    def take_changes(self) -> list[StorySnapshot]:
        """Snapshots (latest version) of every story changed since the last call, in order."""
        now = self._now()
        out: list[StorySnapshot] = []
        for sid in self._changed:
            st = self.stories.get(sid)
            if st is not None:
                out.append(st.snapshot(self._table.u[st.row], now, self.settings.max_snapshot_members))
            elif sid in self._retired:
                old, centroid = self._retired[sid]
                out.append(old.snapshot(centroid, now, self.settings.max_snapshot_members))
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
        have to fit in memory as messages.
        """
        if self._seq or self.stories:
            raise ClusterError("restore needs an empty clusterer")
        versions: dict[str, int] = {}
        for snap in snapshots:
            if snap.version < versions.get(snap.id, 0):
                continue
            versions[snap.id] = snap.version
            self._clock = max(self._clock, to_micros(snap.last_seen))
            old = self.stories.get(snap.id)
            if old is not None:
                self._detach(old)
            self._resolve.pop(snap.id, None)
            if snap.status is StoryStatus.MERGED and snap.merged_into:
                self._resolve[snap.id] = snap.merged_into
            elif snap.status is StoryStatus.ACTIVE and snap.centroid:
                st = StoryState.from_snapshot(snap)
                self._ensure_dim(len(snap.centroid))
                self._attach(st, np.asarray(snap.centroid, dtype=np.float32))
                for aid in st.members:
                    self._member_of[aid] = st.id
                self._sf_add(st.terms)
        self._seq = len(versions)
        self._sweep_bucket = self._clock // HOUR_MICROS
        if self._freeze_gc:
            _freeze()

    # --------------------------------------------------------------------------- scoring
    def _tfidf_norm(self, weights: dict[str, float]) -> float:
        base, lsf = math.log1p(len(self.stories)) + 1.0, self._lsf
        return math.hypot(*[w * (base - lsf.get(term, 0.0)) for term, w in weights.items()])

    def _lexical(self, a_weights: dict[str, float], a_norm: float, st: StoryState) -> float:
        """Cosine of the TF-IDF vectors of ``a_weights`` (norm ``a_norm``) and the story's profile."""
        if a_norm == 0.0 or not st.terms:
            return 0.0
        dot = 0.0
        s_norm = 0.0
        base = math.log1p(len(self.stories)) + 1.0
        lsf = self._lsf
        a_get = a_weights.get
        for term, w in zip(st.terms, st.weights, strict=True):
            idf = base - lsf.get(term, 0.0)
            x = w * idf
            s_norm += x * x
            aw = a_get(term)
            if aw is not None:
                dot += aw * idf * x
        return dot / (a_norm * math.sqrt(s_norm)) if s_norm else 0.0

    def _conflict(self, weights: dict[str, float], st: StoryState) -> float:
        """1 when the story's headline figures and the article's title figures (title weight x
        name weight, 4 or more: "iPhone 15", "magnitude 7.8") are both there and disjoint."""
        heavy = 2.0 * st.size  # a figure in the titles of about half the members or more
        seen_figure = False
        for term, w in zip(st.terms, st.weights, strict=True):  # heaviest first
            if w < heavy:
                break
            if is_figure(term):
                if weights.get(term, 0.0) >= 4.0:
                    return 0.0
                seen_figure = True
        if not seen_figure:
            return 0.0
        return 1.0 if any(w >= 4.0 and is_figure(term) for term, w in weights.items()) else 0.0

    def _time_penalty(self, t: int, st: StoryState) -> float:
        gap = max(0, t - st.last, st.first - t) / MICROS_PER_DAY
        s = self.settings
        return s.time_weight * (1.0 - math.exp(-((gap / s.time_scale_days) ** 2)))

    # ------------------------------------------------------------------------ assignment
    def _vectors(self, articles: Sequence[EmbeddedArticle]) -> F32:
        """The articles' embeddings as rows, checked all at once."""
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
        """A centroid changed: refresh its pre-screen column for the rest of the chunk."""
        if self._chunk is not None:
            vecs, grid = self._chunk
            self._table.refresh(grid, vecs, self._chunk_pos + 1, row)

    def _assign_one(self, art: EmbeddedArticle, v: F32, row_sims: F32) -> Assignment:
        s = self.settings
        known = self._member_of.get(art.id)
        if known is not None:
            st = self.stories[self.resolve(known)]
            return Assignment(art.id, st.id, float(np.dot(self._table.unit64(st.row), v)), st.label, False, True)
        t = to_micros(art.published)
        if t > self._clock:
            self._clock = t
            self._sweep()
        weights = art.terms or article_terms(art, s.lead_chars)  # the embed worker's, else our own
        a_norm = self._tfidf_norm(weights)
        v64 = v.astype(np.float64)
        lang = art.language
        scored: list[tuple[float, str]] = []
        window = int(s.window_days * MICROS_PER_DAY)
        for r in self._table.candidates(row_sims, t, s.semantic_floor, window, s.max_candidates):
            st = self.stories[self._table.row_ids[r] or ""]
            sem = float(np.dot(self._table.unit64(r), v64))
            lex = self._lexical(weights, a_norm, st)
            score = (1.0 - s.lexical_weight) * sem + s.lexical_weight * lex
            score -= self._time_penalty(t, st) + s.conflict_weight * self._conflict(weights, st)
            # The first report in a new language (both languages known), for a story of two
            # or more reports sharing a name or figure with it (EnrichSettings.cross_language_bonus).
            if lex > 0.0 and lang and st.size >= 2 and st.languages and lang not in st.languages:
                score += s.cross_language_bonus
            scored.append((score, st.id))
        scored.sort(key=lambda x: (-x[0], x[1]))
        if scored and scored[0][0] >= s.join_threshold:
            score, sid = scored[0]
            st = self.stories[sid]
            self._join(st, art, v64, weights, score, t)
            self._touch(st.row)
            for other_score, other in scored[1:]:
                if other_score < s.join_threshold:
                    break
                if other in self.stories and st.id in self.stories:
                    st = self._maybe_merge(st, self.stories[other])
            return Assignment(art.id, st.id, score, st.label, False, False)
        st = self._open(art, v64, weights, t)
        self._touch(st.row)
        return Assignment(art.id, st.id, 1.0, st.label, True, False)

    def _open(
        self, art: EmbeddedArticle, v64: npt.NDArray[np.float64], weights: dict[str, float], t: int
    ) -> StoryState:
        digest = hashlib.blake2b(f"{art.id}\x00{self._seq}".encode(), digest_size=8).hexdigest()
        self._seq += 1
        if self._freeze_gc and self._seq % _FREEZE_EVERY_STORIES == 0:
            _freeze()
        st = StoryState(f"st-{digest}", t)
        norm = float(np.linalg.norm(v64)) or 1.0
        st.scale = norm
        self._attach(st, (v64 / norm).astype(np.float32))
        self._add_member(st, art, weights, 1.0, t)
        return st

    def _join(
        self,
        st: StoryState,
        art: EmbeddedArticle,
        v64: npt.NDArray[np.float64],
        weights: dict[str, float],
        sim: float,
        t: int,
    ) -> None:
        self._set_centroid(st, self._table.unit64(st.row) * st.scale + v64)
        st.first = min(st.first, t)
        st.last = max(st.last, t)
        self._table.set_times(st.row, st.first, st.last)
        self._add_member(st, art, weights, sim, t)

    def _add_member(self, st: StoryState, art: EmbeddedArticle, weights: dict[str, float], sim: float, t: int) -> None:
        s = self.settings
        st.members.append(art.id)
        self._member_of[art.id] = st.id
        if art.source not in st.sources:
            st.sources += (sys.intern(art.source),)
        if art.language and art.language not in st.languages:
            st.languages += (sys.intern(art.language),)
        self._update_profile(st, weights)
        top = Top(sim, art.id, art.title, art.url, art.source, t)
        # Labels follow the closest title and the story's growth (sizes 1, 2, 4, 8...);
        # recomputing them for every member would cost more than the rest of the assignment.
        size = st.size
        if st.add_top(top, s.top_articles) or size & (size - 1) == 0:
            st.relabel(math.log1p(len(self.stories)), self._lsf, s.keywords, s.label_max_words)
        st.version += 1
        self._changed[st.id] = None

    def _update_profile(self, st: StoryState, weights: dict[str, float]) -> None:
        before = st.terms
        st.add_terms(weights, self.settings.profile_terms)
        if st.terms != before:  # often only the weights change
            old, new = set(before), set(st.terms)
            self._sf_remove(old - new)
            self._sf_add(new - old)

    def _set_centroid(self, st: StoryState, total: npt.NDArray[np.float64]) -> None:
        norm = self._table.set_unit(st.row, total)
        if norm > 0.0:
            st.scale = norm

    # ------------------------------------------------------------------- merge, dormancy
    def _maybe_merge(self, a: StoryState, b: StoryState) -> StoryState:
        s = self.settings
        sem = float(np.dot(self._table.unit64(a.row), self._table.unit64(b.row)))
        profile = a.profile
        a_norm = self._tfidf_norm(profile)
        gap = max(0, a.first - b.last, b.first - a.last)
        time_pen = s.time_weight * (1.0 - math.exp(-((gap / MICROS_PER_DAY / s.time_scale_days) ** 2)))
        score = (1.0 - s.lexical_weight) * sem + s.lexical_weight * self._lexical(profile, a_norm, b) - time_pen
        if score < s.merge_threshold:
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
        keep.languages += tuple(x for x in gone.languages if x not in keep.languages)
        self._update_profile(keep, gone.profile)
        for top in gone.top:
            keep.add_top(top, s.top_articles)
        keep.absorbed += (gone.id,)
        keep.relabel(math.log1p(len(self.stories)), self._lsf, s.keywords, s.label_max_words)
        keep.version += 1
        self._changed[keep.id] = None
        self._touch(keep.row)
        gone.merged_into = keep.id
        self._resolve[gone.id] = keep.id
        self._retire(gone, StoryStatus.MERGED)
        return keep

    def _sweep(self) -> None:
        bucket = self._clock // HOUR_MICROS
        if bucket <= self._sweep_bucket:
            return
        self._sweep_bucket = bucket
        limit = self._clock - int(self.settings.dormant_after_days * MICROS_PER_DAY)
        for r in self._table.stale(limit):
            self._retire(self.stories[self._table.row_ids[r] or ""], StoryStatus.DORMANT)

    def _retire(self, st: StoryState, status: StoryStatus) -> None:
        self._retired[st.id] = (st, self._table.u[st.row].copy())
        st.status = status
        st.version += 1
        self._changed[st.id] = None
        self._detach(st)

    def _detach(self, st: StoryState) -> None:
        """Take a story out of memory: its row, its members' entries, its terms' counts."""
        for aid in st.members:
            if self._member_of.get(aid) == st.id:
                del self._member_of[aid]
        self._sf_remove(st.terms)
        del self.stories[st.id]
        self._table.remove(st.row)
        st.row = -1

    # ------------------------------------------------------------------------ bookkeeping
    def _attach(self, st: StoryState, unit: F32) -> None:
        st.row = self._table.add(st.id, unit, st.first, st.last)
        self.stories[st.id] = st

    def _sf_add(self, terms: Iterable[str]) -> None:
        for term in terms:
            n = self._sf.get(term, 0) + 1
            self._sf[term] = n
            self._lsf[term] = math.log1p(n)

    def _sf_remove(self, terms: Iterable[str]) -> None:
        for term in terms:
            n = self._sf.get(term, 0) - 1
            if n > 0:
                self._sf[term] = n
                self._lsf[term] = math.log1p(n)
            else:
                self._sf.pop(term, None)
                self._lsf.pop(term, None)
