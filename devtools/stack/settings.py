"""Settings of the local development stack (``STORYWIRE_STACK_*``), started by ``storywire stack``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storywire.config import cache_dir


class StackSettings(BaseSettings):
    """The local development stack started by ``storywire stack``."""

    model_config = SettingsConfigDict(env_prefix="STORYWIRE_STACK_", frozen=True, extra="ignore")

    dir: Path = Field(default_factory=lambda: cache_dir() / "stack")
    kafka_version: str = "3.9.2"
    scala_version: str = "2.13"
    es_version: str = "8.19.21"
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    es_port: int = Field(default=9200, ge=1, le=65535)
    es_transport_port: int = Field(default=9300, ge=1, le=65535)
    kafka_heap: str = "512m"
    es_heap: str = "512m"
    es_user: str = "storywire-es"  # only used when the launcher runs as root
    # Secured mode: x-pack security with this user (file realm) and HTTPS from a local CA.
    es_security: bool = False
    es_username: str = "storywire"
    es_password: SecretStr = SecretStr("storywire-dev-password")
    start_timeout_s: float = Field(default=180.0, gt=0)
