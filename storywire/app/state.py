"""`storywire state backup DEST`: a consistent copy of the ingest and alert state, taken live.

The state databases are SQLite in WAL mode, written while the stages run: copying the
files (``tar``, ``cp``) can catch the main file and its ``-wal`` at different moments,
and the copy then misses or tears recent transactions. SQLite's online backup API reads
one snapshot through SQLite itself, whatever the writers do meanwhile. Each copy is
written under a temporary name, switched to a self-contained rollback-journal file,
checked with ``PRAGMA integrity_check`` and only then renamed into place:

    DEST/ingest/ingest.sqlite3         (IngestSettings.state_dir)
    DEST/alert/alert-state.sqlite3     (AlertSettings.state_dir)

A stage whose state directory has no database on this machine (in docker-compose each
container holds one stage's state) is skipped and said so. To restore, stop the stage and
copy the file back into its state directory.

    BackupError   nothing to back up, or a copy that is not sound
"""

from __future__ import annotations

import argparse
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storywire.commands import CommandError


class BackupError(CommandError):
    """The backup could not be taken, or its copy failed the integrity check."""


@dataclass(frozen=True)
class Copied:
    stage: str
    source: Path
    target: Path
    pages: int


def backup_file(source: Path, target: Path) -> int:
    """Copy one live SQLite database to ``target`` through the backup API; return its page count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one read snapshot, writers carry on (WAL)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source}: backup failed: {exc}") from exc
    finally:
        src.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source}: the copy failed SQLite's integrity check: {check}")
    partial.replace(target)
    return pages


def backup_state(sources: dict[str, Path], dest: Path) -> tuple[list[Copied], list[str]]:
    """Back up every ``*.sqlite3`` of each stage's state directory into ``dest/<stage>/``.

    Returns what was copied and, for each stage with nothing to copy, why.
    """
    copied: list[Copied] = []
    skipped: list[str] = []
    for stage, state_dir in sources.items():
        files = sorted(state_dir.glob("*.sqlite3")) if state_dir.is_dir() else []
        if not files:
            skipped.append(f"{stage}: no state database in {state_dir}")
            continue
        for db in files:
            target = dest / stage / db.name
            copied.append(Copied(stage, db, target, backup_file(db, target)))
    return copied, skipped


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    state = sub.add_parser("state", help="the stages' local state (ingest feeds and seen ids, alert outbox)")
    ssub = state.add_subparsers(dest="state_command", required=True)
    b = ssub.add_parser("backup", help="copy the live state databases consistently (SQLite's backup API)")
    b.add_argument("dest", type=Path, help="directory for the copies (DEST/ingest/..., DEST/alert/...)")
    b.add_argument("--only", choices=["ingest", "alert"], help="back up one stage's state only")
    b.set_defaults(func=_backup)


def _backup(args: argparse.Namespace) -> int:
    from alert.settings import AlertSettings
    from ingest.settings import IngestSettings
    from storywire.config import load

    sources = {"ingest": load(IngestSettings).state_dir, "alert": load(AlertSettings).state_dir}
    if args.only:
        sources = {args.only: sources[args.only]}
    copied, skipped = backup_state(sources, args.dest)
    for c in copied:
        print(f"{c.stage}: {c.source} -> {c.target} ({c.pages} pages, integrity ok)")
    for line in skipped:
        print(f"skipped {line}")
    if not copied:
        raise BackupError("nothing to back up: " + "; ".join(skipped))
    return 0
