"""A local certificate authority and a node certificate for 127.0.0.1, made with openssl.

Only for the local stack's secured mode (and its tests): real deployments bring their
own certificates and point ``STORYWIRE_ES_CA_FILE`` at their CA.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.stack.errors import StackError


def _openssl(*args: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise StackError("openssl not found: install it (apt-get install openssl) to run a secured stack")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {proc.stderr.strip()[-200:]}")


def make_certificates(directory: Path) -> Path:
    """Create ``ca.crt`` and ``node.crt``/``node.key`` (for 127.0.0.1 and localhost) once; return the CA path."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "node.key", directory / "node.csr", directory / "node.crt"
    if crt.exists() and ca_crt.exists():
        return ca_crt
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=Storywire local CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    ext = directory / "node.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    return ca_crt
