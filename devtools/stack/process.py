"""Process plumbing shared by the stack's servers: Java, ports, pid files, detaching, stopping."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools.stack.errors import StackError


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


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_accepts(port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and its command line has ``marker``."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if marker in cmdline else None


def stop_pid(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or is_zombie(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def daemonize(cmd: list[str], log: Path) -> int:
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


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


class LocalServer:
    """What both servers share: a pid file, a status line, the port check and stopping."""

    name: str
    marker: str  # a string in the server's command line, so a reused pid is not mistaken for it
    pidfile: Path

    def version(self) -> str:
        raise NotImplementedError

    def ports(self) -> dict[int, str]:
        """Each port the server binds, with the setting that moves it."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        raise NotImplementedError

    @property
    def data_dir(self) -> Path:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        raise NotImplementedError

    def pid(self) -> int | None:
        return read_pid(self.pidfile, self.marker)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        port = next(iter(self.ports()))
        return ServiceStatus(
            self.name, self.version(), pid is not None, pid, port, self.address, str(self.data_dir), str(self.log_file)
        )

    def check_ports(self) -> None:
        for port, setting in self.ports().items():
            if not port_free(port):
                raise StackError(f"port {port} on 127.0.0.1 is taken by another process: stop it or set {setting}")

    def stop(self, timeout: float = 60.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        stop_pid(pid, timeout)
        self.pidfile.unlink(missing_ok=True)
        return True
