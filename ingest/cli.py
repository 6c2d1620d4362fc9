"""``storywire feeds ...`` and ``storywire ingest [--once]``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.errors import FeedListError
from storywire.commands import add_json


def register(sub: Any) -> None:
    feeds = sub.add_parser("feeds", help="manage the feed list (feeds.yaml)")
    feeds.add_argument("--file", type=Path, help="feeds file (default: STORYWIRE_INGEST_FEEDS_FILE)")
    fsub = feeds.add_subparsers(dest="feeds_command", required=True)
    p = fsub.add_parser("list", help="feeds with their state: errors, backoff, next poll, disabled")
    add_json(p, "the feeds and their state")
    p.set_defaults(func=_list)
    p = fsub.add_parser("add", help="add a feed")
    p.add_argument("url", help="the feed's http(s) URL")
    p.add_argument("--name", default="", help="a display name (default: none)")
    p.add_argument("--source", default="", help="the source articles are credited to (default: the site's host)")
    p.add_argument("--tag", action="append", default=[], help="a tag copied onto every article; repeat for several")
    p.add_argument("--language", help="language of entries that declare none (e.g. en)")
    p.add_argument("--interval", type=float, help="seconds between polls")
    p.set_defaults(func=_add)
    p = fsub.add_parser("remove", help="remove a feed (and forget its state)")
    p.add_argument("url", help="the feed's URL as listed")
    p.set_defaults(func=_remove)
    p = fsub.add_parser("enable", help="re-enable a disabled feed (after a 410) and poll it soon")
    p.add_argument("url", help="the feed's URL as listed")
    p.set_defaults(func=_enable)
    p = fsub.add_parser("import-opml", help="add the feeds of an OPML file")
    p.add_argument("path", type=Path, help="the OPML file")
    p.set_defaults(func=_import)
    p = fsub.add_parser("export-opml", help="write the feed list as OPML (stdout or a file)")
    p.add_argument("path", type=Path, nargs="?", help="the file to write (default: stdout)")
    p.set_defaults(func=_export)

    ing = sub.add_parser("ingest", help="poll feeds into <prefix>.articles.raw")
    ing.add_argument("--once", action="store_true", help="poll every due feed once, then exit")
    ing.add_argument("--file", type=Path, help="feeds file (default: STORYWIRE_INGEST_FEEDS_FILE)")
    ing.set_defaults(func=_ingest)


def _settings(args: argparse.Namespace) -> Any:
    from ingest.settings import IngestSettings
    from storywire.config import load

    settings = load(IngestSettings)
    if getattr(args, "file", None):
        settings = settings.model_copy(update={"feeds_file": args.file})
    return settings


def _load(path: Path) -> Any:
    from ingest.feeds import load_feeds
    from storywire.commands import CommandError

    try:
        return load_feeds(path)
    except FeedListError as exc:
        raise CommandError(str(exc)) from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _list(args: argparse.Namespace) -> int:
    from ingest.state import read_states
    from storywire.commands import print_json

    settings = _settings(args)
    feeds = _load(settings.feeds_file)
    states = read_states(settings.state_dir) or {}  # read-only: listing creates no state
    rows = []
    for f in feeds:
        st = states.get(f.url)
        status = "new" if st is None else "disabled" if st.disabled else "backoff" if st.error_count else "ok"
        rows.append(
            {
                **f.model_dump(mode="json"),
                "status": status,
                "errors": st.error_count if st else 0,
                "next_poll": st.next_poll.isoformat() if st and st.next_poll else None,
                "last_error": st.last_error if st else None,
                "disabled_reason": st.disabled_reason if st else None,
                "moved_to": st.current_url if st else None,
                "last_success": st.last_success.isoformat() if st and st.last_success else None,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    print(f"{'url':<60} {'errors':>6} {'next poll (UTC)':<19} {'status':<10} last error / note")
    for f, row in zip(feeds, rows, strict=True):
        st = states.get(f.url)
        if st is None:
            print(f"{f.url:<60} {0:>6} {'now':<19} {'new':<10}")
            continue
        note = st.disabled_reason or st.last_error or ""
        if st.current_url:
            note = (note + " " if note else "") + f"moved to {st.current_url}"
        print(f"{f.url:<60} {st.error_count:>6} {_when(st.next_poll):<19} {row['status']:<10} {note}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ingest.feeds import FeedSpec, merge, save_feeds
    from storywire.commands import CommandError, UsageError

    settings = _settings(args)
    try:
        spec = FeedSpec(
            url=args.url,
            name=args.name,
            source=args.source,
            tags=tuple(args.tag),
            language=args.language,
            interval=args.interval,
        )
    except ValidationError as exc:
        raise UsageError(f"invalid feed: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}") from exc
    feeds, added = merge(_load(settings.feeds_file), [spec])
    if not added:
        raise CommandError(f"already listed: {spec.url}")
    save_feeds(settings.feeds_file, feeds)
    print(f"added {spec.url}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from ingest.feeds import save_feeds
    from ingest.state import StateStore
    from storywire.commands import CommandError

    settings = _settings(args)
    feeds = _load(settings.feeds_file)
    kept = [f for f in feeds if f.url != args.url.strip()]
    if len(kept) == len(feeds):
        raise CommandError(f"not listed: {args.url}")
    save_feeds(settings.feeds_file, kept)
    store = StateStore(settings.state_dir)
    try:
        store.forget(args.url.strip())
    finally:
        store.close()
    print(f"removed {args.url}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    from ingest.state import StateStore

    settings = _settings(args)
    store = StateStore(settings.state_dir)
    try:
        st = store.get(args.url.strip())
        store.save(st.with_(disabled=False, disabled_reason=None, error_count=0, next_poll=None))
    finally:
        store.close()
    print(f"enabled {args.url}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ingest.feeds import merge, read_opml, save_feeds
    from storywire.commands import CommandError

    settings = _settings(args)
    try:
        found = read_opml(args.path.read_bytes())
    except (OSError, FeedListError) as exc:
        raise CommandError(f"{args.path}: {exc}") from exc
    feeds, added = merge(_load(settings.feeds_file), found.feeds)
    save_feeds(settings.feeds_file, feeds)
    print(import_report(added, len(found.feeds), found.skipped, found.notes, str(args.path)))
    return 0


def import_report(added: int, found: int, skipped: list[tuple[str, str]], notes: list[str], where: str) -> str:
    """``imported 1 new feed of 3 in subs.opml (1 already listed); skipped 1: 'X': reason``, then
    the notes; "of" counts every outline that was not a folder, the skipped ones included."""
    line = f"imported {added} new {'feed' if added == 1 else 'feeds'} of {found + len(skipped)} in {where}"
    if found - added:
        line += f" ({found - added} already listed)"
    if skipped:
        line += f"; skipped {len(skipped)}: " + "; ".join(f"{title!r}: {why}" for title, why in skipped)
    return "\n".join([line, *notes])


def _export(args: argparse.Namespace) -> int:
    from ingest.feeds import to_opml
    from storywire.commands import CommandError

    data = to_opml(_load(_settings(args).feeds_file))
    if args.path:
        try:
            args.path.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"{args.path}: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def _health(poller: Any) -> tuple[bool, dict[str, str]]:
    if poller.last_flush_ok:
        return True, {}
    return False, {"kafka": "the last flush failed; articles will be re-sent"}


def _ingest(args: argparse.Namespace) -> int:
    from ingest.service import FeedsFile, build_poller, close_poller, run_forever, run_once
    from storywire.commands import CommandError
    from storywire.config import Settings
    from storywire.runtime import OpsServer, Stopper, heartbeat_health, heartbeat_live, mark_success

    settings = _settings(args)
    if not settings.feeds_file.exists():
        raise CommandError(
            f"no feeds file at {settings.feeds_file}; add feeds with `storywire feeds add URL` "
            "or set STORYWIRE_INGEST_FEEDS_FILE"
        )
    kafka = Settings.load().kafka
    feeds_file = FeedsFile(settings.feeds_file)
    feeds = feeds_file.current()
    poller = build_poller(settings, kafka)
    try:
        if args.once:
            report = run_once(poller, feeds)
            print(
                f"polled {report.feeds} feeds: {report.produced} articles, "
                f"{report.not_modified} unchanged, {report.failed} failed"
            )
            return 1 if report.failed and report.failed == report.feeds else 0
        stop = Stopper.install()
        # Ready while ticks keep coming. A tick never waits on a fetch; the slowest is a delivery:
        # the producer's flush (60 s) and a state transaction waiting on SQLite's lock (30 s).
        slowest_pass_s = 60 + 30 + 2 * settings.tick_s
        last_pass: list[float | None] = [None]
        health = heartbeat_health(lambda: last_pass[0], slowest_pass_s, extra=lambda: _health(poller))
        live = heartbeat_live(lambda: last_pass[0], max(600.0, 2 * slowest_pass_s))
        ops = OpsServer(settings.ops_port, health=health, live=live) if settings.ops_port else None
        owns = lambda url: True  # noqa: E731
        group = None
        if settings.coordination == "group":
            from ingest.coordination import GroupOwnership

            group = GroupOwnership(kafka, settings.feed_partitions)
            owns = group.owns

        def wait(seconds: float) -> None:
            last_pass[0] = time.monotonic()  # called between passes: the loop is alive
            if poller.last_flush_ok:
                mark_success("ingest")  # a pass done, its articles acknowledged by Kafka
            if group is not None:
                group.refresh(timeout_ms=int(seconds * 1000))
            else:
                stop.wait(seconds)

        try:
            wait(0)
            run_forever(poller, feeds_file, stop.is_set, wait, owns)
        finally:
            if ops is not None:
                ops.close()
            if group is not None:
                group.close()
        return 0
    finally:
        close_poller(poller)
