"""The HTTP API over the real Elasticsearch (FastAPI TestClient; a fixed 4-dim query embedding)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from devtools.samples import T0, enriched, story
from index.client import IndexNames, make_client
from index.health import combined
from index.settings import IndexSettings
from search.api import create_app
from search.service import SearchService
from storywire.config import ElasticsearchSettings, KafkaSettings
from storywire.messages import StoryStatus
from tests.integration.test_index_helpers import load

pytestmark = pytest.mark.integration


def _embed(text: str) -> Sequence[float]:
    return (0.0, 1.0, 0.0, 0.0) if "money" in text else (1.0, 0.0, 0.0, 0.0)


@pytest.fixture
def es_ready(es_settings: ElasticsearchSettings) -> ElasticsearchSettings:
    articles = [enriched(i, published=T0 + timedelta(hours=i), source=f"src{i % 2}.example") for i in range(1, 5)]
    articles += [
        enriched(
            9, story_id="s2", title="Central bank lifts rates", embedding=(0.0, 1.0, 0.0, 0.0), story_label="Rates"
        )
    ]
    articles += [enriched(7, story_id="s3", published=T0 + timedelta(hours=5))]  # of the story s1 absorbed
    stories = [
        story("s1", 3, size=5, last_seen=T0 + timedelta(hours=5), absorbed=("s3",)),
        story(
            "s2",
            1,
            label="Central bank raises rates",
            keywords=("bank",),
            centroid=(0.0, 1.0, 0.0, 0.0),
            languages=("de",),
            size=1,
            top_articles=(),
        ),
        story("s3", 2, label="Old drone story", status=StoryStatus.MERGED, merged_into="s1", centroid=()),
    ]
    load(es_settings, articles, stories, dims=4)
    return es_settings


def _client(es_settings: ElasticsearchSettings, kafka: KafkaSettings | None, **kw: object) -> Iterator[TestClient]:
    es = make_client(es_settings)
    service = SearchService(es, IndexNames(es_settings.index_prefix), IndexSettings(), _embed)
    app = create_app(service, combined(es, kafka), **kw)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client
    es.close()


@pytest.fixture
def api(es_ready: ElasticsearchSettings, kafka_settings: KafkaSettings) -> Iterator[TestClient]:
    yield from _client(es_ready, kafka_settings)


def test_story_search(api: TestClient) -> None:
    r = api.get("/api/stories", params={"q": "kremlin"})
    assert r.status_code == 200
    body = r.json()
    assert body["results"][0]["id"] == "s1"
    first = body["results"][0]
    assert set(first) >= {"label", "keywords", "size", "source_count", "languages", "first_seen", "top_articles"}
    assert api.get("/api/stories", params={"q": "money"}).json()["results"][0]["id"] == "s2"  # by meaning
    filtered = api.get("/api/stories", params={"lang": "de", "min_size": 1, "status": "active", "sort": "growth"})
    assert [h["id"] for h in filtered.json()["results"]] == ["s2"]
    merged = api.get("/api/stories", params={"status": "merged"}).json()["results"]
    assert [(h["id"], h["merged_into"]) for h in merged] == [("s3", "s1")]
    page2 = api.get("/api/stories", params={"sort": "recency", "size": 1, "page": 2}).json()
    assert (page2["total"], page2["page"], len(page2["results"])) == (2, 2, 1)  # merged s3 left out
    window = {"from": "2023-05-03T12:00:00", "to": "2023-05-04T00:00:00Z", "source": ["a.example", "zz"]}
    assert [h["id"] for h in api.get("/api/stories", params=window).json()["results"]] == ["s1"]


def test_story_detail_and_articles(api: TestClient) -> None:
    d = api.get("/api/stories/s1").json()
    assert d["story"]["id"] == "s1"
    assert [a["id"] for a in d["articles"]["results"]] == ["a0001", "a0002", "a0003", "a0004", "a0007"]
    assert {b["key"]: b["count"] for b in d["sources"]} == {"src0.example": 2, "src1.example": 2, "news.example": 1}
    assert [b["count"] for b in d["histogram"]] == [1, 1, 1, 1, 1]
    arts = api.get("/api/stories/s1/articles", params={"size": 2, "page": 2}).json()
    assert [a["id"] for a in arts["results"]] == ["a0003", "a0004"]
    assert arts["total"] == 5


def test_article_search(api: TestClient) -> None:
    r = api.get("/api/articles", params={"q": "drones kremlin", "story": "s1", "sort": "recency"})
    assert [a["id"] for a in r.json()["results"]] == ["a0004", "a0003", "a0002", "a0001"]
    assert api.get("/api/articles", params={"q": "central bank"}).json()["results"][0]["id"] == "a0009"
    assert api.get("/api/articles", params={"source": "src1.example"}).json()["total"] == 2


def test_health_metrics_and_openapi(api: TestClient, es_ready: ElasticsearchSettings) -> None:
    h = api.get("/health")
    assert (h.status_code, h.json()["ready"]) == (200, True)
    assert "storywire_index_search_seconds" in api.get("/metrics").text
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/stories", "/api/stories/{story_id}", "/api/stories/{story_id}/articles", "/api/articles"} <= set(
        paths
    )
    down = ElasticsearchSettings(url="http://127.0.0.1:9", index_prefix=es_ready.index_prefix)
    for client in _client(down, KafkaSettings(bootstrap_servers="127.0.0.1:9")):
        r = client.get("/health")
        assert r.status_code == 503
        assert set(r.json()["reasons"]) == {"elasticsearch", "kafka"}
        search = client.get("/api/stories", params={"q": "kremlin"})
        assert search.status_code == 503
        assert "unavailable" in search.json()["error"]


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/stories", {"page": 0}, 422, "page"),
        ("/api/stories", {"page": "x"}, 422, "page"),
        ("/api/stories", {"size": 101}, 422, "size"),
        ("/api/stories", {"min_size": -1}, 422, "min_size"),
        ("/api/stories", {"status": "gone"}, 422, "status"),
        ("/api/stories", {"sort": "random"}, 422, "sort"),
        ("/api/stories", {"from": "yesterday"}, 422, "from"),
        ("/api/stories", {"to": "2023-13-01"}, 422, "to"),
        ("/api/stories", {"q": "x" * 501}, 422, "q"),
        ("/api/stories", {"from": "2023-05-04T00:00:00Z", "to": "2023-05-03T00:00:00Z"}, 400, "'from'"),
        ("/api/stories", {"page": 20, "size": 100}, 400, "page * size"),
        ("/api/stories", {"source": [f"s{i}" for i in range(21)]}, 400, "'source'"),
        ("/api/stories", {"lang": ""}, 400, "'lang'"),
        ("/api/stories/nope", {}, 404, "no story"),
        ("/api/stories/s1", {"size": 0}, 422, "size"),
        ("/api/stories/nope/articles", {}, 404, "no story"),
        ("/api/stories/s1/articles", {"page": -3}, 422, "page"),
        ("/api/articles", {"story": ""}, 422, "story"),
        ("/api/articles", {"sort": "x"}, 422, "sort"),
        ("/api/articles", {"from": "2023-05-04", "to": "2023-05-03"}, 400, "'from'"),
    ],
)
def test_bad_parameters_get_a_clear_4xx(
    api: TestClient, path: str, params: dict[str, object], status: int, words: str
) -> None:
    r = api.get(path, params=params)  # type: ignore[arg-type]
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_query_syntax_does_not_break_the_api(api: TestClient) -> None:
    for q in ['kremlin" AND (', "*:*", "kremlin OR title:/.*/", '{"query": 1}', "\\"]:
        r = api.get("/api/stories", params={"q": q})
        assert r.status_code == 200, r.text
        assert api.get("/api/articles", params={"q": q}).status_code == 200


def test_bearer_token(es_ready: ElasticsearchSettings) -> None:
    for client in _client(es_ready, None, token=SecretStr("s3cret")):
        assert client.get("/api/stories").status_code == 401
        assert client.get("/api/stories", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = client.get("/api/stories", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200  # probes stay open


def test_times_at_the_ends_of_the_calendar(api: TestClient) -> None:
    """Issue #14, 7: the ends of years 1 and 9999 reach Elasticsearch; a time beyond them in UTC is a 400."""
    ends = {"from": "0001-01-01T00:00:00-01:00", "to": "9999-12-31T23:59:59+01:00"}
    for path in ("/api/stories", "/api/articles"):
        r = api.get(path, params=ends)
        assert r.status_code == 200 and r.json()["total"] > 0, r.text
        for param, value in (("from", "0001-01-01T00:00:00+01:00"), ("to", "9999-12-31T23:59:59-01:00")):
            r = api.get(path, params={param: value})
            assert r.status_code == 400 and r.json()["error"].startswith(f"'{param}' is out of range")
