import json
import logging

import pytest

from storywire.bus import Topics, client_config
from storywire.config import KafkaSettings
from storywire.logs import JsonFormatter, KeyValueFormatter


def test_topics_live_under_the_prefix() -> None:
    t = Topics("p1")
    assert t.raw == "p1.articles.raw"
    assert t.stories == "p1.stories" and t.compacted() == {"p1.stories"}
    assert all(name.startswith("p1.") for name in t.all())
    assert len(set(t.all())) == 6


def test_consumer_groups_follow_the_topic_prefix_unless_set() -> None:
    from alert.settings import AlertSettings
    from enrich.settings import EnrichSettings
    from index.settings import IndexSettings
    from storywire.bus import group_id

    default, demo = KafkaSettings(), KafkaSettings(topic_prefix="demo")
    assert group_id(default, EnrichSettings().embed_group, "embed") == "storywire-embed"  # as before
    assert group_id(demo, EnrichSettings().cluster_group, "cluster") == "demo-cluster"
    assert group_id(demo, IndexSettings().group_id, "index") == "demo-index"
    assert group_id(demo, AlertSettings().group_id, "alert") == "demo-alert"
    assert group_id(demo, "newsroom-a-index", "index") == "newsroom-a-index"  # a configured id wins


def test_client_config_passes_security_through_without_leaking() -> None:
    s = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="pw",
        ssl_cafile="/ca.pem",
        bootstrap_servers="a:1,b:2",
    )
    cfg = client_config(s)
    assert cfg["bootstrap_servers"] == ["a:1", "b:2"]
    assert cfg["sasl_plain_password"] == "pw" and cfg["ssl_cafile"] == "/ca.pem"
    assert "pw" not in repr(s)


def _record(**extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "ingest", "levelname": "INFO", "msg": "feed polled"})
    rec.__dict__.update(extra)
    return rec


def test_logs_carry_named_fields() -> None:
    line = KeyValueFormatter().format(_record(feed="https://x/feed", entries=3))
    assert "feed polled" in line and "feed=https://x/feed" in line and "entries=3" in line
    obj = json.loads(JsonFormatter().format(_record(feed="f", entries=3)))
    assert obj["message"] == "feed polled" and obj["feed"] == "f" and obj["entries"] == 3


def test_a_broker_outage_is_a_pause_not_a_crash() -> None:
    from kafka.errors import KafkaConnectionError
    from prometheus_client import REGISTRY

    from devtools.fakes import FakeConsumer
    from storywire.bus import poll_records

    gone = FakeConsumer(group_id="g-outage")
    gone.poll_error = KafkaConnectionError("connection refused")

    before = REGISTRY.get_sample_value("storywire_consumer_broker_unreachable_total", {"group": "g-outage"}) or 0
    assert poll_records(gone, timeout_ms=10) == []
    after = REGISTRY.get_sample_value("storywire_consumer_broker_unreachable_total", {"group": "g-outage"})
    assert after == before + 1


def test_plain_lines_start_with_the_date_and_time() -> None:
    rec = _record(entries=3)
    rec.created = 1_777_636_800.25  # 2026-05-01T12:00:00.250Z
    assert KeyValueFormatter().format(rec) == "2026-05-01T12:00:00.250Z INFO  ingest: feed polled entries=3"
    assert json.loads(JsonFormatter().format(rec))["time"] == "2026-05-01T12:00:00.250000+00:00"


def test_uvicorn_access_and_error_lines_are_json_with_log_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`storywire api`'s own server settings, a real uvicorn on a free port, one request."""
    import socket
    import threading

    import httpx
    import uvicorn
    from fastapi import FastAPI

    from search.cli import server_config
    from storywire.logs import configure_logging

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", json_lines=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    try:
        thread.start()
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/ping?x=1", timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    objs = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's own included
    access = [o for o in objs if o["logger"] == "uvicorn.access"]
    assert len(access) == 1
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("GET", "/ping?x=1", 200)
    assert access[0]["client"].startswith("127.0.0.1:") and access[0]["time"].startswith("20")
    assert any(o["logger"] == "uvicorn.error" and "Uvicorn running" not in o["message"] for o in objs)
    assert not any("color_message" in o for o in objs)
