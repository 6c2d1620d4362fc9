"""Giving a long-running stage's freed memory back: a full garbage collection, then glibc's ``malloc_trim``.

Two things made the index writer's resident size creep up during a steady stream
(docs/reliability.md, "Soak run"):

- **Reference cycles that hold a batch.** kafka-python 3.0's ``poll`` leaves a cycle
  behind each time a wait inside it times out: its selector keeps the
  ``KafkaTimeoutError`` in a dict that a frame on the exception's own traceback holds.
  Those frames' ``f_back`` chain reaches the caller's frames. A caller
  frame that has returned keeps its last locals, in the writer the list of records it
  collected (about 10 KB each). Only a full collection frees such cycles, and Python runs
  one when the objects that survived grow by a quarter: in the writer, every ~35 minutes,
  by which time the cycles held ~15 MB.
- **Heap fragmentation.** Freed mid-sized buffers leave glibc's main heap with free
  pages it does not return; ``malloc_trim(0)`` returns them (elsewhere than glibc it
  does nothing).

``PeriodicReclaim`` does both, at most once every N seconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import time
from typing import Any


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def trim_heap() -> bool:
    """Return the heap's free pages to the kernel; False where there is no glibc."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def reclaim() -> int:
    """A full garbage collection, then ``trim_heap``; return the number of unreachable objects found."""
    found = gc.collect()
    trim_heap()
    return found


class PeriodicReclaim:
    """``reclaim`` at most once every ``every_s`` seconds (0: never)."""

    def __init__(self, every_s: float, clock: Any = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._last = clock()
        self.runs = 0
        self.collected = 0  # unreachable objects found, over all runs

    def __call__(self) -> None:
        if self.every_s <= 0:
            return
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            self.collected += reclaim()
            self.runs += 1
