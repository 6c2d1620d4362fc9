"""Every settings section of the application, by name: the kernel's, the stages' and the
local stack's. For ``storywire config show``, ``doctor`` and the compose check; the
stages themselves load only the sections they need (``storywire.config.load``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from alert.settings import AlertSettings
from devtools.stack.settings import StackSettings
from enrich.settings import EnrichSettings
from index.settings import IndexSettings
from ingest.settings import IngestSettings
from storywire.commands import mask_url
from storywire.config import ElasticsearchSettings, KafkaSettings, LogSettings, ModelSettings, load

SECTIONS: dict[str, type[BaseSettings]] = {
    "kafka": KafkaSettings,
    "es": ElasticsearchSettings,
    "model": ModelSettings,
    "log": LogSettings,
    "ingest": IngestSettings,
    "enrich": EnrichSettings,
    "index": IndexSettings,
    "alert": AlertSettings,
    "stack": StackSettings,
}


def all_sections() -> list[type[BaseSettings]]:
    return list(SECTIONS.values())


def known_env_vars() -> dict[str, type[BaseSettings]]:
    """Every environment variable a setting is read from, mapped to its section."""
    out: dict[str, type[BaseSettings]] = {}
    for section in SECTIONS.values():
        prefix = str(section.model_config.get("env_prefix", ""))
        for name, field in section.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            out[(alias or prefix + name).upper()] = section
    return out


def effective() -> dict[str, dict[str, Any]]:
    """Every section's effective values as JSON-ready dicts, secrets shown as ``**********`` and
    credentials inside URLs as ``***``."""
    out: dict[str, dict[str, Any]] = {}
    for name, section in SECTIONS.items():
        values = load(section).model_dump()
        out[name] = {key: _shown(value) for key, value in values.items()}
    return out


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, str) and "://" in value:
        return mask_url(value)  # STORYWIRE_ES_URL may carry a user and password
    return json.loads(json.dumps(value, default=str))
