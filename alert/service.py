"""The alert service: stories topic -> engine -> outbox -> channels.

    poll a batch of Story updates (poison records go to the dead-letter topic)
    for each: load the states it names, Engine.process, record states + alerts (SQLite)
    commit the consumer offsets (what was decided is durable in the outbox)
    deliver what is due from the outbox (this batch's alerts and earlier failures)

The first three steps are the stages' one rule (``storywire.consume.StageLoop``): a
story the engine raises on is dead-lettered alone; a SQLite error is the stage's, not
the story's (not ready, the batch is handled again after a backoff).

On start the outbox is delivered first, so alerts decided before a crash go out.
Run one instance per state directory; the engine's memory is local (see state.py).
"""

from __future__ import annotations

import logging
import sqlite3
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
from storywire.bus import Consumer, Decoded, Producer, Topics, ensure_topics, group_id, make_consumer
from storywire.config import KafkaSettings
from storywire.consume import Outputs, StageLoop
from storywire.delivery import Delivery, Stopped, broker_limits, renewable_producer
from storywire.messages import Story, utcnow

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
        clients: tuple[Consumer, Producer] | None = None,
    ) -> None:
        """``clients`` replaces the Kafka consumer and producer (and the topic set-up) in unit tests."""
        self.settings = settings
        self.rules = rules
        self.topics = Topics(kafka.topic_prefix)
        self.consumer: Consumer
        self.producer: Producer
        limits = None
        if clients is not None:
            self.consumer, self.producer = clients
        else:
            ensure_topics(kafka, self.topics)
            self.producer = renewable_producer(kafka)
            self.consumer = make_consumer(
                kafka,
                group_id(kafka, settings.group_id, "alert"),
                [self.topics.stories],
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.session_timeout_ms // 3,
            )
            limits = broker_limits(kafka)
        self.delivery = Delivery(self.producer, self.topics, "alert", limits=limits)
        self.loop = StageLoop("alert", self.consumer, self.delivery, fatal=(sqlite3.Error,))
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
        self.started = time.monotonic()
        self.next_prune = 0.0
        self._decided = 0

    @property
    def last_poll(self) -> float:
        """Monotonic time of the last poll (of the start, before the first), for the probes."""
        return self.loop.last_poll or self.started

    def health(self) -> tuple[bool, dict[str, str]]:
        idle = time.monotonic() - self.last_poll
        reasons = self.loop.health()[1]
        if idle > 120:
            reasons["consumer"] = f"no poll for {idle:.0f}s"
        return not reasons, reasons

    def run(self, stop: threading.Event) -> None:
        log.info(
            "alert service started",
            extra={"rules": len(self.rules.rules), "channels": ",".join(self.dispatcher.channels)},
        )
        self.dispatcher.deliver_due()
        self.delivery.stop = self.loop.stop = stop
        try:
            while not stop.is_set():
                self.step()
        except Stopped:
            log.info("stopped with a batch not settled; it is read again on restart")

    def step(self) -> int:
        """One poll, decide, commit, deliver round; return the number of alerts decided."""
        records = self.loop.poll(timeout_ms=self.settings.poll_timeout_ms)
        self._decided = 0
        # Decisions are durable in the outbox before the commit; the loop marks the progress.
        self.loop.process(records, Story, self._decide)
        decided = self._decided
        self.dispatcher.deliver_due()
        if time.monotonic() >= self.next_prune:
            self.next_prune = time.monotonic() + 3600
            pruned = self.state.prune(time.time() - self.settings.state_retention_s)
            if pruned:
                log.info("alert state pruned", extra={"rows": pruned})
        return decided

    def _decide(self, items: list[Decoded[Story]], out: Outputs) -> None:
        for item in items:
            self._decided += self.handle(item.value)

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
