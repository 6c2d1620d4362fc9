"""What every stage's command module shares: the command error and argument types.

A stage's ``cli`` module registers its sub-commands on the ``storywire`` parser
(``storywire.app.cli``) and raises ``CommandError`` for a failure it can say in one line;
the front door prints it as ``storywire: error: ...``. Argument types raise
``argparse.ArgumentTypeError``, which argparse reports as a usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime


class CommandError(Exception):
    """A failure a command reports as one line (no traceback)."""


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


def iso_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time, UTC when it names no zone."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
