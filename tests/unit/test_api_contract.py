"""The API's contract as its OpenAPI document states it, checked against what it answers:
the bearer scheme (one rule for /api/* and /api/web/*, case-insensitive), the error bodies
and statuses each route documents, and Swagger UI served from this origin under the CSP.

Elasticsearch is a closed port here: the searches that reach it answer 503.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from index.client import IndexNames
from index.settings import IndexSettings
from search.api import create_app
from search.http import ErrorBody, InvalidParameters
from search.service import SearchService
from search.web import mount_web

TOKEN = SecretStr("s3cret")
GUARDED = ["/api/stories", "/api/stories/{story_id}", "/api/stories/{story_id}/articles", "/api/articles"]
WEB = ["/api/web/stories/{story_id}/related", "/api/web/timelines", "/api/web/now"]


def _app(token: SecretStr | None) -> tuple[FastAPI, Elasticsearch]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    es = Elasticsearch(f"http://127.0.0.1:{port}", max_retries=0, request_timeout=2)
    search = SearchService(es, IndexNames("apiunit"), IndexSettings())
    app = create_app(search, lambda: (True, {}), token)
    mount_web(app, search, token)
    return app, es


@pytest.fixture
def guarded() -> Iterator[TestClient]:
    app, es = _app(TOKEN)
    with TestClient(app) as c:
        yield c
    es.close()


@pytest.fixture
def open_api() -> Iterator[TestClient]:
    app, es = _app(None)
    with TestClient(app) as c:
        yield c
    es.close()


def _ref(response: dict[str, object]) -> str:
    content = response["content"]
    assert isinstance(content, dict)
    return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]


def test_openapi_declares_the_bearer_scheme_on_guarded_routes(guarded: TestClient) -> None:
    doc = guarded.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The token set in STORYWIRE_INDEX_API_TOKEN, sent as `Authorization: Bearer <token>`.",
        }
    }
    for path in GUARDED + WEB:
        op = doc["paths"][path]["get"]
        assert op["security"] == [{"bearer": []}], path
        assert _ref(op["responses"]["401"]) == "ErrorBody", path
    assert "security" not in doc["paths"]["/health"]["get"]


def test_openapi_documents_the_real_error_bodies(guarded: TestClient) -> None:
    doc = guarded.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's default 422 body: never sent
    assert set(schemas["ErrorBody"]["required"]) == {"error"}
    assert set(schemas["InvalidParameters"]["required"]) == {"error", "problems"}
    codes = {path: set(doc["paths"][path]["get"]["responses"]) for path in GUARDED + WEB}
    assert codes["/api/stories"] == {"200", "400", "401", "422", "503"}
    assert codes["/api/stories/{story_id}"] == {"200", "400", "401", "404", "422", "503"}
    assert codes["/api/articles"] == {"200", "400", "401", "422", "503"}
    for path in GUARDED + WEB:
        responses = doc["paths"][path]["get"]["responses"]
        assert _ref(responses["422"]) == "InvalidParameters"
        assert all(_ref(responses[c]) == "ErrorBody" for c in ("400", "401", "503")), path
    assert _ref(doc["paths"]["/health"]["get"]["responses"]["503"]) == "HealthBody"


def test_without_a_token_no_security_is_declared(open_api: TestClient) -> None:
    doc = open_api.get("/openapi.json").json()
    assert "securitySchemes" not in doc.get("components", {})
    assert "security" not in doc["paths"]["/api/stories"]["get"]
    assert "401" not in doc["paths"]["/api/stories"]["get"]["responses"]


def test_the_answers_match_the_documented_bodies(guarded: TestClient) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic s3cret"},
        {"Authorization": "s3cret"},
    ):
        for path in ("/api/stories", "/api/web/now"):
            resp = guarded.get(path, headers=headers)
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer", (path, headers)
            ErrorBody.model_validate(resp.json(), strict=True)
    bad = guarded.get("/api/stories", params={"size": 0, "sort": "x"}, headers=auth)
    assert bad.status_code == 422
    body = InvalidParameters.model_validate(bad.json())
    assert [p.parameter for p in body.problems] == ["sort", "size"]
    inconsistent = guarded.get("/api/stories", params={"from": "2024-02-01", "to": "2024-01-01"}, headers=auth)
    assert inconsistent.status_code == 400 and ErrorBody.model_validate(inconsistent.json())
    down = guarded.get("/api/stories", params={"q": "x"}, headers=auth)
    assert down.status_code == 503 and ErrorBody.model_validate(down.json())


def test_the_scheme_name_is_case_insensitive(guarded: TestClient) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        # Past the guard, the closed Elasticsearch port answers 503: the token was accepted.
        assert guarded.get("/api/stories", headers={"Authorization": f"{scheme} s3cret"}).status_code == 503
        assert guarded.get("/api/web/now", headers={"Authorization": f"{scheme} s3cret"}).status_code == 503


def test_swagger_ui_is_served_from_this_origin_under_the_csp(guarded: TestClient) -> None:
    page = guarded.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert not re.search(r"<script>|<script(?![^>]*\ssrc=)|\son\w+=", page.text)  # no inline script
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls == ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"]
    for url in urls:
        asset = guarded.get(url)
        assert asset.status_code == 200 and asset.headers["content-security-policy"] == csp, url
    bundle = guarded.get("/docs/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript") and len(bundle.content) > 500_000
    assert b'PACKAGE_VERSION:"5.' in bundle.content  # Swagger UI 5 reads OpenAPI 3.1
    init = guarded.get("/docs/init.js").text
    assert 'url: "/openapi.json"' in init and "persistAuthorization: false" in init
    assert guarded.get("/docs/..%2Fopenapi.json").status_code == 404  # names are looked up, not joined
    assert guarded.get("/docs/nothing.js").status_code == 404
    assert guarded.get("/redoc").status_code == 404  # ReDoc loaded a CDN script; it is gone
