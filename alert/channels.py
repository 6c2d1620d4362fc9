"""The channels an alert goes out on. Each ``send(alert)`` returns when the channel
acknowledged, or raises DeliveryFailed (transient: the outbox tries again later) or
DeliveryRejected (permanent: not retried).

- ``WebhookChannel``: POSTs Slack-compatible JSON; retries timeouts, connection
  errors, 5xx and 429 (honouring Retry-After) with exponential backoff and jitter.
  The URL is a secret (Slack puts the token in it): errors and logs name the
  channel (``webhook-0``) and host only.
- ``EmailChannel``: one message over SMTP per alert; implicit TLS or STARTTLS,
  optional login. Retries are the outbox's.
- ``TopicChannel``: the Alert message on the alerts topic, for audit; waits for
  the broker's acknowledgement.

The HTTP client, the SMTP connection factory, the producer and ``sleep`` are
passed in, so tests use local servers and no real waiting.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
from kafka.errors import KafkaError

from alert.errors import DeliveryFailed, DeliveryRejected
from alert.render import email_message, slack_payload
from alert.settings import AlertSettings
from storywire.backoff import delay_s, retry_after_s
from storywire.bus import Producer, encode, key_bytes
from storywire.messages import Alert, utcnow

Link = Callable[[str], str]


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that is faster given many alerts at once; one result per alert, None = sent."""

    def send_batch(self, alerts: Sequence[Alert]) -> list[BaseException | None]: ...


class WebhookChannel:
    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.Client,
        link: Link,
        retries: int = 3,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = url
        self.host = urlsplit(url).hostname or "?"
        self.client = client
        self.link = link
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sleep = sleep

    def send(self, alert: Alert) -> None:
        payload = slack_payload(alert, self.link(alert.story.id))
        error = "not attempted"
        for attempt in range(self.retries + 1):
            wait = delay_s(attempt, self.backoff_s, self.backoff_max_s)
            try:
                resp = self.client.post(self.url, json=payload)
            except httpx.TimeoutException:
                error = f"timed out posting to {self.host}"
            except httpx.TransportError as exc:
                error = f"cannot reach {self.host}: {type(exc).__name__}"
            else:
                if resp.is_success:
                    return
                error = f"{self.host} answered HTTP {resp.status_code}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise DeliveryRejected(self.name, error)
                asked = retry_after_s(resp.headers.get("retry-after"), utcnow())
                wait = max(wait, min(self.backoff_max_s, asked or 0.0))
            if attempt < self.retries:
                self.sleep(wait)
        raise DeliveryFailed(self.name, f"{error} (after {self.retries + 1} attempts)")


SmtpFactory = Callable[[AlertSettings], smtplib.SMTP]


def connect_smtp(settings: AlertSettings) -> smtplib.SMTP:
    """Open an SMTP session as the settings say: implicit TLS, STARTTLS or plain, then login."""
    host = settings.smtp_host or "localhost"
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    smtp: smtplib.SMTP
    if settings.smtp_ssl:
        smtp = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=settings.smtp_timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(host, settings.smtp_port, timeout=settings.smtp_timeout_s)
    try:
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls(context=context)
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


class EmailChannel:
    name = "email"

    def __init__(self, settings: AlertSettings, link: Link, connect: SmtpFactory = connect_smtp) -> None:
        self.settings = settings
        self.link = link
        self.connect = connect

    def message(self, alert: Alert) -> EmailMessage:
        s = self.settings
        return email_message(alert, self.link(alert.story.id), s.email_from, s.recipients)

    def send(self, alert: Alert) -> None:
        msg = self.message(alert)
        try:
            with self.connect(self.settings) as smtp:
                smtp.send_message(msg)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise DeliveryRejected(self.name, f"{type(exc).__name__}: {_smtp_reason(exc)}") from exc
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {_smtp_reason(exc)}"
            if 500 <= exc.smtp_code < 600:
                raise DeliveryRejected(self.name, error) from exc
            raise DeliveryFailed(self.name, error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(self.name, f"{type(exc).__name__}: {exc}") from exc


def _smtp_reason(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error
        return err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
    return str(exc)


class TopicChannel:
    name = "topic"

    def __init__(self, producer: Producer, topic: str, timeout_s: float = 60.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s

    def send(self, alert: Alert) -> None:
        error = self.send_batch([alert])[0]
        if error is not None:
            raise error

    def send_batch(self, alerts: Sequence[Alert]) -> list[BaseException | None]:
        """Send every alert, then wait for each acknowledgement (one round trip, not one per alert)."""
        futures = []
        for alert in alerts:
            try:
                futures.append(self.producer.send(self.topic, key=key_bytes(alert.story.id), value=encode(alert)))
            except KafkaError as exc:
                futures.append(exc)
        with contextlib.suppress(KafkaError):  # a timeout shows in each future below
            self.producer.flush(timeout=self.timeout_s)
        results: list[BaseException | None] = []
        for future in futures:
            try:
                if isinstance(future, KafkaError):
                    raise future
                future.get(timeout=self.timeout_s)
                results.append(None)
            except KafkaError as exc:
                results.append(DeliveryFailed(self.name, f"{type(exc).__name__}: {exc}"))
        return results
