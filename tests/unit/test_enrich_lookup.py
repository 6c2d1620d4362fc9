"""The dormant-story lookups: the service's SQLite store finds exactly what the in-memory one finds."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from enrich.lookup import MemoryLookup, SqliteLookup
from storywire.messages import StoryRestore, StorySnapshot, StoryStatus
from tests.unit.test_cluster_core import T0


def snapshot(i: int, version: int, status: StoryStatus, rng: np.random.Generator) -> StorySnapshot:
    v = rng.standard_normal(8)
    v /= np.linalg.norm(v)
    first = T0 + timedelta(hours=int(rng.integers(0, 24 * 60)))
    return StorySnapshot(
        id=f"st-{i}",
        version=version,
        label=f"Story {i}",
        size=2,
        first_seen=first,
        last_seen=first + timedelta(minutes=int(rng.integers(0, 60 * 24 * 9))),
        centroid=tuple(float(x) for x in v.astype(np.float16)),
        status=status,
        updated=T0,
        restore=StoryRestore(centroid_scale=1.5, profile={f"term{i}": 2.0}, members=(f"a{i}", f"b{i}")),
    )


def test_the_sqlite_store_finds_what_the_memory_lookup_finds() -> None:
    rng = np.random.default_rng(5)
    memory, sqlite = MemoryLookup(), SqliteLookup()
    stream = []
    for round_ in range(3):  # stories go dormant, some are revived or merged, some go dormant again
        for i in range(150):
            status = StoryStatus.DORMANT if rng.random() < 0.7 else rng.choice([StoryStatus.ACTIVE, StoryStatus.MERGED])
            stream.append(snapshot(i, round_ + 1, status, rng))
    stream.append(snapshot(3, 1, StoryStatus.DORMANT, rng))  # an old version arriving late changes nothing
    for start in range(0, len(stream), 40):
        memory.add(stream[start : start + 40])
        sqlite.add(stream[start : start + 40])
    assert len(sqlite) == len(memory) > 0
    for _ in range(30):
        v = rng.standard_normal(8).astype(np.float32)
        v /= np.linalg.norm(v)
        since = T0 + timedelta(hours=int(rng.integers(0, 24 * 60)))
        until = since + timedelta(days=float(rng.uniform(0, 14)))
        want = memory.find(v, since, until, 12)
        assert sqlite.find(v, since, until, 12) == want
    sqlite.clear()
    assert len(sqlite) == 0 and sqlite.find(v, T0, T0 + timedelta(days=90), 12) == []
    sqlite.close()
