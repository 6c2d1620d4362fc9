"""A dense_vector document in the real Elasticsearch, found again by kNN."""

import pytest
from elasticsearch import Elasticsearch

from storywire.config import ElasticsearchSettings

pytestmark = pytest.mark.integration


def test_dense_vector_knn_round_trip(es_settings: ElasticsearchSettings) -> None:
    es = Elasticsearch(es_settings.url)
    index = f"{es_settings.index_prefix}-vectors"
    es.indices.create(
        index=index,
        mappings={
            "properties": {
                "title": {"type": "text"},
                "v": {"type": "dense_vector", "dims": 3, "index": True, "similarity": "cosine"},
            }
        },
    )
    docs = {"east": [1.0, 0.0, 0.0], "north": [0.0, 1.0, 0.0], "up": [0.0, 0.0, 1.0]}
    for doc_id, vec in docs.items():
        es.index(index=index, id=doc_id, document={"title": doc_id, "v": vec})
    es.indices.refresh(index=index)
    hits = es.search(index=index, knn={"field": "v", "query_vector": [0.1, 0.95, 0.1], "k": 2, "num_candidates": 10})
    ids = [h["_id"] for h in hits["hits"]["hits"]]
    assert ids[0] == "north"
    assert len(ids) == 2
    es.close()
