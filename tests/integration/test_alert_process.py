"""`storywire alert` as a process: killed mid-stream with SIGKILL and restarted, it sends nothing twice."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.receivers import WebhookReceiver
from devtools.samples import story
from storywire.bus import Topics, encode, ensure_topics, key_bytes, make_producer
from storywire.config import KafkaSettings
from storywire.messages import Story, utcnow

pytestmark = pytest.mark.integration

SOURCES = ("a.example", "b.example", "c.example", "d.example", "e.example", "f.example")


def update(sid: str, version: int, size: int) -> Story:
    now = utcnow()
    return story(sid, version, size=size, sources=SOURCES[: min(size, 6)], first_seen=now, last_seen=now, updated=now)


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def start(kafka_settings: KafkaSettings, tmp_path: Path, hook: WebhookReceiver, log: str) -> subprocess.Popen[bytes]:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: brk, kind: breaking, min_articles: 3, min_sources: 3, window: 1h}\n")
    env = os.environ | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "STORYWIRE_ALERT_RULES_FILE": str(rules),
        "STORYWIRE_ALERT_STATE_DIR": str(tmp_path / "state"),
        "STORYWIRE_ALERT_GROUP_ID": f"{kafka_settings.topic_prefix}-alert",
        "STORYWIRE_ALERT_OPS_PORT": "0",
        "STORYWIRE_ALERT_SESSION_TIMEOUT_MS": "6000",  # the killed member leaves the group sooner
        "STORYWIRE_ALERT_WEBHOOK_URLS": hook.url,
    }
    with (tmp_path / log).open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "storywire.app.cli", "alert"], env=env, stdout=err, stderr=err)


def delivered(tmp_path: Path) -> int:
    """Alerts the service has marked delivered, read from its state while it runs (WAL allows readers)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "state" / "alert-state.sqlite3")) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL").fetchone()[0])


def test_killed_and_restarted_service_sends_each_alert_once(
    kafka_settings: KafkaSettings, tmp_path: Path, hook: WebhookReceiver
) -> None:
    ensure_topics(kafka_settings)
    producer = make_producer(kafka_settings)
    stories = Topics(kafka_settings.topic_prefix).stories

    def send(*updates: Story) -> None:
        for s in updates:
            producer.send(stories, key=key_bytes(s.id), value=encode(s))
        producer.flush()

    first = start(kafka_settings, tmp_path, hook, "first.log")
    try:
        send(update("s1", 1, 1), update("s1", 2, 3), update("s2", 1, 2), update("s2", 2, 4))
        assert len(hook.wait_for(2, timeout=90)) == 2, (tmp_path / "first.log").read_text()[-2000:]
        # Kill once both are marked delivered: a kill between the receiver's 200 and that mark
        # is the one window where a resend is possible (at least once; see alert/state.py).
        deadline = time.monotonic() + 30
        while delivered(tmp_path) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        send(update("s2", 3, 5))  # more of the stream, maybe consumed, maybe not, at the kill
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

    send(update("s1", 3, 4), update("s1", 4, 6), update("s3", 1, 5))  # s1 reaches 2x; s3 is new
    second = start(kafka_settings, tmp_path, hook, "second.log")
    try:
        assert len(hook.wait_for(4, timeout=90)) >= 4, "second service did not resume"
        time.sleep(2)  # room for a duplicate to show up, if there were one
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
        producer.close()
    assert second.returncode == 0, (tmp_path / "second.log").read_text()[-2000:]
    texts = sorted(r.body["blocks"][-1]["elements"][0]["text"].split(" · ")[0] for r in hook.received)
    assert texts == ["alert brk/s1/0", "alert brk/s1/1", "alert brk/s2/0", "alert brk/s3/0"]
