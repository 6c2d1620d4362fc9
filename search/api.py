"""The read-only HTTP API over ``SearchService``.

    GET /api/stories                 story search (q, from, to, source, lang, min_size, status, sort, page, size)
    GET /api/stories/{id}            one story: articles oldest first, sources, histogram
    GET /api/stories/{id}/articles   a story's articles, paged
    GET /api/articles                article search (q, story, from, to, source, lang, sort, page, size)
    GET /health                      Kafka and Elasticsearch reachability: 200 or 503
    GET /metrics                     Prometheus text format
    GET /openapi.json, /docs         the OpenAPI document

Every bad parameter is a 4xx with a message naming the parameter; an Elasticsearch
outage is a 503; nothing a client sends produces a 500. ``create_app`` is a factory so
the analysts' page can be mounted on the same app later.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from search.errors import BadQuery, SearchUnavailable, StoryNotFound
from search.query import ArticlePage, ArticleQuery, SortBy, StoryDetail, StoryPage, StoryQuery
from search.service import SearchService
from storywire.messages import StoryStatus
from storywire.runtime import HealthCheck

MAX_TERMS = 20  # values of one repeated filter (source=a&source=b...)

Text = Annotated[str, Query(max_length=500, description="Free text; query syntax is not interpreted")]
From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without a zone it is UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601; without a zone it is UTC")]
Sources = Annotated[list[str], Query(alias="source", description="Repeat for several sources")]
Langs = Annotated[list[str], Query(alias="lang", description="Repeat for several languages")]
Page = Annotated[int, Query(ge=1, le=1000)]
Size = Annotated[int, Query(ge=1, le=100)]
StoryId = Annotated[str, Path(min_length=1, max_length=200)]


class _Unauthorized(Exception):
    pass


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _terms(name: str, values: list[str]) -> tuple[str, ...]:
    if len(values) > MAX_TERMS:
        raise BadQuery(f"'{name}' may be given at most {MAX_TERMS} times")
    if any(not v or len(v) > 200 for v in values):
        raise BadQuery(f"each '{name}' must be 1 to 200 characters")
    return tuple(values)


def create_app(search: SearchService, health: HealthCheck, token: SecretStr | None = None) -> FastAPI:
    app = FastAPI(
        title="Storywire search API",
        version="1",
        description="Read-only search over Storywire's stories and articles.",
    )

    def authorize(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise _Unauthorized

    auth = [Depends(authorize)]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path")]
            problems.append({"parameter": ".".join(loc) or "request", "message": str(err.get("msg", "invalid"))})
        text = "; ".join(f"{p['parameter']}: {p['message']}" for p in problems)
        return JSONResponse({"error": f"invalid parameters: {text}", "problems": problems}, status_code=422)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(StoryNotFound)
    async def not_found(request: Request, exc: StoryNotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(SearchUnavailable)
    async def unavailable(request: Request, exc: SearchUnavailable) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.exception_handler(_Unauthorized)
    async def unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse({"error": "a valid bearer token is required"}, status_code=401, headers=headers)

    # Handlers are sync functions: FastAPI runs them in its thread pool, so a slow
    # Elasticsearch does not block the event loop.

    @app.get("/api/stories", dependencies=auth)
    def search_stories(
        q: Text = "",
        start: From = None,
        end: To = None,
        source: Sources = [],  # noqa: B006 - FastAPI copies the default per request
        lang: Langs = [],  # noqa: B006
        min_size: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        status: StoryStatus | None = None,
        sort: SortBy = SortBy.RELEVANCE,
        page: Page = 1,
        size: Size = 20,
    ) -> StoryPage:
        query = StoryQuery(
            q=q,
            start=_utc(start),
            end=_utc(end),
            sources=_terms("source", source),
            languages=_terms("lang", lang),
            min_size=min_size,
            status=status,
            sort=sort,
            page=page,
            size=size,
        )
        return search.search_stories(query)

    @app.get("/api/stories/{story_id}", dependencies=auth)
    def story(story_id: StoryId, page: Page = 1, size: Annotated[int, Query(ge=1, le=500)] = 100) -> StoryDetail:
        return search.story(story_id, page, size)

    @app.get("/api/stories/{story_id}/articles", dependencies=auth)
    def story_articles(story_id: StoryId, page: Page = 1, size: Size = 50) -> ArticlePage:
        return search.story_articles(story_id, page, size)

    @app.get("/api/articles", dependencies=auth)
    def search_articles(
        q: Text = "",
        story: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        start: From = None,
        end: To = None,
        source: Sources = [],  # noqa: B006
        lang: Langs = [],  # noqa: B006
        sort: SortBy = SortBy.RELEVANCE,
        page: Page = 1,
        size: Size = 20,
    ) -> ArticlePage:
        query = ArticleQuery(
            q=q,
            story=story,
            start=_utc(start),
            end=_utc(end),
            sources=_terms("source", source),
            languages=_terms("lang", lang),
            sort=sort,
            page=page,
            size=size,
        )
        return search.search_articles(query)

    @app.get("/health")
    def health_check() -> JSONResponse:
        try:
            ready, reasons = health()
        except Exception as exc:  # a failing probe means "not ready", with the reason
            ready, reasons = False, {"health_check": repr(exc)}
        body: dict[str, Any] = {"live": True, "ready": ready, "reasons": reasons}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
