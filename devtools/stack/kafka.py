"""A single-node KRaft Kafka (broker and controller in one process) from Apache Kafka's jars.

It runs as a detached local process bound to 127.0.0.1, with its pid, log and data
under ``StackSettings.dir / "kafka"``.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from devtools.stack import artifacts
from devtools.stack.errors import StackError
from devtools.stack.process import LocalServer, daemonize, java_home, port_accepts
from devtools.stack.settings import StackSettings


class Kafka(LocalServer):
    """A combined broker+controller KRaft node."""

    name = "kafka"
    marker = "kafka.Kafka"

    def __init__(self, settings: StackSettings, progress: bool = True) -> None:
        self.s = settings
        self.progress = progress
        self.root = settings.dir / "kafka"
        self.data = self.root / "data"
        self.pidfile = self.root / "kafka.pid"
        self.log = self.root / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.s.kafka_port}"

    address = bootstrap

    def version(self) -> str:
        return self.s.kafka_version

    def ports(self) -> dict[int, str]:
        return {
            self.s.kafka_port: "STORYWIRE_STACK_KAFKA_PORT",
            self.s.kafka_controller_port: "STORYWIRE_STACK_KAFKA_CONTROLLER_PORT",
        }

    @property
    def data_dir(self) -> Path:
        return self.data

    @property
    def log_file(self) -> Path:
        return self.log

    def tools(self) -> Path:
        """``bin/`` with Kafka's ``kafka-consumer-groups.sh`` for this broker's version (fetched once)."""
        java = java_home() / "bin" / "java"
        return artifacts.kafka_tools(self.s.dir.parent, self.s.kafka_version, self.s.scala_version, java, self.progress)

    def start(self) -> bool:
        """Start the broker unless it runs already; return whether it was started now."""
        if self.pid() is not None:
            return False
        self.check_ports()
        lib = artifacts.kafka_libs(self.s.dir.parent, self.s.kafka_version, self.s.scala_version, self.progress)
        java = java_home() / "bin" / "java"
        self.root.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        cp = f"{lib}/*"
        log4j = f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}"
        if not (self.data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                [
                    str(java),
                    log4j,
                    "-cp",
                    cp,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {fmt.stderr.strip()[-200:]}")
        heap = self.s.kafka_heap
        cmd = [
            str(java),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            log4j,
            "-cp",
            cp,
            "kafka.Kafka",
            str(props),
        ]
        pid = daemonize(cmd, self.log)
        self.pidfile.write_text(str(pid))
        return True

    def _write_config(self) -> Path:
        p, c = self.s.kafka_port, self.s.kafka_controller_port
        props = self.root / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{c}",
                    f"listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{p}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data}",
                    # Topics are created explicitly (storywire.bus.ensure_topics), never by accident.
                    "auto.create.topics.enable=false",
                    "num.partitions=3",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (self.root / "log4j.properties").write_text(
            "\n".join(
                [
                    "log4j.rootLogger=INFO, stdout",
                    "log4j.logger.kafka=INFO",
                    "log4j.logger.org.apache.kafka=INFO",
                    "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
                    "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
                    "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
                    "",
                ]
            )
        )
        return props

    def ready(self) -> bool:
        """True when the broker answers a metadata request."""
        from kafka import KafkaAdminClient  # imported here: `stack status` should not need it
        from kafka.errors import KafkaError

        # kafka-python 3.0 leaves the socket of a refused connection open (until garbage
        # collection), so ask with a plain socket first while the broker is still starting.
        if not port_accepts(self.s.kafka_port):
            return False
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.describe_cluster()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()
