"""Settings of the alert service, read from ``STORYWIRE_ALERT_*``.

Lists (webhook URLs, e-mail recipients) are comma-separated strings, so one
environment variable holds them in docker-compose. Webhook URLs are secrets in
Slack (the token is in the path), so they are ``SecretStr`` and never logged;
logs name a webhook by its position (``webhook-0``) and host only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storywire.config import cache_dir


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.replace("\n", ",").split(",") if part.strip())


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYWIRE_ALERT_", frozen=True, extra="ignore")

    rules_file: Path = Path("alert-rules.yaml")
    state_dir: Path = Field(default_factory=lambda: cache_dir() / "alert")
    group_id: str = ""  # empty: "<topic prefix>-alert" (storywire.bus.group_id)
    ops_port: int = Field(default=9104, ge=0, le=65535)
    poll_timeout_ms: int = Field(default=250, ge=1)
    # How soon a killed instance's partitions move to its replacement (heartbeats every third).
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    # Updates older than this (by the story's own `updated` time) refresh the history but
    # never alert: a new consumer group replaying the compacted topic must not page anyone.
    max_update_age_s: float = Field(default=3600.0, gt=0)

    # Webhooks (Slack-compatible incoming webhooks), comma-separated.
    webhook_urls: SecretStr = SecretStr("")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    webhook_backoff_max_s: float = Field(default=8.0, ge=0)

    # E-mail over SMTP; no host means no e-mail channel.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_ssl: bool = False  # implicit TLS (port 465); wins over starttls
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    email_from: str = "storywire@localhost"
    email_to: str = ""

    # Where an editor opens a story; {story_id} is replaced.
    story_url: str = "http://127.0.0.1:8000/stories/{story_id}"

    # Undelivered alerts are retried from the outbox with this backoff, for this long.
    redeliver_backoff_s: float = Field(default=5.0, gt=0)
    redeliver_backoff_max_s: float = Field(default=300.0, gt=0)
    give_up_after_s: float = Field(default=86_400.0, gt=0)
    # Stories silent this long, and delivered alerts this old, are dropped from the state.
    state_retention_s: float = Field(default=14 * 86_400.0, gt=0)

    @property
    def webhooks(self) -> tuple[str, ...]:
        return _split(self.webhook_urls.get_secret_value())

    @property
    def recipients(self) -> tuple[str, ...]:
        return _split(self.email_to)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host) and bool(self.recipients)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.webhook_backoff_s > self.webhook_backoff_max_s:
            raise ValueError("STORYWIRE_ALERT_WEBHOOK_BACKOFF_S must not exceed STORYWIRE_ALERT_WEBHOOK_BACKOFF_MAX_S")
        if self.redeliver_backoff_s > self.redeliver_backoff_max_s:
            raise ValueError(
                "STORYWIRE_ALERT_REDELIVER_BACKOFF_S must not exceed STORYWIRE_ALERT_REDELIVER_BACKOFF_MAX_S"
            )
        return self

    def link(self, story_id: str) -> str:
        return self.story_url.replace("{story_id}", story_id)
