"""ops/elasticsearch/setup.sh (compose's one-shot `setup` service), run by bash against a recording
HTTP server: the local stack's Elasticsearch (integ-test-zip) has no .security index, so native
users and roles cannot be created on it; what is checked here is what the script sends."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "ops" / "elasticsearch" / "setup.sh"
pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="the script uses curl (as in the ES image)")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, bytes]] = []
        self.refuse: str | None = None  # a path answered with 400
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.calls.append((self.command, self.path, self.headers.get("Authorization", ""), body))
                code = 400 if self.path == recorder.refuse else 200
                payload = b'{"error": "refused"}' if code == 400 else b'{"acknowledged": true}'
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def es() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.httpd.shutdown()
    rec.httpd.server_close()


def _run(es: Recorder, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "ES_URL": es.url, "ELASTIC_PASSWORD": "el-pw"}
    return subprocess.run(["bash", str(SCRIPT)], env=base | env, capture_output=True, text=True, timeout=60)


def test_creates_least_privilege_users_the_kibana_password_and_the_snapshot_repository(es: Recorder) -> None:
    tricky = 'wr"it\\er'
    run = _run(es, STORYWIRE_ES_WRITER_PASSWORD=tricky, STORYWIRE_ES_READER_PASSWORD="rd", KIBANA_PASSWORD="kb")
    assert run.returncode == 0, run.stderr
    auth = "Basic " + base64.b64encode(b"elastic:el-pw").decode()
    assert all(a == auth for _, _, a, _ in es.calls)
    assert es.calls[0][:2] == ("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s")
    sent = {(m, p): json.loads(b) for m, p, _, b in es.calls[1:]}
    assert list(sent) == [
        ("PUT", "/_security/role/storywire_writer"),
        ("PUT", "/_security/role/storywire_reader"),
        ("PUT", "/_security/user/storywire_writer"),
        ("PUT", "/_security/user/storywire_reader"),
        ("POST", "/_security/user/kibana_system/_password"),
        ("PUT", "/_snapshot/storywire"),
        ("PUT", "/_slm/policy/storywire-nightly"),
    ]
    writer = sent[("PUT", "/_security/role/storywire_writer")]
    reader = sent[("PUT", "/_security/role/storywire_reader")]
    assert writer["indices"] == [
        {"names": ["storywire-*"], "privileges": ["manage", "write", "read", "view_index_metadata"]}
    ]
    assert reader["indices"] == [{"names": ["storywire-*"], "privileges": ["read", "view_index_metadata"]}]
    assert writer["cluster"] == reader["cluster"] == ["monitor"]  # cluster health, no cluster-wide writes
    assert sent[("PUT", "/_security/user/storywire_writer")] == {
        "password": tricky, "roles": ["storywire_writer"], "full_name": "Storywire index writer"
    }  # fmt: skip
    assert sent[("PUT", "/_security/user/storywire_reader")]["roles"] == ["storywire_reader"]
    assert sent[("POST", "/_security/user/kibana_system/_password")] == {"password": "kb"}
    repo = sent[("PUT", "/_snapshot/storywire")]
    assert repo == {"type": "fs", "settings": {"location": "/usr/share/elasticsearch/snapshots"}}
    slm = sent[("PUT", "/_slm/policy/storywire-nightly")]
    assert slm["repository"] == "storywire" and slm["config"]["indices"] == ["storywire-*"]


def test_without_a_kibana_password_kibana_is_left_alone(es: Recorder) -> None:
    run = _run(es, STORYWIRE_ES_WRITER_PASSWORD="w", STORYWIRE_ES_READER_PASSWORD="r")
    assert run.returncode == 0, run.stderr
    assert not [p for _, p, _, _ in es.calls if "kibana" in p]


def test_a_refused_request_fails_the_setup_with_the_answer(es: Recorder) -> None:
    es.refuse = "/_security/user/storywire_reader"
    run = _run(es, STORYWIRE_ES_WRITER_PASSWORD="w", STORYWIRE_ES_READER_PASSWORD="r")
    assert run.returncode != 0
    assert "/_security/user/storywire_reader answered 400" in run.stderr and "refused" in run.stderr
    assert not [p for _, p, _, _ in es.calls if p.startswith("/_snapshot")]  # stopped there


def test_missing_passwords_stop_before_any_request(es: Recorder) -> None:
    run = _run(es, STORYWIRE_ES_WRITER_PASSWORD="w")
    assert run.returncode != 0 and "STORYWIRE_ES_READER_PASSWORD" in run.stderr
    assert es.calls == []
