"""The local stack: real Kafka and Elasticsearch as processes on 127.0.0.1.

``Stack.up()`` starts what is not running and waits until both answer; it is a no-op
when both run already. ``Stack.down()`` stops both. The CLI (``storywire stack``) and
the test fixture both use this class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from devtools.stack.elasticsearch import Elasticsearch
from devtools.stack.errors import StackError
from devtools.stack.kafka import Kafka
from devtools.stack.process import ServiceStatus
from devtools.stack.settings import StackSettings

__all__ = ["ServiceStatus", "Stack", "StackError"]


@dataclass
class Stack:
    settings: StackSettings = field(default_factory=StackSettings)
    progress: bool = True

    def __post_init__(self) -> None:
        self.kafka = Kafka(self.settings, self.progress)
        self.elasticsearch = Elasticsearch(self.settings, self.progress)

    def services(self, only: str | None = None) -> list[Kafka | Elasticsearch]:
        all_: list[Kafka | Elasticsearch] = [self.kafka, self.elasticsearch]
        if only is None:
            return all_
        chosen = [s for s in all_ if s.name == only]
        if not chosen:
            raise StackError(f"unknown service {only!r}: choose kafka or elasticsearch")
        return chosen

    def up(self, only: str | None = None) -> list[str]:
        """Start what is not running, wait until it answers; return the names started now."""
        started: list[str] = []
        try:
            for svc in self.services(only):
                if svc.start():
                    started.append(svc.name)
            if self.kafka in self.services(only):
                self.kafka.tools()  # kafka-consumer-groups.sh for the README's recovery recipe
            self.wait_ready(only)
        except BaseException:
            for name in started:  # leave nothing half-up behind
                self.down(only=name)
            raise
        return started

    def wait_ready(self, only: str | None = None) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        pending = self.services(only)
        while pending:
            for svc in list(pending):
                if svc.pid() is None:
                    raise StackError(f"{svc.name} exited during start-up; see `storywire stack logs {svc.name}`")
                if svc.ready():
                    pending.remove(svc)
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise StackError(
                    f"{names} did not answer within {self.settings.start_timeout_s:.0f}s; see `storywire stack logs`"
                )
            if pending:
                time.sleep(0.5)

    def down(self, only: str | None = None) -> list[str]:
        return [svc.name for svc in self.services(only) if svc.stop()]

    def status(self) -> dict[str, object]:
        k, e = self.kafka.status(), self.elasticsearch.status()
        return {
            "kafka_bootstrap": k.address,
            "elasticsearch_url": e.address,
            "running": k.running and e.running,
            "services": {k.name: k.as_dict(), e.name: e.as_dict()},
        }
