"""``storywire doctor``: every settings section, the servers, the model and the running pipeline.

Prints one line per check, ``ok``, ``warn``, ``FAIL`` or ``skip``, with what to fix; with
``--json`` one object ``{"ok": bool, "checks": [{name, status, detail, fix, data}]}``.
Exits 1 when any check failed (a warning does not fail), 0 otherwise. The checks
themselves are in ``storywire.app.probes``; credentials are masked in everything printed.

Where the stages are: by default each stage's own ops-port setting on ``--ops-host``
(``STORYWIRE_INGEST_OPS_PORT`` ...; the API at ``STORYWIRE_INDEX_API_HOST:PORT``);
``--ops-base-port N`` for ``storywire run --ops-base-port N``'s layout; ``--stage
NAME=URL`` for each stage elsewhere (a container). ``--skip-pipeline`` checks the
configuration and the servers only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from storywire.app.probes import Finding, Masker
from storywire.commands import add_json, int_at_least, mask_url, port, print_json

if TYPE_CHECKING:
    from storywire.config import Settings

MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}
STAGE_NAMES = ["ingest", "embed", "cluster", "index", "alert", "api"]


def register(sub: Any) -> None:
    d = sub.add_parser("doctor", help="check every settings section, Kafka, Elasticsearch, the model and the pipeline")
    d.add_argument("--skip-model", action="store_true", help="do not load the embedding model")
    d.add_argument("--skip-pipeline", action="store_true", help="do not probe the running stages, lag, feeds and disk")
    d.add_argument("--ops-host", default="127.0.0.1", help="host of the stages' ops ports (default: 127.0.0.1)")
    d.add_argument("--ops-base-port", type=port, help="the stages run under `storywire run --ops-base-port N`")
    d.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="where a stage's ops endpoints are (e.g. ingest=http://ingest:8081); NAME=off skips it; repeatable",
    )
    d.add_argument(
        "--max-lag", type=int_at_least(0), default=10_000, help="warn when a group is more records behind (10000)"
    )
    add_json(d, "every check")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from storywire.app.sections import SECTIONS
    from storywire.config import ConfigError, load

    # The checks report an unreachable server themselves; the client's own warning would repeat it.
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    findings: list[Finding] = []
    loaded: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        try:
            loaded[name] = load(section)
            findings.append(Finding(f"config {name}", "ok", "valid"))
        except ConfigError as exc:
            fix = "correct the variable (environment or STORYWIRE_CONFIG file)"
            findings.append(Finding(f"config {name}", "fail", str(exc), fix))
    mask = Masker(loaded.values())
    overrides = _stage_overrides(args.stage)
    if {"kafka", "es", "model"} <= loaded.keys():
        from storywire.config import Settings

        settings = Settings(kafka=loaded["kafka"], es=loaded["es"], model=loaded["model"])
        findings += _servers(settings, args.skip_model)
        if not args.skip_pipeline:
            findings += _pipeline(settings, loaded, args, overrides)
    else:
        findings.append(Finding("servers", "skip", "the connection settings are invalid (above)"))
    findings = [Finding(f.name, f.status, mask(f.detail), mask(f.fix), f.data) for f in findings]
    failed = any(f.status == "fail" for f in findings)
    if args.json:
        print_json({"ok": not failed, "checks": [_as_dict(f, mask) for f in findings]})
    else:
        for f in findings:
            print(f"{MARK[f.status]} {f.name}: {f.detail}" + (f"; fix: {f.fix}" if f.fix and f.status != "ok" else ""))
    return 1 if failed else 0


def _as_dict(f: Finding, mask: Masker) -> dict[str, Any]:
    import json

    data = json.loads(mask(json.dumps(f.data, default=str)))
    return {"name": f.name, "status": f.status, "detail": f.detail, "fix": f.fix, "data": data}


def _stage_overrides(values: list[str]) -> dict[str, str]:
    from storywire.commands import UsageError

    out = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or name not in STAGE_NAMES or not (url == "off" or url.startswith(("http://", "https://"))):
            raise UsageError(
                f"--stage {value!r}: expected NAME=http(s)://HOST:PORT or NAME=off, NAME one of {STAGE_NAMES}"
            )
        out[name] = url
    return out


def _guarded(name: str, check: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    try:
        got = check()
    except Exception as exc:  # every failure is reported; none stops the other checks
        return [Finding(name, "fail", _line(exc))]
    return got if isinstance(got, list) else [got]


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _servers(s: Settings, skip_model: bool) -> list[Finding]:
    out = _guarded("kafka", lambda: _check_kafka(s))
    out += _guarded("elasticsearch", lambda: _check_es(s))
    if not skip_model:
        out += _guarded("model", lambda: _check_model(s))
    return out


def _check_kafka(s: Settings) -> Finding:
    from kafka.admin import KafkaAdminClient

    from storywire.bus import Topics, client_config
    from storywire.commands import first_reachable

    where = s.kafka.bootstrap_servers
    if first_reachable(where) is None:
        return Finding(
            "kafka",
            "fail",
            f"cannot reach Kafka at {where}",
            "start the broker, or set STORYWIRE_KAFKA_BOOTSTRAP_SERVERS",
        )
    admin = KafkaAdminClient(**client_config(s.kafka), request_timeout_ms=5000)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    wanted = Topics(s.kafka.topic_prefix).all()
    missing = [t for t in wanted if t not in existing]
    if missing:
        return Finding("kafka", "fail", f"{where}: topics missing: {', '.join(missing)}", "`storywire topics ensure`")
    return Finding("kafka", "ok", f"{where}, {len(wanted)} topics present")


def _check_es(s: Settings) -> Finding:
    """Reachable (cluster health: the integ-test-zip answers no ``GET /``), aliases and their vector mappings."""
    from elastic_transport import ConnectionError, ConnectionTimeout

    from index.client import IndexNames, make_client
    from index.mappings import current_index, vector_dims

    where = mask_url(s.es.url)
    es = make_client(s.es, request_timeout=10.0)
    try:
        try:
            health = es.cluster.health(timeout="5s")
        except (ConnectionError, ConnectionTimeout) as exc:
            fix = "start Elasticsearch, or set STORYWIRE_ES_URL"
            return Finding("elasticsearch", "fail", f"cannot reach Elasticsearch at {where}: {type(exc).__name__}", fix)
        nodes = es.nodes.info(node_id="_local", filter_path="nodes.*.version")
        version = next(iter(nodes["nodes"].values()))["version"] if nodes.get("nodes") else "?"
        if health["status"] not in ("green", "yellow"):
            detail = f"{where}: Elasticsearch {version} cluster is {health['status']}"
            return Finding("elasticsearch", "fail", detail, "check its log and disk space")
        names = IndexNames(s.es.index_prefix)
        missing = [a for a in names.aliases() if not es.indices.exists_alias(name=a)]
        if missing:
            detail = f"{where}: Elasticsearch {version} is up but aliases are missing: {', '.join(missing)}"
            return Finding("elasticsearch", "fail", detail, "start `storywire index run` once (it creates them)")
        dims = {a: vector_dims(es, current_index(es, a)) for a in names.aliases()}
    finally:
        es.close()
    if len(set(dims.values())) != 1:
        return Finding(
            "elasticsearch",
            "fail",
            f"vector sizes differ between indices: {dims}",
            "`storywire index migrate --dims N`",
        )
    size = next(iter(dims.values()))
    detail = f"{where}, Elasticsearch {version}, aliases present, vectors of {size} dimensions"
    return Finding("elasticsearch", "ok", detail, data={"version": version, "dims": size})


def _check_model(s: Settings) -> Finding:
    from index.client import IndexNames, make_client
    from index.mappings import current_index, vector_dims
    from storywire.embedder import load_embedder

    emb = load_embedder(s.model)
    es = make_client(s.es)
    alias = IndexNames(s.es.index_prefix).articles
    try:
        indexed = vector_dims(es, current_index(es, alias)) if es.indices.exists_alias(name=alias) else None
    except Exception:  # Elasticsearch's own check reports why it is unreachable
        indexed = None
    finally:
        es.close()
    if indexed is not None and indexed != emb.dim:
        detail = f"{s.model.name} makes {emb.dim}-dimension vectors but {alias} holds {indexed}"
        return Finding("model", "fail", detail, f"`storywire index migrate --dims {emb.dim}`, then re-embed")
    detail = f"{s.model.name} on {s.model.backend}: {emb.dim} dimensions"
    return Finding("model", "ok", detail, data={"dims": emb.dim, "backend": s.model.backend})


def stage_urls(
    loaded: dict[str, Any], host: str, base_port: int | None, overrides: dict[str, str]
) -> dict[str, str | None]:
    """Each stage's ops base URL (None: it serves none here), from the settings, ``storywire run``'s
    layout or ``--stage``. Under ``run`` stage i serves on base+i and the API on its own port."""
    from storywire.app.supervisor import OPS_PORT_VARS, STAGES

    index = loaded["index"]
    if base_port is not None:
        ports = {name: base_port + i for i, name in enumerate(STAGES) if name in OPS_PORT_VARS}
    else:
        enrich = loaded["enrich"]
        ports = {"ingest": loaded["ingest"].ops_port, "embed": enrich.embed_ops_port, "index": index.ops_port}
        ports |= {"cluster": enrich.cluster_ops_port, "alert": loaded["alert"].ops_port}
    urls: dict[str, str | None] = {name: (f"http://{host}:{p}" if p else None) for name, p in ports.items()}
    urls["api"] = f"http://{_connectable(index.api_host, host)}:{index.api_port}"
    for name, url in overrides.items():
        urls[name] = None if url == "off" else url
    return {name: urls.get(name) for name in STAGE_NAMES}


def _connectable(listen: str, fallback: str) -> str:
    return fallback if listen in ("0.0.0.0", "::", "") else listen  # noqa: S104 - an address to connect to


def _pipeline(
    s: Settings, loaded: dict[str, Any], args: argparse.Namespace, overrides: dict[str, str]
) -> list[Finding]:
    from storywire.app import probes
    from storywire.app.supervisor import STAGES
    from storywire.bus import Topics, group_id

    out: list[Finding] = []
    for name, url in stage_urls(loaded, args.ops_host, args.ops_base_port, overrides).items():
        if url is None:
            out.append(Finding(f"stage {name}", "skip", "no ops port set for it here", f"--stage {name}=URL"))
        else:
            command = " ".join(STAGES[name])
            out += _guarded(f"stage {name}", partial(probes.check_stage, name, url, command))
    topics = Topics(s.kafka.topic_prefix)
    enrich, index, alert = loaded["enrich"], loaded["index"], loaded["alert"]
    groups = {
        group_id(s.kafka, enrich.embed_group, "embed"): [topics.raw],
        group_id(s.kafka, enrich.cluster_group, "cluster"): [topics.embedded],
        group_id(s.kafka, index.group_id, "index"): [topics.enriched, topics.stories],
        group_id(s.kafka, alert.group_id, "alert"): [topics.stories],
    }
    from storywire.commands import first_reachable

    if first_reachable(s.kafka.bootstrap_servers) is None:
        out.append(Finding("lag", "skip", "Kafka is unreachable (above)"))
    else:
        out += _guarded("lag", lambda: probes.check_kafka_pipeline(s.kafka, groups, topics.dlq, args.max_lag))
    out += _guarded("feeds", lambda: probes.check_feeds(loaded["ingest"].state_dir))
    out += _guarded("disk ingest", lambda: probes.check_disk("disk ingest", loaded["ingest"].state_dir))
    out += _guarded("disk alert", lambda: probes.check_disk("disk alert", loaded["alert"].state_dir))
    return out
