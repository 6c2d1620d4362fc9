"""A single-node Elasticsearch from the integ-test-zip distribution.

Elasticsearch refuses to run as root: when the launcher is root it creates an
unprivileged system user and runs Elasticsearch as that user from a copy under the
user's home directory, because the root user's cache (``/root/.cache``) is not
readable by anyone else.

With ``StackSettings.es_security`` the node runs with x-pack security on: a user from
the settings in the file realm, and HTTPS with a certificate signed by a local CA
(``<root>/certs/ca.crt``, made with openssl). The default dev stack runs without.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from devtools.stack import artifacts
from devtools.stack.errors import StackError
from devtools.stack.process import LocalServer, java_home
from devtools.stack.settings import StackSettings
from devtools.stack.tls import make_certificates


class Elasticsearch(LocalServer):
    """A single-node Elasticsearch from the integ-test-zip, security off (see README)."""

    name = "elasticsearch"
    marker = "org.elasticsearch"

    def __init__(self, settings: StackSettings, progress: bool = True) -> None:
        self.s = settings
        self.progress = progress
        self.as_root = os.geteuid() == 0
        base = self._user_home() if self.as_root else settings.dir / f"elasticsearch-{settings.es_port}"
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
        scheme = "https" if self.s.es_security else "http"
        return f"{scheme}://127.0.0.1:{self.s.es_port}"

    address = url

    def version(self) -> str:
        return self.s.es_version

    def ports(self) -> dict[int, str]:
        return {
            self.s.es_port: "STORYWIRE_STACK_ES_PORT",
            self.s.es_transport_port: "STORYWIRE_STACK_ES_TRANSPORT_PORT",
        }

    @property
    def data_dir(self) -> Path:
        return self.data

    @property
    def log_file(self) -> Path:
        return self.logs / "storywire.log"

    @property
    def ca_file(self) -> Path | None:
        return self.root / "certs" / "ca.crt" if self.s.es_security else None

    def start(self) -> bool:
        if self.pid() is not None:
            return False
        self.check_ports()
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
        settings = self._security(env, uid, gid) | {
            "cluster.name": "storywire",
            "node.name": "storywire",
            "network.host": "127.0.0.1",
            "http.port": str(self.s.es_port),
            "transport.port": str(self.s.es_transport_port),
            "discovery.type": "single-node",
            "path.data": str(self.data),
            "path.logs": str(self.logs),
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

    def _security(self, env: dict[str, str], uid: int | None, gid: int | None) -> dict[str, str]:
        """Settings for secured or open mode; in secured mode also certificates and the user."""
        if not self.s.es_security:
            return {"xpack.security.enabled": "false"}
        certs = self.home / "config" / "certs"  # Elasticsearch reads certificates only below config/
        make_certificates(self.root / "certs")
        shutil.copytree(self.root / "certs", certs, dirs_exist_ok=True)
        users = self.home / "config" / "users"
        if f"{self.s.es_username}:" not in (users.read_text() if users.exists() else ""):
            cmd = [
                str(self.home / "bin" / "elasticsearch-users"),
                "useradd",
                self.s.es_username,
                "-p",
                self.s.es_password.get_secret_value(),
                "-r",
                "superuser",
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise StackError(f"cannot add the Elasticsearch user: {proc.stderr.strip()[-200:]}")
        if uid is not None and gid is not None:
            for path in [self.root, *self.root.rglob("*")]:
                os.lchown(path, uid, gid)
        return {
            "xpack.security.enabled": "true",
            "xpack.security.http.ssl.enabled": "true",
            "xpack.security.http.ssl.key": "certs/node.key",
            "xpack.security.http.ssl.certificate": "certs/node.crt",
            "xpack.security.http.ssl.certificate_authorities": "certs/ca.crt",
            "xpack.security.transport.ssl.enabled": "false",
        }

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
        req = urllib.request.Request(f"{self.url}/_cluster/health")  # noqa: S310 - fixed local URL
        context = None
        if self.s.es_security:
            creds = f"{self.s.es_username}:{self.s.es_password.get_secret_value()}".encode()
            req.add_header("Authorization", "Basic " + base64.b64encode(creds).decode())
            context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, timeout=3, context=context) as resp:  # noqa: S310 - fixed local URL
                body: dict[str, object] = json.load(resp)
                return body
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def ready(self) -> bool:
        health = self.health()
        return health is not None and health.get("status") in ("green", "yellow")
