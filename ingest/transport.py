"""The sockets under the fetcher: connect only to the checked address, never past the deadline.

``PinnedBackend`` is the httpcore network backend of the fetcher's connection pool. A
fetch runs inside ``fetch_scope(deadline)``; before each hop the fetcher checks the
host's addresses and records the one to use with ``pin(host, port, address)``. Then:

- ``connect_tcp`` connects to the pinned address of that host and port, and refuses a
  host nobody pinned (so httpcore never resolves a name by itself, and DNS cannot answer
  differently between the check and the connect);
- every read, write and TLS handshake gets ``min(its own timeout, time to the deadline)``
  and fails with a timeout once the deadline has passed, so a server that trickles its
  status line and headers one byte at a time (which no read timeout catches) is cut at
  the deadline like a slow body is.

URLs keep their host names (the pinning is below them), so the pool keys connections by
host name: a connection whose certificate was verified for one name is never reused for
another name on the same address, and TLS checks the name the URL carries.

The scope lives in a thread-local: httpcore's sync pool connects, reads and writes on the
thread that sends the request, which is the thread running the fetch.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
from httpcore import NetworkBackend, NetworkStream

SocketOption = Any  # httpcore's SOCKET_OPTION union, passed through untouched


@dataclass
class _Scope:
    deadline: float  # time.monotonic() value
    pins: dict[tuple[str, int], str] = field(default_factory=dict)


_local = threading.local()


def _scope() -> _Scope | None:
    scope: _Scope | None = getattr(_local, "scope", None)
    return scope


@contextmanager
def fetch_scope(deadline: float) -> Iterator[None]:
    """Everything the current thread sends inside ends by ``deadline`` (a time.monotonic() value)."""
    previous = _scope()
    _local.scope = _Scope(deadline)
    try:
        yield
    finally:
        _local.scope = previous


def pin(host: str, port: int, address: str) -> None:
    """Connections to ``host:port`` made in this scope go to ``address`` (already checked)."""
    scope = _scope()
    if scope is None:
        raise RuntimeError("pin() outside fetch_scope()")
    scope.pins[(host.lower(), port)] = address


def time_left() -> float | None:
    """Seconds to the current fetch's deadline (negative once passed); None outside a fetch."""
    scope = _scope()
    return None if scope is None else scope.deadline - time.monotonic()


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    scope = _scope()
    if scope is None:
        return timeout
    left = scope.deadline - time.monotonic()
    if left <= 0:
        raise error("the fetch deadline passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(NetworkStream):
    """A network stream whose every operation ends by the current fetch's deadline."""

    def __init__(self, inner: NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class PinnedBackend(NetworkBackend):
    """Connects to pinned addresses only; ``inner`` does the real connecting (tests hand in their own)."""

    def __init__(self, inner: NetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> NetworkStream:
        scope = _scope()
        address = scope.pins.get((host.lower(), port)) if scope is not None else None
        if address is None:  # fail closed: nothing connects to an address we did not check
            raise httpcore.ConnectError(f"no checked address for {host}:{port}")
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self.inner.connect_tcp(address, port, bounded, local_address, socket_options)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> NetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
