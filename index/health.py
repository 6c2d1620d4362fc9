"""Readiness probes: can we reach Kafka and Elasticsearch right now?

A Kafka probe opens a connection and asks for metadata, so ``combined`` runs it at most
every ``kafka_every_s`` and answers from its last result in between: a probe every few
seconds (or a client polling /health) never opens a connection per request.
"""

from __future__ import annotations

import socket
import threading
import time
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


def combined(
    es: Elasticsearch,
    kafka: KafkaSettings | None,
    *,
    extra: Callable[[], tuple[bool, dict[str, str]]] | None = None,
    kafka_every_s: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], tuple[bool, dict[str, str]]]:
    """A health function for OpsServer / the API: ready when every dependency answers
    (Kafka as of its last probe, at most ``kafka_every_s`` old) and ``extra`` has no reasons."""
    lock = threading.Lock()
    last: list[tuple[float, tuple[bool, str]]] = []

    def kafka_now(settings: KafkaSettings) -> tuple[bool, str]:
        with lock:  # probes arrive on several threads; one connection at a time
            if not last or clock() - last[0][0] >= kafka_every_s:
                last[:] = [(clock(), kafka_health(settings))]
            return last[0][1]

    def check() -> tuple[bool, dict[str, str]]:
        ok_es, es_detail = es_health(es)
        reasons = {} if ok_es else {"elasticsearch": es_detail}
        if kafka is not None:
            ok_kafka, kafka_detail = kafka_now(kafka)
            if not ok_kafka:
                reasons["kafka"] = kafka_detail
        if extra is not None:
            reasons |= extra()[1]
        return not reasons, reasons

    return check
