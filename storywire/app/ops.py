"""Ops commands: `storywire run`, `storywire topics`, `storywire doctor`, `storywire config show`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from storywire.config import Settings

Check = tuple[str, Callable[[Settings], str]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from storywire.app.supervisor import STAGES

    r = sub.add_parser("run", help="run every stage as supervised processes (Ctrl-C stops them all)")
    r.add_argument("--only", nargs="+", choices=list(STAGES), help="run only these stages")
    r.add_argument("--ops-base-port", type=int, default=9401, help="stage i serves /health and /metrics on base+i")
    r.set_defaults(func=_run)

    t = sub.add_parser("topics", help="create or list the pipeline's Kafka topics")
    t.add_argument("verb", choices=["ensure", "list"])
    t.set_defaults(func=_topics)

    d = sub.add_parser("doctor", help="check configuration, Kafka, Elasticsearch, topics, indices and the model")
    d.add_argument("--skip-model", action="store_true", help="do not load the embedding model")
    d.set_defaults(func=_doctor)

    c = sub.add_parser("config", help="the effective settings (environment and STORYWIRE_CONFIG file)")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print every section's effective values, secrets hidden")
    show.add_argument("--json", action="store_true", help="one JSON object: {section: {setting: value}}")
    show.set_defaults(func=_config_show)


def _config_show(args: argparse.Namespace) -> int:
    import json

    from storywire.app.sections import SECTIONS, effective
    from storywire.commands import CommandError
    from storywire.config import ConfigError

    try:
        values = effective()
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps(values, indent=2))
        return 0
    for name, section in values.items():
        prefix = str(SECTIONS[name].model_config.get("env_prefix", ""))
        print(f"[{name}]")
        for key, value in section.items():
            print(f"  {prefix}{key.upper()} = {json.dumps(value)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from storywire.app.supervisor import run

    return run(args.only, args.ops_base_port)


def _topics(args: argparse.Namespace) -> int:
    from kafka.admin import KafkaAdminClient

    from storywire.bus import Topics, client_config, ensure_topics

    settings = Settings.load()
    topics = Topics(settings.kafka.topic_prefix)
    if args.verb == "ensure":
        ensure_topics(settings.kafka, topics)
    admin = KafkaAdminClient(**client_config(settings.kafka))
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    for name in topics.all():
        print(f"{name:<40} {'present' if name in existing else 'MISSING'}")
    return 0 if all(n in existing for n in topics.all()) else 1


def _check_kafka(s: Settings) -> str:
    from kafka.admin import KafkaAdminClient

    from storywire.bus import Topics, client_config

    admin = KafkaAdminClient(**client_config(s.kafka), request_timeout_ms=5000)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    missing = [t for t in Topics(s.kafka.topic_prefix).all() if t not in existing]
    if missing:
        raise RuntimeError(f"topics missing: {', '.join(missing)}; fix: `storywire topics ensure`")
    return f"{s.kafka.bootstrap_servers}, 6 topics present"


def _check_es(s: Settings) -> str:
    """Reachable (cluster health: the integ-test-zip answers no ``GET /``), aliases and their vector mappings."""
    from index.client import IndexNames, make_client
    from index.mappings import current_index, vector_dims

    es = make_client(s.es)
    try:
        health = es.cluster.health(timeout="5s")
        nodes = es.nodes.info(node_id="_local", filter_path="nodes.*.version")
        version = next(iter(nodes["nodes"].values()))["version"] if nodes.get("nodes") else "?"
        if health["status"] not in ("green", "yellow"):
            raise RuntimeError(
                f"Elasticsearch {version} cluster is {health['status']}; fix: check its log and disk space"
            )
        names = IndexNames(s.es.index_prefix)
        missing = [a for a in names.aliases() if not es.indices.exists_alias(name=a)]
        if missing:
            raise RuntimeError(
                f"Elasticsearch {version} is up but aliases are missing: {', '.join(missing)}; "
                "fix: start `storywire index run` once (it creates them)"
            )
        dims = {a: vector_dims(es, current_index(es, a)) for a in names.aliases()}
    finally:
        es.close()
    if len(set(dims.values())) != 1:
        raise RuntimeError(f"vector sizes differ between indices: {dims}; fix: `storywire index migrate --dims N`")
    return f"{s.es.url}, Elasticsearch {version}, aliases present, vectors of {next(iter(dims.values()))} dimensions"


def _check_model(s: Settings) -> str:
    from index.client import IndexNames, make_client
    from index.mappings import current_index, vector_dims
    from storywire.embedder import load_embedder

    emb = load_embedder(s.model)
    es = make_client(s.es)
    try:
        alias = IndexNames(s.es.index_prefix).articles
        indexed = vector_dims(es, current_index(es, alias)) if es.indices.exists_alias(name=alias) else None
    except Exception:  # Elasticsearch's own check reports why it is unreachable
        indexed = None
    finally:
        es.close()
    if indexed is not None and indexed != emb.dim:
        raise RuntimeError(
            f"{s.model.name} makes {emb.dim}-dimension vectors but {alias} holds {indexed}; "
            f"fix: `storywire index migrate --dims {emb.dim}`, then re-embed"
        )
    return f"{s.model.name}: {emb.dim} dimensions"


def _doctor(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except ValueError as exc:
        print(f"FAIL configuration: {exc}")
        return 1
    print("ok   configuration: loaded (secrets hidden)")
    checks: list[Check] = [("kafka", _check_kafka), ("elasticsearch", _check_es)]
    if not args.skip_model:
        checks.append(("model", _check_model))
    failed = 0
    for name, check in checks:
        try:
            print(f"ok   {name}: {check(settings)}")
        except Exception as exc:  # every failure is reported, none stops the other checks
            failed += 1
            print(f"FAIL {name}: {exc}")
    return 1 if failed else 0
