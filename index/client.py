"""The Elasticsearch client and the names of our indices.

Writers and readers always go through the aliases ``<prefix>-articles`` and
``<prefix>-stories``; the concrete indices behind them are versioned
(``<prefix>-articles-v1``, ``-v2`` ...) so that a mapping change is a copy into the next
version and an atomic alias swap (see ``mappings.migrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from storywire.config import ElasticsearchSettings


@dataclass(frozen=True)
class IndexNames:
    prefix: str

    @property
    def articles(self) -> str:
        return f"{self.prefix}-articles"

    @property
    def stories(self) -> str:
        return f"{self.prefix}-stories"

    def aliases(self) -> tuple[str, str]:
        return (self.articles, self.stories)

    @staticmethod
    def versioned(alias: str, version: int) -> str:
        return f"{alias}-v{version}"


def make_client(settings: ElasticsearchSettings, **overrides: Any) -> Elasticsearch:
    """A client for ``settings``; secrets are unwrapped here and nowhere else.

    The client's own retries are off by default: the writer has its own pause-and-backoff
    loop, and a search should fail fast with a clear error rather than hang.
    """
    kw: dict[str, Any] = {
        "request_timeout": settings.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.api_key is not None:
        kw["api_key"] = settings.api_key.get_secret_value()
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password is not None else ""
        kw["basic_auth"] = (settings.username, password)
    if settings.ca_file:
        kw["ca_certs"] = settings.ca_file
    return Elasticsearch(settings.url, **(kw | overrides))


def es_health(es: Elasticsearch) -> tuple[bool, str]:
    """(reachable, detail). Uses cluster health: the integ-test-zip has no ``GET /``."""
    try:
        status = str(es.cluster.health(timeout="2s")["status"])
    except Exception as exc:  # any failure means "not reachable" for a health probe
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return status in ("green", "yellow"), f"cluster {status}"
