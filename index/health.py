"""Readiness probes: can we reach Kafka and Elasticsearch right now?"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch

from index.client import es_health
from storywire.bus import client_config
from storywire.config import KafkaSettings


def _tcp_reachable(servers: str, timeout_s: float = 2.0) -> str | None:
    """The first bootstrap server that accepts a TCP connection, or None."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return server
        except (OSError, ValueError):
            continue
    return None


def kafka_health(settings: KafkaSettings) -> tuple[bool, str]:
    """(reachable, detail): a TCP connect first, then a metadata request with short timeouts.

    The TCP check comes first because kafka-python leaks sockets when it cannot bootstrap.
    """
    from kafka import KafkaConsumer

    if _tcp_reachable(settings.bootstrap_servers) is None:
        return False, f"no bootstrap server accepts connections: {settings.bootstrap_servers}"
    try:
        consumer = KafkaConsumer(**client_config(settings), request_timeout_ms=3000, bootstrap_timeout_ms=3000)
    except Exception as exc:  # NoBrokersAvailable and friends: not reachable
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    try:
        topics: Any = consumer.topics()
        return True, f"reachable ({len(topics)} topics in metadata)"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        consumer.close()


def combined(es: Elasticsearch, kafka: KafkaSettings | None) -> Callable[[], tuple[bool, dict[str, str]]]:
    """A health function for OpsServer / the API: ready when every dependency answers."""

    def check() -> tuple[bool, dict[str, str]]:
        ok_es, es_detail = es_health(es)
        reasons = {} if ok_es else {"elasticsearch": es_detail}
        if kafka is not None:
            ok_kafka, kafka_detail = kafka_health(kafka)
            if not ok_kafka:
                reasons["kafka"] = kafka_detail
        return not reasons, reasons

    return check
