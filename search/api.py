"""The read-only HTTP API over ``SearchService``.

    GET /api/stories                 story search (q, from, to, source, lang, min_size, status, sort, page, size)
    GET /api/stories/{id}            one story: articles oldest first, sources, histogram
    GET /api/stories/{id}/articles   a story's articles, paged
    GET /api/articles                article search (q, story, from, to, source, lang, sort, page, size)
    GET /livez                       liveness: 200 while the process answers
    GET /readyz                      readiness: Elasticsearch reachable (200, else 503 with the reasons);
                                     Kafka is not probed: the API never uses it
    GET /health                      the same as /readyz (kept for existing probes)
    GET /metrics                     Prometheus text format, with HTTP metrics by route (search.httpmetrics)
    GET /openapi.json                the OpenAPI document (bearer security scheme, the real error bodies)
    GET /docs                        Swagger UI, served from this origin under the pages' CSP (search.docs)

Errors are JSON ``{"error": "..."}`` (``ErrorBody``): 400 inconsistent parameters, 401 no
valid bearer token (``search.auth``), 404 no such story, 422 a parameter out of range or
of the wrong type (with ``problems``, one per parameter: ``InvalidParameters``), 503
Elasticsearch unavailable; each route documents the ones it can answer, and nothing a
client sends produces a 500. ``create_app`` is a factory so the analysts' page can be
mounted on the same app (``search.web.mount_web``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, SecretStr

from search.auth import Unauthorized, answer_unauthorized, guard
from search.docs import mount_docs
from search.errors import BadQuery, SearchUnavailable, StoryNotFound
from search.http import ErrorBody, InvalidParameters, Problem, responses
from search.httpmetrics import instrument
from search.query import ArticlePage, ArticleQuery, SortBy, StoryDetail, StoryPage, StoryQuery
from search.service import SearchService
from storywire.messages import StoryStatus
from storywire.runtime import HealthCheck, metrics_payload, run_check

MAX_TERMS = 20  # values of one repeated filter (source=a&source=b...)

Text = Annotated[str, Query(max_length=500, description="Free text; query syntax is not interpreted")]
From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without a zone it is UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601; without a zone it is UTC")]
Sources = Annotated[list[str], Query(alias="source", description="Repeat for several sources")]
Langs = Annotated[list[str], Query(alias="lang", description="Repeat for several languages")]
Page = Annotated[int, Query(ge=1, le=1000)]
Size = Annotated[int, Query(ge=1, le=100)]
StoryId = Annotated[str, Path(min_length=1, max_length=200)]


class HealthBody(BaseModel):
    live: bool
    ready: bool
    reasons: dict[str, str]


class LiveBody(BaseModel):
    live: bool
    reasons: dict[str, str]


def _utc(name: str, value: datetime | None) -> datetime | None:
    """``value`` in UTC (UTC when it names no zone); a time outside years 1 to 9999 in UTC is a 400."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC, 9999-12-31T23:59-01:00 after 9999
        raise BadQuery(
            f"'{name}' is out of range: {value.isoformat()} is not a time of years 1 to 9999 in UTC"
        ) from None


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
        docs_url=None,  # served offline by search.docs, under the pages' CSP
        redoc_url=None,
    )
    mount_docs(app)
    auth = guard(token)
    app.add_exception_handler(Unauthorized, answer_unauthorized)
    instrument(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path")]
            problems.append(Problem(parameter=".".join(loc) or "request", message=str(err.get("msg", "invalid"))))
        text = "; ".join(f"{p.parameter}: {p.message}" for p in problems)
        body = InvalidParameters(error=f"invalid parameters: {text}", problems=problems)
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery) -> JSONResponse:
        return JSONResponse(ErrorBody(error=str(exc)).model_dump(), status_code=400)

    @app.exception_handler(StoryNotFound)
    async def not_found(request: Request, exc: StoryNotFound) -> JSONResponse:
        return JSONResponse(ErrorBody(error=str(exc)).model_dump(), status_code=404)

    @app.exception_handler(SearchUnavailable)
    async def unavailable(request: Request, exc: SearchUnavailable) -> JSONResponse:
        return JSONResponse(ErrorBody(error=str(exc)).model_dump(), status_code=503)

    # Handlers are sync functions: FastAPI runs them in its thread pool, so a slow
    # Elasticsearch does not block the event loop.

    @app.get("/api/stories", dependencies=auth, responses=responses(400, 503, token=token))
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
            start=_utc("from", start),
            end=_utc("to", end),
            sources=_terms("source", source),
            languages=_terms("lang", lang),
            min_size=min_size,
            status=status,
            sort=sort,
            page=page,
            size=size,
        )
        return search.search_stories(query)

    @app.get("/api/stories/{story_id}", dependencies=auth, responses=responses(400, 404, 503, token=token))
    def story(story_id: StoryId, page: Page = 1, size: Annotated[int, Query(ge=1, le=500)] = 100) -> StoryDetail:
        return search.story(story_id, page, size)

    @app.get("/api/stories/{story_id}/articles", dependencies=auth, responses=responses(400, 404, 503, token=token))
    def story_articles(story_id: StoryId, page: Page = 1, size: Size = 50) -> ArticlePage:
        return search.story_articles(story_id, page, size)

    @app.get("/api/articles", dependencies=auth, responses=responses(400, 503, token=token))
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
            start=_utc("from", start),
            end=_utc("to", end),
            sources=_terms("source", source),
            languages=_terms("lang", lang),
            sort=sort,
            page=page,
            size=size,
        )
        return search.search_articles(query)

    @app.get("/livez", response_model=LiveBody)
    async def livez() -> JSONResponse:
        # Answered on the event loop itself: if this answers, the process serves requests.
        return JSONResponse({"live": True, "reasons": {}})

    @app.get(
        "/readyz",
        response_model=HealthBody,
        responses={503: {"model": HealthBody, "description": "Not ready: the reasons say why"}},
    )
    def readyz() -> JSONResponse:
        ready, reasons = run_check(health, "health_check")
        body: dict[str, Any] = {"live": True, "ready": ready, "reasons": reasons}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/health",
        response_model=HealthBody,
        responses={503: {"model": HealthBody, "description": "Not ready: the reasons say why"}},
    )
    def health_check() -> JSONResponse:
        return readyz()

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        payload, ctype = metrics_payload()
        return Response(payload, media_type=ctype)

    return app
