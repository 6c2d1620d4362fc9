"""Index stage benchmark against the real Kafka and Elasticsearch (``storywire stack up``).

1. Indexing throughput: N enriched articles (384-dim vectors) through the real writer
   (Kafka in, bulk out, commit) as a ratio to a bare ``elasticsearch.helpers.bulk`` of the
   same documents in the same run. Target: ratio >= 0.8.
2. Story search latency: p50 / p95 of ``SearchService.search_stories`` (BM25 + member
   titles + kNN, fused in the client) over S synthetic stories. The query vector is
   precomputed so the figure is the search itself; ``--model`` adds the real embedder.

    python bench/index.py [--articles 20000] [--stories 100000] [--queries 200] [--model]

Everything runs under a fresh prefix and is deleted afterwards. Figures are measured in
one run on whatever machine runs it; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/index.py``, this file's folder comes first on sys.path and the
# file itself would shadow the ``index`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from elasticsearch import helpers  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402

from index.client import IndexNames, make_client  # noqa: E402
from index.documents import article_doc, story_action  # noqa: E402
from index.mappings import ensure_indices  # noqa: E402
from index.settings import IndexSettings, crc_checks  # noqa: E402
from index.writer import IndexWriter  # noqa: E402
from search.query import StoryQuery  # noqa: E402
from search.service import SearchService  # noqa: E402
from storywire.bus import Topics, client_config, ensure_topics, key_bytes, make_consumer, make_producer  # noqa: E402
from storywire.config import ElasticsearchSettings, KafkaSettings, ModelSettings  # noqa: E402
from storywire.messages import EnrichedArticle, PublishedFrom, Story, StoryArticle  # noqa: E402

DIMS = 384
T0 = datetime(2024, 1, 1, tzinfo=UTC)
rng = np.random.default_rng(7)
pyrng = random.Random(7)
VOCAB = [
    "".join(pyrng.choice("bcdfghjklmnprstvz") + pyrng.choice("aeiou") for _ in range(pyrng.randint(2, 4)))
    for _ in range(5000)
]


def words(n: int) -> str:
    return " ".join(pyrng.choice(VOCAB) for _ in range(n))


def unit(n: int) -> np.ndarray[Any, Any]:
    v = rng.standard_normal((n, DIMS)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.round(v, 5)


def articles(n: int) -> list[EnrichedArticle]:
    vecs = unit(n)
    out = []
    for i in range(n):
        t = T0 + timedelta(seconds=30 * i)
        out.append(
            EnrichedArticle(
                id=f"bench-{i:07d}",
                url=f"https://news{i % 50}.example/{i}",
                canonical_url=f"https://news{i % 50}.example/{i}",
                feed_url=f"https://news{i % 50}.example/feed",
                source=f"news{i % 50}.example",
                title=words(8),
                summary=words(40),
                content=words(120),
                language="en",
                published=t,
                published_from=PublishedFrom.ENTRY,
                fetched=t,
                embedding=tuple(float(x) for x in vecs[i]),
                model="all-MiniLM-L6-v2",
                story_id=f"story-{i % 2000}",
                similarity=0.8,
                story_label=words(4),
            )
        )
    return out


def bench_indexing(ks: KafkaSettings, es_settings: ElasticsearchSettings, n: int) -> None:
    topics = Topics(ks.topic_prefix)
    ensure_topics(ks, topics)
    msgs = articles(n)
    producer = make_producer(ks, linger_ms=20)
    for m in msgs:
        producer.send(topics.enriched, key=key_bytes(m.id), value=m.to_json())
    producer.flush()
    es = make_client(es_settings, request_timeout=120)
    bare_names = IndexNames(f"{es_settings.index_prefix}-bare")
    writer_names = IndexNames(es_settings.index_prefix)
    ensure_indices(es, bare_names, DIMS)
    ensure_indices(es, writer_names, DIMS)
    settings = IndexSettings()

    docs = [article_doc(m) for m in msgs]

    def bare(names: IndexNames) -> float:
        t = time.perf_counter()
        ok, _ = helpers.bulk(es, ({"_index": names.articles, "_id": d["id"], "_source": d} for d in docs))
        assert ok == n
        return time.perf_counter() - t

    # Bare bulk before and after the writer, so a change in the machine's load during the
    # run shows up as a spread between the two instead of skewing the ratio.
    bare_before = bare(bare_names)
    bare_names_2 = IndexNames(f"{es_settings.index_prefix}-bare2")
    ensure_indices(es, bare_names_2, DIMS)

    consumer = make_consumer(
        ks,
        f"{ks.topic_prefix}-bench",
        [topics.enriched, topics.stories],
        max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
        check_crcs=crc_checks(settings),
    )
    consumer.poll(timeout_ms=5000, max_records=1)  # join the group before the clock starts
    consumer.seek_to_beginning()
    w = IndexWriter(es, consumer, producer, topics, writer_names, settings)
    t = time.perf_counter()
    runner = threading.Thread(target=w.run)
    runner.start()
    while w.processed < n:
        time.sleep(0.01)
    writer_s = time.perf_counter() - t
    w.stop.set()
    runner.join()
    consumer.close()
    producer.close()
    bare_after = bare(bare_names_2)
    es.indices.refresh(index=writer_names.articles)
    assert es.count(index=writer_names.articles)["count"] == n
    bare_rate = 2 * n / (bare_before + bare_after)
    writer_rate = n / writer_s
    print(
        f"indexing: {n} articles, {DIMS}-dim vectors, bulk {settings.bulk_max_docs} per request,"
        f" record CRC checks {'on' if crc_checks(settings) else 'off'}"
    )
    print(f"  bare helpers.bulk : {bare_rate:8.0f} articles/s (before {bare_before:.1f} s, after {bare_after:.1f} s)")
    print(f"  writer (Kafka in) : {writer_rate:8.0f} articles/s ({writer_s:.1f} s)")
    print(f"  ratio writer/bare : {writer_rate / bare_rate:.2f}  (target >= 0.8)")
    es.close()


def stories(n: int) -> Iterator[Story]:
    for start in range(0, n, 1000):
        vecs = unit(min(1000, n - start))
        for j, vec in enumerate(vecs):
            i = start + j
            first = T0 + timedelta(minutes=7 * i)
            size = 1 + int(rng.pareto(1.5) * 3)
            yield Story(
                id=f"story-{i:07d}",
                version=1,
                label=words(4),
                keywords=tuple(words(5).split()),
                size=size,
                sources=tuple(f"news{(i + k) % 50}.example" for k in range(min(size, 5))),
                languages=("en",),
                first_seen=first,
                last_seen=first + timedelta(hours=size),
                centroid=tuple(float(x) for x in vec),
                top_articles=tuple(
                    StoryArticle(
                        id=f"a{i}-{k}",
                        title=words(8),
                        url=f"https://x.example/{i}/{k}",
                        source="x.example",
                        published=first,
                    )
                    for k in range(3)
                ),
                updated=first,
            )


def _actions(index: str, n: int) -> Iterator[dict[str, Any]]:
    for s in stories(n):
        header, doc = story_action(index, s)
        meta = header["index"]
        yield {"_op_type": "index", **meta, "_source": doc}


def bench_search(es_settings: ElasticsearchSettings, n: int, queries: int, model: bool) -> None:
    es = make_client(es_settings, request_timeout=300)
    names = IndexNames(f"{es_settings.index_prefix}-search")
    ensure_indices(es, names, DIMS)
    t = time.perf_counter()
    for ok, item in helpers.parallel_bulk(es, _actions(names.stories, n), thread_count=2, chunk_size=500):
        assert ok, item
    es.indices.refresh(index=names.stories)
    load_s = time.perf_counter() - t
    assert es.count(index=names.stories)["count"] == n
    segments = len(es.cat.segments(index=names.stories, format="json").body)
    print(f"search: {n} stories loaded in {load_s:.0f} s ({n / load_s:.0f}/s), {segments} segments")

    qvecs = unit(queries)
    texts = [words(2) for _ in range(queries)]
    embed_ms: list[float] = []
    if model:
        from storywire.embedder import load_embedder

        embedder = load_embedder(ModelSettings())
        for text in texts:
            t = time.perf_counter()
            embedder.encode([text])
            embed_ms.append(1000 * (time.perf_counter() - t))
    current: dict[str, Sequence[float]] = {}
    service = SearchService(es, names, IndexSettings(), lambda text: current[text])
    for i in range(10):  # warm caches and the HNSW graph
        current[texts[i]] = qvecs[i].tolist()
        service.search_stories(StoryQuery(q=texts[i]))
    hybrid_ms, browse_ms = [], []
    for text, vec in zip(texts, qvecs, strict=True):
        current[text] = vec.tolist()
        t = time.perf_counter()
        page = service.search_stories(StoryQuery(q=text))
        hybrid_ms.append(1000 * (time.perf_counter() - t))
        assert page.results
        t = time.perf_counter()
        service.search_stories(StoryQuery(min_size=3, sort="growth"))  # type: ignore[arg-type]
        browse_ms.append(1000 * (time.perf_counter() - t))
    for name, ms in (("hybrid q (BM25+members+kNN)", hybrid_ms), ("filter+sort (no q)", browse_ms)):
        q = statistics.quantiles(ms, n=20)
        print(f"  {name:28s}: p50 {statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms  ({len(ms)} queries)")
    if embed_ms:
        q = statistics.quantiles(embed_ms, n=20)
        print(f"  {'query embedding (MiniLM)':28s}: p50 {statistics.median(embed_ms):6.1f} ms  p95 {q[18]:6.1f} ms")
    es.close()


def cleanup(ks: KafkaSettings, es_settings: ElasticsearchSettings) -> None:
    es = make_client(es_settings)
    for row in es.cat.indices(index=f"{es_settings.index_prefix}*", format="json").body:
        es.indices.delete(index=row["index"])
    es.close()
    admin = KafkaAdminClient(**client_config(ks))
    try:
        ours = [t for t in admin.list_topics() if t.startswith(ks.topic_prefix + ".")]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", action="store_true", help="also time the real query embedding")
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    ks = KafkaSettings(topic_prefix=prefix)
    es_settings = ElasticsearchSettings(index_prefix=prefix)
    try:
        if args.articles:
            bench_indexing(ks, es_settings, args.articles)
        if args.stories:
            bench_search(es_settings, args.stories, args.queries, args.model)
    finally:
        cleanup(ks, es_settings)


if __name__ == "__main__":
    main()
