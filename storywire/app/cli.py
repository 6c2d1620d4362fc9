"""The `storywire` command (the application layer). Each stage adds its subcommands
through a `register` function.

Modules are imported when the CLI starts, so a stage's `cli` module must keep heavy
imports (torch, elasticsearch) inside the functions that need them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from devtools.stack.errors import StackError
from storywire.commands import CommandError
from storywire.config import ConfigError
from storywire.logs import configure_logging

COMMAND_MODULES = [
    "devtools.stack.cli",
    "storywire.app.ops",
    "ingest.cli",
    "enrich.cli",
    "storywire.app.evaluate",
    "index.cli",
    "search.cli",
    "alert.cli",
    "devtools.demo.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storywire", description="Streaming news monitoring.")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    parser.add_argument("--log-level", default=None, help="default: STORYWIRE_LOG_LEVEL or INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package is not there
            found = False
        if found:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(args.log_level, json_lines=args.log_json)
        code: int = args.func(args)
        return code
    except (StackError, CommandError, ConfigError) as exc:
        print(f"storywire: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `storywire search ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
