"""The alert service: stories topic -> engine -> outbox -> channels.

    poll a batch of Story updates (poison records go to the dead-letter topic)
    for each: load the states it names, Engine.process, record states + alerts (SQLite)
    commit the consumer offsets (what was decided is durable in the outbox)
    deliver what is due from the outbox (this batch's alerts and earlier failures)

On start the outbox is delivered first, so alerts decided before a crash go out.
Run one instance per state directory; the engine's memory is local (see state.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from alert.channels import Channel, EmailChannel, SmtpFactory, TopicChannel, WebhookChannel, connect_smtp
from alert.delivery import Dispatcher
from alert.engine import Engine
from alert.metrics import DECIDED, UPDATES
from alert.rules import RuleSet
from alert.settings import AlertSettings
from alert.state import AlertState
from storywire.bus import (
    DeadLetters,
    Topics,
    decode_records,
    ensure_topics,
    group_id,
    make_consumer,
    make_producer,
    poll_records,
)
from storywire.config import KafkaSettings
from storywire.messages import Story, utcnow
from storywire.runtime import commit_after_batch, mark_success

log = logging.getLogger(__name__)


class AlertService:
    def __init__(
        self,
        kafka: KafkaSettings,
        settings: AlertSettings,
        rules: RuleSet,
        *,
        clock: Callable[[], datetime] = utcnow,
        smtp_connect: SmtpFactory = connect_smtp,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.topics = Topics(kafka.topic_prefix)
        ensure_topics(kafka, self.topics)
        self.producer = make_producer(kafka)
        self.consumer = make_consumer(
            kafka,
            group_id(kafka, settings.group_id, "alert"),
            [self.topics.stories],
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.session_timeout_ms // 3,
        )
        self.dead = DeadLetters(self.producer, self.topics, stage="alert")
        self.state = AlertState.in_dir(settings.state_dir)
        self.engine = Engine(rules, clock, max_update_age=timedelta(seconds=settings.max_update_age_s))
        self.http = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
        channels: dict[str, Channel] = {"topic": TopicChannel(self.producer, self.topics.alerts)}
        for i, url in enumerate(settings.webhooks):
            channels[f"webhook-{i}"] = WebhookChannel(
                f"webhook-{i}",
                url,
                self.http,
                settings.link,
                retries=settings.webhook_retries,
                backoff_s=settings.webhook_backoff_s,
                backoff_max_s=settings.webhook_backoff_max_s,
                sleep=sleep,
            )
        if settings.email_enabled:
            channels["email"] = EmailChannel(settings, settings.link, smtp_connect)
        self.dispatcher = Dispatcher(
            self.state,
            channels,
            backoff_s=settings.redeliver_backoff_s,
            backoff_max_s=settings.redeliver_backoff_max_s,
            give_up_after_s=settings.give_up_after_s,
        )
        self.last_poll = time.monotonic()
        self.next_prune = 0.0

    def health(self) -> tuple[bool, dict[str, str]]:
        idle = time.monotonic() - self.last_poll
        if idle > 120:
            return False, {"consumer": f"no poll for {idle:.0f}s"}
        return True, {}

    def run(self, stop: threading.Event) -> None:
        log.info(
            "alert service started",
            extra={"rules": len(self.rules.rules), "channels": ",".join(self.dispatcher.channels)},
        )
        self.dispatcher.deliver_due()
        while not stop.is_set():
            self.step()

    def step(self) -> int:
        """One poll, decide, commit, deliver round; return the number of alerts decided."""
        records = poll_records(self.consumer, timeout_ms=self.settings.poll_timeout_ms)
        self.last_poll = time.monotonic()
        decided = 0
        if records:
            for item in decode_records(records, Story, self.dead):
                decided += self.handle(item.value)
            commit_after_batch(self.consumer, log)  # decisions are durable in the outbox already
        mark_success("alert")  # a batch decided and committed, or nothing to do
        self.dispatcher.deliver_due()
        if time.monotonic() >= self.next_prune:
            self.next_prune = time.monotonic() + 3600
            pruned = self.state.prune(time.time() - self.settings.state_retention_s)
            if pruned:
                log.info("alert state pruned", extra={"rows": pruned})
        return decided

    def handle(self, story: Story) -> int:
        outcome = self.engine.process(story, self.state.load(Engine.needs(story)))
        UPDATES.labels("ignored" if outcome.ignored else "evaluated").inc()
        if not outcome.states:
            return 0
        planned = [(a, self.dispatcher.channels_for(self.rules, a.rule)) for a in outcome.alerts]
        fresh = self.state.record(outcome.states, planned, time.time())
        for alert in outcome.alerts:
            if alert.id in fresh:
                DECIDED.labels(alert.rule, alert.kind, str(alert.level)).inc()
                log.info(
                    "alert decided",
                    extra={"alert": alert.id, "rule": alert.rule, "story": story.id, "level": alert.level},
                )
        return len(fresh)

    def close(self) -> None:
        for close in (self.consumer.close, self.producer.close, self.http.close, self.state.close):
            try:
                close()
            except Exception:  # closing the rest matters more than one failure here
                log.exception("error while closing")
