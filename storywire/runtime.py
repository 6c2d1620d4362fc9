"""What every long-running stage shares: a stop signal and the ops HTTP endpoints.

A stage's loop looks like::

    stop = Stopper.install()             # SIGTERM / SIGINT set it
    ops = OpsServer(port, health=check)  # /health and /metrics on a side thread
    while not stop.is_set():
        ... poll one batch, process it, flush, commit ...

so SIGTERM finishes the current batch, commits, and exits. ``health`` returns
``(ready, reasons)``; /health answers 200 when ready and 503 with the reasons when
not, which is what docker-compose health checks and Kubernetes probes read.
/metrics is the Prometheus text format of the default registry.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

HealthCheck = Callable[[], tuple[bool, dict[str, str]]]


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
    """/health and /metrics on 0.0.0.0:port in a daemon thread (port 0 picks a free one)."""

    def __init__(self, port: int, health: HealthCheck = _always_ready, host: str = "0.0.0.0") -> None:  # noqa: S104 - ops port inside a container
        check = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/health"):
                    try:
                        ready, reasons = check()
                    except Exception as exc:  # a failing check means "not ready", with the reason
                        ready, reasons = False, {"health_check": repr(exc)}
                    body = json.dumps({"live": True, "ready": ready, "reasons": reasons}).encode()
                    self._send(200 if ready else 503, "application/json", body)
                elif self.path.startswith("/metrics"):
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest())
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
