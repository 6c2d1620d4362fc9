from pathlib import Path

import pytest

from storywire.config import Settings


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYWIRE_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("STORYWIRE_KAFKA_TOPIC_PREFIX", "newsroom")
    monkeypatch.setenv("STORYWIRE_ES_URL", "https://es.internal:9200")
    monkeypatch.setenv("STORYWIRE_MODEL_BATCH_SIZE", "64")
    s = Settings.load()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka.topic_prefix == "newsroom"
    assert s.es.url == "https://es.internal:9200"
    assert s.model.batch_size == 64


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYWIRE_ES_PASSWORD", "hunter2")
    monkeypatch.setenv("STORYWIRE_KAFKA_SASL_PASSWORD", "s3cret")
    s = Settings.load()
    assert s.es.password is not None and s.es.password.get_secret_value() == "hunter2"
    text = repr(s) + str(s) + s.model_dump_json()
    assert "hunter2" not in text and "s3cret" not in text


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "storywire.env"
    f.write_text("STORYWIRE_ES_INDEX_PREFIX=fromfile\nSTORYWIRE_KAFKA_TOPIC_PREFIX=fromfile\n")
    monkeypatch.setenv("STORYWIRE_CONFIG", str(f))
    monkeypatch.setenv("STORYWIRE_KAFKA_TOPIC_PREFIX", "fromenv")
    s = Settings.load()
    assert s.es.index_prefix == "fromfile"
    assert s.kafka.topic_prefix == "fromenv"


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYWIRE_KAFKA_PARTITIONS", "zero")
    with pytest.raises(ValueError, match=r"^STORYWIRE_KAFKA_PARTITIONS='zero': Input should be a valid integer"):
        Settings.load()
