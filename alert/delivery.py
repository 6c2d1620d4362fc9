"""Delivering decided alerts from the outbox to the channels.

``Dispatcher.deliver_due()`` takes the alerts whose next attempt is due and hands
each to every channel still pending for it. A channel that fails is counted,
logged and retried later with backoff; it does not stop the other channels or the
other alerts. After ``give_up_after`` an alert's pending channels are abandoned
(counted and logged at error level) so one dead endpoint cannot grow the outbox
forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from alert.channels import BatchChannel, Channel
from alert.errors import DeliveryFailed, DeliveryRejected
from alert.metrics import BACKLOG, DELIVERIES, DELIVERY_SECONDS
from alert.rules import RuleSet
from alert.state import ABANDONED, PENDING, REJECTED, SENT, AlertState, Pending
from storywire.backoff import delay_s
from storywire.messages import Alert

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        state: AlertState,
        channels: Mapping[str, Channel],
        backoff_s: float = 5.0,
        backoff_max_s: float = 300.0,
        give_up_after_s: float = 86_400.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.channels = dict(channels)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.give_up_after_s = give_up_after_s
        self.now = now

    def channels_for(self, rules: RuleSet, rule_name: str) -> list[str]:
        """The channels an alert of this rule goes to: the topic always, then the rule's choice."""
        wanted = set(rules.get(rule_name).channels)
        names = ["topic"] if "topic" in self.channels else []
        names += [n for n in self.channels if n != "topic" and n.split("-")[0] in wanted]
        return names

    def deliver_due(self, limit: int = 100) -> int:
        """Deliver what is due; return how many alerts became fully delivered.

        Channel by channel, webhooks first (the editor-facing latency), then the alerts
        topic in one batch, then e-mail. A failure on one channel leaves the others going.
        """
        due = self.state.due(self.now(), limit)
        failures: dict[str, str] = {}
        names = sorted({n for p in due for n in p.channels}, key=_priority)
        for name in names:
            todo = [p.alert for p in due if name in p.channels]
            channel = self.channels.get(name)
            if channel is None:
                for alert in todo:
                    DELIVERIES.labels(name, "abandoned").inc()
                    log.error("channel no longer configured", extra={"alert": alert.id, "channel": name})
                    self.state.mark(alert.id, name, ABANDONED, self.now(), "channel no longer configured")
                continue
            started = time.monotonic()
            if isinstance(channel, BatchChannel):
                try:
                    errors = channel.send_batch(todo)
                except Exception as exc:  # counted as a failure of every alert in the batch
                    errors = [exc] * len(todo)
            else:
                errors = [_attempt(channel, alert) for alert in todo]
            elapsed = (time.monotonic() - started) / max(1, len(todo))
            for alert, error in zip(todo, errors, strict=True):
                failure = self._outcome(name, alert, error, elapsed)
                if failure is not None:
                    failures.setdefault(alert.id, failure)
        done = 0
        for pending in due:
            if pending.alert.id in failures:
                done += self._retry_or_give_up(pending, failures[pending.alert.id])
            else:
                done += 1
        BACKLOG.set(self.state.backlog())
        return done

    def _outcome(self, name: str, alert: Alert, error: BaseException | None, elapsed: float) -> str | None:
        fields = {"alert": alert.id, "channel": name, "story": alert.story.id, "rule": alert.rule}
        if error is None:
            DELIVERIES.labels(name, "sent").inc()
            DELIVERY_SECONDS.labels(name).observe(elapsed)
            self.state.mark(alert.id, name, SENT, self.now())
            log.info("alert delivered", extra=fields | {"level": alert.level})
            return None
        if isinstance(error, DeliveryRejected):
            DELIVERIES.labels(name, "rejected").inc()
            log.error("alert rejected by channel", extra=fields | {"error": str(error)})
            self.state.mark(alert.id, name, REJECTED, self.now(), str(error))
            return None
        DELIVERIES.labels(name, "failed").inc()
        if isinstance(error, DeliveryFailed):
            log.warning("alert delivery failed, will retry", extra=fields | {"error": str(error)})
            return str(error)
        log.error("alert delivery crashed, will retry", extra=fields, exc_info=error)
        return f"{name}: {type(error).__name__}: {error}"

    def _retry_or_give_up(self, pending: Pending, failure: str) -> int:
        alert, now = pending.alert, self.now()
        if now - pending.decided_at >= self.give_up_after_s:
            current = self.state.get(alert.id)
            for name, status in (current[1] if current else {}).items():
                if status == PENDING:
                    DELIVERIES.labels(name, "abandoned").inc()
                    log.error("alert abandoned on channel", extra={"alert": alert.id, "channel": name})
                    self.state.mark(alert.id, name, ABANDONED, now, failure)
            return 1
        delay = delay_s(pending.attempts, self.backoff_s, self.backoff_max_s, jitter=0.0)
        self.state.retry_later(alert.id, now + delay, failure)
        return 0


def _priority(name: str) -> tuple[int, str]:
    kind = name.split("-")[0]
    return ({"webhook": 0, "topic": 1, "email": 2}.get(kind, 3), name)


def _attempt(channel: Channel, alert: Alert) -> BaseException | None:
    try:
        channel.send(alert)
    except Exception as exc:  # a bug in one channel must not stop the others: counted as a failure
        return exc
    return None
