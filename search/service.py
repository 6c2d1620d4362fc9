"""SearchService: sends the bodies built in ``search`` to Elasticsearch and maps the answers.

One service is shared by the CLI, the HTTP API and the web pages: search (stories,
articles), a story and its articles, and the views the pages add (``search.views``: related
stories, timelines of a result page, the Now screen). Every Elasticsearch call goes through
``_call`` or ``_msearch``, the one place where Elasticsearch's errors become the read side's
(``search.errors``): an unknown story is ``StoryNotFound``, anything else ``SearchUnavailable``.
The embedding function is passed in; without one, search is text only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from prometheus_client import Counter, Histogram

from index.client import IndexNames
from index.settings import IndexSettings
from search import query as s
from search import rank
from search import views as v
from search.errors import BadQuery, SearchUnavailable, StoryNotFound
from storywire import analysis

log = logging.getLogger(__name__)

EmbedFn = Callable[[str], Sequence[float]]

SEARCH_SECONDS = Histogram("storywire_index_search_seconds", "Search latency in the service", ["kind"])
SEARCH_ERRORS = Counter("storywire_index_search_errors_total", "Searches that failed", ["kind", "error"])


class SearchService:
    def __init__(
        self, es: Elasticsearch, names: IndexNames, settings: IndexSettings, embed: EmbedFn | None = None
    ) -> None:
        self.es = es
        self.names = names
        self.settings = settings
        self.embed = embed

    # ------------------------------------------------------------ stories

    def search_stories(self, q: s.StoryQuery) -> s.StoryPage:
        _check_range(q.start, q.end, q.page, q.size)
        with SEARCH_SECONDS.labels("stories").time():
            if not q.q.strip():
                resp = self._search("stories", self.names.stories, s.browse_stories_body(q))
                now = self.stream_now()
                hits = tuple(s.story_hit(h["_source"], now=now) for h in resp["hits"]["hits"])
                return s.StoryPage(total=s.total_hits(resp), page=q.page, size=q.size, results=hits)
            n = s.window(q.page, q.size, self.settings.candidates)
            searches: list[tuple[str, dict[str, Any]]] = [
                (self.names.stories, s.story_text_body(q, n)),
                (self.names.articles, s.member_body(q.q, n)),
            ]
            vector = self._vector(q.q)
            if vector is not None:
                min_sim = self.settings.knn_min_similarity
                searches.append((self.names.stories, s.story_knn_body(q, vector, n, min_sim)))
                searches.append((self.names.articles, s.member_knn_body(vector, n, min_sim)))
            responses = self._msearch("stories", searches)
            rankings = [s.hit_ids(responses[0]), s.member_story_ids(responses[1])]
            if vector is not None:
                rankings += [s.hit_ids(responses[2]), s.member_story_ids(responses[3])]
            fused = s.rrf(rankings, self.settings.rrf_k)
            docs = self._fetch("stories", self.names.stories, s.fetch_stories_body([i for i, _ in fused], q), fused)
            try:
                parsed: analysis.Query | None = analysis.Query.parse(q.q)
            except ValueError:
                parsed = None
            matched = s.member_words(responses[1])
            ranked = rank.score(fused, docs, len(rankings), self.settings.rrf_k, parsed, matched)
            ordered = rank.collapse(s.reorder(ranked, q.sort, "last_seen"))
            start = (q.page - 1) * q.size
            now = self.stream_now()
            page = tuple(s.story_hit(src, score, sibs, now) for src, score, sibs in ordered[start : start + q.size])
            return s.StoryPage(total=len(ordered), page=q.page, size=q.size, results=page)

    def get_story(self, story_id: str) -> s.StoryHit:
        resp = self._call(
            "story",
            lambda: self.es.get(index=self.names.stories, id=story_id, source_excludes=["centroid", "titles"]),
            missing=f"no story {story_id!r}",
        )
        return s.story_hit(resp["_source"], now=self.stream_now())

    def stream_now(self) -> datetime | None:
        """The newest story's last_seen: what "live" is measured against (None: no stories yet)."""
        return s.newest(self._search("stories", self.names.stories, s.newest_body()))

    def story(self, story_id: str, page: int = 1, size: int = 50) -> s.StoryDetail:
        """The story, its articles oldest first (absorbed stories' too), sources and timeline."""
        _check_range(None, None, page, size)
        with SEARCH_SECONDS.labels("story").time():
            hit = self.get_story(story_id)
            interval = s.histogram_interval(hit.first_seen, hit.last_seen)
            body = s.story_articles_body([hit.id, *hit.absorbed], page, size, interval)
            resp = self._search("story", self.names.articles, body)
            return s.StoryDetail(
                story=hit,
                articles=self._article_page(resp, page, size),
                sources=s.buckets(resp),
                interval=interval,
                histogram=s.timeline(resp),
            )

    def story_articles(self, story_id: str, page: int = 1, size: int = 50) -> s.ArticlePage:
        _check_range(None, None, page, size)
        hit = self.get_story(story_id)
        resp = self._search(
            "story", self.names.articles, s.story_articles_body([hit.id, *hit.absorbed], page, size, None)
        )
        return self._article_page(resp, page, size)

    # ------------------------------------------------------------ articles

    def search_articles(self, q: s.ArticleQuery) -> s.ArticlePage:
        _check_range(q.start, q.end, q.page, q.size)
        with SEARCH_SECONDS.labels("articles").time():
            if not q.q.strip():
                resp = self._search("articles", self.names.articles, s.browse_articles_body(q))
                return self._article_page(resp, q.page, q.size)
            n = s.window(q.page, q.size, self.settings.candidates)
            searches: list[tuple[str, dict[str, Any]]] = [(self.names.articles, s.article_text_body(q, n))]
            vector = self._vector(q.q)
            if vector is not None:
                body = s.article_knn_body(q, vector, n, self.settings.knn_min_similarity)
                searches.append((self.names.articles, body))
            fused = s.rrf([s.hit_ids(r) for r in self._msearch("articles", searches)], self.settings.rrf_k)
            docs = self._fetch("articles", self.names.articles, s.fetch_articles_body([i for i, _ in fused], q), fused)
            ordered = s.order_fused(fused, docs, q.sort, "published")
            start = (q.page - 1) * q.size
            page = tuple(s.article_hit(src, score) for src, score in ordered[start : start + q.size])
            return s.ArticlePage(total=len(ordered), page=q.page, size=q.size, results=page)

    # ------------------------------------------------------------ views (search.views)

    def related(self, story_id: str, size: int) -> tuple[v.Related, ...]:
        """Stories with the nearest centroids, then stories of the same days that share its names
        (in any language: a centroid from an English model does not see across languages)."""
        with SEARCH_SECONDS.labels("related").time():
            hit = self.get_story(story_id)  # StoryNotFound for an unknown id
            doc = self._call(
                "related",
                lambda: self.es.get(index=self.names.stories, id=story_id, source_includes=["centroid"]),
                missing=f"no story {story_id!r}",
            )
            centroid = v.centroid_of(doc["_source"])
            near: tuple[v.Related, ...] = ()
            if centroid:
                body = v.related_body(hit, centroid, size, self.settings.knn_min_similarity)
                near = v.related(self._search("related", self.names.stories, body))
            named = v.by_names(self._search("related", self.names.stories, v.names_body(hit, size)))
            seen = {r.story.id for r in near}
            return (*near, *(r for r in named if r.story.id not in seen))[: 2 * size]

    def absorbed(self, story_id: str) -> tuple[s.StoryHit, ...]:
        """The stories merged into this one, in the order the snapshot lists them."""
        hit = self.get_story(story_id)
        if not hit.absorbed:
            return ()
        found = v.stories_by_id(self._search("story", self.names.stories, v.stories_body(hit.absorbed)))
        return tuple(found[i] for i in hit.absorbed if i in found)

    def timelines(self, ids: Sequence[str]) -> tuple[v.Timeline, ...]:
        """Articles over time for each story id that exists, in the order asked."""
        if not ids:
            return ()
        with SEARCH_SECONDS.labels("timelines").time():
            found = v.stories_by_id(self._search("timelines", self.names.stories, v.stories_body(ids)))
            stories = [found[i] for i in dict.fromkeys(ids) if i in found]
            if not stories:
                return ()
            bodies = [v.timeline_body(hit) for hit in stories]
            responses = self._msearch("timelines", [(self.names.articles, body) for _, body in bodies])
            return tuple(
                v.Timeline(story_id=hit.id, interval=interval, histogram=s.timeline(r))
                for hit, (interval, _), r in zip(stories, bodies, responses, strict=True)
            )

    def now(self, hours: int, size: int, until: datetime) -> v.NowPage:
        """Stories ranked by articles published in the ``hours`` before ``until``, with the window before."""
        until = until.astimezone(UTC)
        with SEARCH_SECONDS.labels("now").time():
            # A few extra buckets: folding merged stories into their targets can shorten the list.
            counts = v.now_counts(self._search("now", self.names.articles, v.now_body(until, hours, size + 10)))
            stories: dict[str, s.StoryHit] = {}
            if counts:
                stories = v.stories_by_id(self._search("now", self.names.stories, v.stories_body(list(counts))))
            targets = {h.merged_into for h in stories.values() if h.merged_into and h.merged_into not in stories}
            if targets:
                stories |= v.stories_by_id(self._search("now", self.names.stories, v.stories_body(sorted(targets))))
            return v.NowPage(
                hours=hours,
                since=until - timedelta(hours=hours),
                until=until,
                interval=v.now_interval(hours),
                results=v.rank_now(v.fold_merged(counts, stories), stories, hours, size),
            )

    # ------------------------------------------------------------ plumbing

    def _article_page(self, resp: Mapping[str, Any], page: int, size: int) -> s.ArticlePage:
        hits = tuple(s.article_hit(h["_source"]) for h in resp["hits"]["hits"])
        return s.ArticlePage(total=s.total_hits(resp), page=page, size=size, results=hits)

    def _vector(self, text: str) -> Sequence[float] | None:
        if self.embed is None:
            return None
        try:
            return self.embed(text)
        except Exception as exc:  # a broken model degrades search to text only rather than failing it
            SEARCH_ERRORS.labels("embed", type(exc).__name__).inc()
            log.warning("query embedding failed, text only", extra={"error": str(exc)[:300]})
            return None

    def _fetch(
        self, kind: str, index: str, body: dict[str, Any], fused: Sequence[tuple[str, float]]
    ) -> dict[str, Mapping[str, Any]]:
        if not fused:
            return {}
        return s.sources_of(self._search(kind, index, body))

    def _search(self, kind: str, index: str, body: dict[str, Any]) -> Mapping[str, Any]:
        return self._call(kind, lambda: self.es.search(index=index, body=body))

    def _call(self, kind: str, fn: Callable[[], Any], missing: str | None = None) -> Mapping[str, Any]:
        """``fn()``'s answer body; Elasticsearch's errors as the read side's: a missing document
        is ``StoryNotFound(missing)`` when ``missing`` is given, anything else ``SearchUnavailable``."""
        try:
            resp: Mapping[str, Any] = fn().body
            return resp
        except NotFoundError as exc:
            if missing is None or "index_not_found" in str(exc):
                raise self._unavailable(kind, exc) from exc
            raise StoryNotFound(missing) from exc
        except (ApiError, TransportError) as exc:
            raise self._unavailable(kind, exc) from exc

    def _msearch(self, kind: str, searches: Sequence[tuple[str, dict[str, Any]]]) -> list[Mapping[str, Any]]:
        lines: list[dict[str, Any]] = []
        for index, body in searches:
            lines += ({"index": index}, body)
        resp = self._call(kind, lambda: self.es.msearch(searches=lines))
        out = []
        for r in resp["responses"]:
            if "error" in r:
                raise self._unavailable(kind, r["error"])
            out.append(r)
        return out

    def _unavailable(self, kind: str, exc: object) -> SearchUnavailable:
        name = type(exc).__name__ if isinstance(exc, BaseException) else "ApiError"
        SEARCH_ERRORS.labels(kind, name).inc()
        log.warning("search failed", extra={"kind": kind, "error": str(exc)[:300]})
        if "index_not_found" in str(exc):
            return SearchUnavailable(
                f"the indices under prefix {self.names.prefix!r} do not exist yet: start `storywire index run`"
            )
        return SearchUnavailable(f"search is unavailable: {str(exc)[:200]}")


def _check_range(start: object, end: object, page: int, size: int) -> None:
    if start is not None and end is not None and start > end:  # type: ignore[operator]
        raise BadQuery("'from' must not be after 'to'")
    if page * size > s.MAX_WINDOW:
        raise BadQuery(f"page * size must be at most {s.MAX_WINDOW}")
