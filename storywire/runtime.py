"""What every long-running stage shares: a stop signal and the ops HTTP endpoints.

A stage's loop looks like::

    stop = Stopper.install()                         # SIGTERM / SIGINT set it
    ops = OpsServer(port, health=ready, live=alive)  # probes and /metrics on a side thread
    while not stop.is_set():
        ... poll one batch, process it, flush, commit ...
        mark_success("stage")                        # storywire_last_success_timestamp_seconds

so SIGTERM finishes the current batch, commits, and exits. Checks return
``(ok, reasons)``; the ops server answers:

    /livez    liveness: the process runs and its loop is not stuck (200, else 503).
              A liveness probe restarts the process, so a dependency outage never fails it.
    /readyz   readiness: the dependencies the stage needs answer (200, else 503 with reasons)
    /health   the same as /readyz (kept for existing probes and scripts)
    /metrics  the Prometheus text format of the default registry

No counter or histogram exports a ``_created`` series (``disable_created_metrics``):
it doubles the series and nothing reads it. ``storywire_build_info`` says which build runs.

``commit_after_batch`` commits a consuming stage's offsets and survives a rebalance
that interrupts the commit. ``Progress`` is for long operations (a restore, a reindex): one log line with named
fields every so many items or seconds, so an operator sees it move.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, disable_created_metrics, generate_latest

from storywire import __version__

if TYPE_CHECKING:
    from storywire.bus import Consumer

HealthCheck = Callable[[], tuple[bool, dict[str, str]]]

# Checked when the registry is collected, so once here covers every metric of the process.
disable_created_metrics()  # type: ignore[no-untyped-call]

BUILD_INFO = Gauge(
    "storywire_build_info", "Always 1; the labels say which build runs", ["version", "revision", "python"]
)
# STORYWIRE_REVISION is set by the image build (Dockerfile ARG); a checkout has none.
BUILD_INFO.labels(__version__, os.environ.get("STORYWIRE_REVISION") or "unknown", platform.python_version()).set(1)
LAST_SUCCESS = Gauge(
    "storywire_last_success_timestamp_seconds",
    "Unix time the stage last made progress: a batch committed, a pass done, or a poll with nothing to do",
    ["stage"],
)


def mark_success(stage: str) -> None:
    """Record that ``stage`` made progress now (an alert fires when this gets old)."""
    LAST_SUCCESS.labels(stage).set(time.time())


def metrics_payload() -> tuple[bytes, str]:
    """The default registry in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def run_check(check: HealthCheck, name: str) -> tuple[bool, dict[str, str]]:
    """A check's answer; a check that raises answers "no", with the exception as the reason."""
    try:
        return check()
    except Exception as exc:  # a failing check means "not ok", with the reason
        return False, {name: repr(exc)}


class Stopper(threading.Event):
    """An Event set by SIGTERM and SIGINT (the second SIGINT raises KeyboardInterrupt)."""

    @classmethod
    def install(cls) -> Stopper:
        stopper = cls()
        if threading.current_thread() is threading.main_thread():

            def handler(signum: int, frame: FrameType | None) -> None:
                if stopper.is_set() and signum == signal.SIGINT:
                    raise KeyboardInterrupt
                stopper.set()

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
        return stopper


def _always_ready() -> tuple[bool, dict[str, str]]:
    return True, {}


class OpsServer:
    """/livez, /readyz (and /health), /metrics on 0.0.0.0:port in a daemon thread (port 0 picks a free one).

    ``health`` is the readiness check, ``live`` the liveness check (default: alive while it answers).
    """

    def __init__(
        self,
        port: int,
        health: HealthCheck = _always_ready,
        host: str = "0.0.0.0",  # noqa: S104 - ops port inside a container
        live: HealthCheck = _always_ready,
    ) -> None:
        ready_check, live_check = health, live

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in ("/readyz", "/health"):
                    ready, reasons = run_check(ready_check, "health_check")
                    body = json.dumps({"live": True, "ready": ready, "reasons": reasons}).encode()
                    self._send(200 if ready else 503, "application/json", body)
                elif path == "/livez":
                    alive, reasons = run_check(live_check, "live_check")
                    body = json.dumps({"live": alive, "reasons": reasons}).encode()
                    self._send(200 if alive else 503, "application/json", body)
                elif path == "/metrics":
                    payload, ctype = metrics_payload()
                    self._send(200, ctype, payload)
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the stage's own logs

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ops-http", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Progress:
    """Counts items of a long operation and logs ``progress`` every ``every_n`` items or ``every_s`` seconds.

    ``done()`` logs the final count once. The clock is passed in so the rule is testable.
    """

    def __init__(
        self,
        task: str,
        log: logging.Logger,
        total: int | None = None,
        every_n: int = 10_000,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task, self.log, self.total = task, log, total
        self.every_n, self.every_s, self.clock = every_n, every_s, clock
        self.count = 0
        self.started = self.last = clock()
        self.last_count = 0

    def step(self, n: int = 1) -> None:
        self.count += n
        now = self.clock()
        if self.count - self.last_count >= self.every_n or now - self.last >= self.every_s:
            self._emit("progress", now)

    def done(self) -> None:
        self._emit("done", self.clock())

    def _emit(self, state: str, now: float) -> None:
        elapsed = now - self.started
        fields: dict[str, object] = {"task": self.task, "state": state, "items": self.count}
        if self.total is not None:
            fields["total"] = self.total
        fields["elapsed_s"] = round(elapsed, 1)
        fields["per_s"] = round(self.count / elapsed, 1) if elapsed > 0 else None
        self.log.info("progress", extra=fields)
        self.last, self.last_count = now, self.count


def heartbeat_health(
    last_beat: Callable[[], float | None],
    max_age_s: float,
    clock: Callable[[], float] = time.monotonic,
    extra: HealthCheck | None = None,
) -> HealthCheck:
    """A readiness check for a polling loop: ready once the loop has polled within ``max_age_s``.

    ``last_beat`` returns the monotonic time of the loop's last poll (None before the
    first): a loop stuck in a batch, or not started yet, is not ready. ``extra`` adds
    the stage's own reasons.
    """

    def check() -> tuple[bool, dict[str, str]]:
        reasons: dict[str, str] = {}
        beat = last_beat()
        if beat is None:
            reasons["loop"] = "not polling yet (starting up)"
        elif clock() - beat > max_age_s:
            reasons["loop"] = f"no poll for {clock() - beat:.0f}s (stuck in a batch or a dependency)"
        if extra is not None:
            ok, more = extra()
            if not ok:
                reasons |= more
        return not reasons, reasons

    return check


def heartbeat_live(
    last_beat: Callable[[], float | None], max_age_s: float, clock: Callable[[], float] = time.monotonic
) -> HealthCheck:
    """A liveness check for a loop: alive unless it has not come round for ``max_age_s``.

    Before the first beat the process is starting (loading a model, restoring state) and
    counts as alive; a dependency outage must beat too (a retry is a beat), so that a
    liveness probe restarts only a loop that is really stuck.
    """

    def check() -> tuple[bool, dict[str, str]]:
        beat = last_beat()
        if beat is not None and clock() - beat > max_age_s:
            return False, {"loop": f"stuck: no progress for {clock() - beat:.0f}s"}
        return True, {}

    return check


def commit_after_batch(consumer: Consumer, log: logging.Logger, **kwargs: Any) -> bool:
    """Commit the consumer's offsets once the batch's outputs are acknowledged; False if a rebalance refused it.

    A group rebalance (a member joined or left, or this one missed heartbeats on a busy
    machine) can refuse the commit. That is not a reason to crash: the outputs are
    already acknowledged, the next poll completes the rebalance, and whoever owns the
    partitions then re-reads from the last committed offset, so the batch is repeated
    (idempotent downstream) and nothing is lost.
    """
    from kafka.errors import (
        CommitFailedError,
        IllegalGenerationError,
        RebalanceInProgressError,
        UnknownMemberIdError,
    )

    try:
        consumer.commit(**kwargs)
    except (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError) as exc:
        log.warning("commit refused by a rebalance; the batch will be repeated", extra={"error": str(exc)[:300]})
        return False
    return True
