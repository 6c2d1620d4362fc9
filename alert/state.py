"""Persisted alert state: the engine's per-story memory and the outbox, in one SQLite file.

The service writes, in one transaction, the new story states and every alert it
decided (the outbox, one row per alert with a status per channel), and only then
sends. After each channel acknowledges, that channel is marked ``sent``. So:

- a crash after the transaction and before sending: the outbox row is still
  pending; ``due()`` hands it out again on start, and every alert is delivered at
  least once;
- a crash after sending and before the Kafka commit: the story update is consumed
  again, the engine sees its version is not newer (or its mark is already there)
  and decides nothing, so nothing is sent twice; a channel marked ``sent`` is
  never sent again, only the one in flight at the crash can repeat.

One service instance owns a state directory (SQLite is a single-writer store);
run one alert service per rules file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from alert.engine import StoryState
from alert.errors import StateError
from storywire.messages import Alert, decode

PENDING, SENT, REJECTED, ABANDONED = "pending", "sent", "rejected", "abandoned"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS story_state (
    story_id TEXT PRIMARY KEY,
    data     TEXT NOT NULL,
    written  REAL NOT NULL           -- for pruning stories that went quiet long ago
);
CREATE TABLE IF NOT EXISTS outbox (
    alert_id     TEXT PRIMARY KEY,
    alert        BLOB NOT NULL,
    channels     TEXT NOT NULL,      -- {"topic": "pending", "webhook-0": "sent", ...}
    decided_at   REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error   TEXT,
    done_at      REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (done_at, next_attempt);
"""


@dataclass(frozen=True)
class Pending:
    """An alert with the channels that still have to deliver it."""

    alert: Alert
    channels: tuple[str, ...]
    attempts: int
    decided_at: float


class AlertState:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            # Marks ("sent") may be lost on power loss (a resend: at least once); decisions are
            # written with synchronous=FULL in record(), since the Kafka offset is committed after them.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"{path}: cannot open the alert state: {exc}") from exc
        self.path = path

    @classmethod
    def in_dir(cls, state_dir: Path) -> AlertState:
        return cls(state_dir / "alert-state.sqlite3")

    def close(self) -> None:
        self.db.close()

    def load(self, ids: Iterable[str]) -> dict[str, StoryState]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT data FROM story_state WHERE story_id IN ({marks})", ids).fetchall()  # noqa: S608 - placeholders only
        states = (StoryState.model_validate_json(r[0]) for r in rows)
        return {s.story_id: s for s in states}

    def record(
        self, states: Mapping[str, StoryState], alerts: Iterable[tuple[Alert, Iterable[str]]], now: float
    ) -> list[str]:
        """Persist decided states and alerts in one transaction; return the ids of new alerts.

        An alert id already in the outbox is left as it is (decided once).
        """
        fresh: list[str] = []
        try:
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("BEGIN IMMEDIATE")
            for state in states.values():
                self.db.execute(
                    "INSERT OR REPLACE INTO story_state (story_id, data, written) VALUES (?, ?, ?)",
                    (state.story_id, state.model_dump_json(), now),
                )
            for alert, channels in alerts:
                status = json.dumps(dict.fromkeys(channels, PENDING))
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO outbox (alert_id, alert, channels, decided_at, next_attempt)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (alert.id, alert.to_json(), status, now, now),
                )
                if cur.rowcount:
                    fresh.append(alert.id)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StateError(f"{self.path}: cannot record alert state: {exc}") from exc
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")
        return fresh

    def due(self, now: float, limit: int = 100) -> list[Pending]:
        """Undelivered alerts whose next attempt is due, oldest decision first."""
        rows = self.db.execute(
            "SELECT alert, channels, attempts, decided_at FROM outbox"
            " WHERE done_at IS NULL AND next_attempt <= ? ORDER BY decided_at, alert_id LIMIT ?",
            (now, limit),
        ).fetchall()
        out = []
        for blob, channels, attempts, decided in rows:
            todo = tuple(c for c, st in json.loads(channels).items() if st == PENDING)
            out.append(Pending(decode(Alert, blob), todo, attempts, decided))
        return out

    def get(self, alert_id: str) -> tuple[Alert, dict[str, str]] | None:
        row = self.db.execute("SELECT alert, channels FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else (decode(Alert, row[0]), json.loads(row[1]))

    def mark(self, alert_id: str, channel: str, status: str, now: float, error: str | None = None) -> None:
        """Set one channel's status; the alert is done when no channel is pending."""
        row = self.db.execute("SELECT channels FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None:
            return
        channels = json.loads(row[0])
        channels[channel] = status
        done = now if PENDING not in channels.values() else None
        self.db.execute(
            "UPDATE outbox SET channels = ?, done_at = ?, last_error = COALESCE(?, last_error) WHERE alert_id = ?",
            (json.dumps(channels), done, error, alert_id),
        )

    def retry_later(self, alert_id: str, next_attempt: float, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE alert_id = ?",
            (next_attempt, error[:500], alert_id),
        )

    def prune(self, before: float) -> int:
        """Forget stories not updated since ``before`` and delivered alerts done before it.

        A forgotten story that comes back is judged afresh (its first-seen time still
        keeps breaking and "new" watch alerts from firing for it).
        """
        with self.db:
            gone = self.db.execute("DELETE FROM story_state WHERE written < ?", (before,)).rowcount
            gone += self.db.execute("DELETE FROM outbox WHERE done_at < ?", (before,)).rowcount
        return int(gone)

    def backlog(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").fetchone()
        return int(row[0])
