"""docker-compose.yml, the Dockerfile and the image's lock checked against the code and the images'
documentation, since Docker cannot run here. What each check follows is said where it is."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devtools.stack.settings import StackSettings
from storywire.app.cli import build_parser
from storywire.app.sections import known_env_vars
from storywire.app.supervisor import OPS_PORT_VARS
from storywire.config import ElasticsearchSettings

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if "build" in svc}
STAGES = {"ingest", "embed", "cluster", "index", "alert", "api"}
ONE_SHOT = {"topics", "setup"}
ENV_EXAMPLE = {
    line.split("=", 1)[0]: line.split("=", 1)[1]
    for line in (ROOT / ".env.example").read_text().splitlines()
    if "=" in line and not line.startswith("#")
}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "requirements" / "docker.lock").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[name].get("environment", {}).items()}


def _interpolated(value: str) -> str:
    """A value as compose would pass it with an empty .env: ${X:-default} -> default, ${X:?..} -> x."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[^}]*\}", "x", value)


def _mib(size: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])b?", size.lower())
    assert m, size
    return float(m.group(1)) * {"k": 1 / 1024, "m": 1, "g": 1024}[m.group(2)]


def _xmx(opts: str) -> float:
    m = re.search(r"-Xmx(\d+[kmgKMG])", opts)
    assert m, f"no -Xmx in {opts!r}"
    return _mib(m.group(1))


def _limit(name: str) -> float:
    return _mib(SERVICES[name]["deploy"]["resources"]["limits"]["memory"])


def _probe(svc: dict[str, Any]) -> tuple[int, str]:
    test = " ".join(svc["healthcheck"]["test"])
    m = re.search(r"127\.0\.0\.1:(\d+)(/\w+)", test)
    assert m, f"health check probes no local URL: {test}"
    return int(m.group(1)), m.group(2)


# --- the stages ------------------------------------------------------------------------------


def test_every_stage_is_a_service_from_the_one_image() -> None:
    assert set(OURS) >= STAGES
    images = {svc["image"] for svc in OURS.values()}
    assert len(images) == 1 and all(svc["build"]["context"] == "." for svc in OURS.values())


@pytest.mark.parametrize("name", sorted(OURS))
def test_storywire_environment_maps_onto_real_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(name)
    known = known_env_vars()
    unknown = [k for k in env if k.startswith("STORYWIRE_") and k not in known]
    assert not unknown, f"{name}: {unknown} are not settings"
    # and the values parse: build every section from exactly this environment
    for key, value in env.items():
        monkeypatch.setenv(key, _interpolated(value))
    for section in {known[k] for k in env if k in known}:
        section()


@pytest.mark.parametrize("name", sorted(OURS))
def test_command_is_a_real_cli_command(name: str) -> None:
    args = build_parser().parse_args(OURS[name]["command"])
    assert callable(args.func)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_health_check_is_liveness_on_the_port_the_stage_serves(name: str) -> None:
    """Liveness, not readiness: a liveness probe failing on an Elasticsearch outage would restart the writer."""
    svc = OURS[name]
    port, path = _probe(svc)
    assert path == "/livez"
    if name == "api":
        cmd = svc["command"]
        assert port == int(cmd[cmd.index("--port") + 1])
        assert any(p.endswith(f":{port}") for p in svc["ports"])
    else:
        assert port == int(svc["environment"][OPS_PORT_VARS[name]])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_restart_limits_and_health(name: str) -> None:
    svc = SERVICES[name]
    assert svc.get("restart") in {"unless-stopped", "on-failure", "always"}
    assert svc["deploy"]["resources"]["limits"]["memory"]
    assert svc["healthcheck"].get("disable") is True if name in ONE_SHOT else svc["healthcheck"]["test"]


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


def test_bind_mounts_exist() -> None:
    for svc in SERVICES.values():
        for vol in svc.get("volumes", []):
            if vol.startswith("./"):
                assert (ROOT / vol.split(":")[0]).exists(), vol


def test_config_files_are_read_through_a_mounted_directory() -> None:
    """`storywire feeds add` saves by rename; a single-file bind mount would pin the old inode."""
    for name, key in [("ingest", "STORYWIRE_INGEST_FEEDS_FILE"), ("alert", "STORYWIRE_ALERT_RULES_FILE")]:
        file = SERVICES[name]["environment"][key]
        binds = [v.split(":") for v in SERVICES[name]["volumes"] if v.startswith("./")]
        mounted = [(src, dst) for src, dst, *_ in binds if file.startswith(dst.rstrip("/") + "/")]
        assert mounted, f"{name}: {file} is not inside a bind-mounted directory"
        src, dst = mounted[0]
        assert (ROOT / src).is_dir(), f"{name}: {src} must be a directory"
        assert (ROOT / src / file[len(dst) + 1 :]).is_file(), f"{name}: {file} is not in {src}"
        assert all((ROOT / s).is_dir() for s, *_ in binds), f"{name}: a single file is bind-mounted"


def test_servers_match_the_versions_the_tests_run_against() -> None:
    stack = StackSettings()
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{stack.kafka_version}"
    for name in ("elasticsearch", "setup", "kibana"):
        assert SERVICES[name]["image"].endswith(f":{stack.es_version}")
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# --- Kafka (apache/kafka image: kafka-server-start.sh defaults to -Xmx1G -Xms1G) ------------


def test_kafka_heap_and_the_health_check_jvm_fit_the_container_limit() -> None:
    kafka = SERVICES["kafka"]
    heap = _xmx(kafka["environment"]["KAFKA_HEAP_OPTS"])
    check = " ".join(kafka["healthcheck"]["test"])
    assert "kafka-broker-api-versions.sh" in check
    check_heap = _xmx(re.search(r"KAFKA_HEAP_OPTS=(\S+)", check).group(1))  # type: ignore[union-attr]
    # The broker's off-heap memory (page cache aside: metaspace, direct buffers, threads) and
    # the check JVM's own need the rest; 60% for both heaps leaves it.
    assert heap + check_heap <= 0.6 * _limit("kafka"), (heap, check_heap, _limit("kafka"))


# --- Elasticsearch (Elastic's "Using the Docker images in production") ----------------------


def test_elasticsearch_follows_the_production_notes_of_its_image() -> None:
    es = SERVICES["elasticsearch"]
    env = es["environment"]
    assert _xmx(env["ES_JAVA_OPTS"]) <= 0.5 * _limit("elasticsearch")  # at most half the memory for the heap
    assert env["bootstrap.memory_lock"] == "true" and es["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    assert es["ulimits"]["nofile"]["soft"] >= 65535 and es["ulimits"]["nofile"]["hard"] >= 65535
    assert es["ulimits"]["nproc"]["soft"] >= 4096
    assert "vm.max_map_count=1048576" in TEXT  # a host setting: the file says so


def test_snapshots_have_a_repository_path_a_volume_and_a_registration() -> None:
    env = SERVICES["elasticsearch"]["environment"]
    repo = env["path.repo"]
    mounts = dict(v.split(":")[:2][::-1] for v in SERVICES["elasticsearch"]["volumes"])
    assert mounts.get(repo) in set(COMPOSE["volumes"]), "path.repo is not a named volume"
    assert SERVICES["setup"]["environment"]["STORYWIRE_SNAPSHOT_PATH"] == repo
    script = (ROOT / "ops" / "elasticsearch" / "setup.sh").read_text()
    assert "/_snapshot/storywire" in script and "STORYWIRE_SNAPSHOT_PATH" in script


def test_elasticsearch_has_security_on_with_the_password_from_env() -> None:
    env = SERVICES["elasticsearch"]["environment"]
    assert env["xpack.security.enabled"] == "true"
    assert env["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    assert ElasticsearchSettings.model_fields["password"].annotation is not str  # a SecretStr


def test_no_stage_connects_as_the_superuser() -> None:
    """Only Elasticsearch itself and the one-shot setup know the elastic password."""
    for name, svc in SERVICES.items():
        uses = "${ELASTIC_PASSWORD" in str(svc.get("environment", {}))
        assert uses == (name in {"elasticsearch", "setup"}), name
    users = {name: _env(name).get("STORYWIRE_ES_USERNAME") for name in OURS}
    assert users["index"] == "storywire_writer" and users["api"] == "storywire_reader"
    assert all(u is None for n, u in users.items() if n not in {"index", "api"})  # the rest never use it
    assert _env("index")["STORYWIRE_ES_PASSWORD"].startswith("${STORYWIRE_ES_WRITER_PASSWORD")
    assert _env("api")["STORYWIRE_ES_PASSWORD"].startswith("${STORYWIRE_ES_READER_PASSWORD")
    script = (ROOT / "ops" / "elasticsearch" / "setup.sh").read_text()
    for user in ("storywire_writer", "storywire_reader"):
        assert f"/_security/user/{user}" in script and f"/_security/role/{user}" in script
    for name in ("index", "api"):
        assert SERVICES[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert SERVICES["setup"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def test_the_full_distribution_uses_the_english_analyzer() -> None:
    for name in ("index", "api"):
        assert _interpolated(_env(name)["STORYWIRE_ES_TEXT_ANALYZER"]) == "english"
    assert ENV_EXAMPLE["STORYWIRE_ES_TEXT_ANALYZER"] == "english"


# --- Kibana (Elastic's own compose file probes the login redirect) ---------------------------


def test_kibana_health_check_works_with_security_on() -> None:
    kibana = SERVICES["kibana"]
    check = " ".join(kibana["healthcheck"]["test"])
    assert "/api/status" not in check  # 401 with security on: unhealthy forever
    assert "302 Found" in check
    assert kibana["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert SERVICES["setup"]["environment"]["KIBANA_PASSWORD"].startswith("${KIBANA_PASSWORD")


# --- .env -----------------------------------------------------------------------------------

# Every setting an operator sets per deployment, and the service that needs it.
USER_FACING = {
    ("alert", "STORYWIRE_ALERT_WEBHOOK_URLS"),
    ("alert", "STORYWIRE_ALERT_SMTP_HOST"),
    ("alert", "STORYWIRE_ALERT_SMTP_PORT"),
    ("alert", "STORYWIRE_ALERT_SMTP_USERNAME"),
    ("alert", "STORYWIRE_ALERT_SMTP_PASSWORD"),
    ("alert", "STORYWIRE_ALERT_EMAIL_FROM"),
    ("alert", "STORYWIRE_ALERT_EMAIL_TO"),
    ("alert", "STORYWIRE_ALERT_STORY_URL"),
    ("api", "STORYWIRE_INDEX_API_TOKEN"),
    ("index", "STORYWIRE_ES_PASSWORD"),
    ("api", "STORYWIRE_ES_PASSWORD"),
    ("index", "STORYWIRE_ES_TEXT_ANALYZER"),
}


@pytest.mark.parametrize(("service", "setting"), sorted(USER_FACING))
def test_every_user_facing_setting_is_reachable_from_env(service: str, setting: str) -> None:
    value = _env(service).get(setting)
    assert value is not None, f"{service} does not set {setting}"
    names = re.findall(r"\$\{([A-Z_]+)", value)
    assert names and all(n in ENV_EXAMPLE for n in names), f"{setting}={value} is not taken from .env"


def test_env_example_defines_every_variable_compose_uses() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", TEXT))
    assert used <= set(ENV_EXAMPLE), used - set(ENV_EXAMPLE)


def test_story_links_point_at_the_port_the_api_listens_on() -> None:
    url = _interpolated(_env("alert")["STORYWIRE_ALERT_STORY_URL"])
    cmd = SERVICES["api"]["command"]
    port = cmd[cmd.index("--port") + 1]
    assert url == f"http://127.0.0.1:{port}/stories/{{story_id}}"
    assert ENV_EXAMPLE["STORYWIRE_PUBLIC_URL"] == f"http://127.0.0.1:{port}"


def test_model_loading_services_have_room_for_the_model() -> None:
    # With the int8 ONNX graph `storywire api` measured 234 MiB resident (VmHWM) after queries;
    # torch took 1.03 GiB, and exporting the graph 1.8 GiB, so the image exports it at build
    # time and no container has to.
    for name in ("api", "embed"):
        env = _env(name)
        assert env["STORYWIRE_MODEL_BACKEND"] == "onnx-int8", name
        assert int(env["STORYWIRE_MODEL_THREADS"]) == int(
            float(SERVICES[name]["deploy"]["resources"]["limits"]["cpus"])
        )
        assert _limit(name) >= 1024, name
    assert re.search(r"^RUN storywire model export --backend onnx-int8$", DOCKERFILE, re.M)
    user = DOCKERFILE.index("\nUSER storywire")
    assert user < DOCKERFILE.index("RUN storywire model export"), "export as the user whose cache the stages read"


# --- the observability profile ----------------------------------------------------------------


def test_prometheus_and_grafana_run_in_the_observability_profile() -> None:
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["observability"]
    prom_mounts = [v.split(":")[:2] for v in SERVICES["prometheus"]["volumes"]]
    assert ["./ops/prometheus", "/etc/prometheus"] in prom_mounts
    graf_mounts = [v.split(":")[:2] for v in SERVICES["grafana"]["volumes"]]
    assert ["./ops/grafana/provisioning", "/etc/grafana/provisioning"] in graf_mounts
    provider = yaml.safe_load((ROOT / "ops/grafana/provisioning/dashboards/storywire.yml").read_text())
    dash_dir = provider["providers"][0]["options"]["path"]
    assert ["./ops/grafana/dashboards", dash_dir] in graf_mounts


def test_prometheus_scrapes_every_stage_on_its_ops_port() -> None:
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for name in STAGES:
        job = jobs[f"storywire-{name}"]
        sd = job["dns_sd_configs"][0]  # every replica of a scaled service, not one
        assert sd["names"] == [name] and sd["type"] == "A"
        port = _probe(OURS[name])[0]
        assert sd["port"] == port, name


# --- the image --------------------------------------------------------------------------------


def test_dockerfile_installs_dependencies_before_copying_the_code() -> None:
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    deps = next(i for i, line in enumerate(lines) if "-r /tmp/requirements/docker.lock" in line)
    torch = next(i for i, line in enumerate(lines) if "torch-cpu.txt" in line and line.startswith("RUN"))
    first_code = next(i for i, line in enumerate(lines) if re.match(r"COPY (storywire|pyproject\.toml)", line))
    assert deps < first_code and torch < first_code
    copies_before = [line for line in lines[:deps] if line.startswith("COPY")]
    assert copies_before == ["COPY requirements/docker.lock requirements/torch-cpu.txt /tmp/requirements/"]
    assert "--require-hashes" in lines[deps] and "--no-deps" in lines[deps]
    # PyTorch's CPU index as the only index for torch, so PyPI cannot hand over a CUDA build.
    assert "--index-url https://download.pytorch.org/whl/cpu" in lines[torch] and "extra-index" not in lines[torch]
    assert re.search(r"^RUN pip install --no-deps --no-build-isolation \. && pip check$", DOCKERFILE, re.M)
    for package in PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = package.rstrip("*")
        assert re.search(rf"^COPY {top} \./{top}$", DOCKERFILE, re.M), f"Dockerfile does not copy {top}/"
    sw = (ROOT / "sw").read_text()
    assert 'pip" install -q -e "$here[dev]"' in sw  # the tests install the same project


def _locked() -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", LOCK, re.M)}


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    locked = _locked()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 2)[2])
    for block in blocks:
        if block.strip() and not block.startswith("#"):
            assert "--hash=sha256:" in block, f"no hash: {block.splitlines()[0]}"
    for spec in PROJECT["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name == "torch":
            continue  # from PyTorch's CPU index: requirements/torch-cpu.txt
        assert name in locked, f"{req.name} is not in requirements/docker.lock: run requirements/lock.sh"
        assert req.specifier.contains(locked[name], prereleases=True), f"{req} but the lock has {locked[name]}"
    for spec in PROJECT["build-system"]["requires"]:
        req = Requirement(spec)
        assert req.specifier.contains(locked[canonicalize_name(req.name)])


def test_the_image_takes_the_cpu_build_of_the_torch_the_tests_pin() -> None:
    locked = _locked()
    assert not [n for n in locked if n.startswith(("nvidia-", "cuda-")) or n in {"torch", "triton"}]
    pinned = next(Requirement(d) for d in PROJECT["project"]["dependencies"] if d.startswith("torch"))
    version = str(next(iter(pinned.specifier))).removeprefix("==")
    lines = [x for x in (ROOT / "requirements/torch-cpu.txt").read_text().splitlines() if x and not x.startswith("#")]
    assert lines == [f"torch=={version}+cpu"]


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
