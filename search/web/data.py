"""WebData: sends the web page's own queries (``queries``) through the SearchService's client.

Read-only: searches, gets and multi-searches on the ``<prefix>-stories`` and
``<prefix>-articles`` aliases. Failures are the index stage's errors, so the API's
handlers answer them: ``StoryNotFound`` is a 404, ``SearchUnavailable`` a 503.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError

from search.errors import SearchUnavailable
from search.query import StoryHit, timeline
from search.service import SearchService
from search.web import queries as wq

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebData:
    def __init__(self, search: SearchService, clock: Clock = _utcnow) -> None:
        self.search = search
        self.es = search.es
        self.names = search.names
        self.clock = clock

    def related(self, story_id: str, size: int) -> tuple[wq.Related, ...]:
        """Stories with the nearest centroids, then stories of the same days that share its names
        (in any language: a centroid from an English model does not see across languages)."""
        hit = self.search.get_story(story_id)  # StoryNotFound for an unknown id
        doc = self._call(lambda: self.es.get(index=self.names.stories, id=story_id, source_includes=["centroid"]))
        centroid = wq.centroid_of(doc["_source"])
        near: tuple[wq.Related, ...] = ()
        if centroid:
            min_sim = self.search.settings.knn_min_similarity
            near = wq.related(self._search(self.names.stories, wq.related_body(hit, centroid, size, min_sim)))
        named = wq.by_names(self._search(self.names.stories, wq.names_body(hit, size)))
        seen = {r.story.id for r in near}
        return (*near, *(r for r in named if r.story.id not in seen))[: 2 * size]

    def absorbed(self, story_id: str) -> tuple[StoryHit, ...]:
        """The stories merged into this one, in the order the snapshot lists them."""
        hit = self.search.get_story(story_id)
        if not hit.absorbed:
            return ()
        found = wq.stories_by_id(self._search(self.names.stories, wq.stories_body(hit.absorbed)))
        return tuple(found[i] for i in hit.absorbed if i in found)

    def timelines(self, ids: Sequence[str]) -> tuple[wq.Timeline, ...]:
        """Articles over time for each story id that exists, in the order asked."""
        if not ids:
            return ()
        found = wq.stories_by_id(self._search(self.names.stories, wq.stories_body(ids)))
        stories = [found[i] for i in dict.fromkeys(ids) if i in found]
        if not stories:
            return ()
        bodies = [wq.timeline_body(hit) for hit in stories]
        lines: list[dict[str, Any]] = []
        for _, body in bodies:
            lines += ({"index": self.names.articles}, body)
        resp = self._call(lambda: self.es.msearch(searches=lines))
        out = []
        for hit, (interval, _), r in zip(stories, bodies, resp["responses"], strict=True):
            if "error" in r:
                raise SearchUnavailable(f"search is unavailable: {str(r['error'])[:200]}")
            out.append(wq.Timeline(story_id=hit.id, interval=interval, histogram=timeline(r)))
        return tuple(out)

    def now(self, hours: int, size: int) -> wq.NowPage:
        until = self.clock().astimezone(UTC)
        # A few extra buckets: folding merged stories into their targets can shorten the list.
        counts = wq.now_counts(self._search(self.names.articles, wq.now_body(until, hours, size + 10)))
        stories = wq.stories_by_id(self._search(self.names.stories, wq.stories_body(list(counts)))) if counts else {}
        targets = {h.merged_into for h in stories.values() if h.merged_into and h.merged_into not in stories}
        if targets:
            more = self._search(self.names.stories, wq.stories_body(sorted(targets)))
            stories |= wq.stories_by_id(more)
        folded = wq.fold_merged(counts, stories)
        return wq.NowPage(
            hours=hours,
            since=until - timedelta(hours=hours),
            until=until,
            interval=wq.now_interval(hours),
            results=wq.rank_now(folded, stories, hours, size),
        )

    # ------------------------------------------------------------ plumbing

    def _search(self, index: str, body: dict[str, Any]) -> Mapping[str, Any]:
        return self._call(lambda: self.es.search(index=index, body=body))

    def _call(self, fn: Callable[[], Any]) -> Mapping[str, Any]:
        try:
            resp: Mapping[str, Any] = fn().body
            return resp
        except (ApiError, TransportError) as exc:
            if "index_not_found" in str(exc):
                raise SearchUnavailable(
                    f"the indices under prefix {self.names.prefix!r} do not exist yet: start `storywire index run`"
                ) from exc
            raise SearchUnavailable(f"search is unavailable: {str(exc)[:200]}") from exc
