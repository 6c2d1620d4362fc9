"""Webhook and e-mail channels against local receivers the tests start (no mocks of HTTP or SMTP)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest

from alert.channels import EmailChannel, WebhookChannel
from alert.errors import DeliveryFailed, DeliveryRejected
from alert.render import slack_payload
from alert.settings import AlertSettings
from devtools.receivers import SmtpReceiver, WebhookReceiver
from storywire.messages import Alert, Story, decode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def link(story_id: str) -> str:
    return f"https://storywire.example/stories/{story_id}"


@pytest.fixture
def alert() -> Alert:
    story = decode(Story, (FIXTURES / "story.json").read_bytes())
    return Alert(
        id="brk/s-kremlin-1/0",
        rule="brk",
        kind="breaking",
        story=story,
        reason="breaking: 5 articles from 4 sources in 20 min",
        time=story.updated,
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_webhook_posts_slack_compatible_json(receiver: WebhookReceiver, client: httpx.Client, alert: Alert) -> None:
    WebhookChannel("webhook-0", receiver.url, client, link).send(alert)
    (got,) = receiver.received
    body = got.body
    assert body == slack_payload(alert, link("s-kremlin-1"))
    assert body["text"].startswith("Breaking: Kremlin drone attack: breaking: 5 articles")
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "section", "actions", "context"]
    assert body["blocks"][0]["text"]["text"] == "Breaking: Kremlin drone attack"
    fields = [f["text"] for f in body["blocks"][2]["fields"]]
    assert fields[0] == "*Size*\n5 articles"
    assert fields[1] == "*Sources* (4)\na.example, b.example, c.example, d.example"
    headlines = body["blocks"][3]["text"]["text"]
    assert "<https://a.example/0|Drone attack on the Kremlin, Moscow says> (a.example)" in headlines
    assert "Two drones downed over Kremlin &lt;overnight&gt;" in headlines  # mrkdwn escaped
    assert body["blocks"][4]["elements"][0]["url"] == "https://storywire.example/stories/s-kremlin-1"


def test_webhook_retries_with_backoff_until_the_receiver_recovers(
    receiver: WebhookReceiver, client: httpx.Client, alert: Alert
) -> None:
    receiver.fail_next = 2
    sleeps = Sleeps()
    WebhookChannel("webhook-0", receiver.url, client, link, retries=3, backoff_s=1, sleep=sleeps).send(alert)
    assert receiver.requests == 3 and len(receiver.received) == 1
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2  # exponential, jittered


def test_webhook_gives_up_after_its_retries_without_leaking_the_url(
    receiver: WebhookReceiver, client: httpx.Client, alert: Alert
) -> None:
    receiver.fail_next = 10
    with pytest.raises(DeliveryFailed) as info:
        WebhookChannel("webhook-0", receiver.url, client, link, retries=2, sleep=Sleeps()).send(alert)
    assert receiver.requests == 3
    assert str(info.value) == "webhook-0: 127.0.0.1 answered HTTP 500 (after 3 attempts)"
    assert "SECRET" not in str(info.value)


def test_webhook_honours_retry_after_on_429_up_to_its_cap(
    receiver: WebhookReceiver, client: httpx.Client, alert: Alert
) -> None:
    receiver.fail_next, receiver.fail_status, receiver.retry_after = 2, 429, "3"
    sleeps = Sleeps()
    WebhookChannel("webhook-0", receiver.url, client, link, backoff_s=0.01, backoff_max_s=5, sleep=sleeps).send(alert)
    assert len(receiver.received) == 1 and sleeps == [3.0, 3.0]
    receiver.fail_next, receiver.retry_after = 1, "3600"
    sleeps.clear()
    WebhookChannel("webhook-0", receiver.url, client, link, backoff_s=0.01, backoff_max_s=5, sleep=sleeps).send(alert)
    assert sleeps == [5.0]


def test_webhook_4xx_is_permanent(receiver: WebhookReceiver, client: httpx.Client, alert: Alert) -> None:
    receiver.fail_next, receiver.fail_status = 1, 404
    with pytest.raises(DeliveryRejected, match="HTTP 404"):
        WebhookChannel("webhook-0", receiver.url, client, link, sleep=Sleeps()).send(alert)
    assert receiver.requests == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webhook_unreachable_is_transient(client: httpx.Client, alert: Alert) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hook"
    with pytest.raises(DeliveryFailed, match=r"cannot reach 127\.0\.0\.1: ConnectError"):
        WebhookChannel("webhook-1", url, client, link, retries=1, sleep=Sleeps()).send(alert)


def smtp_settings(port: int, **kw: object) -> AlertSettings:
    fields: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "email_from": "storywire@example.org",
        "email_to": "desk@example.org, night@example.org",
    }
    fields.update(kw)
    return AlertSettings.model_validate(fields)


def test_email_is_sent_over_smtp_with_login(alert: Alert) -> None:
    with SmtpReceiver("alerts", "s3cret") as smtp:
        settings = smtp_settings(smtp.port, smtp_username="alerts", smtp_password="s3cret")
        EmailChannel(settings, link).send(alert)
        (mail,) = smtp.mails
    assert mail.auth == "alerts" and mail.sender == "storywire@example.org"
    assert mail.recipients == ["desk@example.org", "night@example.org"]
    msg: Message = message_from_bytes(mail.data)
    assert msg["Subject"] == "Breaking: Kremlin drone attack"
    assert msg["X-Storywire-Alert"] == "brk/s-kremlin-1/0"
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "breaking: 5 articles from 4 sources in 20 min" in text
    assert "Story: https://storywire.example/stories/s-kremlin-1" in text
    assert "- Two drones downed over Kremlin <overnight> (c.example)" in text


def test_email_refusals_are_permanent_and_outages_transient(alert: Alert) -> None:
    with SmtpReceiver("alerts", "s3cret") as smtp:
        bad_login = smtp_settings(smtp.port, smtp_username="alerts", smtp_password="wrong")
        with pytest.raises(DeliveryRejected, match="SMTPAuthenticationError"):
            EmailChannel(bad_login, link).send(alert)
        smtp.state.reject_rcpt = True
        with pytest.raises(DeliveryRejected, match="SMTPRecipientsRefused"):
            EmailChannel(smtp_settings(smtp.port, smtp_username="alerts", smtp_password="s3cret"), link).send(alert)
        assert smtp.mails == []
    with pytest.raises(DeliveryFailed, match="email: ConnectionRefusedError"):
        EmailChannel(smtp_settings(_free_port()), link).send(alert)


def test_settings_split_lists_and_hide_webhook_urls() -> None:
    s = AlertSettings.model_validate(
        {"webhook_urls": "https://hooks.example/a/SECRET, https://b.example/x", "email_to": ""}
    )
    assert s.webhooks == ("https://hooks.example/a/SECRET", "https://b.example/x")
    assert "SECRET" not in repr(s) and not s.email_enabled
    assert s.link("s 1") == "http://127.0.0.1:8000/stories/s 1"
