"""The service's ``StoryLookup``: dormant stories from the Elasticsearch stories index.

A story that left the clusterer's memory is found again by kNN on the stories' centroids,
filtered to dormant stories whose span overlaps the article's window; the index stage
stores with each story what the core needs to revive it exactly (``clusterer``: profile,
member ids, centroid scale; ``index.documents.story_doc``). The index writes a few
seconds behind the clusterer, so the snapshots this process emitted most recently are
kept too (``add``) and win over an older version from the index.

    LookupUnavailable   Elasticsearch did not answer: the batch fails and is not
                        committed (a clusterer that guessed would diverge from a replay)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from enrich.cluster import ClusterError
from storywire.messages import StorySnapshot, StoryStatus


class LookupUnavailable(ClusterError):
    """The stories index could not be searched for dormant stories."""


class EsStoryLookup:
    def __init__(self, es: Any, index: str, recent: int = 20_000) -> None:
        self.es = es
        self.index = index
        self._recent: OrderedDict[str, StorySnapshot] = OrderedDict()
        self._keep = recent

    def add(self, stories: Iterable[StorySnapshot]) -> None:
        """The snapshots this clusterer just produced (the index may not have them yet)."""
        for s in stories:
            self._recent.pop(s.id, None)
            self._recent[s.id] = s
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)

    def find(self, vector: npt.NDArray[np.float32], start: datetime, end: datetime, limit: int) -> list[StorySnapshot]:
        from elasticsearch import ApiError, TransportError

        window = [
            {"range": {"first_seen": {"lte": end.isoformat()}}},
            {"range": {"last_seen": {"gte": start.isoformat()}}},
        ]
        body = {
            "knn": {
                "field": "centroid",
                "query_vector": [float(x) for x in vector],
                "k": limit,
                "num_candidates": max(100, 10 * limit),
                "filter": {"bool": {"filter": [{"term": {"status": StoryStatus.DORMANT.value}}, *window]}},
            },
            "size": limit,
        }
        try:
            resp = self.es.search(index=self.index, body=body)
        except (ApiError, TransportError) as exc:
            raise LookupUnavailable(f"{self.index}: {exc}") from exc
        found: dict[str, StorySnapshot] = {}
        for hit in resp["hits"]["hits"]:
            story = _story(hit["_source"])
            if story is not None:
                found[story.id] = story
        for s in self._recent.values():  # newer than the index, or not there yet
            near = s.first_seen <= end and s.last_seen >= start and s.centroid
            if near and (s.id not in found or found[s.id].version < s.version):
                found[s.id] = s
        return [s for s in found.values() if s.status is StoryStatus.DORMANT]


def _story(source: dict[str, Any]) -> StorySnapshot | None:
    state = source.get("clusterer")
    if not isinstance(state, dict) or "centroid" not in source:
        return None  # written before the index kept the clusterer's state: cannot be revived exactly
    extras = {"titles", "source_count", "growth", "clusterer"}  # the index's own fields
    return StorySnapshot.model_validate({k: v for k, v in source.items() if k not in extras} | {"restore": state})
