"""Search against the real Elasticsearch: client stems find other word forms, and
``storywire eval --search`` indexes a labelled set under a temporary prefix, queries each event
and leaves nothing behind. The set is our own (tests/fixtures/search/events.jsonl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from devtools.samples import enriched, story
from index.client import IndexNames, make_client
from index.mappings import ensure_indices
from index.settings import IndexSettings
from search.evaluate import write_set
from search.query import StoryQuery
from search.service import SearchService
from storywire.config import ElasticsearchSettings
from storywire.messages import EnrichedArticle, StoryArticle

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "search" / "events.jsonl"
ROOT = Path(__file__).resolve().parents[2]


def tops(art: EnrichedArticle) -> tuple[StoryArticle, ...]:
    return (StoryArticle(id=art.id, title=art.title, url=art.url, source=art.source, published=art.published),)


def test_drone_finds_drones_and_seisme_finds_seisme(es_settings: ElasticsearchSettings) -> None:
    names = IndexNames(es_settings.index_prefix)
    es = make_client(es_settings)
    try:
        ensure_indices(es, names, 4)
        a = enriched(1, story_id="s1", title="Drones strike the Kremlin", summary="", content="")
        b = enriched(2, story_id="s2", title="Séisme au Maroc", summary="", content="", language="fr")
        s1 = story(
            "s1", 1, label="Kremlin attack", keywords=("kremlin",), centroid=(1.0, 0, 0, 0), top_articles=tops(a)
        )
        s2 = story(
            "s2",
            1,
            label="Maroc",
            keywords=("maroc",),
            centroid=(0, 1.0, 0, 0),
            top_articles=tops(b),
            last_seen=a.published + timedelta(hours=1),
        )
        write_set(es, names, [a, b], [s1, s2])
        service = SearchService(es, names, IndexSettings())  # text only: no embedding to lean on
        for q, want in [
            ("drone", "s1"),
            ("DRONES", "s1"),
            ("striking drone", "s1"),
            ("seisme", "s2"),
            ("séismes", "s2"),
        ]:
            hits = service.search_stories(StoryQuery(q=q)).results
            assert hits and hits[0].id == want, (q, [h.id for h in hits])
            assert hits[0].score is not None and 0.0 < hits[0].score <= 1.0
    finally:
        es.close()


def test_eval_search_prints_the_figures_and_deletes_its_indices(es_settings: ElasticsearchSettings) -> None:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "STORYWIRE_ES_URL": es_settings.url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    before = {r["index"] for r in httpx.get(f"{es_settings.url}/_cat/indices", params={"format": "json"}).json()}
    out = subprocess.run(
        [sys.executable, "-m", "storywire.app.cli", "eval", str(FIXTURE), "--search", "--labels", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(out.stdout)
    assert set(report["search"]) == {"mrr", "recall_at_3", "queries"}
    assert report["search"]["queries"] == 8  # four events of two or more articles, two queries each
    assert report["search"]["mrr"] >= 0.85 and report["search"]["recall_at_3"] == 1.0
    labels = {r["event"]: r for r in report["labels"]}
    assert "Kremlin" in labels["kremlin"]["label"] and labels["kremlin"]["event_label"].startswith("Drones attack")
    after = {r["index"] for r in httpx.get(f"{es_settings.url}/_cat/indices", params={"format": "json"}).json()}
    assert not {i for i in after - before if i.startswith("sweval-")}
