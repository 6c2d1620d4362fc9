"""The active stories' centroids as one matrix, for the clusterer (numpy only).

Rows hold unit centroids in half precision (100,000 stories at 384 dimensions take
77 MB), with each story's first and last seen time beside them so the time window is
checked without touching Python objects. Freed rows are reused. Every value a score
is computed from is read back exactly as stored, so results do not depend on which
row a story happens to occupy.

The pre-screen (every article of a chunk against every row, in float32) is the one
big computation. While the table is small enough (``MIRROR_BYTES``) it keeps an exact
float32 copy of the rows, so a scan need not widen them first; above that it widens a
block at a time, which keeps 100,000 stories within their memory budget. A scan can
run in a background thread (``start_scan``) while the clusterer assigns the previous
chunk: rows written meanwhile are noted, and ``finish_scan`` recomputes their columns,
so the result is what a scan started afterwards would give.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

F16 = npt.NDArray[np.float16]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

_BLOCK_ROWS = 4096  # rows widened to float32 at a time for the pre-screen product
MIRROR_BYTES = 64 << 20  # float32 copy kept up to this size (43,690 rows at 384 dimensions)


class CentroidTable:
    def __init__(self) -> None:
        self.dim = 0
        self.u: F16 = np.zeros((0, 0), dtype=np.float16)
        self.u32: F32 | None = None  # exact float32 copy of ``u`` while the table is small
        self.first = np.zeros(0, dtype=np.int64)
        self.last = np.zeros(0, dtype=np.int64)
        self.active = np.zeros(0, dtype=bool)
        self.row_ids: list[str | None] = []
        self.free: list[int] = []
        self.rows = 0  # rows in use or freed (high-water mark)
        # The scan in flight (its future and the grid it fills), and the rows written since it started.
        self._pool: ThreadPoolExecutor | None = None
        self._scan: tuple[Future[None], F32] | None = None
        self._dirty: set[int] | None = None

    def set_dim(self, dim: int) -> None:
        self.dim = dim
        self.u = np.zeros((0, dim), dtype=np.float16)
        self.u32 = np.zeros((0, dim), dtype=np.float32)

    def add(self, story_id: str, unit: F32, first: int, last: int) -> int:
        if self.free:
            row = self.free.pop()
        else:
            if self.rows == len(self.u):
                self._grow()
            row = self.rows
            self.rows += 1
            self.row_ids.append(None)
        self._write(row, unit)
        self.first[row] = first
        self.last[row] = last
        self.active[row] = True
        self.row_ids[row] = story_id
        return row

    def remove(self, row: int) -> None:
        self.active[row] = False
        self.row_ids[row] = None
        self.free.append(row)

    def set_unit(self, row: int, total: F64) -> float:
        """Store ``total / |total|``; returns the norm (0 leaves the row unchanged)."""
        norm = float(np.linalg.norm(total))
        if norm > 0.0:
            self._write(row, total / norm)
        return norm

    def set_times(self, row: int, first: int, last: int) -> None:
        self.first[row] = first
        self.last[row] = last

    def unit64(self, row: int) -> F64:
        return np.asarray(self.u[row], dtype=np.float64)

    # ---------------------------------------------------------------------- pre-screen
    def scan(self, vecs: F32, spare: int | None = None) -> F32:
        """Pre-screen similarities of a chunk of articles with every row, plus ``spare``
        columns (default: one per article) for rows added later (-inf until refreshed).
        The rows are split between this thread and the scan thread."""
        width = self.rows
        grid = self._grid(len(vecs), width, len(vecs) if spare is None else spare)
        half = width // 2
        other = self._executor().submit(self._products, vecs, grid, half, width, self._block(width - half))
        try:
            self._products(vecs, grid, 0, half, self._block(half))
        finally:
            other.result()
        return grid

    def start_scan(self, vecs: F32, spare: int) -> None:
        """Start ``scan(vecs, spare)`` in the scan thread; ``finish_scan`` takes its result.

        Its memory is allocated here, in the calling thread: what a thread frees goes back
        to that thread's own malloc arena and stays there.
        """
        if self._scan is not None:
            raise RuntimeError("a scan is already in flight")
        width = self.rows
        grid = self._grid(len(vecs), width, spare)
        self._dirty = set()
        self._scan = (self._executor().submit(self._products, vecs, grid, 0, width, self._block(width)), grid)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="centroid-scan")
        return self._pool

    @staticmethod
    def _grid(n: int, width: int, spare: int) -> F32:
        grid = np.empty((n, width + spare), dtype=np.float32)
        grid[:, width:] = -np.inf
        return grid

    def _block(self, rows: int) -> F32 | None:
        """A buffer for widening rows a block at a time (none needed with the float32 copy)."""
        return None if self.u32 is not None else np.empty((min(_BLOCK_ROWS, rows), self.dim), np.float32)

    def _products(self, vecs: F32, grid: F32, lo: int, hi: int, block: F32 | None) -> None:
        """grid[:, lo:hi] = vecs x rows[lo:hi], from the float32 copy or a block at a time."""
        if self.u32 is not None:
            np.matmul(vecs, self.u32[lo:hi].T, out=grid[:, lo:hi])
            return
        assert block is not None
        for a in range(lo, hi, _BLOCK_ROWS):
            b = min(hi, a + _BLOCK_ROWS)
            rows32 = block[: b - a]
            np.copyto(rows32, self.u[a:b])
            np.matmul(vecs, rows32.T, out=grid[:, a:b])

    def finish_scan(self, vecs: F32) -> F32:
        """The background scan's grid, with the columns of rows written since it started redone."""
        if self._scan is None:
            raise RuntimeError("no scan in flight")
        done, grid = self._scan
        try:
            done.result()
        finally:
            self._scan = None
        dirty, self._dirty = sorted(self._dirty or ()), None
        if dirty:
            grid[:, dirty] = vecs @ self._rows32(np.asarray(dirty)).T
        return grid

    def drop_scan(self) -> None:
        """Forget a scan in flight (after an error), once it has stopped reading the rows."""
        if self._scan is not None:
            self._scan[0].exception()
        self._scan = None
        self._dirty = None

    def refresh(self, grid: F32, vecs: F32, start: int, row: int) -> None:
        """Row ``row`` changed: recompute its column for the chunk's articles from ``start`` on."""
        if row >= 0 and start < len(vecs):
            grid[start:, row] = vecs[start:] @ self._rows32(row)

    def candidates(self, sims: F32, t: int, floor: float, window: int, limit: int) -> list[int]:
        """Active rows within ``window`` of time ``t`` whose pre-screen similarity reaches ``floor``."""
        sims = sims[: self.rows]
        cand = np.flatnonzero(sims >= floor)
        if len(cand) <= limit:  # the usual case: a few rows, cheaper one by one than as arrays
            first, last, active = self.first, self.last, self.active
            return [r for r in cand.tolist() if active[r] and max(t - last[r], first[r] - t) <= window]
        gap = np.maximum(np.maximum(t - self.last[cand], self.first[cand] - t), 0)
        cand = cand[self.active[cand] & (gap <= window)]
        if len(cand) > limit:
            cand = cand[np.argpartition(-sims[cand], limit - 1)[:limit]]
        return [int(r) for r in cand]

    def stale(self, before: int) -> list[int]:
        """Active rows last seen before ``before``."""
        n = self.rows
        return [int(r) for r in np.flatnonzero(self.active[:n] & (self.last[:n] < before))]

    # ------------------------------------------------------------------------ internals
    def _rows32(self, rows: int | npt.NDArray[np.intp]) -> F32:
        return self.u32[rows] if self.u32 is not None else self.u[rows].astype(np.float32)

    def _write(self, row: int, unit: npt.NDArray[np.floating]) -> None:
        self.u[row] = unit
        if self.u32 is not None:
            self.u32[row] = self.u[row]  # exactly the half-precision value
        if self._dirty is not None:
            self._dirty.add(row)

    def _grow(self) -> None:
        # In place (realloc, which for big blocks remaps pages instead of copying), so the
        # peak is not the old and the new matrix side by side. No view of these arrays
        # outlives a method call, and a scan in flight is waited for first: that is what
        # makes refcheck=False safe here.
        if self._scan is not None:
            self._scan[0].exception()  # wait; finish_scan still takes the result
        cap = len(self.u) + max(1024, len(self.u) // 8)
        self.u.resize((cap, self.dim), refcheck=False)
        if self.u32 is not None:
            if cap * self.dim * 4 <= MIRROR_BYTES:
                self.u32.resize((cap, self.dim), refcheck=False)
            else:
                self.u32 = None
        self.first.resize(cap, refcheck=False)
        self.last.resize(cap, refcheck=False)
        self.active.resize(cap, refcheck=False)
