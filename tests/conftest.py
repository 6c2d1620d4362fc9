"""Shared fixtures.

``stack`` (session): the real Kafka and Elasticsearch of ``storywire stack``. It reuses a
running stack or starts one, and stops only what it started. If a server cannot be
started the tests that need it error out: they never skip.

``kafka_settings`` / ``es_settings`` (per test): unique topic and index prefixes, so
tests share one broker and one node without seeing each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from devtools.stack import Stack
from devtools.stack.settings import StackSettings
from storywire.config import ElasticsearchSettings, KafkaSettings

# Property tests check what is produced, never how fast: a shared 2-core machine under load
# must not fail them on Hypothesis' per-example deadline.
hypothesis_settings.register_profile("storywire", deadline=None)
hypothesis_settings.load_profile("storywire")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    s = Stack(StackSettings(), progress=True)
    started = s.up()
    yield s
    for name in started:
        s.down(only=name)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_settings(stack: Stack, prefix: str) -> Iterator[KafkaSettings]:
    from kafka.admin import KafkaAdminClient

    from storywire.bus import client_config

    settings = KafkaSettings(bootstrap_servers=stack.kafka.bootstrap, topic_prefix=prefix, partitions=3)
    yield settings
    admin = KafkaAdminClient(**client_config(settings))
    try:
        ours = [t for t in admin.list_topics() if t.startswith(prefix + ".")]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


@pytest.fixture
def es_settings(stack: Stack, prefix: str) -> Iterator[ElasticsearchSettings]:
    import httpx

    settings = ElasticsearchSettings(url=stack.elasticsearch.url, index_prefix=prefix)
    yield settings
    # Indices and aliases of this test only; wildcard deletes are refused by default.
    resp = httpx.get(f"{settings.url}/_cat/indices/{prefix}*", params={"format": "json"}, timeout=30)
    for row in resp.json():
        httpx.delete(f"{settings.url}/{row['index']}", timeout=30)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED
