"""What every stage's command module shares: the command errors, exit codes, ``--json`` and
argument types.

A stage's ``cli`` module registers its sub-commands on the ``storywire`` parser
(``storywire.app.cli``) and raises one of these for a failure it can say in one line; the
front door prints it as ``storywire: error: ...`` and exits with its code::

    CommandError        a failure: a check failed, a file is bad, a thing is not found   exit 1
     +-- Unreachable    a server (Kafka, Elasticsearch, a stage) did not answer          exit 1
     +-- UsageError     the command line itself is wrong (found after argparse)          exit 2

Exit codes are the same for every command: 0 ok, 1 failure, 2 usage (argparse's own
errors exit 2 too), 130 interrupted. Argument types raise ``argparse.ArgumentTypeError``,
which argparse reports as a usage error. A listing takes ``--json`` (``add_json``) and
prints one document (``print_json``) instead of a table. URLs are printed through
``mask_url`` so credentials inside them never reach a terminal or a log.
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure a command reports as one line (no traceback); exits 1."""

    exit_code = EXIT_FAILURE


class Unreachable(CommandError):
    """A server the command needs did not answer; the message names it and its address."""


class UsageError(CommandError):
    """The command line is wrong in a way argparse cannot see (e.g. a value above a limit); exits 2."""

    exit_code = EXIT_USAGE


def add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """The ``--json`` flag every listing takes."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON document instead of a table")


def print_json(value: Any) -> None:
    """One JSON document on stdout (indented, UTF-8 kept, datetimes and paths as strings)."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def mask_url(url: str) -> str:
    """``url`` with any user and password replaced by ``***`` (``http://***@host:9200``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def first_reachable(servers: str, timeout_s: float = 2.0) -> str | None:
    """The first of comma-separated ``host:port`` servers that accepts a TCP connection, or None.

    Commands probe Kafka this way before building a client: kafka-python waits its whole
    bootstrap timeout (30 s) before it says a broker is down, and leaks sockets doing so.
    """
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
                return server.strip()
        except (OSError, ValueError):
            continue
    return None


def require_kafka(bootstrap_servers: str) -> None:
    """Raise ``Unreachable`` at once when no bootstrap server accepts a connection."""
    if first_reachable(bootstrap_servers) is None:
        raise Unreachable(f"cannot reach Kafka at {bootstrap_servers}: no bootstrap server accepts connections")


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535."""
    value = int_at_least(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0 to 65535): {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above zero (seconds, a timeout)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def iso_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time, UTC when it names no zone."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    try:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise argparse.ArgumentTypeError(f"out of range: {text!r} is not a time of years 1 to 9999 in UTC") from None
