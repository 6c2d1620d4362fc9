"""The web page's routes without Elasticsearch: pages, assets, headers, validation, auth.

The Elasticsearch client points at a closed port: nothing here reaches a server, and
the one request that tries shows an outage becomes a 503.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from importlib import resources

import pytest
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from index.client import IndexNames
from index.settings import IndexSettings
from search.api import create_app
from search.service import SearchService
from search.web import mount_web


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _app(token: SecretStr | None = None) -> tuple[FastAPI, Elasticsearch]:
    es = Elasticsearch(f"http://127.0.0.1:{_closed_port()}", max_retries=0, request_timeout=2)
    search = SearchService(es, IndexNames("webunit"), IndexSettings())
    app = create_app(search, lambda: (True, {}), token)
    mount_web(app, search, token)
    return app, es


@pytest.fixture
def client() -> Iterator[TestClient]:
    app, es = _app()
    with TestClient(app) as c:
        yield c
    es.close()


@pytest.mark.parametrize(("path", "script"), [("/", "search.js"), ("/stories/s1", "story.js"), ("/now", "now.js")])
def test_pages_are_static_html_with_a_strict_policy(client: TestClient, path: str, script: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert f'<script src="/web/{script}" defer></script>' in resp.text
    assert '<meta name="viewport"' in resp.text
    assert not re.search(r"<script>|\son\w+=", resp.text)  # no inline script or handler to allow


def test_assets_are_served_by_name_only(client: TestClient) -> None:
    assert client.get("/web/web.css").headers["content-type"] == "text/css; charset=utf-8"
    assert client.get("/web/common.js").headers["content-type"] == "text/javascript; charset=utf-8"
    for name in ["missing.js", "__init__.py", "..%2Fdata.py", "..%2F..%2Fapi.py"]:
        assert client.get(f"/web/{name}").status_code == 404, name


def test_scripts_never_parse_strings_as_html() -> None:
    for entry in resources.files("search.web.assets").iterdir():
        if entry.name.endswith(".js"):
            code = [line for line in entry.read_text().splitlines() if not line.strip().startswith("//")]
            text = "\n".join(code)
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]:
                assert sink not in text, f"{entry.name} uses {sink}"


def test_bad_parameters_are_4xx_naming_the_parameter(client: TestClient) -> None:
    resp = client.get("/api/web/timelines", params=[("id", f"s{i}") for i in range(101)])
    assert resp.status_code == 400 and "'id'" in resp.json()["error"]
    assert client.get("/api/web/timelines", params={"id": "x" * 201}).status_code == 400
    resp = client.get("/api/web/now", params={"hours": 0})
    assert resp.status_code == 422 and "hours" in resp.json()["error"]
    assert client.get("/api/web/stories/s1/related", params={"size": 51}).status_code == 422


def test_no_ids_need_no_search(client: TestClient) -> None:
    assert client.get("/api/web/timelines").json() == {"results": []}


def test_an_elasticsearch_outage_is_a_503(client: TestClient) -> None:
    resp = client.get("/api/web/now")
    assert resp.status_code == 503 and "unavailable" in resp.json()["error"]


def test_with_a_token_the_data_needs_it_and_the_pages_do_not() -> None:
    app, es = _app(SecretStr("s3cret"))
    with TestClient(app) as c:
        assert c.get("/").status_code == 200
        resp = c.get("/api/web/now")
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
        assert c.get("/api/web/timelines", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    es.close()
