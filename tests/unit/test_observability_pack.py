"""The observability pack (ops/): the alert rules and the scrape configuration pass Debian's promtool
(check and the rules' own unit tests), the dashboard is what its generator writes, and every metric
the rules and the dashboard name is one the code exports.

promtool comes with Debian's `prometheus` package, which `./sw test` installs when missing (as root);
without it these tests fail and say so, as the browser tests do without chromium."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
METRIC_MODULES = [
    "storywire.runtime",
    "storywire.bus",
    "storywire.lag",
    "ingest.metrics",
    "enrich.embed_worker",
    "enrich.cluster_service",
    "index.writer",
    "alert.metrics",
    "search.service",
    "search.httpmetrics",
]
NAME = re.compile(r"\b((?:storywire|process)_[a-z0-9_]+)\b")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: apt-get install prometheus (./sw test installs it)")
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=OPS / "prometheus")


def test_promtool_accepts_the_rules() -> None:
    run = _promtool("check", "rules", "rules.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 8 rules found" in run.stdout


def test_promtool_accepts_the_scrape_configuration() -> None:
    run = _promtool("check", "config", "prometheus.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_fires_on_its_case_and_stays_quiet_on_the_healthy_one() -> None:
    run = _promtool("test", "rules", "rules.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    rules = yaml.safe_load((OPS / "prometheus/rules.yml").read_text())["groups"][0]["rules"]
    tests = (OPS / "prometheus/rules.test.yml").read_text()
    untested = [r["alert"] for r in rules if f"alertname: {r['alert']}" not in tests]
    assert not untested


def test_the_issue_s_alerts_are_all_there() -> None:
    rules = yaml.safe_load((OPS / "prometheus/rules.yml").read_text())["groups"][0]["rules"]
    by_name = {r["alert"]: r["expr"] for r in rules}
    wanted = {
        "StorywireConsumerLagGrowing": "storywire_consumer_lag",
        "StorywireIndexWriterPaused": "storywire_index_paused",
        "StorywireDeadLetters": "storywire_dead_letters_total",
        "StorywireAlertOutboxBacklog": "storywire_alert_outbox_backlog",
        "StorywireNoNewArticles": "storywire_ingest_articles_total",
        "StorywireStale": "storywire_index_article_latency_seconds_bucket",
        "StorywireStageStalled": "storywire_last_success_timestamp_seconds",
    }
    for alert, metric in wanted.items():
        assert metric in by_name[alert], alert


def _exported() -> set[str]:
    """Every series name the stages' registries can export (the default process collector included)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_count", "_sum")}
        else:
            names.add(family.name)
        names |= {s.name for s in family.samples}
    return names


def _dashboard_exprs() -> list[str]:
    dash = json.loads((OPS / "grafana/dashboards/storywire.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_every_metric_the_rules_and_the_dashboard_name_is_exported() -> None:
    exported = _exported()
    rules = (OPS / "prometheus/rules.yml").read_text()
    named = set(NAME.findall(rules)) | {n for e in _dashboard_exprs() for n in NAME.findall(e)}
    assert named - exported == set()
    assert len(named) > 15


def test_the_dashboard_is_what_its_generator_writes() -> None:
    sys.path.insert(0, str(OPS / "grafana"))
    try:
        gen = importlib.import_module("dashboard")
    finally:
        sys.path.pop(0)
    assert (OPS / "grafana/dashboards/storywire.json").read_text() == gen.render(), (
        "run `python ops/grafana/dashboard.py`"
    )
    dash = json.loads(gen.render())
    source = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in dash["panels"])
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for topic in ("lag", "latency", "dead letters", "index writer", "alerts", "api", "memory", "fetch"):
        assert topic in titles, topic
