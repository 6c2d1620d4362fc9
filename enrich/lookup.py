"""Finding stories that left the clusterer's memory (dormant), so a late report can revive them.

Dormancy is memory management, not a verdict: a story not seen for a while leaves
memory, but a report of its event that arrives late (a lagging feed, a backfill, a
restart after an outage) must still find it. The core asks a ``StoryLookup`` for the
dormant stories whose span comes within the time window of such a report, most similar
to it first, and revives the one the report joins exactly as it left.

A lookup holds the newest snapshot of every dormant story, as the compacted stories
topic does, and it is told of every snapshot the clusterer emits (``add``), so it never
lags behind the clusterer: what it finds does not depend on timing, and the service
finds what a replay finds.

- ``MemoryLookup``: a dict, searched by brute force (``storywire eval``, tests).
- ``SqliteLookup``: the service's. A private temporary SQLite database (on disk in the
  temporary directory, ``TMPDIR``; SQLite removes it when it is closed, also after a
  crash), so dormant stories cost no memory. It needs no persistence of its own: the
  clusterer rebuilds it from the stories topic at every start (``Clusterer.restore``).
  Candidates come from an R*Tree on the stories' spans, then the centroids of those in
  the window are compared with the article, exactly as ``MemoryLookup`` compares them.

The stories index is not involved: it carries the public ``Story`` only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from enrich.story_state import to_micros
from storywire.messages import StorySnapshot, StoryStatus, decode

_MINUTE = 60_000_000  # the R*Tree keeps 32-bit integers: minutes since the epoch
T = TypeVar("T")
F32 = npt.NDArray[np.float32]


class LookupUnavailable(Exception):
    """The store of dormant stories failed (its disk is full, say): the clusterer's state is
    unsure, so the service stops and restores from the stories topic."""


class StoryLookup(Protocol):
    def add(self, stories: Iterable[StorySnapshot]) -> None:
        """Snapshots as the clusterer emits them, in order: a dormant one is kept (its
        newest version), any other status drops the story (revived or merged)."""
        ...

    def clear(self) -> None:
        """Forget every story (before a restore rebuilds the lookup)."""
        ...

    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        """Up to ``limit`` dormant stories whose span [first_seen, last_seen] overlaps
        [start, end], most similar to ``vector`` (a unit vector) first, ties by id: their
        newest snapshots, which carry what ``StoryState.from_snapshot`` needs."""
        ...


def _ranked(found: Sequence[tuple[str, F32, T]], vector: F32, limit: int) -> list[T]:
    """The payloads of the ``limit`` (id, centroid, payload) most similar to ``vector``, ties by id."""
    if not found:
        return []
    sims = np.stack([c for _, c, _ in found]) @ vector.astype(np.float32)
    order = sorted(range(len(found)), key=lambda i: (-float(sims[i]), found[i][0]))
    return [found[i][2] for i in order[:limit]]


def _dormant(s: StorySnapshot) -> bool:
    return s.status is StoryStatus.DORMANT and bool(s.centroid)


class MemoryLookup:
    """The newest snapshot of each dormant story, in a dict (for replays and tests)."""

    def __init__(self) -> None:
        self._dormant: dict[str, StorySnapshot] = {}
        self._versions: dict[str, int] = {}

    def add(self, stories: Iterable[StorySnapshot]) -> None:
        for s in stories:
            if s.version < self._versions.get(s.id, 0):
                continue
            self._versions[s.id] = s.version
            if _dormant(s):
                self._dormant[s.id] = s
            else:
                self._dormant.pop(s.id, None)

    def clear(self) -> None:
        self._dormant.clear()
        self._versions.clear()

    def __len__(self) -> int:
        return len(self._dormant)

    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        near = [
            (s.id, np.asarray(s.centroid, dtype=np.float32), s)
            for s in self._dormant.values()
            if s.first_seen <= end and s.last_seen >= start
        ]
        return _ranked(near, vector, limit)


class SqliteLookup:
    """The newest snapshot of each dormant story in a private temporary SQLite database."""

    def __init__(self) -> None:
        # "": a temporary on-disk database, private to this connection, deleted on close.
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE story (
                n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, version INTEGER NOT NULL,
                dormant INTEGER NOT NULL, first_us INTEGER, last_us INTEGER, centroid BLOB, snapshot BLOB
            );
            CREATE VIRTUAL TABLE span USING rtree_i32(n, first_min, last_min);
            """
        )

    def add(self, stories: Iterable[StorySnapshot]) -> None:
        try:
            self._add(stories)
        except sqlite3.Error as exc:
            raise LookupUnavailable(f"dormant stories' store: {exc}") from exc

    def _add(self, stories: Iterable[StorySnapshot]) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            for s in stories:
                row = db.execute("SELECT n, version FROM story WHERE id = ?", (s.id,)).fetchone()
                if row is not None and s.version < row[1]:
                    continue
                if row is not None:
                    db.execute("DELETE FROM span WHERE n = ?", (row[0],))
                if not _dormant(s):  # revived or merged: only its version is remembered
                    db.execute(
                        "INSERT INTO story (id, version, dormant) VALUES (?, ?, 0) "
                        "ON CONFLICT (id) DO UPDATE SET version = excluded.version, dormant = 0, "
                        "first_us = NULL, last_us = NULL, centroid = NULL, snapshot = NULL",
                        (s.id, s.version),
                    )
                    continue
                first, last = to_micros(s.first_seen), to_micros(s.last_seen)
                centroid = np.asarray(s.centroid, dtype=np.float32).tobytes()
                n = db.execute(
                    "INSERT INTO story (id, version, dormant, first_us, last_us, centroid, snapshot) "
                    "VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                    "dormant = 1, first_us = excluded.first_us, last_us = excluded.last_us, "
                    "centroid = excluded.centroid, snapshot = excluded.snapshot RETURNING n",
                    (s.id, s.version, first, last, centroid, s.to_json()),
                ).fetchone()[0]
                # Rounded outwards: the R*Tree may find a little more; ``find`` checks exactly.
                db.execute("INSERT INTO span VALUES (?, ?, ?)", (n, first // _MINUTE, -(-last // _MINUTE)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def clear(self) -> None:
        try:
            self._db.executescript("DELETE FROM story; DELETE FROM span;")
        except sqlite3.Error as exc:
            raise LookupUnavailable(f"dormant stories' store: {exc}") from exc

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM story WHERE dormant = 1").fetchone()[0])

    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        lo, hi = to_micros(start), to_micros(end)
        try:
            rows = self._db.execute(
                "SELECT s.id, s.first_us, s.last_us, s.centroid, s.snapshot FROM span JOIN story s ON s.n = span.n "
                "WHERE span.first_min <= ? AND span.last_min >= ?",
                (-(-hi // _MINUTE), lo // _MINUTE),
            ).fetchall()
        except sqlite3.Error as exc:
            raise LookupUnavailable(f"dormant stories' store: {exc}") from exc
        near = [
            (sid, np.frombuffer(centroid, dtype=np.float32), bytes(snapshot))
            for sid, first, last, centroid, snapshot in rows
            if first <= hi and last >= lo
        ]
        return [decode(StorySnapshot, raw) for raw in _ranked(near, vector, limit)]

    def close(self) -> None:
        self._db.close()
