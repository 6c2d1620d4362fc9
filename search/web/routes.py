"""The web page's routes: three pages, their static assets and ``/api/web/*`` JSON.

The pages are static HTML; their scripts fetch JSON from ``/api/*`` (the search API)
and ``/api/web/*`` (below) and build the DOM with ``textContent``, so no feed text is
ever parsed as HTML. Every page and asset goes out with a Content-Security-Policy that
allows scripts and styles from this origin only: no inline script, no ``javascript:``
URL and no injected handler could run even if one slipped through.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, SecretStr

from search.auth import guard
from search.errors import BadQuery
from search.http import HEADERS, responses
from search.query import StoryHit
from search.service import SearchService
from search.views import NowPage, Related, Timeline

# What "now" is for the Now screen (tests pass a fixed one).
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGES = {"search": "search.html", "story": "story.html", "now": "now.html"}
MAX_IDS = 100

StoryId = Annotated[str, Path(min_length=1, max_length=200)]


T = TypeVar("T")


class _Results(BaseModel, Generic[T]):
    model_config = ConfigDict(frozen=True)
    results: tuple[T, ...]


def load_assets() -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``search.web.assets``: name -> (bytes, media type), read once."""
    out = {}
    for entry in resources.files("search.web.assets").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            out[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return out


def _asset(assets: dict[str, tuple[bytes, str]], name: str) -> Response:
    found = assets.get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain", headers=HEADERS)
    body, media = found
    return Response(body, media_type=media, headers=HEADERS)


def pages_router(assets: dict[str, tuple[bytes, str]]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def search_page() -> Response:
        return _asset(assets, PAGES["search"])

    @router.get("/stories/{story_id}")
    def story_page(story_id: StoryId) -> Response:
        return _asset(assets, PAGES["story"])  # the script reads the id from the address

    @router.get("/now")
    def now_page() -> Response:
        return _asset(assets, PAGES["now"])

    @router.get("/web/{name}")
    def static(name: Annotated[str, Path(max_length=100)]) -> Response:
        return _asset(assets, name)  # names are looked up, never joined to a path

    return router


def data_router(search: SearchService, token: SecretStr | None, clock: Clock = utcnow) -> APIRouter:
    """``/api/web/*``: the views the pages add, answered by the search service's public calls
    (its errors are the read side's, answered by the handlers ``search.api.create_app`` installs)."""
    errors = responses(400, 503, token=token)
    router = APIRouter(prefix="/api/web", dependencies=guard(token), tags=["web page"], responses=errors)

    @router.get("/stories/{story_id}/related")
    def related(story_id: StoryId, size: Annotated[int, Query(ge=1, le=50)] = 6) -> _Results[Related]:
        """Stories whose centroid is nearest this one's (cosine), merged and absorbed ones left out."""
        return _Results[Related](results=search.related(story_id, size))

    @router.get("/stories/{story_id}/absorbed")
    def absorbed(story_id: StoryId) -> _Results[StoryHit]:
        """The stories merged into this one."""
        return _Results[StoryHit](results=search.absorbed(story_id))

    @router.get("/timelines")
    def timelines(ids: Annotated[list[str], Query(alias="id")] = []) -> _Results[Timeline]:  # noqa: B006
        """Articles over time for each story id (repeat ``id``); unknown ids are left out."""
        if len(ids) > MAX_IDS:
            raise BadQuery(f"'id' may be given at most {MAX_IDS} times")
        if any(not i or len(i) > 200 for i in ids):
            raise BadQuery("each 'id' must be 1 to 200 characters")
        return _Results[Timeline](results=search.timelines(ids))

    @router.get("/now")
    def now(hours: Annotated[int, Query(ge=1, le=168)] = 6, size: Annotated[int, Query(ge=1, le=100)] = 20) -> NowPage:
        """Stories ranked by articles published in the last ``hours``, with the window before."""
        return search.now(hours, size, clock())

    return router
