"""Start, stop and inspect a single-node KRaft Kafka and a single-node Elasticsearch.

Both run as local processes bound to 127.0.0.1, with their pid, log and data under
the stack directory (``StackSettings.dir``). Elasticsearch refuses to run as root:
when the launcher is root it creates an unprivileged system user and runs
Elasticsearch as that user from a copy under the user's home directory, because the
root user's cache (``/root/.cache``) is not readable by anyone else.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from storywire.config import StackSettings
from storywire.stack import artifacts
from storywire.stack.errors import StackError


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    version: str
    running: bool
    pid: int | None
    port: int
    address: str
    data_dir: str
    log_file: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def java_home() -> Path:
    """The Java home to run the servers with: $JAVA_HOME, else the `java` on PATH. Needs 17+."""
    env = os.environ.get("JAVA_HOME")
    java = Path(env) / "bin" / "java" if env else None
    if java is None or not java.exists():
        found = shutil.which("java")
        if found is None:
            raise StackError(
                "Java 17 or newer not found: install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
            )
        java = Path(found).resolve()
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        raise StackError(f"cannot read the Java version from {java}: {out.strip()[:120]}") from None
    if major < 17:
        raise StackError(f"Java {major} at {java} is too old: Kafka and Elasticsearch need Java 17 or newer")
    return java.parent.parent


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _read_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and its command line has ``marker``."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if marker in cmdline else None


def _stop_pid(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _daemonize(cmd: list[str], log: Path) -> int:
    """Start ``cmd`` detached (own session, parent init) with output appended to ``log``; return its pid.

    Going through ``sh -c '... &'`` leaves no child of ours behind, so the server outlives
    the launcher and no Popen object is left to reap.
    """
    script = 'setsid "$@" >>"$0" 2>&1 </dev/null & echo $!'
    out = subprocess.run(["/bin/sh", "-c", script, str(log), *cmd], capture_output=True, text=True, check=False)
    try:
        return int(out.stdout.strip())
    except ValueError:
        raise StackError(f"could not start {cmd[-2]}: {out.stderr.strip()[-200:]}") from None


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


class Kafka:
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

    def pid(self) -> int | None:
        return _read_pid(self.pidfile, self.marker)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        return ServiceStatus(
            self.name,
            self.s.kafka_version,
            pid is not None,
            pid,
            self.s.kafka_port,
            self.bootstrap,
            str(self.data),
            str(self.log),
        )

    def start(self) -> bool:
        """Start the broker unless it runs already; return whether it was started now."""
        if self.pid() is not None:
            return False
        for port in (self.s.kafka_port, self.s.kafka_controller_port):
            if not _port_free(port):
                raise StackError(
                    f"port {port} on 127.0.0.1 is taken by another process: "
                    "stop it or set STORYWIRE_STACK_KAFKA_PORT / _CONTROLLER_PORT"
                )
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
        pid = _daemonize(cmd, self.log)
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

    def stop(self, timeout: float = 60.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _stop_pid(pid, timeout)
        self.pidfile.unlink(missing_ok=True)
        return True


class Elasticsearch:
    """A single-node Elasticsearch from the integ-test-zip, security off (see README)."""

    name = "elasticsearch"
    marker = "org.elasticsearch"

    def __init__(self, settings: StackSettings, progress: bool = True) -> None:
        self.s = settings
        self.progress = progress
        self.as_root = os.geteuid() == 0
        base = self._user_home() if self.as_root else settings.dir / "elasticsearch"
        self.root = base
        self.home = base / f"elasticsearch-{settings.es_version}"
        self.data = base / "data"
        self.logs = base / "logs"
        self.pidfile = base / "es.pid"

    def _user_home(self) -> Path:
        try:
            return Path(pwd.getpwnam(self.s.es_user).pw_dir) / f"stack-{self.s.es_port}"
        except KeyError:
            return Path("/var/lib") / self.s.es_user / f"stack-{self.s.es_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.s.es_port}"

    def pid(self) -> int | None:
        return _read_pid(self.pidfile, self.marker)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        return ServiceStatus(
            self.name,
            self.s.es_version,
            pid is not None,
            pid,
            self.s.es_port,
            self.url,
            str(self.data),
            str(self.logs / "storywire.log"),
        )

    def start(self) -> bool:
        if self.pid() is not None:
            return False
        for port in (self.s.es_port, self.s.es_transport_port):
            if not _port_free(port):
                raise StackError(
                    f"port {port} on 127.0.0.1 is taken by another process: "
                    "stop it or set STORYWIRE_STACK_ES_PORT / _ES_TRANSPORT_PORT"
                )
        template = artifacts.elasticsearch_home(self.s.dir.parent, self.s.es_version, self.progress)
        jhome = java_home()
        uid = gid = None
        if self.as_root:
            uid, gid = self._ensure_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.home / "bin" / "elasticsearch").exists():
            shutil.copytree(template, self.home, symlinks=True)
        self.data.mkdir(exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        if uid is not None and gid is not None:
            for path in [self.root, *self.root.rglob("*")]:
                os.lchown(path, uid, gid)
        env = {**os.environ, "ES_JAVA_HOME": str(jhome), "ES_JAVA_OPTS": f"-Xms{self.s.es_heap} -Xmx{self.s.es_heap}"}
        env.pop("JAVA_HOME", None)
        if self.as_root:
            env["HOME"] = str(self.root)
        settings = {
            "cluster.name": "storywire",
            "node.name": "storywire",
            "network.host": "127.0.0.1",
            "http.port": str(self.s.es_port),
            "transport.port": str(self.s.es_transport_port),
            "discovery.type": "single-node",
            "path.data": str(self.data),
            "path.logs": str(self.logs),
            "xpack.security.enabled": "false",
            # A developer laptop's nearly full disk should not turn indices read-only.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
        }
        args = [str(self.home / "bin" / "elasticsearch"), "-d", "-p", str(self.pidfile)]
        for key, value in settings.items():
            args += ["-E", f"{key}={value}"]
        proc = subprocess.run(
            args,
            env=env,
            cwd=self.root,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise StackError(
                f"Elasticsearch failed to start (exit {proc.returncode}): {' | '.join(tail)}; see {self.logs}"
            )
        return True

    def _ensure_user(self) -> tuple[int, int]:
        try:
            entry = pwd.getpwnam(self.s.es_user)
        except KeyError:
            home = Path("/var/lib") / self.s.es_user
            proc = subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    "/usr/sbin/nologin",
                    self.s.es_user,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise StackError(
                    f"cannot create user {self.s.es_user} to run Elasticsearch (it refuses root): {proc.stderr.strip()}"
                ) from None
            entry = pwd.getpwnam(self.s.es_user)  # its home is /var/lib/<user>, as _user_home assumed
        return entry.pw_uid, entry.pw_gid

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/_cluster/health", timeout=3) as resp:  # noqa: S310 - fixed local URL
                body: dict[str, object] = json.load(resp)
                return body
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def ready(self) -> bool:
        health = self.health()
        return health is not None and health.get("status") in ("green", "yellow")

    def stop(self, timeout: float = 60.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _stop_pid(pid, timeout)
        self.pidfile.unlink(missing_ok=True)
        return True
