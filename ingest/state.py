"""Per-feed state and seen article ids, in SQLite under ``state_dir``, surviving restarts.

One row per feed (keyed by its feeds.yaml URL): where it lives now (after a 301), the
HTTP cache validators, the hash of the last body, error count and last error, the next
poll time, whether it is disabled (410) and counters. The ``seen`` table holds article
ids already produced, at most ``seen_per_feed`` per feed, and is what keeps a restart
from producing old entries again. ``commit_success`` writes a feed's new validators and
its seen ids in one transaction, and the poller calls it only after the broker
acknowledged every Article of that fetch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    current_url TEXT,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    error_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_status INTEGER,
    last_polled TEXT,
    last_success TEXT,
    next_poll TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    bozo_count INTEGER NOT NULL DEFAULT 0,
    produced INTEGER NOT NULL DEFAULT 0,
    hint_s REAL
);
CREATE TABLE IF NOT EXISTS seen (
    id TEXT PRIMARY KEY,
    feed TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_feed ON seen (feed, seen_at);
"""


@dataclass(frozen=True)
class FeedState:
    url: str
    current_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error_count: int = 0
    last_error: str | None = None
    last_status: int | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    next_poll: datetime | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    bozo_count: int = 0
    produced: int = 0
    hint_s: float | None = None  # the document's own refresh hint (TTL, sy:updatePeriod), kept for 304s

    @property
    def fetch_url(self) -> str:
        return self.current_url or self.url

    def due(self, now: datetime) -> bool:
        return not self.disabled and (self.next_poll is None or self.next_poll <= now)

    def with_(self, **changes: object) -> FeedState:
        return replace(self, **changes)  # type: ignore[arg-type]


_COLUMNS = [f for f in FeedState.__dataclass_fields__]
_DATES = {"last_polled", "last_success", "next_poll"}


def _to_db(state: FeedState) -> list[object]:
    row: list[object] = []
    for col in _COLUMNS:
        value = getattr(state, col)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, bool):
            value = int(value)
        row.append(value)
    return row


def _from_db(row: sqlite3.Row) -> FeedState:
    values: dict[str, object] = {}
    for col in _COLUMNS:
        value = row[col]
        if col in _DATES and value is not None:
            value = datetime.fromisoformat(value)
        elif col == "disabled":
            value = bool(value)
        values[col] = value
    return FeedState(**values)  # type: ignore[arg-type]


class StateStore:
    """SQLite in WAL mode; several processes on one host may share the directory."""

    def __init__(self, state_dir: Path, seen_per_feed: int = 2000) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "ingest.sqlite3"
        self.seen_per_feed = seen_per_feed
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        present = {r["name"] for r in self.db.execute("PRAGMA table_info(feeds)")}
        for col, kind in (("hint_s", "REAL"),):  # columns added after the first release
            if col not in present:
                self.db.execute(f"ALTER TABLE feeds ADD COLUMN {col} {kind}")
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction; nested calls join the outer one (a poll pass saves all feeds at once)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        else:
            self.db.commit()
        finally:
            self._depth = 0

    def close(self) -> None:
        self.db.close()

    def get(self, url: str) -> FeedState:
        row = self.db.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
        return _from_db(row) if row else FeedState(url)

    def all(self) -> dict[str, FeedState]:
        return {r["url"]: _from_db(r) for r in self.db.execute("SELECT * FROM feeds")}

    def _put(self, state: FeedState) -> None:
        cols = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        self.db.execute(f"INSERT OR REPLACE INTO feeds ({cols}) VALUES ({marks})", _to_db(state))  # noqa: S608

    def save(self, state: FeedState) -> None:
        """Save a feed's state alone (a failure, a 304, a schedule change)."""
        self._put(state)

    def unseen(self, ids: Iterable[str]) -> set[str]:
        """The ids not produced before by any feed (the same URL in two feeds is one article)."""
        wanted = list(dict.fromkeys(ids))
        known: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self.db.execute(f"SELECT id FROM seen WHERE id IN ({marks})", chunk)  # noqa: S608
            known.update(r["id"] for r in rows)
        return set(wanted) - known

    def commit_success(self, state: FeedState, produced_ids: Iterable[str], now: datetime) -> None:
        """After the broker acknowledged: the new validators and the seen ids, in one transaction."""
        stamp = now.astimezone(UTC).isoformat()
        with self.transaction():
            self._put(state)
            self.db.executemany(
                "INSERT OR IGNORE INTO seen (id, feed, seen_at) VALUES (?, ?, ?)",
                [(i, state.url, stamp) for i in produced_ids],
            )
            self.db.execute(
                "DELETE FROM seen WHERE feed = ? AND id NOT IN "
                "(SELECT id FROM seen WHERE feed = ? ORDER BY seen_at DESC LIMIT ?)",
                (state.url, state.url, self.seen_per_feed),
            )

    def mark_seen(self, feed: str, ids: Iterable[str], now: datetime) -> None:
        """Remember ids as seen without producing them (entries already handled elsewhere)."""
        stamp = now.astimezone(UTC).isoformat()
        self.db.executemany(
            "INSERT OR IGNORE INTO seen (id, feed, seen_at) VALUES (?, ?, ?)", [(i, feed, stamp) for i in ids]
        )

    def forget(self, url: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM feeds WHERE url = ?", (url,))
            self.db.execute("DELETE FROM seen WHERE feed = ?", (url,))


def read_states(state_dir: Path) -> dict[str, FeedState] | None:
    """Every feed's state, read without creating or changing anything (``feeds list``,
    ``doctor``); None when there is no state yet. The file is opened read-only, so a
    listing never makes a state directory as a side effect."""
    path = state_dir / "ingest.sqlite3"
    if not path.is_file():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM feeds").fetchall()
    finally:
        db.close()
    out = {}
    for row in rows:
        present = set(row.keys())  # a file from an older release may lack later columns
        values = {c: row[c] for c in _COLUMNS if c in present}
        for col in _DATES & values.keys():
            values[col] = datetime.fromisoformat(values[col]) if values[col] is not None else None
        values["disabled"] = bool(values.get("disabled"))
        out[row["url"]] = FeedState(**values)  # type: ignore[arg-type]
    return out
