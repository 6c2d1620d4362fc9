"""`storywire api` serves the JSON API and the analysts' pages from one app."""

import pytest
from fastapi.testclient import TestClient

from search.cli import api_app
from storywire.config import ElasticsearchSettings, KafkaSettings

pytestmark = pytest.mark.integration


def test_api_app_serves_pages_and_api(
    es_settings: ElasticsearchSettings, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYWIRE_ES_URL", es_settings.url)
    monkeypatch.setenv("STORYWIRE_ES_INDEX_PREFIX", es_settings.index_prefix)
    monkeypatch.setenv("STORYWIRE_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    with TestClient(api_app(no_embed=True)) as client:
        for page in ("/", "/now"):
            resp = client.get(page)
            assert resp.status_code == 200 and "text/html" in resp.headers["content-type"], page
        assert client.get("/openapi.json").json()["info"]["title"]
        assert client.get("/api/stories", params={"size": 0}).status_code == 422  # validated, not a 500
