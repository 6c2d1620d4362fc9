"""Authentication and TLS against a real Elasticsearch node with security on.

A second, secured node (x-pack security from the integ-test-zip, a file-realm user, HTTPS
from a local CA) is started for this module only, on its own ports, and stopped after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import AuthenticationException
from elasticsearch import ConnectionError as ESConnectionError

from devtools.stack.elasticsearch import Elasticsearch as ESNode
from devtools.stack.settings import StackSettings
from index.client import make_client
from storywire.config import ElasticsearchSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured() -> Iterator[ESNode]:
    # Own ports (so its own directory), the same artifact cache as the main stack.
    settings = StackSettings(
        es_port=9251,
        es_transport_port=9351,
        es_security=True,
        es_heap="384m",
    )
    node = ESNode(settings, progress=False)
    node.stop()  # a leftover from an interrupted run
    node.start()
    try:
        import time

        for _ in range(240):
            if node.ready():
                break
            assert node.pid() is not None, "secured Elasticsearch exited during start-up"
            time.sleep(0.5)
        assert node.ready()
        yield node
    finally:
        node.stop()


def _settings(node: ESNode, prefix: str, **kw: object) -> ElasticsearchSettings:
    base: dict[str, object] = {"url": node.url, "index_prefix": prefix, "ca_file": str(node.ca_file)}
    return ElasticsearchSettings.model_validate(base | kw)


def test_user_and_password_over_tls(secured: ESNode, prefix: str) -> None:
    s = _settings(secured, prefix, username="storywire", password="storywire-dev-password")
    es = make_client(s)
    assert secured.url.startswith("https://")
    es.index(index=f"{prefix}-auth", id="1", document={"title": "secured"}, refresh=True)
    assert es.count(index=f"{prefix}-auth")["count"] == 1
    es.indices.delete(index=f"{prefix}-auth")
    es.close()


def test_wrong_password_is_refused(secured: ESNode, prefix: str) -> None:
    es = make_client(_settings(secured, prefix, username="storywire", password="wrong"))
    with pytest.raises(AuthenticationException):
        es.info()
    es.close()


def test_no_credentials_is_refused(secured: ESNode, prefix: str) -> None:
    es = make_client(_settings(secured, prefix))
    with pytest.raises(AuthenticationException):
        es.info()
    es.close()


def test_tls_is_verified_against_the_ca(secured: ESNode, prefix: str, tmp_path: Path) -> None:
    from devtools.stack.tls import make_certificates

    other_ca = make_certificates(tmp_path / "other")
    es = make_client(
        _settings(secured, prefix, username="storywire", password="storywire-dev-password", ca_file=str(other_ca))
    )
    with pytest.raises(ESConnectionError):
        es.info()
    es.close()


# API keys cannot be tested here: creating one makes Elasticsearch create its .security
# index, whose mapping needs the analysis-common module that the integ-test-zip lacks
# ('Unknown filter type [pattern_capture]'). index.client.make_client passes api_key
# straight to the client; it is exercised on a full distribution only.
