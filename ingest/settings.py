"""IngestSettings: the poller's own settings, from ``STORYWIRE_INGEST_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.addresses import parse_entry
from storywire.config import cache_dir


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYWIRE_INGEST_", frozen=True, extra="ignore")

    feeds_file: Path = Path("feeds.yaml")
    # SQLite file with per-feed HTTP cache state, backoff and seen article ids.
    state_dir: Path = Field(default_factory=lambda: cache_dir() / "ingest")

    # Network safety. Private, loopback, link-local and metadata addresses (and the IPv6
    # forms that carry one) are refused unless allow_private is set. allow_hosts exempts
    # "host:port" entries (a bare "host": its default ports 80/443 only) for feeds whose own
    # URL is one of them (an intranet feed); another feed's redirect there is still refused.
    allow_private: bool = False
    allow_hosts: tuple[str, ...] = ()
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=15.0, gt=0)
    deadline_s: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0)
    user_agent: str = "Storywire/0.1 (+https://github.com/storywire/storywire)"

    # Parsing, in worker processes killed at the fetch deadline (0: in the fetch thread,
    # unbounded; for tests and benchmarks). Each worker's address space is capped (0: no cap).
    max_entries: int = Field(default=200, ge=1)
    max_text_chars: int = Field(default=100_000, ge=100)
    parse_workers: int = Field(default=2, ge=0)
    parse_memory_mb: int = Field(default=1024, ge=0)

    # Concurrency.
    concurrency: int = Field(default=16, ge=1)
    per_host_concurrency: int = Field(default=2, ge=1)

    # Scheduling, in seconds.
    default_interval_s: float = Field(default=600.0, gt=0)
    min_interval_s: float = Field(default=60.0, gt=0)
    max_interval_s: float = Field(default=6 * 3600.0, gt=0)
    jitter: float = Field(default=0.1, ge=0, lt=1)
    backoff_base_s: float = Field(default=60.0, gt=0)
    backoff_max_s: float = Field(default=12 * 3600.0, gt=0)
    tick_s: float = Field(default=1.0, gt=0)
    batch_feeds: int = Field(default=256, ge=1)

    # Seen article ids kept per feed (the dedupe window).
    seen_per_feed: int = Field(default=2000, ge=10)

    # Coordination between pollers: "group" joins a Kafka consumer group on the feeds
    # topic and polls only the feeds of its partitions; "none" polls every feed.
    coordination: str = Field(default="group", pattern="^(group|none)$")
    # Partitions of the <prefix>.feeds topic: the unit of ownership (more pollers than this idle).
    feed_partitions: int = Field(default=12, ge=1)

    ops_port: int = Field(default=9101, ge=0, le=65535)  # /health and /metrics; 0 = none

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        # Checked at load, so every command (and doctor) refuses a schedule that cannot work.
        if not self.min_interval_s <= self.default_interval_s <= self.max_interval_s:
            raise ValueError(
                "STORYWIRE_INGEST_MIN_INTERVAL_S <= STORYWIRE_INGEST_DEFAULT_INTERVAL_S <= "
                f"STORYWIRE_INGEST_MAX_INTERVAL_S must hold, got {self.min_interval_s}, "
                f"{self.default_interval_s}, {self.max_interval_s}"
            )
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("STORYWIRE_INGEST_BACKOFF_BASE_S must not exceed STORYWIRE_INGEST_BACKOFF_MAX_S")
        return self

    @field_validator("allow_hosts")
    @classmethod
    def _host_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            parse_entry(entry)  # ValueError names the entry
        return value
