"""``storywire search``, ``story``, ``articles`` and ``api``: the read side's commands.

Heavy imports (elasticsearch, the embedding model, fastapi, uvicorn) happen inside the
command functions, so ``storywire --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from storywire.commands import CommandError, UsageError, add_json, int_at_least, iso_time, port

if TYPE_CHECKING:
    from fastapi import FastAPI

    from index.settings import IndexSettings
    from search.service import SearchService
    from storywire.config import Settings


def register(sub: Any) -> None:
    search = sub.add_parser("search", help="search stories (text and meaning)")
    search.add_argument("query", nargs="?", default="", help="free text (default: browse the newest stories)")
    _filters(search, stories=True)
    search.set_defaults(func=cmd_search)

    story = sub.add_parser("story", help="show one story: articles, sources, timeline")
    story.add_argument("story_id", help="the story's id (as search prints it)")
    story.add_argument("--page", type=int_at_least(1), default=1, help="page of its articles (default: 1)")
    story.add_argument("--size", type=int_at_least(1), default=50, help="articles per page (default: 50)")
    add_json(story, "the story")
    story.set_defaults(func=cmd_story)

    arts = sub.add_parser("articles", help="search articles (text and meaning)")
    arts.add_argument("query", nargs="?", default="", help="free text (default: browse the newest articles)")
    arts.add_argument("--story", help="only articles of this story")
    _filters(arts, stories=False)
    arts.set_defaults(func=cmd_articles)

    api = sub.add_parser("api", help="serve the read-only HTTP search API")
    api.add_argument("--host", help="address to listen on (default: STORYWIRE_INDEX_API_HOST)")
    api.add_argument("--port", type=port, help="port to listen on (default: STORYWIRE_INDEX_API_PORT)")
    api.add_argument("--no-embed", action="store_true", help="text search only (do not load the model)")
    api.set_defaults(func=cmd_api)


def _filters(p: argparse.ArgumentParser, stories: bool) -> None:
    p.add_argument("--from", dest="start", type=iso_time, help="ISO 8601 time (UTC if no zone)")
    p.add_argument("--to", dest="end", type=iso_time, help="ISO 8601 time (UTC if no zone)")
    p.add_argument("--source", action="append", default=[], help="repeat for several")
    p.add_argument("--lang", action="append", default=[], help="repeat for several")
    if stories:
        p.add_argument(
            "--min-size", type=int_at_least(0), default=0, help="only stories of at least this many articles"
        )
        p.add_argument("--status", choices=["active", "dormant", "merged"], help="only stories in this state")
    p.add_argument(
        "--sort", choices=["relevance", "recency", "growth"], default="relevance", help="order (default: relevance)"
    )
    p.add_argument("--page", type=int_at_least(1), default=1, help="page number (default: 1)")
    p.add_argument("--size", type=int_at_least(1), default=20, help="results per page (default: 20)")
    add_json(p, "the results")
    p.add_argument("--no-embed", action="store_true", help="text search only (do not load the model)")


def _embed_fn(settings: Settings) -> Callable[[str], Sequence[float]]:
    from storywire.embedder import load_embedder

    embedder = load_embedder(settings.model)

    def embed(text: str) -> Sequence[float]:
        row: list[float] = embedder.encode([text])[0].tolist()
        return row

    return embed


def _service(no_embed: bool) -> tuple[SearchService, Settings, IndexSettings]:
    from index.cli import load_settings
    from index.client import IndexNames, make_client
    from search.service import SearchService

    settings, index_settings = load_settings()
    es = make_client(settings.es)
    embed = None if no_embed else _embed_fn(settings)
    return SearchService(es, IndexNames(settings.es.index_prefix), index_settings, embed), settings, index_settings


def _run_search(args: argparse.Namespace, call: Callable[[SearchService], Any], render: Callable[[Any], str]) -> int:
    import logging

    from pydantic import ValidationError

    from search.errors import SearchError, SearchUnavailable
    from storywire.commands import Unreachable, mask_url

    # This command says in one line why a search failed; the clients' warnings would repeat it.
    for name in ("elastic_transport", "search.service"):
        logging.getLogger(name).setLevel(logging.ERROR)
    service, settings, _ = _service(getattr(args, "no_embed", False))
    try:
        result = call(service)
    except SearchUnavailable as exc:
        raise Unreachable(f"{exc} (Elasticsearch at {mask_url(settings.es.url)})") from exc
    except SearchError as exc:
        raise CommandError(str(exc)) from exc
    except ValidationError as exc:  # e.g. --size above the maximum: one line, naming the option
        problems = "; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsageError(problems.replace("_", "-")) from exc
    finally:
        service.es.close()
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(render(result))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from search.query import StoryQuery
    from search.render import stories_table

    def call(service: SearchService) -> Any:
        q = StoryQuery(
            q=args.query,
            start=args.start,
            end=args.end,
            sources=tuple(args.source),
            languages=tuple(args.lang),
            min_size=args.min_size,
            status=args.status,
            sort=args.sort,
            page=args.page,
            size=args.size,
        )
        return service.search_stories(q)

    return _run_search(args, call, stories_table)


def cmd_story(args: argparse.Namespace) -> int:
    from search.render import story_text

    args.no_embed = True
    return _run_search(args, lambda service: service.story(args.story_id, args.page, args.size), story_text)


def cmd_articles(args: argparse.Namespace) -> int:
    from search.query import ArticleQuery
    from search.render import articles_table

    def call(service: SearchService) -> Any:
        q = ArticleQuery(
            q=args.query,
            story=args.story,
            start=args.start,
            end=args.end,
            sources=tuple(args.source),
            languages=tuple(args.lang),
            sort=args.sort,
            page=args.page,
            size=args.size,
        )
        return service.search_articles(q)

    return _run_search(args, call, articles_table)


def api_app(no_embed: bool = False) -> FastAPI:
    """The API with the analysts' pages (/, /stories/{id}, /now) mounted, as `storywire api` serves it."""
    from index.health import combined
    from search.api import create_app
    from search.web import mount_web

    service, _, index_settings = _service(no_embed)
    # Readiness is Elasticsearch only: the API never talks to Kafka, so a Kafka outage must not
    # take it out of a load balancer.
    app = create_app(service, combined(service.es, None), index_settings.api_token)
    mount_web(app, service, index_settings.api_token)
    return app


def server_config(app: FastAPI, host: str, port: int) -> Any:
    """uvicorn's settings for the API: ``log_config=None`` leaves uvicorn's loggers to ours
    (``storywire.logs``), so its access and error lines are dated, and JSON with ``--log-json``."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=True)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from index.settings import IndexSettings
    from storywire.config import load

    index_settings = load(IndexSettings)
    app = api_app(args.no_embed)
    host, port_ = args.host or index_settings.api_host, args.port or index_settings.api_port
    uvicorn.Server(server_config(app, host, port_)).run()
    return 0
