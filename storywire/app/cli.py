"""The `storywire` command (the application layer). Each stage adds its subcommands
through a `register` function.

Modules are imported when the CLI starts, so a stage's `cli` module must keep heavy
imports (torch, elasticsearch) inside the functions that need them.

The front door keeps the conventions (``storywire.commands``): exit 0 ok, 1 failure, 2
usage; every failure it knows is one line ``storywire: error: ...`` on stderr, never a
traceback, and that includes Kafka or Elasticsearch not answering, whichever command
met it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from devtools.stack.errors import StackError
from storywire.commands import EXIT_FAILURE, EXIT_INTERRUPTED, CommandError, mask_url
from storywire.config import ConfigError
from storywire.logs import configure_logging

COMMAND_MODULES = [
    "devtools.stack.cli",
    "storywire.app.ops",
    "storywire.app.dlq",
    "storywire.app.state",
    "ingest.cli",
    "enrich.cli",
    "storywire.app.evaluate",
    "index.cli",
    "search.cli",
    "alert.cli",
    "devtools.demo.cli",
]

EPILOG = "exit status: 0 ok, 1 failure (a check failed, a server unreachable, bad input), 2 usage error"


def version() -> str:
    """The installed distribution's version (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("storywire")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storywire", description="Streaming news monitoring.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"storywire {version()}", help="print the version")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines (default: STORYWIRE_LOG_JSON)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the least severe level logged (default: STORYWIRE_LOG_LEVEL or INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    for name in COMMAND_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package is not there
            found = False
        if found:
            importlib.import_module(name).register(sub)
    return parser


def unreachable(exc: BaseException) -> str | None:
    """One line for a Kafka or Elasticsearch client error that means "the server did not answer"."""
    module = type(exc).__module__ or ""
    if module.startswith("kafka"):
        import kafka.errors as kafka_errors

        # NoBrokersAvailable is kafka-python 2's; 3 raises KafkaTimeoutError("Unable to bootstrap ...").
        kinds = tuple(
            getattr(kafka_errors, n)
            for n in ("NoBrokersAvailable", "KafkaConnectionError", "KafkaTimeoutError")
            if hasattr(kafka_errors, n)
        )
        if isinstance(exc, kinds):
            from storywire.config import KafkaSettings

            where = _setting(KafkaSettings, "bootstrap_servers")
            return f"cannot reach Kafka at {where}: {_first_line(exc)}"
    if module.startswith(("elastic_transport", "elasticsearch")):
        from elastic_transport import ConnectionError, ConnectionTimeout

        if isinstance(exc, ConnectionError | ConnectionTimeout):
            from storywire.config import ElasticsearchSettings

            where = mask_url(_setting(ElasticsearchSettings, "url"))
            return f"cannot reach Elasticsearch at {where}: {_first_line(exc)}"
    return None


def _setting(section: type, name: str) -> str:
    from storywire.config import load

    try:
        return str(getattr(load(section), name))
    except ConfigError:
        return "(its address is not configured correctly)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    try:
        configure_logging(args.log_level, json_lines=args.log_json)
        code: int = args.func(args)
        return code
    except CommandError as exc:
        print(f"storywire: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (StackError, ConfigError) as exc:
        print(f"storywire: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `storywire search ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        line = unreachable(exc)
        if line is None:
            raise  # a bug: the traceback is what a report needs
        print(f"storywire: error: {line}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
