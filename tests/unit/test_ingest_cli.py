"""`storywire feeds ...` through the real command-line entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.feeds import load_feeds
from ingest.settings import IngestSettings
from ingest.state import StateStore
from storywire.app.cli import main

OPML = b"""<?xml version="1.0"?><opml version="2.0"><body>
<outline text="Tech"><outline type="rss" text="B" xmlUrl="https://b.example/rss"/></outline>
</body></opml>"""


@pytest.fixture
def feeds_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORYWIRE_INGEST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("STORYWIRE_INGEST_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    return tmp_path / "feeds.yaml"


def test_add_list_import_export_remove(feeds_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeds", "add", "https://a.example/rss", "--name", "A", "--tag", "world", "--interval", "300"]) == 0
    assert main(["feeds", "add", "https://a.example/rss"]) == 1  # already listed
    assert main(["feeds", "add", "file:///etc/passwd"]) == 2
    (tmp_path / "subs.opml").write_bytes(OPML)
    assert main(["feeds", "import-opml", str(tmp_path / "subs.opml")]) == 0
    assert [f.url for f in load_feeds(feeds_file)] == ["https://a.example/rss", "https://b.example/rss"]

    store = StateStore(tmp_path / "state")
    st = store.get("https://b.example/rss")
    store.save(st.with_(error_count=3, last_error="timeout: read", next_poll=datetime(2030, 1, 1, tzinfo=UTC)))
    store.save(store.get("https://a.example/rss").with_(disabled=True, disabled_reason="410 Gone"))
    store.close()
    capsys.readouterr()
    assert main(["feeds", "list"]) == 0
    out = capsys.readouterr().out
    assert "disabled" in out and "410 Gone" in out
    assert "backoff" in out and "timeout: read" in out and "2030-01-01" in out

    assert main(["feeds", "enable", "https://a.example/rss"]) == 0
    store = StateStore(tmp_path / "state")
    assert not store.get("https://a.example/rss").disabled
    store.close()

    assert main(["feeds", "export-opml", str(tmp_path / "out.opml")]) == 0
    assert b'xmlUrl="https://b.example/rss"' in (tmp_path / "out.opml").read_bytes()
    assert main(["feeds", "remove", "https://a.example/rss"]) == 0
    assert main(["feeds", "remove", "https://a.example/rss"]) == 1
    assert [f.url for f in load_feeds(feeds_file)] == ["https://b.example/rss"]


def test_settings_come_from_the_environment(feeds_file: Path) -> None:
    assert IngestSettings().feeds_file == feeds_file


def test_ingest_without_a_feeds_file_is_a_one_line_error(feeds_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--once"]) == 1
    assert "no feeds file" in capsys.readouterr().err


def test_list_creates_no_state_and_prints_json(
    feeds_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feeds", "add", "https://a.example/rss", "--tag", "world"]) == 0
    capsys.readouterr()
    assert main(["feeds", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "url": "https://a.example/rss",
            "name": "",
            "source": "",
            "tags": ["world"],
            "language": None,
            "interval": None,
            "folder": "",
            "html_url": "",
            "status": "new",
            "errors": 0,
            "next_poll": None,
            "last_error": None,
            "disabled_reason": None,
            "moved_to": None,
            "last_success": None,
        }
    ]
    assert not (tmp_path / "state").exists()  # listing is not a reason to create state
    store = StateStore(tmp_path / "state")
    store.save(store.get("https://a.example/rss").with_(disabled=True, disabled_reason="410 Gone"))
    store.close()
    assert main(["feeds", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["status"], row["disabled_reason"]) == ("disabled", "410 Gone")


def test_import_reports_what_it_skipped(feeds_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(
        b"""<opml version="2.0"><body><outline text="Tech">
        <outline type="rss" text="B" xmlUrl="feed://b.example/rss" htmlUrl="https://b.example/"/>
        <outline type="rss" text="Bad" xmlUrl="ftp://x.example/rss"/></outline></body></opml>"""
    )
    assert main(["feeds", "import-opml", str(opml)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"imported 1 new feed of 2 in {opml}; skipped 1: 'Bad': ftp://x.example/rss: "
        "must be an http(s) URL with a host",
        "1 feed:// URL read as https://",
    ]
    (feed,) = load_feeds(feeds_file)
    assert (feed.url, feed.folder, feed.html_url) == ("https://b.example/rss", "Tech", "https://b.example/")
    assert main(["feeds", "import-opml", str(opml)]) == 0
    assert capsys.readouterr().out.startswith(f"imported 0 new feeds of 2 in {opml} (1 already listed); skipped 1")
    assert main(["feeds", "export-opml", str(tmp_path / "out.opml")]) == 0
    out = (tmp_path / "out.opml").read_bytes()
    assert b'<outline text="Tech" title="Tech">' in out and b'htmlUrl="https://b.example/"' in out
