"""`storywire state backup`: SQLite's backup API copies a live WAL database consistently, while it is written."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from alert.state import AlertState
from ingest.state import StateStore
from storywire.app.cli import main
from storywire.app.state import BackupError, backup_file, backup_state

BATCH = 50  # rows per writer transaction: a consistent copy holds whole transactions only


def _writer(db: Path, stop: threading.Event, written: list[int]) -> None:
    """Another connection (as the running stage is) committing BATCH rows per transaction, no checkpoints."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # recent commits stay in the -wal file only
    n = 0
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO seen (id, feed, seen_at) VALUES (?, 'f', '2026-01-01')",
            [(f"id-{n + i}",) for i in range(BATCH)],
        )
        conn.execute("COMMIT")
        n += BATCH
        written[0] = n
    conn.close()


def _rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM seen").fetchone()[0])
    finally:
        conn.close()


def test_backup_of_a_database_being_written_holds_whole_transactions(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "ingest", seen_per_feed=10)  # the real schema, in WAL mode
    db = store.path
    stop, written = threading.Event(), [0]
    writer = threading.Thread(target=_writer, args=(db, stop, written))
    writer.start()
    try:
        while written[0] < 20 * BATCH:  # enough commits that most live only in the -wal file
            threading.Event().wait(0.01)
        committed_before = written[0]
        copies = [tmp_path / f"copy{i}" / "ingest.sqlite3" for i in range(3)]
        for target in copies:  # while the writer keeps committing
            assert backup_file(db, target) > 0
    finally:
        stop.set()
        writer.join()
        store.close()
    for target in copies:
        rows = _rows(target)
        assert rows >= committed_before and rows % BATCH == 0, rows
        assert not target.with_name(target.name + "-wal").exists()  # self-contained
        conn = sqlite3.connect(target)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


def test_a_file_copy_of_a_live_wal_database_misses_what_the_backup_keeps(tmp_path: Path) -> None:
    """Why not `tar` or `cp`: the main file alone lacks the commits still in the -wal file."""
    store = StateStore(tmp_path / "ingest", seen_per_feed=10)
    stop, written = threading.Event(), [0]
    writer = threading.Thread(target=_writer, args=(store.path, stop, written))
    writer.start()
    while written[0] < 10 * BATCH:
        threading.Event().wait(0.01)
    stop.set()
    writer.join()
    naive = tmp_path / "naive" / "ingest.sqlite3"
    naive.parent.mkdir()
    shutil.copyfile(store.path, naive)  # what `tar` of the volume picks up without the -wal beside it
    good = tmp_path / "good" / "ingest.sqlite3"
    backup_file(store.path, good)
    store.close()
    assert _rows(good) == written[0]
    conn = sqlite3.connect(naive)
    try:  # here even the tables are still in the -wal file only
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        naive_rows = int(conn.execute("SELECT count(*) FROM seen").fetchone()[0]) if "seen" in tables else 0
    finally:
        conn.close()
    assert naive_rows < written[0]


def test_backup_state_copies_each_stage_and_skips_what_is_absent(tmp_path: Path) -> None:
    ingest_dir, alert_dir = tmp_path / "state" / "ingest", tmp_path / "state" / "alert"
    StateStore(ingest_dir, seen_per_feed=10).close()
    copied, skipped = backup_state({"ingest": ingest_dir, "alert": alert_dir}, tmp_path / "out")
    assert [(c.stage, c.target) for c in copied] == [("ingest", tmp_path / "out" / "ingest" / "ingest.sqlite3")]
    assert skipped == [f"alert: no state database in {alert_dir}"]
    AlertState.in_dir(alert_dir).close()
    copied, skipped = backup_state({"ingest": ingest_dir, "alert": alert_dir}, tmp_path / "out")
    assert sorted(c.target.name for c in copied) == ["alert-state.sqlite3", "ingest.sqlite3"] and not skipped


def test_a_file_that_is_not_a_database_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "state" / "ingest.sqlite3"
    bad.parent.mkdir()
    bad.write_bytes(b"not a database at all" * 100)
    target = tmp_path / "out" / "ingest.sqlite3"
    with pytest.raises(BackupError, match="backup failed"):
        backup_file(bad, target)
    assert list(target.parent.iterdir()) == []


def test_the_command_backs_up_the_configured_state_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORYWIRE_INGEST_STATE_DIR", str(tmp_path / "ingest"))
    monkeypatch.setenv("STORYWIRE_ALERT_STATE_DIR", str(tmp_path / "alert"))
    assert main(["state", "backup", str(tmp_path / "b")]) == 1  # nothing there yet: one error line
    assert "nothing to back up" in capsys.readouterr().err
    AlertState.in_dir(tmp_path / "alert").close()
    assert main(["state", "backup", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "alert-state.sqlite3 (" in out and "integrity ok" in out and "skipped ingest" in out
    assert (tmp_path / "b" / "alert" / "alert-state.sqlite3").is_file()
