"""The live pipeline clusters a labelled set as the core's replay does (issue #19).

``../shared/eval/dev.jsonl`` (the smaller development set: 130 articles from 115
outlets, three years) is served as feeds, one RSS feed per outlet, from a local HTTP
server. ingest, embed, cluster and index run as supervised processes against the real
Kafka and Elasticsearch (a prefix of their own; topics of one partition, so the
clusterer's input order is the embedded topic's order). Once every article is indexed,
each one's story is read from Elasticsearch (following "merged into" links), and the
core is replayed on the embedded topic's messages in that order: the stories must score
B-cubed F1 within 0.02 of the replay (the core and the service must not diverge).

The live pipeline meets the articles in the order its polls bring them (feed by feed,
each newest first, as in a backfill), so dormant stories are revived on the way. Both
figures are printed, with the eval's own replay of the set's texts in the same order
for comparison (what ingest's text extraction changes).
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml

from devtools.httpserver import FeedServer, Response
from devtools.stack import Stack
from enrich.eval import Labelled, load_dataset, run_core, scores, with_vectors
from enrich.features import embedding_text
from enrich.settings import EnrichSettings
from index.client import IndexNames, make_client
from storywire.app.supervisor import STAGES, Supervisor
from storywire.bus import Topics, make_consumer, poll_records
from storywire.config import ElasticsearchSettings, KafkaSettings, ModelSettings, defaults
from storywire.embedder import load_embedder
from storywire.messages import EmbeddedArticle, decode

pytestmark = pytest.mark.e2e

DATASET = "dev.jsonl"
STAGE_NAMES = ("ingest", "embed", "cluster", "index")
MAX_DELTA = 0.02


def rss(source: str, items: list[Labelled], base: str) -> bytes:
    """One outlet's feed: every article, text in content:encoded as paragraphs."""
    entries = []
    for it in items:
        a = it.article
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in a.content.split("\n") if p.strip())
        entries.append(
            f"<item><title>{escape(a.title)}</title><link>{base}/{a.id}</link>"
            f'<guid isPermaLink="true">{base}/{a.id}</guid><pubDate>{format_datetime(a.published)}</pubDate>'
            f"<content:encoded>{escape(paragraphs)}</content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(source)}</title><link>{base}</link>{''.join(entries)}</channel></rss>"
    ).encode()


def environment(kafka: KafkaSettings, es: ElasticsearchSettings, feeds_file: Path, work: Path) -> dict[str, str]:
    prefix = kafka.topic_prefix
    return dict(os.environ) | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": prefix,
        "STORYWIRE_KAFKA_PARTITIONS": "1",
        "STORYWIRE_ES_URL": es.url,
        "STORYWIRE_ES_INDEX_PREFIX": es.index_prefix,
        "STORYWIRE_INGEST_FEEDS_FILE": str(feeds_file),
        "STORYWIRE_INGEST_STATE_DIR": str(work / "ingest"),
        "STORYWIRE_INGEST_ALLOW_PRIVATE": "true",
        "STORYWIRE_INGEST_COORDINATION": "none",
        "STORYWIRE_INGEST_MIN_INTERVAL_S": "1",
        "STORYWIRE_INGEST_TICK_S": "0.5",
        "STORYWIRE_INGEST_OPS_PORT": "0",
        "STORYWIRE_ENRICH_OPS_PORT": "0",
        "STORYWIRE_INDEX_OPS_PORT": "0",
        "STORYWIRE_INDEX_DIMS": "384",
        "STORYWIRE_ENRICH_EMBED_GROUP": f"{prefix}-embed",
        "STORYWIRE_ENRICH_CLUSTER_GROUP": f"{prefix}-cluster",
        "STORYWIRE_INDEX_GROUP_ID": f"{prefix}-index",
        "STORYWIRE_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def es_all(es: Any, index: str, fields: list[str]) -> list[dict[str, Any]]:
    resp = es.search(index=index, query={"match_all": {}}, source=fields, size=10_000)
    return [hit["_source"] for hit in resp["hits"]["hits"]]


def embedded_in_order(kafka: KafkaSettings, topic: str, want: int) -> list[EmbeddedArticle]:
    """The embedded topic (one partition) in offset order: the clusterer's input order."""
    consumer = make_consumer(kafka, None, [topic])
    records: list[Any] = []
    for _ in range(120):
        records += poll_records(consumer, timeout_ms=500)
        if len(records) >= want:
            break
    consumer.close()
    return [decode(EmbeddedArticle, r.value) for r in sorted(records, key=lambda r: (r.partition, r.offset))]


def test_the_live_pipeline_scores_as_the_core_replay(
    stack: Stack, kafka_settings: KafkaSettings, es_settings: ElasticsearchSettings, shared_dir: Path, tmp_path: Path
) -> None:
    dataset = shared_dir / "eval" / DATASET
    if not dataset.is_file():
        pytest.skip(f"../shared/eval/{DATASET} is not present")
    items = load_dataset(dataset)
    gold = {it.article.id: it.event for it in items}
    by_source: dict[str, list[Labelled]] = defaultdict(list)
    for it in items:
        by_source[it.article.source].append(it)

    with FeedServer() as server:
        feeds = []
        for source, its in sorted(by_source.items()):
            url = server.add(f"/{source}/feed.xml", Response(rss(source, its, server.url(f"/{source}/a")), 200, {}))
            language = its[0].article.language
            feeds.append({"url": url, "name": source, "source": source, "language": language, "interval": 2})
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        env = environment(kafka_settings, es_settings, feeds_file, tmp_path)
        logs = tmp_path / "logs"
        logs.mkdir()
        shell = f'exec "$0" -m storywire.app.cli "$@" >>"{logs}/$1.log" 2>&1'
        stages = {k: STAGES[k] for k in STAGE_NAMES}
        sup = Supervisor(stages, env, ops_base_port=None, argv_prefix=("sh", "-c", shell, sys.executable))
        es = make_client(es_settings)
        names = IndexNames(es_settings.index_prefix)
        started = time.monotonic()
        sup.start()
        try:
            indexed = 0
            while time.monotonic() - started < 420:
                sup.tick()
                try:
                    indexed = int(es.count(index=names.articles)["count"])
                except Exception:  # the index stage has not created the alias yet
                    indexed = 0
                if indexed >= len(items):
                    break
                time.sleep(2)
            took = time.monotonic() - started
        finally:
            sup.stop()
    tails = {p.name: p.read_text(errors="replace")[-1500:] for p in logs.glob("*.log")}
    assert indexed == len(items), f"{indexed} of {len(items)} articles indexed in {took:.0f} s; logs: {tails}"

    # Each article's story as the live pipeline left it, following merges.
    es.indices.refresh(index=names.stories)
    stories = {s["id"]: s for s in es_all(es, names.stories, ["id", "status", "merged_into"])}

    def resolve(sid: str) -> str:
        for _ in range(100):
            nxt = stories.get(sid, {}).get("merged_into")
            if not nxt:
                break
            sid = nxt
        return sid

    dataset_id = {}  # the ingested article's id -> the labelled article's id
    live: dict[str, str] = {}
    for doc in es_all(es, names.articles, ["id", "url", "story_id"]):
        dataset_id[doc["id"]] = doc["url"].rsplit("/", 1)[1]
        live[doc["id"]] = resolve(doc["story_id"])
    es.close()
    assert sorted(dataset_id.values()) == sorted(gold)

    # The core replayed on what the clusterer read, in the order it read it.
    seen = embedded_in_order(kafka_settings, Topics(kafka_settings.topic_prefix).embedded, len(items))
    first: dict[str, EmbeddedArticle] = {}
    for a in seen:
        first.setdefault(a.id, a)  # a repeated delivery is a duplicate to the clusterer too
    order = list(first.values())
    assert {a.id for a in order} == set(dataset_id)
    replay = dict(zip([a.id for a in order], run_core(order, defaults(EnrichSettings)), strict=True))
    truth = [gold[dataset_id[a.id]] for a in order]
    live_f1 = scores([live[a.id] for a in order], truth)
    replay_f1 = scores([replay[a.id] for a in order], truth)

    # For comparison: the eval's replay of the set's own texts (embedded as storywire eval
    # does), in the live arrival order.
    embedder = load_embedder(ModelSettings())
    by_id = {it.article.id: it for it in items}
    ordered = [by_id[dataset_id[a.id]] for a in order]
    vectors = embedder.encode([embedding_text(it.article) for it in ordered])
    eval_f1 = scores(run_core(with_vectors(ordered, vectors, embedder.name)), truth)

    print(
        f"\nlive pipeline, {len(items)} articles of {DATASET} from {len(feeds)} feeds in {took:.0f} s:"
        f"\n  live (Elasticsearch) B-cubed P/R/F1 {live_f1['bcubed_precision']:.4f} / "
        f"{live_f1['bcubed_recall']:.4f} / {live_f1['bcubed_f1']:.4f}"
        f"\n  core replay, same messages and order   {replay_f1['bcubed_precision']:.4f} / "
        f"{replay_f1['bcubed_recall']:.4f} / {replay_f1['bcubed_f1']:.4f}"
        f"\n  eval replay of the set's texts, same order {eval_f1['bcubed_precision']:.4f} / "
        f"{eval_f1['bcubed_recall']:.4f} / {eval_f1['bcubed_f1']:.4f}"
    )
    assert abs(live_f1["bcubed_f1"] - replay_f1["bcubed_f1"]) <= MAX_DELTA, (live_f1, replay_f1)
