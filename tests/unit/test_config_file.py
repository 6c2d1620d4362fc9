"""One config file touching every section, seen the same way by every command.

Each section is built by ``storywire.config.load`` (``test_layout`` checks that no module
builds one itself); here a ``STORYWIRE_CONFIG`` file sets one value of every section and
the commands are run as a user runs them, as subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storywire.app.sections import SECTIONS
from storywire.config import ConfigError, KafkaSettings, load

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "tests" / "fixtures" / "alerts" / "rules.yaml"
STORY = ROOT / "tests" / "fixtures" / "alerts" / "story.json"

# One value in every section, none of them a default.
FROM_FILE = {
    "kafka": ("STORYWIRE_KAFKA_TOPIC_PREFIX", "fromfile", "topic_prefix", "fromfile"),
    "es": ("STORYWIRE_ES_INDEX_PREFIX", "fromfile", "index_prefix", "fromfile"),
    "model": ("STORYWIRE_MODEL_BATCH_SIZE", "7", "batch_size", 7),
    "log": ("STORYWIRE_LOG_LEVEL", "WARNING", "level", "WARNING"),
    "ingest": ("STORYWIRE_INGEST_MAX_ENTRIES", "17", "max_entries", 17),
    "enrich": ("STORYWIRE_ENRICH_BATCH_MAX_SIZE", "9", "batch_max_size", 9),
    "index": ("STORYWIRE_INDEX_API_PORT", "8123", "api_port", 8123),
    "alert": ("STORYWIRE_ALERT_RULES_FILE", str(RULES), "rules_file", str(RULES)),
    "stack": ("STORYWIRE_STACK_KAFKA_PORT", "19092", "kafka_port", 19092),
}


def _storywire(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STORYWIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "storywire.app.cli", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "storywire.env"
    path.write_text("".join(f"{var}={value}\n" for var, value, _, _ in FROM_FILE.values()))
    return path


def test_every_section_is_in_the_table() -> None:
    assert set(FROM_FILE) == set(SECTIONS)


def test_config_show_json_shows_the_file_in_every_section(config: Path) -> None:
    proc = _storywire("config", "show", "--json", env={"STORYWIRE_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    for section, (_, _, field, value) in FROM_FILE.items():
        assert shown[section][field] == value, section


def test_the_environment_wins_over_the_file_and_secrets_stay_hidden(config: Path) -> None:
    env = {
        "STORYWIRE_CONFIG": str(config),
        "STORYWIRE_KAFKA_TOPIC_PREFIX": "fromenv",
        "STORYWIRE_ES_PASSWORD": "hunter2",
    }
    proc = _storywire("config", "show", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["kafka"]["topic_prefix"] == "fromenv"
    assert shown["es"]["index_prefix"] == "fromfile"
    assert shown["es"]["password"] == "**********"
    assert "hunter2" not in proc.stdout
    plain = _storywire("config", "show", env=env)
    assert 'STORYWIRE_ES_INDEX_PREFIX = "fromfile"' in plain.stdout and "hunter2" not in plain.stdout


def test_alerts_test_finds_the_rules_file_named_in_the_config_file(config: Path) -> None:
    """Before the one loader, `alerts test` read only the environment and did not find the rules."""
    proc = _storywire(
        "alerts", "test", "breaking", "--story-file", str(STORY), "--channel", "webhook",
        env={"STORYWIRE_CONFIG": str(config)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "webhook payload" in proc.stdout


def test_a_config_file_that_is_not_there_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _storywire("config", "show", env={"STORYWIRE_CONFIG": str(tmp_path / "missing.env")})
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"storywire: error: STORYWIRE_CONFIG={tmp_path / 'missing.env'}: no such file"
    ]


def test_load_reads_the_file_the_environment_names(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYWIRE_CONFIG", str(config))
    monkeypatch.delenv("STORYWIRE_KAFKA_TOPIC_PREFIX", raising=False)
    assert load(KafkaSettings).topic_prefix == "fromfile"
    assert load(KafkaSettings, topic_prefix="given").topic_prefix == "given"
    monkeypatch.setenv("STORYWIRE_KAFKA_PARTITIONS", "zero")
    with pytest.raises(ConfigError, match=r"STORYWIRE_KAFKA_PARTITIONS=.zero.: Input should be a valid integer"):
        load(KafkaSettings)
