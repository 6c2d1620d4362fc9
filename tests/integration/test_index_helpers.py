"""Helpers shared by the index stage's integration tests (real Kafka, real Elasticsearch).

No tests here: the proxy, producers and writer builders the other test_index_* modules use.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from index.client import IndexNames, make_client
from index.mappings import ensure_indices
from index.settings import IndexSettings
from index.writer import IndexWriter
from storywire.bus import Topics, client_config, ensure_topics, key_bytes, make_consumer, make_producer
from storywire.config import ElasticsearchSettings, KafkaSettings
from storywire.messages import Message

FAST_RETRY = {"retry_initial_s": 0.05, "retry_max_s": 0.3, "poll_timeout_ms": 300}


def produce(ks: KafkaSettings, topic: str, messages: Iterable[Message], raw: Iterable[bytes] = ()) -> None:
    producer = make_producer(ks)
    try:
        for m in messages:
            producer.send(topic, key=key_bytes(str(getattr(m, "id", ""))), value=m.to_json())
        for value in raw:
            producer.send(topic, key=b"raw", value=value)
        producer.flush()
    finally:
        producer.close()


@contextlib.contextmanager
def writer(
    ks: KafkaSettings, es_settings: ElasticsearchSettings, group: str = "index", dims: int = 4, **kw: Any
) -> Iterator[IndexWriter]:
    """An IndexWriter on the test's topics and indices (indices created with ``dims``)."""
    es_url = kw.pop("es_url", es_settings.url)
    topics = Topics(ks.topic_prefix)
    ensure_topics(ks, topics)
    names = IndexNames(es_settings.index_prefix)
    direct = make_client(es_settings)
    ensure_indices(direct, names, dims)
    direct.close()
    es = make_client(es_settings.model_copy(update={"url": es_url}), request_timeout=5)
    consumer = make_consumer(ks, f"{ks.topic_prefix}-{group}", [topics.enriched, topics.stories])
    producer = make_producer(ks)
    w = IndexWriter(es, consumer, producer, topics, names, IndexSettings(**(FAST_RETRY | kw)))
    try:
        yield w
    finally:
        consumer.close()
        producer.close()
        es.close()


def drain(w: IndexWriter, expected: int, max_polls: int = 200) -> int:
    """Run the writer until it has processed ``expected`` records (bounded, so a bug cannot hang)."""
    seen = 0
    for _ in range(max_polls):
        seen += w.run_once()
        if seen >= expected:
            return seen
    raise AssertionError(f"writer processed {seen} of {expected} records")


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 90.0) -> None:
    """Wait for a condition with a generous deadline (a hang guard, not a speed assertion)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def docs(es: Elasticsearch, index: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=index)
    resp = es.search(index=index, query={"match_all": {}}, size=1000, version=True)
    return {h["_id"]: h["_source"] | {"_version": h["_version"]} for h in resp["hits"]["hits"]}


def count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def committed(ks: KafkaSettings, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (= records it has finished)."""
    consumer = KafkaConsumer(**client_config(ks), group_id=f"{ks.topic_prefix}-{group}", enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        offsets = [consumer.committed(TopicPartition(topic, p)) for p in parts]
    finally:
        consumer.close()
    return sum(o for o in offsets if o is not None and o >= 0)


def read_all(ks: KafkaSettings, topic: str, expected: int) -> list[Any]:
    consumer = KafkaConsumer(**client_config(ks), auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        out: list[Any] = []
        for _ in range(50):
            for recs in consumer.poll(timeout_ms=200).values():
                out.extend(recs)
            if len(out) >= expected:
                break
        return out
    finally:
        consumer.close()


class Proxy:
    """A TCP proxy in a thread, so a test can cut Elasticsearch off without stopping it.

    While cut, open connections are closed and new ones are accepted and closed at once,
    which the client sees as a connection error, just like a node going away.
    """

    def __init__(self, target_url: str) -> None:
        hostport = target_url.split("://", 1)[-1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.up = threading.Event()
        self.up.set()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            src.close()  # each socket is the source of exactly one pump

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            conns, self.open = self.open, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.closed.set()
        self.server.close()
        self.thread.join(timeout=5)


def load(es_settings: ElasticsearchSettings, articles: Iterable[Any], stories: Iterable[Any], dims: int) -> None:
    """Index messages straight through the writer's pure actions (no Kafka), then refresh."""
    from index.documents import article_action, story_action

    names = IndexNames(es_settings.index_prefix)
    es = make_client(es_settings)
    try:
        ensure_indices(es, names, dims)
        body: list[dict[str, Any]] = []
        for a in articles:
            body += article_action(names.articles, a)
        for s in stories:
            body += story_action(names.stories, s)
        resp = es.bulk(operations=body, refresh=True)
        assert not resp["errors"], resp
    finally:
        es.close()
