"""Giving freed heap memory back to the operating system (glibc's ``malloc_trim``).

A long-running stage that allocates and frees many mid-sized buffers (the index writer:
a batch of decoded messages and a bulk body every half second) leaves glibc's main heap
fragmented: the freed memory stays in the process, so its resident size creeps up while
the bytes in use do not (docs/reliability.md, "Soak run"). ``malloc_trim(0)`` returns
the free pages of the heap to the kernel. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
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


class PeriodicTrim:
    """``trim_heap`` at most once every ``every_s`` seconds (0: never)."""

    def __init__(self, every_s: float, clock: Any = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._last = clock()
        self.trims = 0

    def __call__(self) -> None:
        if self.every_s <= 0:
            return
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            if trim_heap():
                self.trims += 1
