"""The Storywire Grafana dashboard as code: ``python ops/grafana/dashboard.py`` rewrites
``ops/grafana/dashboards/storywire.json``, which Grafana loads through the provisioning in
``ops/grafana/provisioning`` (the observability profile of docker-compose.yml).

tests/unit/test_observability_pack.py checks that the JSON is what this script writes, that
every metric a panel names is one the code exports, and the Prometheus integration test
evaluates every panel's query against a Prometheus scraping a running pipeline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "storywire.json"
DATASOURCE = {"type": "prometheus", "uid": "storywire-prometheus"}
LAG = "max by (group, topic, partition) (storywire_consumer_lag)"  # every group member reports it
R = "[$__rate_interval]"


def quantile(q: float, histogram: str, by: str = "le") -> str:
    """The ``q`` quantile of a histogram over the panel's rate interval."""
    return f"histogram_quantile({q}, sum by ({by}) (rate({histogram}_bucket{R})))"


# (title, kind, unit, [(expr, legend)], description); kinds: stat (a quarter row), wide (a full row), graph (a half)
PANELS: list[tuple[str, str, str, list[tuple[str, str]], str]] = [
    ("Stages up", "stat", "none", [('sum(up{job=~"storywire-.*"})', "up")],
     "Targets answering /metrics (six stages; more when embed is scaled)."),
    ("Newest article indexed", "stat", "s",
     [("time() - max(storywire_index_newest_article_fetched_timestamp_seconds)", "age")],
     "Age of the most recently fetched article that reached Elasticsearch."),
    ("Articles ingested (1 h)", "stat", "none", [("sum(increase(storywire_ingest_articles_total[1h]))", "articles")],
     "New articles produced by the pollers in the last hour."),
    ("Dead letters (1 h)", "stat", "none", [("sum(increase(storywire_dead_letters_total[1h]))", "dead letters")],
     "Records sent to the dead-letter topic; inspect with `storywire dlq list`."),
    ("Consumer lag by group", "graph", "none", [(f"sum by (group) ({LAG})", "{{group}}")],
     "Records between each group's committed offset and the end of its topics (measured from the broker)."),
    ("Fetch to indexed latency", "graph", "s", [
        (quantile(0.5, "storywire_index_article_latency_seconds"),
         "p50"),
        (quantile(0.9, "storywire_index_article_latency_seconds"),
         "p90"),
    ], "End-to-end freshness: from the poller's fetch to Elasticsearch's acknowledgement."),
    ("Time since last progress", "graph", "s", [("time() - storywire_last_success_timestamp_seconds", "{{stage}}")],
     "Per stage: since it last committed a batch, finished a pass, or found nothing to do."),
    ("Throughput", "graph", "ops", [
        (f"sum(rate(storywire_ingest_articles_total{R}))", "ingested/s"),
        (f"sum(rate(storywire_embed_articles_total{R}))", "embedded/s"),
        (f"sum(rate(storywire_cluster_articles_total{R}))", "clustered/s"),
        ('sum(rate(storywire_index_docs_total{outcome="ok"}[$__rate_interval]))', "indexed/s"),
    ], "Articles per second through each stage."),
    ("Feed fetches by outcome", "graph", "ops",
     [(f"sum by (outcome) (rate(storywire_ingest_fetches_total{R}))", "{{outcome}}")],
     "changed, unchanged (same body), not_modified (304), error."),
    ("Feed errors by kind", "graph", "ops",
     [(f"sum by (kind) (rate(storywire_ingest_errors_total{R}))", "{{kind}}")],
     "Named feed failures (timeouts, oversized bodies, bad XML, ...); `storywire feeds list` names the feeds."),
    ("Feed fetch time", "graph", "s", [
        (quantile(0.5, "storywire_ingest_fetch_seconds"), "p50"),
        (quantile(0.95, "storywire_ingest_fetch_seconds"),
         "p95"),
    ], "Fetch and parse per feed; the buckets reach past the 30 s deadline."),
    ("Dead letters by stage", "graph", "ops",
     [(f"sum by (stage, error_type) (rate(storywire_dead_letters_total{R}))", "{{stage}} {{error_type}}")],
     "Poison records per second."),
    ("Index writer", "graph", "none", [
        ("max(storywire_index_paused)", "paused"),
        (f"sum by (reason) (rate(storywire_index_retries_total{R}))", "retries/s {{reason}}"),
    ], "1 while the writer waits for Elasticsearch (429 or unreachable), and the retries by reason."),
    ("Bulk and batch time", "graph", "s", [
        (quantile(0.95, "storywire_index_bulk_seconds"),
         "index bulk p95"),
        (quantile(0.95, "storywire_embed_batch_seconds"),
         "embed batch p95"),
        (quantile(0.95, "storywire_cluster_batch_seconds"),
         "cluster batch p95"),
    ], "The slow steps of each stage."),
    ("Alerts", "graph", "none", [
        ("max(storywire_alert_outbox_backlog)", "outbox backlog"),
        (f"sum by (channel, outcome) (increase(storywire_alert_deliveries_total{R}))",
         "{{channel}} {{outcome}}"),
    ], "Alerts decided but not yet delivered, and delivery attempts by channel and outcome."),
    ("API requests by route and status", "graph", "reqps",
     [(f"sum by (route, status) (rate(storywire_http_requests_total{R}))", "{{route}} {{status}}")],
     "Requests the API answered, by route template."),
    ("API latency p95 by route", "graph", "s", [(
        quantile(0.95, "storywire_http_request_seconds", "le, route"),
        "{{route}}",
    )], "Time to answer, by route template."),
    ("Memory by stage", "graph", "bytes", [('process_resident_memory_bytes{job=~"storywire-.*"}', "{{instance}}")],
     "Resident memory of each stage's process (against its container limit)."),
    ("CPU by stage", "graph", "percentunit",
     [('rate(process_cpu_seconds_total{job=~"storywire-.*"}[$__rate_interval])', "{{instance}}")],
     "CPU seconds per second of each stage's process."),
]  # fmt: skip


def _panel(i: int, title: str, kind: str, unit: str, queries: list[tuple[str, str]], desc: str) -> dict[str, Any]:
    return {
        "id": i + 1,
        "title": title,
        "description": desc,
        "type": "stat" if kind == "stat" else "timeseries",
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}}
        if kind == "stat"
        else {"legend": {"showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels, x, y = [], 0, 0
    for i, (title, kind, unit, queries, desc) in enumerate(PANELS):
        width, height = (6, 4) if kind == "stat" else (12, 8)
        if x + width > 24:
            x, y = 0, y + (4 if panels and panels[-1]["type"] == "stat" else 8)
        panel = _panel(i, title, kind, unit, queries, desc)
        panel["gridPos"] = {"x": x, "y": y, "w": width, "h": height}
        panels.append(panel)
        x += width
    return {
        "uid": "storywire",
        "title": "Storywire",
        "description": "The pipeline at a glance: stages, lag, freshness, feeds, dead letters, index, alerts, API.",
        "tags": ["storywire"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
