"""Settings of the index stage (``STORYWIRE_INDEX_*``).

The Elasticsearch connection itself comes from ``storywire.config.ElasticsearchSettings``;
these are the writer's batching and retry knobs, the search tuning and the API's address.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYWIRE_INDEX_", frozen=True, extra="ignore")

    group_id: str = ""  # empty: "<topic prefix>-index" (storywire.bus.group_id)
    # Vector size of the mappings; None = read from the model's config files (storywire.embedder.model_dim).
    dims: int | None = Field(default=None, ge=1, le=4096)
    # Records are gathered into one bulk request until there are bulk_max_docs of them or
    # flush_ms has passed since the first; then the bulk is sent and the offsets committed.
    # These two set the writer's memory ceiling: after a backlog, RSS stays at the high-water
    # mark of the largest batches it took (Python's allocator keeps its arenas), so they are
    # kept small; bench/index_memory.py measures it, bench/index.py the throughput.
    bulk_max_docs: int = Field(default=200, ge=1)
    flush_ms: int = Field(default=500, ge=0)
    # Per-partition fetch size: an enriched article with a 384-dim vector is ~10 KB, so 1 MiB
    # is ~100 of them per partition and fetch.
    max_partition_fetch_bytes: int = Field(default=1024 * 1024, ge=1024)
    poll_timeout_ms: int = Field(default=500, ge=1)
    # This often, a full garbage collection then glibc's malloc_trim (0: never): without it the
    # writer's resident size creeps up, with reference cycles kafka-python's poll leaves behind
    # (they hold a batch of records each) and with heap fragmentation (storywire/memory.py).
    reclaim_s: float = Field(default=30.0, ge=0)
    # Backoff while Elasticsearch refuses (429) or is unreachable: doubles up to the max.
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    # kafka-python verifies each record's CRC32C; without the `crc32c` C package its pure-Python
    # check costs more CPU than the indexing itself. None: check when the C package is present.
    check_crcs: bool | None = None
    ops_port: int = Field(default=9103, ge=0, le=65535)

    # Search: candidates taken from each ranked list before reciprocal rank fusion.
    rrf_k: int = Field(default=60, ge=1)
    candidates: int = Field(default=100, ge=10, le=1000)
    # kNN hits below this cosine similarity are not "about" the query at all.
    knn_min_similarity: float = Field(default=0.3, ge=-1.0, le=1.0)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    # When set, /api/* requires "Authorization: Bearer <token>" (/health and /metrics stay open).
    api_token: SecretStr | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.retry_initial_s > self.retry_max_s:
            raise ValueError("STORYWIRE_INDEX_RETRY_INITIAL_S must not exceed STORYWIRE_INDEX_RETRY_MAX_S")
        if self.api_token is not None and not self.api_token.get_secret_value().strip():
            raise ValueError("STORYWIRE_INDEX_API_TOKEN is set but empty: unset it, or give a token")
        return self


def crc_checks(settings: IndexSettings) -> bool:
    """Whether the writer's consumer should verify record CRCs (see ``check_crcs``)."""
    if settings.check_crcs is not None:
        return settings.check_crcs
    import importlib.util

    return importlib.util.find_spec("crc32c") is not None
