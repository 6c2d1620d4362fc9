"""The active stories' centroids as one matrix, for the clusterer (numpy only).

Rows hold unit centroids in half precision (100,000 stories at 384 dimensions take
77 MB), with each story's first and last seen time beside them so the time window is
checked without touching Python objects. Freed rows are reused. Every value a score
is computed from is read back exactly as stored, so results do not depend on which
row a story happens to occupy.

The pre-screen (every article of a chunk against every row, in float32) is the one big
computation; rows are widened to float32 a block at a time, so 100,000 stories stay
within their memory budget.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F16 = npt.NDArray[np.float16]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

_BLOCK_ROWS = 4096  # rows widened to float32 at a time for the pre-screen product
_GROW_ROWS = 4096  # rows added at a time when the table is full


class CentroidTable:
    def __init__(self) -> None:
        self.dim = 0
        self.u: F16 = np.zeros((0, 0), dtype=np.float16)
        self.first = np.zeros(0, dtype=np.int64)
        self.last = np.zeros(0, dtype=np.int64)
        self.active = np.zeros(0, dtype=bool)
        self.row_ids: list[str | None] = []
        self.free: list[int] = []
        self.rows = 0  # rows in use or freed (high-water mark)

    def set_dim(self, dim: int) -> None:
        self.dim = dim
        self.u = np.zeros((0, dim), dtype=np.float16)

    def add(self, story_id: str, unit: F32, first: int, last: int) -> int:
        if self.free:
            row = self.free.pop()
        else:
            if self.rows == len(self.u):
                self._grow()
            row = self.rows
            self.rows += 1
            self.row_ids.append(None)
        self.u[row] = unit
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
            self.u[row] = total / norm
        return norm

    def set_times(self, row: int, first: int, last: int) -> None:
        self.first[row] = first
        self.last[row] = last

    def unit64(self, row: int) -> F64:
        return np.asarray(self.u[row], dtype=np.float64)

    # ---------------------------------------------------------------------- pre-screen
    def scan(self, vecs: F32, spare: int) -> F32:
        """Pre-screen similarities of a chunk of articles with every row, plus ``spare``
        columns for rows added later (-inf until ``refresh``)."""
        width = self.rows
        grid = np.empty((len(vecs), width + spare), dtype=np.float32)
        grid[:, width:] = -np.inf
        block = np.empty((min(_BLOCK_ROWS, max(width, 1)), self.dim), np.float32)
        for a in range(0, width, _BLOCK_ROWS):
            b = min(width, a + _BLOCK_ROWS)
            rows32 = block[: b - a]
            np.copyto(rows32, self.u[a:b])
            np.matmul(vecs, rows32.T, out=grid[:, a:b])
        return grid

    def refresh(self, grid: F32, vecs: F32, start: int, row: int) -> None:
        """Row ``row`` changed: recompute its column for the chunk's articles from ``start`` on."""
        if 0 <= row < grid.shape[1] and start < len(vecs):
            grid[start:, row] = vecs[start:] @ self.u[row].astype(np.float32)

    def candidates(self, sims: F32, t: int, floor: float, window: int, limit: int) -> list[int]:
        """Active rows whose span is within ``window`` of time ``t`` and whose pre-screen
        similarity reaches ``floor``, the ``limit`` most similar."""
        sims = sims[: self.rows]
        cand = np.flatnonzero(sims >= floor)
        gap = np.maximum(np.maximum(t - self.last[cand], self.first[cand] - t), 0)
        cand = cand[self.active[cand] & (gap <= window)]
        if len(cand) > limit:
            cand = cand[np.argpartition(-sims[cand], limit - 1)[:limit]]
        return [int(r) for r in cand]

    def stale(self, before: int) -> list[int]:
        """Active rows last seen before ``before``."""
        n = self.rows
        return [int(r) for r in np.flatnonzero(self.active[:n] & (self.last[:n] < before))]

    def _grow(self) -> None:
        # In place (realloc, which for big blocks remaps pages instead of copying), so the
        # peak is not the old and the new matrix side by side. No view of these arrays
        # outlives a method call: that is what makes refcheck=False safe here.
        # A fixed step, not a share of the size: realloc remaps, so small steps cost little,
        # and the rows not yet used (zeroed, so resident) stay few.
        cap = len(self.u) + _GROW_ROWS
        self.u.resize((cap, self.dim), refcheck=False)
        self.first.resize(cap, refcheck=False)
        self.last.resize(cap, refcheck=False)
        self.active.resize(cap, refcheck=False)
