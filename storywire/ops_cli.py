"""Ops commands: `storywire run`, `storywire topics`, `storywire doctor`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from storywire.config import Settings

Check = tuple[str, Callable[[Settings], str]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from storywire.supervisor import STAGES

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


def _run(args: argparse.Namespace) -> int:
    from storywire.supervisor import run

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
    from index.client import make_client

    es = make_client(s.es)
    try:
        info = es.info()
        missing = [
            a
            for a in (f"{s.es.index_prefix}-articles", f"{s.es.index_prefix}-stories")
            if not es.indices.exists_alias(name=a)
        ]
    finally:
        es.close()
    version = info["version"]["number"]
    if missing:
        raise RuntimeError(
            f"Elasticsearch {version} is up but aliases are missing: {', '.join(missing)}; "
            "fix: start `storywire index run` once (it creates them)"
        )
    return f"{s.es.url}, Elasticsearch {version}, aliases present"


def _check_model(s: Settings) -> str:
    from enrich.embedder import load_embedder

    emb = load_embedder(s.model)
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
