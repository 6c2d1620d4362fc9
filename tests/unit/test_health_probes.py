"""Readiness probes do not open a Kafka connection per request (issue #14, 8).

The API reads Elasticsearch only, so its /health never asks Kafka; the index writer's
/health asks at most every ``kafka_every_s``. Kafka and Elasticsearch are stand-ins here:
what is counted is how often a probe would connect.
"""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

import index.health
from devtools.fakes import FakeClock
from storywire.config import KafkaSettings


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def kafka(settings: KafkaSettings) -> tuple[bool, str]:
        calls.append("kafka")
        return False, "down"

    monkeypatch.setattr(index.health, "kafka_health", kafka)
    monkeypatch.setattr(index.health, "es_health", lambda es: (True, "green"))
    return calls


def test_the_kafka_probe_is_reused_within_its_interval(probes: list[str]) -> None:
    clock = FakeClock(0.0)
    check = index.health.combined(None, KafkaSettings(), kafka_every_s=15.0, clock=clock)  # type: ignore[arg-type]
    for _ in range(20):
        assert check() == (False, {"kafka": "down"})
        clock.advance(0.5)
    assert probes == ["kafka"]  # 10 s of probes every 0.5 s: one connection
    clock.advance(6.0)
    check()
    assert probes == ["kafka", "kafka"]


def test_extra_reasons_are_added(probes: list[str]) -> None:
    check = index.health.combined(None, None, extra=lambda: (False, {"delivery": "3 records"}))  # type: ignore[arg-type]
    assert check() == (False, {"delivery": "3 records"}) and probes == []


def test_the_apis_health_never_asks_kafka(probes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from search.cli import api_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORYWIRE_ES_URL", f"http://127.0.0.1:{port}")
    with TestClient(api_app(no_embed=True)) as client:
        for _ in range(5):
            assert client.get("/health").json() == {"live": True, "ready": True, "reasons": {}}
    assert probes == []
