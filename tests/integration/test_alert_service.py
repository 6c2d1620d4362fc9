"""The alert service against the real broker, a local webhook receiver and a local SMTP server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alert.rules import parse_rules
from alert.service import AlertService
from alert.settings import AlertSettings
from devtools.receivers import SmtpReceiver, WebhookReceiver
from devtools.samples import story
from storywire.bus import Topics, encode, key_bytes, make_consumer, make_producer, poll_records
from storywire.config import KafkaSettings
from storywire.messages import Alert, Story, decode, utcnow

pytestmark = pytest.mark.integration

RULES = parse_rules(
    """
- {name: brk, kind: breaking, min_articles: 4, min_sources: 3, window: 1h}
- {name: watch, kind: watch, query: kremlin drone, channels: webhook, min_size: 100}
"""
)
SOURCES = ("a.example", "b.example", "c.example", "d.example", "e.example", "f.example")
START = utcnow()


def update(sid: str, version: int, size: int) -> Story:
    now = utcnow()
    return story(sid, version, size=size, sources=SOURCES[: min(size, 6)], first_seen=START, last_seen=now, updated=now)


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as s:
        yield s


@pytest.fixture
def make_service(
    kafka_settings: KafkaSettings, tmp_path: Path, hook: WebhookReceiver, smtp: SmtpReceiver
) -> Iterator[Callable[[], AlertService]]:
    settings = AlertSettings.model_validate(
        {
            "state_dir": tmp_path / "state",
            "group_id": f"{kafka_settings.topic_prefix}-alert",
            "poll_timeout_ms": 100,
            "webhook_urls": hook.url,
            "webhook_retries": 1,
            "webhook_backoff_s": 0.01,
            "redeliver_backoff_s": 0.2,
            "redeliver_backoff_max_s": 0.5,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "email_to": "desk@example.org",
        }
    )
    made: list[AlertService] = []

    def make() -> AlertService:
        made.append(AlertService(kafka_settings, settings, RULES))
        return made[-1]

    yield make
    for svc in made:
        svc.close()


def produce(kafka_settings: KafkaSettings, *stories: Story) -> None:
    producer = make_producer(kafka_settings)
    for s in stories:
        producer.send(Topics(kafka_settings.topic_prefix).stories, key=key_bytes(s.id), value=encode(s))
    producer.flush()
    producer.close()


def run_until(svc: AlertService, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached"
        svc.step()


def audit(kafka_settings: KafkaSettings, want: int) -> list[Alert]:
    topics = Topics(kafka_settings.topic_prefix)
    consumer = make_consumer(kafka_settings, None, [topics.alerts])
    records = []
    for _ in range(40):
        records += poll_records(consumer, timeout_ms=250)
        if len(records) >= want:
            break
    consumer.close()
    return [decode(Alert, r.value) for r in records if r.value is not None]


def test_breaking_story_alerts_once_on_every_channel(
    kafka_settings: KafkaSettings, make_service: Callable[[], AlertService], hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    svc = make_service()
    produce(kafka_settings, update("s1", 1, 1), update("s1", 2, 3), update("s1", 3, 4), update("s1", 4, 5))
    produce(kafka_settings, update("quiet", 1, 2))
    run_until(svc, lambda: len(hook.received) >= 1 and len(smtp.mails) >= 1)
    for _ in range(5):
        svc.step()
    assert [r.body["blocks"][0]["text"]["text"] for r in hook.received] == ["Breaking: Kremlin drone attack"]
    assert len(smtp.mails) == 1 and b"X-Storywire-Alert: brk/s1/0" in smtp.mails[0].data
    (logged,) = audit(kafka_settings, 1)
    assert (logged.id, logged.story.version, logged.level) == ("brk/s1/0", 3, 0)
    assert svc.state.backlog() == 0


def test_no_duplicate_after_a_crash_before_the_offset_commit(
    kafka_settings: KafkaSettings, make_service: Callable[[], AlertService], hook: WebhookReceiver
) -> None:
    first = make_service()
    first.consumer.commit = lambda *a, **kw: None  # type: ignore[method-assign]  # the crash: alerts sent, offsets never committed
    produce(kafka_settings, update("s1", 1, 2), update("s1", 2, 4))
    run_until(first, lambda: len(hook.received) == 1)
    first.close()

    second = make_service()  # same group and state: it consumes both updates again
    produce(kafka_settings, update("s1", 3, 6), update("s1", 4, 8))  # 2x the first alert's size
    run_until(second, lambda: len(hook.received) >= 2)
    for _ in range(10):
        second.step()
    titles = [r.body["blocks"][0]["text"]["text"] for r in hook.received]
    assert titles == ["Breaking: Kremlin drone attack", "Breaking (update 1): Kremlin drone attack"]
    assert "grew from 4 to 8 articles" in hook.received[1].body["text"]
    assert sorted(a.id for a in audit(kafka_settings, 2)) == ["brk/s1/0", "brk/s1/1"]


def test_alerts_decided_before_a_crash_are_sent_on_restart(
    kafka_settings: KafkaSettings, make_service: Callable[[], AlertService], hook: WebhookReceiver
) -> None:
    first = make_service()
    first.dispatcher.deliver_due = lambda limit=100: 0  # type: ignore[method-assign]  # the crash: decided and committed, never sent
    produce(kafka_settings, update("s2", 1, 5))
    run_until(first, lambda: first.state.backlog() == 1)
    first.close()
    assert hook.received == []

    second = make_service()
    second.dispatcher.deliver_due()  # what run() does first
    assert len(hook.received) == 1 and "alert brk/s2/0" in hook.received[0].body["blocks"][-1]["elements"][0]["text"]
    for _ in range(10):
        second.step()
    assert len(hook.received) == 1 and [a.id for a in audit(kafka_settings, 1)] == ["brk/s2/0"]


def test_a_receiver_that_fails_then_recovers_gets_the_alert(
    kafka_settings: KafkaSettings, make_service: Callable[[], AlertService], hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    svc = make_service()
    hook.fail_next = 1_000
    produce(kafka_settings, update("s3", 1, 6))
    run_until(svc, lambda: len(smtp.mails) == 1)  # e-mail is not held up by the failing webhook
    assert hook.received == [] and hook.requests >= 2 and svc.state.backlog() == 1
    hook.fail_next = 0
    run_until(svc, lambda: len(hook.received) == 1)
    for _ in range(5):
        svc.step()
    assert len(hook.received) == 1 and len(smtp.mails) == 1 and svc.state.backlog() == 0
