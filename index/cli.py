"""``storywire index run|migrate``, ``storywire search``, ``story``, ``articles`` and ``api``.

Heavy imports (elasticsearch, the embedding model, fastapi, uvicorn) happen inside the
command functions, so ``storywire --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from index.searcher import SearchService
    from index.settings import IndexSettings
    from storywire.config import Settings

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    idx = sub.add_parser("index", help="write enriched articles and stories to Elasticsearch")
    isub = idx.add_subparsers(dest="index_command", required=True)
    run = isub.add_parser("run", help="consume enriched articles and stories and index them (the service)")
    run.set_defaults(func=cmd_run)
    mig = isub.add_parser("migrate", help="copy into the next index version and swap the aliases")
    mig.add_argument("--dims", type=int, help="vector size of the new mappings (default: the current one)")
    mig.add_argument("--delete-old", action="store_true", help="delete the old index versions afterwards")
    mig.set_defaults(func=cmd_migrate)

    search = sub.add_parser("search", help="search stories (text and meaning)")
    search.add_argument("query", nargs="?", default="")
    _filters(search, stories=True)
    search.set_defaults(func=cmd_search)

    story = sub.add_parser("story", help="show one story: articles, sources, timeline")
    story.add_argument("story_id")
    story.add_argument("--page", type=_int_at_least(1), default=1)
    story.add_argument("--size", type=_int_at_least(1), default=50)
    story.add_argument("--json", action="store_true", help="print JSON instead of tables")
    story.set_defaults(func=cmd_story)

    arts = sub.add_parser("articles", help="search articles (text and meaning)")
    arts.add_argument("query", nargs="?", default="")
    arts.add_argument("--story", help="only articles of this story")
    _filters(arts, stories=False)
    arts.set_defaults(func=cmd_articles)

    api = sub.add_parser("api", help="serve the read-only HTTP search API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--no-embed", action="store_true", help="text search only (do not load the model)")
    api.set_defaults(func=cmd_api)


def _filters(p: argparse.ArgumentParser, stories: bool) -> None:
    p.add_argument("--from", dest="start", type=_time, help="ISO 8601 time (UTC if no zone)")
    p.add_argument("--to", dest="end", type=_time)
    p.add_argument("--source", action="append", default=[], help="repeat for several")
    p.add_argument("--lang", action="append", default=[], help="repeat for several")
    if stories:
        p.add_argument("--min-size", type=_int_at_least(0), default=0)
        p.add_argument("--status", choices=["active", "dormant", "merged"])
    p.add_argument("--sort", choices=["relevance", "recency", "growth"], default="relevance")
    p.add_argument("--page", type=_int_at_least(1), default=1)
    p.add_argument("--size", type=_int_at_least(1), default=20)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-embed", action="store_true", help="text search only (do not load the model)")


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _settings() -> tuple[Settings, IndexSettings]:
    from index.settings import IndexSettings
    from storywire.config import Settings

    path = os.environ.get("STORYWIRE_CONFIG")
    kw: dict[str, Any] = {"_env_file": path} if path else {}
    return Settings.load(), IndexSettings(**kw)


def _embed_fn(settings: Settings) -> Callable[[str], Sequence[float]]:
    from enrich.embedder import load_embedder

    embedder = load_embedder(settings.model)

    def embed(text: str) -> Sequence[float]:
        row: list[float] = embedder.encode([text])[0].tolist()
        return row

    return embed


def _service(no_embed: bool) -> tuple[SearchService, Settings, IndexSettings]:
    from index.client import IndexNames, make_client
    from index.searcher import SearchService

    settings, index_settings = _settings()
    es = make_client(settings.es)
    embed = None if no_embed else _embed_fn(settings)
    return SearchService(es, IndexNames(settings.es.index_prefix), index_settings, embed), settings, index_settings


def _dims(settings: Settings, index_settings: IndexSettings) -> int:
    if index_settings.dims:
        return index_settings.dims
    from enrich.embedder import load_embedder

    return load_embedder(settings.model).dim


def _fail(exc: Exception) -> int:
    from storywire.cli import CommandError

    raise CommandError(str(exc)) from exc


def until_available(step: Callable[[], None], stop: threading.Event, initial_s: float, max_s: float) -> bool:
    """Run ``step`` until Elasticsearch lets it through, backing off on transient failures.

    A 429, a 5xx or no connection at start-up is waited out like the writer waits it out
    later; any other error is raised. Returns False if ``stop`` was set while waiting.
    """
    from index.writer import is_transient

    delay = initial_s
    while True:
        try:
            step()
            return True
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "elasticsearch not available at start-up; retrying",
                extra={"error": str(exc)[:200], "retry_in_s": delay},
            )
        if stop.wait(delay):
            return False
        delay = min(max_s, delay * 2)


def cmd_run(args: argparse.Namespace) -> int:
    from index.client import IndexNames, make_client
    from index.health import combined
    from index.mappings import ensure_indices, missing_aliases
    from index.settings import crc_checks
    from index.writer import IndexWriter
    from storywire.bus import Topics, ensure_topics, group_id, make_consumer, make_producer
    from storywire.runtime import OpsServer, Stopper

    settings, index_settings = _settings()
    stop = Stopper.install()
    es = make_client(settings.es)
    names = IndexNames(settings.es.index_prefix)
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka, topics)

    def prepare() -> None:
        if missing_aliases(es, names):  # only then does the vector size matter (and the model get loaded)
            ensure_indices(es, names, _dims(settings, index_settings), settings.es.text_analyzer)

    if not until_available(prepare, stop, index_settings.retry_initial_s, index_settings.retry_max_s):
        return 0  # stopped while Elasticsearch was still unavailable
    consumer = make_consumer(
        settings.kafka,
        group_id(settings.kafka, index_settings.group_id, "index"),
        [topics.enriched, topics.stories],
        max_poll_interval_ms=600_000,
        max_partition_fetch_bytes=index_settings.max_partition_fetch_bytes,
        check_crcs=crc_checks(index_settings),
    )
    producer = make_producer(settings.kafka)
    ops = OpsServer(index_settings.ops_port, health=combined(es, settings.kafka))
    writer = IndexWriter(es, consumer, producer, topics, names, index_settings, stop=stop)
    try:
        writer.run()
    finally:
        consumer.close()
        producer.close()
        ops.close()
        es.close()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from index.client import IndexNames, make_client
    from index.errors import MigrationError
    from index.mappings import migrate

    settings, _ = _settings()
    es = make_client(settings.es, request_timeout=max(settings.es.request_timeout_s, 120.0))
    try:
        done = migrate(es, IndexNames(settings.es.index_prefix), args.dims, settings.es.text_analyzer, args.delete_old)
    except MigrationError as exc:
        return _fail(exc)
    finally:
        es.close()
    for m in done:
        print(f"{m.alias}: {m.old} -> {m.new} ({m.copied} documents)")
    return 0


def _run_search(args: argparse.Namespace, call: Callable[[SearchService], Any], render: Callable[[Any], str]) -> int:
    from pydantic import ValidationError

    from index.errors import IndexStageError

    service, _, _ = _service(getattr(args, "no_embed", False))
    try:
        result = call(service)
    except IndexStageError as exc:
        return _fail(exc)
    except ValidationError as exc:  # e.g. --size above the maximum: one line, naming the option
        problems = "; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _fail(ValueError(problems.replace("_", "-")))
    finally:
        service.es.close()
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(render(result))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from index.render import stories_table
    from index.search import StoryQuery

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
    from index.render import story_text

    args.no_embed = True
    return _run_search(args, lambda service: service.story(args.story_id, args.page, args.size), story_text)


def cmd_articles(args: argparse.Namespace) -> int:
    from index.render import articles_table
    from index.search import ArticleQuery

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
    from index.api import create_app
    from index.health import combined
    from index.web import mount_web

    service, settings, index_settings = _service(no_embed)
    app = create_app(service, combined(service.es, settings.kafka), index_settings.api_token)
    mount_web(app, service, index_settings.api_token)
    return app


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from index.settings import IndexSettings

    index_settings = IndexSettings()
    app = api_app(args.no_embed)
    uvicorn.run(app, host=args.host or index_settings.api_host, port=args.port or index_settings.api_port)
    return 0
