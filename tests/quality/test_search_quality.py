"""Story search quality on both labelled dev sets, against the real Elasticsearch.

Each set is replayed in publication order through the real clusterer, written under a
temporary index prefix with the writer's documents, and every event of two or more articles
is searched for by its label (date removed) and by its first words (``search.evaluate``).
Targets from the issue: MRR at least 0.85, recall@3 at least 0.95. Skips when ../shared/eval
is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich.eval import load_dataset
from enrich.features import embedding_text
from enrich.settings import EnrichSettings
from index.client import make_client
from index.settings import IndexSettings
from search.evaluate import evaluate_search
from storywire.app.evaluate import event_labels, replay
from storywire.config import ElasticsearchSettings, ModelSettings, defaults
from storywire.embedder import Embedder, load_embedder

pytestmark = [pytest.mark.quality, pytest.mark.integration]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(ModelSettings())


@pytest.mark.parametrize("name", ["dev.jsonl", "dev2.jsonl"])
def test_search_finds_the_story_of_each_event(
    name: str, shared_dir: Path, es_settings: ElasticsearchSettings, embedder: Embedder
) -> None:
    path = shared_dir / "eval" / name
    if not path.is_file():
        pytest.skip(f"../shared/eval/{name} is not present")
    settings = defaults(EnrichSettings)
    items = load_dataset(path)
    vectors = embedder.encode([embedding_text(it.article, settings.lead_chars) for it in items])
    articles, stories = replay(items, vectors, embedder.name, settings)
    events = {it.article.id: it.event for it in items}
    es = make_client(es_settings)
    try:
        report = evaluate_search(
            es,
            IndexSettings(),
            articles,
            stories,
            [events[a.id] for a in articles],
            event_labels(str(path)),
            lambda text: [float(x) for x in embedder.encode([text])[0]],
        )
    finally:
        es.close()
    got = report.figures
    assert got["queries"] >= 40
    assert got["mrr"] >= 0.85, (got, [r for r in report.rows if r["rank"] != 1])
    assert got["recall_at_3"] >= 0.95, (got, [r for r in report.rows if not 0 < r["rank"] <= 3])
