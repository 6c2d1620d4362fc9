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

from alert.channels import Channel
from alert.errors import DeliveryFailed, DeliveryRejected
from alert.metrics import BACKLOG, DELIVERIES, DELIVERY_SECONDS
from alert.rules import RuleSet
from alert.state import ABANDONED, REJECTED, SENT, AlertState, Pending

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
        """Deliver what is due; return how many alerts became fully delivered."""
        done = 0
        for pending in self.state.due(self.now(), limit):
            done += self._deliver(pending)
        BACKLOG.set(self.state.backlog())
        return done

    def _deliver(self, pending: Pending) -> int:
        alert = pending.alert
        failure: str | None = None
        for name in pending.channels:
            channel = self.channels.get(name)
            fields = {"alert": alert.id, "channel": name, "story": alert.story.id, "rule": alert.rule}
            if channel is None:
                DELIVERIES.labels(name, "abandoned").inc()
                log.error("channel no longer configured, alert not delivered there", extra=fields)
                self.state.mark(alert.id, name, ABANDONED, self.now(), "channel no longer configured")
                continue
            started = time.monotonic()
            try:
                channel.send(alert)
            except DeliveryRejected as exc:
                DELIVERIES.labels(name, "rejected").inc()
                log.error("alert rejected by channel", extra=fields | {"error": str(exc)})
                self.state.mark(alert.id, name, REJECTED, self.now(), str(exc))
            except DeliveryFailed as exc:
                DELIVERIES.labels(name, "failed").inc()
                log.warning("alert delivery failed, will retry", extra=fields | {"error": str(exc)})
                failure = str(exc)
            except Exception as exc:  # a bug in one channel must not stop the others
                DELIVERIES.labels(name, "failed").inc()
                log.exception("alert delivery crashed, will retry", extra=fields)
                failure = f"{name}: {type(exc).__name__}: {exc}"
            else:
                DELIVERIES.labels(name, "sent").inc()
                DELIVERY_SECONDS.labels(name).observe(time.monotonic() - started)
                self.state.mark(alert.id, name, SENT, self.now())
                log.info("alert delivered", extra=fields | {"level": alert.level})
        if failure is None:
            return 1
        now = self.now()
        if now - pending.decided_at >= self.give_up_after_s:
            current = self.state.get(alert.id)
            for name, status in (current[1] if current else {}).items():
                if status == "pending":
                    DELIVERIES.labels(name, "abandoned").inc()
                    log.error("alert abandoned on channel", extra={"alert": alert.id, "channel": name})
                    self.state.mark(alert.id, name, ABANDONED, now, failure)
            return 1
        delay = min(self.backoff_max_s, self.backoff_s * 2**pending.attempts)
        self.state.retry_later(alert.id, now + delay, failure)
        return 0
