import json
import logging

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


class _BrokerGone:
    config = {"group_id": "g-outage"}  # noqa: RUF012 - mirrors KafkaConsumer.config

    def poll(self, timeout_ms: int, max_records: int | None) -> dict[object, list[object]]:
        from kafka.errors import KafkaConnectionError

        raise KafkaConnectionError("connection refused")


def test_a_broker_outage_is_a_pause_not_a_crash() -> None:
    from prometheus_client import REGISTRY

    from storywire.bus import poll_records

    before = REGISTRY.get_sample_value("storywire_consumer_broker_unreachable_total", {"group": "g-outage"}) or 0
    assert poll_records(_BrokerGone(), timeout_ms=10) == []  # type: ignore[arg-type]
    after = REGISTRY.get_sample_value("storywire_consumer_broker_unreachable_total", {"group": "g-outage"})
    assert after == before + 1
