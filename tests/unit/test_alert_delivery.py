"""The outbox: decided alerts survive a crash, failing channels retry without blocking the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alert.channels import Channel, WebhookChannel
from alert.delivery import Dispatcher
from alert.engine import StoryState
from alert.errors import DeliveryFailed, DeliveryRejected
from alert.rules import parse_rules
from alert.state import AlertState
from devtools.fakes import FakeClock
from devtools.receivers import WebhookReceiver
from devtools.samples import T0, story
from storywire.messages import Alert


class Recorder:
    """An in-process channel standing in for one that works or fails on demand."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []
        self.fail: type[Exception] | None = None

    def send(self, alert: Alert) -> None:
        if self.fail is not None:
            raise (
                self.fail(self.name, "down")
                if issubclass(self.fail, DeliveryFailed | DeliveryRejected)
                else self.fail()
            )
        self.sent.append(alert.id)


def make_alert(n: int = 1) -> Alert:
    return Alert(id=f"r/s{n}/0", rule="r", kind="breaking", story=story(f"s{n}"), reason="why", time=T0)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[AlertState]:
    s = AlertState.in_dir(tmp_path)
    yield s
    s.close()


def test_a_failing_channel_does_not_block_the_others_and_is_retried(tmp_path: Path, state: AlertState) -> None:
    clock = FakeClock(1_000_000.0)
    topic, email = Recorder("topic"), Recorder("email")
    with WebhookReceiver() as hook, httpx.Client(timeout=5) as client:
        webhook = WebhookChannel("webhook-0", hook.url, client, lambda s: s, retries=1, sleep=lambda _: None)
        channels: dict[str, Channel] = {"topic": topic, "webhook-0": webhook, "email": email}
        d = Dispatcher(state, channels, backoff_s=10, now=clock)
        hook.fail_next = 100  # the webhook is down
        state.record({}, [(make_alert(), ["topic", "webhook-0", "email"])], clock())
        assert d.deliver_due() == 0
        assert topic.sent == ["r/s1/0"] and email.sent == ["r/s1/0"] and hook.received == []
        assert state.backlog() == 1
        assert d.deliver_due() == 0 and hook.requests == 2  # not due yet: backoff
        hook.fail_next = 0  # it recovers
        clock.t += 10
        assert d.deliver_due() == 1
        assert len(hook.received) == 1 and topic.sent == ["r/s1/0"] and email.sent == ["r/s1/0"]
        assert state.backlog() == 0
        clock.t += 1000
        assert d.deliver_due() == 0 and len(hook.received) == 1  # delivered once


def test_alerts_decided_before_a_crash_are_delivered_after_it(tmp_path: Path) -> None:
    before = AlertState.in_dir(tmp_path)
    st = StoryState(story_id="s1", version=3)
    assert before.record({"s1": st}, [(make_alert(1), ["topic"]), (make_alert(2), ["topic"])], 0.0) == [
        "r/s1/0",
        "r/s2/0",
    ]
    before.close()  # crash: decided, never sent

    after = AlertState.in_dir(tmp_path)
    assert after.load(["s1", "nope"]) == {"s1": st}
    assert after.record({}, [(make_alert(1), ["topic"])], 1.0) == []  # decided once
    topic = Recorder("topic")
    assert Dispatcher(after, {"topic": topic}, now=FakeClock(1_000_000.0)).deliver_due() == 2
    assert topic.sent == ["r/s1/0", "r/s2/0"]
    after.close()


def test_rejections_are_not_retried_and_failures_are_abandoned_after_the_limit(state: AlertState) -> None:
    clock = FakeClock(1_000_000.0)
    bad, flaky = Recorder("webhook-0"), Recorder("email")
    bad.fail, flaky.fail = DeliveryRejected, RuntimeError  # a bug in a channel counts as a failure
    d = Dispatcher(state, {"webhook-0": bad, "email": flaky}, backoff_s=1, give_up_after_s=60, now=clock)
    state.record({}, [(make_alert(), ["webhook-0", "email"])], clock())
    d.deliver_due()
    got = state.get("r/s1/0")
    assert got is not None and got[1] == {"webhook-0": "rejected", "email": "pending"}
    clock.t += 61
    assert d.deliver_due() == 1
    got = state.get("r/s1/0")
    assert got is not None and got[1] == {"webhook-0": "rejected", "email": "abandoned"}
    assert state.backlog() == 0


def test_an_alert_for_a_channel_no_longer_configured_is_not_stuck(state: AlertState) -> None:
    state.record({}, [(make_alert(), ["webhook-3"])], 0.0)
    assert Dispatcher(state, {}, now=FakeClock(1_000_000.0)).deliver_due() == 1
    assert state.backlog() == 0


def test_channels_follow_the_rule_and_the_topic_is_always_there(state: AlertState) -> None:
    rules = parse_rules("- {name: a, kind: watch, query: x, channels: webhook}\n- {name: b, kind: watch, query: y}")
    names = ["topic", "webhook-0", "webhook-1", "email"]
    d = Dispatcher(state, {n: Recorder(n) for n in names})
    assert d.channels_for(rules, "a") == ["topic", "webhook-0", "webhook-1"]
    assert d.channels_for(rules, "b") == names


def test_prune_forgets_quiet_stories_and_old_delivered_alerts(state: AlertState) -> None:
    state.record({"old": StoryState(story_id="old")}, [(make_alert(1), ["topic"])], 100.0)
    state.record({"new": StoryState(story_id="new")}, [(make_alert(2), ["topic"])], 900.0)
    state.mark("r/s1/0", "topic", "sent", 150.0)
    assert state.prune(before=500.0) == 2
    assert set(state.load(["old", "new"])) == {"new"}
    assert state.get("r/s1/0") is None and state.get("r/s2/0") is not None  # undelivered alerts stay
