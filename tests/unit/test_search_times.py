"""Times out of range on the read side (issue #14, 7), without Elasticsearch.

The Elasticsearch client points at a closed port: a request that gets past the checks
ends in a 503, which is how these tests tell "let through" from "refused".
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.test_web_routes import _app


@pytest.fixture
def client() -> Iterator[TestClient]:
    app, es = _app()
    with TestClient(app) as c:
        yield c
    es.close()


@pytest.mark.parametrize("path", ["/api/stories", "/api/articles"])
@pytest.mark.parametrize(
    ("param", "value"), [("from", "0001-01-01T00:00:00+01:00"), ("to", "9999-12-31T23:59:59-01:00")]
)
def test_a_time_outside_years_1_to_9999_in_utc_is_a_400_naming_the_parameter(
    client: TestClient, path: str, param: str, value: str
) -> None:
    resp = client.get(path, params={param: value})
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(f"'{param}' is out of range")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59+01:00", "0001-01-01T00:00:00"])
def test_the_extreme_times_that_exist_in_utc_are_let_through(client: TestClient, value: str) -> None:
    assert client.get("/api/stories", params={"from": value, "to": value}).status_code == 503  # past the check


def test_the_cli_says_so_in_one_line() -> None:
    cmd = [sys.executable, "-m", "storywire.app.cli", "search", "--from", "0001-01-01T00:00:00+01:00", "drones"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "argument --from: out of range: '0001-01-01T00:00:00+01:00'" in done.stderr.splitlines()[-1]
