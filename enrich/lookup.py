"""Finding stories that left the clusterer's memory (dormant), so a late report can revive them.

Dormancy is memory management, not a verdict: a story not seen for a while leaves
memory, but a report of its event that arrives late (a lagging feed, a backfill, a
restart after an outage) must still find it. The core asks a ``StoryLookup`` for the
stories whose span comes within the time window of such a report and whose centroid is
close to it, and revives the one the report joins.

- ``MemoryLookup`` keeps the latest snapshot of every dormant story it is given, as the
  compacted stories topic does; ``storywire eval`` replays through it.
- ``enrich.es_lookup.EsStoryLookup`` (the service) asks the Elasticsearch stories index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from storywire.messages import StorySnapshot, StoryStatus


class StoryLookup(Protocol):
    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        """Up to ``limit`` dormant stories whose span [first_seen, last_seen] overlaps
        [start, end], most similar to ``vector`` (a unit vector) first: their newest
        snapshots, which carry what ``StoryState.from_snapshot`` needs."""
        ...


class MemoryLookup:
    """The newest snapshot of each dormant story, searched by brute force (for replays and tests)."""

    def __init__(self) -> None:
        self._dormant: dict[str, StorySnapshot] = {}

    def add(self, stories: Iterable[StorySnapshot]) -> None:
        """Snapshots as the clusterer emits them (``take_changes``), in order."""
        for s in stories:
            old = self._dormant.get(s.id)
            if old is not None and old.version > s.version:
                continue
            if s.status is StoryStatus.DORMANT and s.centroid:
                self._dormant[s.id] = s
            else:
                self._dormant.pop(s.id, None)

    def __len__(self) -> int:
        return len(self._dormant)

    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        near = [s for s in self._dormant.values() if s.first_seen <= end and s.last_seen >= start]
        if not near:
            return []
        sims = np.asarray([s.centroid for s in near], dtype=np.float32) @ vector
        order = sorted(range(len(near)), key=lambda i: (-float(sims[i]), near[i].id))
        return [near[i] for i in order[:limit]]
