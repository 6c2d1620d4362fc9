"""Logging with named fields.

Call sites pass fields, never sentences built with f-strings::

    log.info("feed polled", extra={"feed": url, "entries": 12, "status": 200})

The plain formatter prints ``2026-05-01T12:00:00.123Z INFO  logger: message key=value ...``
(an ISO 8601 date and time in UTC first, so a line read days later still says when);
``--log-json`` (or ``STORYWIRE_LOG_JSON=true``) prints one JSON object per line for log
shippers. Libraries that log through ``logging`` go the same way: uvicorn's access and
error lines become JSON too when the API is served with ``log_config=None``
(``search.cli``), an access line with its fields (client, method, path, status) named.
Secret values are never passed to a logger: settings hold them as ``SecretStr``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# uvicorn adds color_message (the message with terminal colour codes) to its records.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    # uvicorn's access line is a %-format with five arguments: name them for the shippers.
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        fields |= dict(zip(ACCESS_FIELDS, record.args, strict=True))
    return fields


def timestamp(created: float) -> str:
    """``2026-05-01T12:00:00.123Z``: ISO 8601, UTC, milliseconds."""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = timestamp(record.created)
        parts = [f"{ts} {record.levelname:<5} {record.name}: {record.getMessage()}"]
        fields = {k: v for k, v in _fields(record).items() if record.name != "uvicorn.access" or k not in ACCESS_FIELDS}
        parts += [f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)


def configure_logging(level: str | None = None, json_lines: bool = False) -> None:
    """Set up the root logger; arguments win over STORYWIRE_LOG_LEVEL / STORYWIRE_LOG_JSON."""
    from storywire.config import LogSettings, load

    settings = load(LogSettings)
    json_lines = json_lines or settings.json_lines
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.level).upper())
    # uvicorn's loggers go through ours (the API serves with log_config=None); a uvicorn
    # configured earlier in this process may have given them handlers of its own.
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
        uv.setLevel(logging.NOTSET)
    # kafka-python is chatty at INFO about every connection.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request
