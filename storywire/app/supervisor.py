"""`storywire run`: every stage as a supervised child process, one config for all.

Each stage is a separate `storywire <command>` process (so a crash or a memory leak in
one does not take down the others), with its own ops port for /health and /metrics.
A stage that exits is restarted after a backoff that doubles up to a cap and resets
once the stage has stayed up for a while. SIGINT/SIGTERM stops every stage with
SIGTERM (each finishes its batch and commits), then SIGKILL after a bound.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from storywire.backoff import Backoff

log = logging.getLogger("storywire.run")

# Each stage's ops port (/livez, /readyz, /metrics) is its own setting; `run` sets it per child.
OPS_PORT_VARS = {
    "ingest": "STORYWIRE_INGEST_OPS_PORT",
    "embed": "STORYWIRE_ENRICH_EMBED_OPS_PORT",
    "cluster": "STORYWIRE_ENRICH_CLUSTER_OPS_PORT",
    "index": "STORYWIRE_INDEX_OPS_PORT",
    "alert": "STORYWIRE_ALERT_OPS_PORT",
}

# name -> storywire sub-command; the order is the data flow.
STAGES: dict[str, list[str]] = {
    "ingest": ["ingest"],
    "embed": ["embed"],
    "cluster": ["cluster"],
    "index": ["index", "run"],
    "alert": ["alert"],
    "api": ["api"],
}


@dataclass
class RestartDelay:
    """Restart delay: doubles from 1 s up to a minute (no jitter: one supervisor, nobody to
    collide with); starts over once the stage stayed up ``healthy_after`` seconds."""

    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0, jitter=0.0))
    healthy_after: float = 60.0

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.healthy_after:
            self.backoff.reset()
        return self.backoff.next_delay()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: RestartDelay = field(default_factory=RestartDelay)
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        stages: Mapping[str, list[str]],
        base_env: Mapping[str, str],
        ops_base_port: int | None = 9401,
        clock: Callable[[], float] = time.monotonic,
        stop_timeout: float = 30.0,
        argv_prefix: Sequence[str] = (sys.executable, "-m", "storywire.app.cli"),
    ) -> None:
        self.clock = clock
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []
        for i, (name, args) in enumerate(stages.items()):
            env = dict(base_env)
            if ops_base_port is not None and name in OPS_PORT_VARS:
                env[OPS_PORT_VARS[name]] = str(ops_base_port + i)
            argv = [*argv_prefix, *args]
            self.children.append(Child(name, argv, env))

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=child.env)
        child.started_at = self.clock()
        child.restart_at = None
        log.info("stage started", extra={"stage": child.name, "pid": child.proc.pid})

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def tick(self) -> None:
        """Reap exited stages and restart the ones whose backoff has passed."""
        now = self.clock()
        for child in self.children:
            if child.proc is not None and child.restart_at is None:
                code = child.proc.poll()
                if code is not None:
                    delay = child.backoff.next_delay(now - child.started_at)
                    child.restart_at = now + delay
                    log.warning("stage exited", extra={"stage": child.name, "code": code, "restart_in_s": delay})
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)

    def stop(self) -> None:
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = self.clock() + self.stop_timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                log.warning("stage did not stop in time; killing", extra={"stage": child.name})
                child.proc.kill()
                child.proc.wait()
            log.info("stage stopped", extra={"stage": child.name, "code": child.proc.returncode})

    def run_forever(self, stopped: Callable[[], bool], poll_s: float = 0.5) -> None:
        self.start()
        try:
            while not stopped():
                self.tick()
                time.sleep(poll_s)
        finally:
            self.stop()


def run(only: list[str] | None = None, ops_base_port: int | None = 9401) -> int:
    from storywire.runtime import Stopper

    stages = {k: v for k, v in STAGES.items() if not only or k in only}
    stop = Stopper.install()
    sup = Supervisor(stages, dict(os.environ), ops_base_port)
    sup.run_forever(stop.is_set)
    return 0
