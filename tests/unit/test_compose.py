"""docker-compose.yml and the Dockerfile checked against the code, since Docker cannot run here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.stack.settings import StackSettings
from storywire.app.cli import build_parser
from storywire.app.sections import known_env_vars
from storywire.config import ElasticsearchSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if "build" in svc}
STAGES = {"ingest", "embed", "cluster", "index", "alert", "api"}


def _health_port(svc: dict[str, Any]) -> int:
    test = " ".join(svc["healthcheck"]["test"])
    m = re.search(r"127\.0\.0\.1:(\d+)/health", test)
    assert m, f"health check does not probe /health: {test}"
    return int(m.group(1))


def test_every_stage_is_a_service_from_the_one_image() -> None:
    assert set(OURS) >= STAGES
    images = {svc["image"] for svc in OURS.values()}
    assert len(images) == 1 and all(svc["build"] == "." for svc in OURS.values())


@pytest.mark.parametrize("name", sorted(OURS))
def test_storywire_environment_maps_onto_real_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: str(v) for k, v in OURS[name]["environment"].items()}
    known = known_env_vars()
    unknown = [k for k in env if k.startswith("STORYWIRE_") and k not in known]
    assert not unknown, f"{name}: {unknown} are not settings"
    # and the values parse: build every section from exactly this environment
    for key, value in env.items():
        monkeypatch.setenv(key, re.sub(r"\$\{[^}]*\}", "x", value))
    for section in {known[k] for k in env if k in known}:
        section()


@pytest.mark.parametrize("name", sorted(OURS))
def test_command_is_a_real_cli_command(name: str) -> None:
    command = OURS[name]["command"]
    args = build_parser().parse_args(command)
    assert callable(args.func)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_health_check_probes_the_port_the_stage_serves(name: str) -> None:
    svc = OURS[name]
    if name == "api":
        cmd = svc["command"]
        assert _health_port(svc) == int(cmd[cmd.index("--port") + 1])
        assert any(p.endswith(f":{cmd[cmd.index('--port') + 1]}") for p in svc["ports"])
    else:
        from storywire.app.supervisor import OPS_PORT_VARS

        assert _health_port(svc) == int(svc["environment"][OPS_PORT_VARS[name]])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_restart_limits_and_health(name: str) -> None:
    svc = SERVICES[name]
    assert svc.get("restart") in {"unless-stopped", "on-failure", "always"}
    assert svc["deploy"]["resources"]["limits"]["memory"]
    one_shot = name in {"topics", "kibana-setup"}
    assert svc["healthcheck"].get("disable") is True if one_shot else svc["healthcheck"]["test"]


def test_volumes_are_named_and_ports_bound_to_localhost() -> None:
    declared = set(COMPOSE["volumes"])
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            assert src.startswith("./") or src in declared, f"{name}: volume {src} is not declared"
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"


def test_embed_can_scale() -> None:
    embed = SERVICES["embed"]
    assert "container_name" not in embed and "ports" not in embed


def test_stateful_stages_keep_state_in_volumes() -> None:
    for name, key in [("ingest", "STORYWIRE_INGEST_STATE_DIR"), ("alert", "STORYWIRE_ALERT_STATE_DIR")]:
        state_dir = SERVICES[name]["environment"][key]
        mounts = [v.split(":")[1] for v in SERVICES[name]["volumes"] if not v.startswith("./")]
        assert any(state_dir.startswith(m) for m in mounts)


def test_servers_match_the_versions_the_tests_run_against() -> None:
    stack = StackSettings()
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{stack.kafka_version}"
    assert SERVICES["elasticsearch"]["image"].endswith(f":{stack.es_version}")
    assert SERVICES["kibana"]["image"].endswith(f":{stack.es_version}")
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_elasticsearch_has_security_on_with_the_password_from_env() -> None:
    es = SERVICES["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true"
    assert es["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    for svc in OURS.values():
        assert svc["environment"]["STORYWIRE_ES_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    assert ElasticsearchSettings.model_fields["password"].annotation is not str  # a SecretStr


def test_env_example_defines_every_variable_compose_uses() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    defined = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    assert used <= defined


def test_dockerfile_installs_the_package_the_tests_install() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install \.$", dockerfile, re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = package.rstrip("*")
        assert re.search(rf"^COPY {top} \./{top}$", dockerfile, re.M), f"Dockerfile does not copy {top}/"
    sw = (ROOT / "sw").read_text()
    assert 'pip" install -q -e "$here[dev]"' in sw  # the tests install the same project


def test_mounted_config_files_exist() -> None:
    for svc in SERVICES.values():
        for vol in svc.get("volumes", []):
            if vol.startswith("./"):
                assert (ROOT / vol.split(":")[0]).is_file(), vol


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker client")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("this docker client has no compose plugin")
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    out = subprocess.run(
        ["docker", "compose", "--env-file", str(env), "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
