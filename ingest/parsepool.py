"""Feed parsing in worker processes with a hard time limit, so a hostile document cannot hold a poller.

Parsing time is a property of the document, not of the network: deeply nested XML costs
feedparser about 4 s of CPU per MB, and a thread cannot be stopped. ``ParsePool.parse``
sends the job to a worker process and waits at most ``timeout`` (what is left of the
feed's fetch deadline); a worker that overruns is killed (SIGKILL) and replaced on a
later call, and the feed gets ParseTimeout. Other failures are ParseErrors on that feed:
the parser's own (ParseError, sent back as such), a worker out of memory, a worker that
died. Nothing else escapes ``parse``.

Workers are fresh interpreters (``python -c``, talking over a socket pair), not forks:
forking the poller would copy its threads' held locks, and multiprocessing's own start
methods re-import the parent's ``__main__`` in every worker. A worker takes about half a
second to import the parser, so the pool starts them ahead (``warm``) and starts a
replacement as soon as one is killed. Each carries its own limits, so it ends even if
the poller that should kill it died first: address space (``memory_mb``) and CPU time
per document (the job's budget plus 2 s). A worker whose poller is gone sees its socket
closed and exits.

``workers=0`` parses in the calling thread, with no bound on time: for tests and for
benchmarks that measure the parser alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from ingest.errors import ParseError, ParseTimeout
from ingest.feeds import FeedSpec
from ingest.parse import ParsedFeed, parse_feed

log = logging.getLogger(__name__)

CPU_GRACE_S = 2  # a worker's own CPU limit per document, beyond the budget the poller gave it


@dataclass(frozen=True)
class ParseJob:
    """Everything parse_feed needs, sent to a worker as one pickle."""

    body: bytes
    url: str
    headers: dict[str, str]
    spec: FeedSpec
    fetched: datetime
    max_entries: int
    max_text_chars: int

    def run(self) -> ParsedFeed:
        return parse_feed(
            self.body, self.url, self.headers, self.spec, self.fetched, self.max_entries, self.max_text_chars
        )


def _limit_memory(memory_mb: int) -> None:
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):  # a lower hard limit already: keep it
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _limit_cpu(budget_s: float) -> None:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + budget_s) + CPU_GRACE_S
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))  # SIGXCPU ends the worker past it


def serve(fd: int, memory_mb: int) -> None:
    """A worker's loop on socket ``fd``: (job, budget) in, ("ok", ParsedFeed) or (kind, message) out, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the poller's to handle; it stops us
    _limit_memory(memory_mb)
    conn = Connection(fd)
    conn.send(("ready", None))  # the parser is imported (this module imports it)
    while True:
        try:
            job, budget = conn.recv()
        except (EOFError, OSError):
            return
        _limit_cpu(budget)
        result: tuple[str, Any]
        try:
            result = ("ok", job.run())
        except ParseError as exc:
            result = ("parse", str(exc))
        except MemoryError:
            result = ("memory", f"parser ran out of memory (limit {memory_mb} MB)")
        except Exception as exc:  # a parser bug costs this feed only
            result = ("crash", f"parser failed: {type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (OSError, ValueError):
            return
        if result[0] == "memory":
            return  # a heap that hit its limit once is not trusted with the next feed


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        path = json.dumps(sys.path)  # the poller's own import path, whatever started it
        code = f"import sys; sys.path[:0] = {path}; import ingest.parsepool as p; p.serve({fd}, {memory_mb})"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.ready = False

    def wait_ready(self, timeout: float) -> bool:
        """Whether the worker finished importing within ``timeout``; EOFError/OSError if it died."""
        if not self.ready and self.conn.poll(timeout):
            kind, _ = self.conn.recv()
            self.ready = kind == "ready"
        return self.ready

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.alive():
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class ParsePool:
    """At most ``workers`` documents parsed at once, each in a process that is killed past its time."""

    def __init__(self, workers: int, memory_mb: int = 0) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._closed = False

    def warm(self, timeout: float = 60.0) -> None:
        """Start every worker now and wait until each is ready, rather than on a feed's time."""
        for _ in range(self.workers - len(self._idle)):
            self._replace()
        with self._lock:
            idle = list(self._idle)
        deadline = time.monotonic() + timeout
        for worker in idle:
            with contextlib.suppress(EOFError, OSError):  # a worker that died is replaced when taken
                worker.wait_ready(max(0.0, deadline - time.monotonic()))

    def parse(self, job: ParseJob, timeout: float) -> ParsedFeed:
        """Parse ``job`` within ``timeout`` seconds, or ParseTimeout; only ParseErrors escape."""
        if self.workers <= 0:
            return job.run()
        if timeout <= 0:
            raise ParseTimeout("no time left for parsing within the fetch deadline")
        start = time.monotonic()
        if not self._slots.acquire(timeout=timeout):
            raise ParseTimeout(f"no parser free within {timeout:.1f}s")
        try:
            return self._run(job, timeout - (time.monotonic() - start))
        finally:
            self._slots.release()

    def _run(self, job: ParseJob, budget: float) -> ParsedFeed:
        worker = self._take()
        start = time.monotonic()
        try:
            if not worker.wait_ready(budget):  # a fresh worker still importing: its start is on this feed's time
                self._discard(worker)
                raise ParseTimeout(f"no parser ready within the {budget:.1f}s left of the fetch deadline")
            left = budget - (time.monotonic() - start)
            worker.conn.send((job, left))
            if not worker.conn.poll(max(0.0, left)):
                self._discard(worker)
                raise ParseTimeout(f"parsing did not end within the {left:.1f}s left of the fetch deadline")
            kind, value = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._discard(worker)
            raise ParseError(f"parser process died (exit code {worker.proc.poll()})") from exc
        if kind == "ok" and isinstance(value, ParsedFeed):
            self._give_back(worker)
            return value
        if kind == "memory":
            self._discard(worker)
        else:
            self._give_back(worker)
        raise ParseError(str(value))

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and start its replacement now, so the next feed does not wait for its imports."""
        worker.kill()
        self._replace()

    def _replace(self) -> None:
        worker = _Worker(self.memory_mb)
        self._give_back(worker)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop(0)  # the oldest: most likely done importing
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker(self.memory_mb)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
