"""Ops commands: `storywire run`, `storywire topics`, `storywire doctor`, `storywire config show`,
`storywire model export`."""

from __future__ import annotations

import argparse

from storywire.app.doctor import register as register_doctor
from storywire.commands import add_json, port, print_json
from storywire.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from storywire.app.supervisor import STAGES

    r = sub.add_parser("run", help="run every stage as supervised processes (Ctrl-C stops them all)")
    r.add_argument("--only", nargs="+", choices=list(STAGES), help="run only these stages")
    r.add_argument(
        "--ops-base-port", type=port, default=9401, help="stage i serves /health and /metrics on base+i (default: 9401)"
    )
    r.set_defaults(func=_run)

    t = sub.add_parser("topics", help="create or list the pipeline's Kafka topics")
    t.add_argument("verb", choices=["ensure", "list"], help="ensure: create the missing ones; list: say which exist")
    add_json(t, "each topic and whether it exists")
    t.set_defaults(func=_topics)

    register_doctor(sub)

    c = sub.add_parser("config", help="the effective settings (environment and STORYWIRE_CONFIG file)")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print every section's effective values, secrets hidden")
    add_json(show, "one object, {section: {setting: value}}")
    show.set_defaults(func=_config_show)

    m = sub.add_parser("model", help="the embedding model's prepared files")
    msub = m.add_subparsers(dest="model_command", required=True)
    exp = msub.add_parser("export", help="export the model's ONNX graph into the cache now (the image does at build)")
    exp.add_argument(
        "--backend", action="append", choices=["onnx", "onnx-int8"], help="repeat for several (default: the configured)"
    )
    add_json(exp, "each backend's cache folder and its check against torch")
    exp.set_defaults(func=_model_export)


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
    from storywire.commands import require_kafka

    settings = Settings.load()
    topics = Topics(settings.kafka.topic_prefix)
    require_kafka(settings.kafka.bootstrap_servers)
    changes: dict[str, str] = {}
    if args.verb == "ensure":  # creates what is missing, raises a max.message.bytes below the setting
        changes = ensure_topics(settings.kafka, topics)
    admin = KafkaAdminClient(**client_config(settings.kafka))
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    rows = [{"topic": name, "present": name in existing, "changed": changes.get(name)} for name in topics.all()]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            done = f"  ({row['changed']})" if row["changed"] else ""
            print(f"{row['topic']:<40} {'present' if row['present'] else 'MISSING'}{done}")
    return 0 if all(row["present"] for row in rows) else 1


def _model_export(args: argparse.Namespace) -> int:
    from storywire.commands import CommandError
    from storywire.config import ModelSettings, load
    from storywire.embedder import EmbedderError
    from storywire.onnx_embedder import ensure_entry

    settings = load(ModelSettings)
    backends = args.backend or ([settings.backend] if settings.backend != "torch" else ["onnx", "onnx-int8"])
    done = {}
    for backend in backends:
        try:
            path, manifest = ensure_entry(settings.model_copy(update={"backend": backend}))
        except EmbedderError as exc:
            raise CommandError(str(exc)) from exc
        done[backend] = {"path": str(path), "dim": manifest["dim"], "check": manifest.get("check", {})}
        if not args.json:
            cosine = manifest.get("check", {}).get("cosine_min")
            print(f"{backend}: {path} ({manifest['dim']} dimensions, cosine to torch >= {cosine} on the check texts)")
    if args.json:
        print_json(done)
    return 0
