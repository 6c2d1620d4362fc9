"""What the benchmarks read about a process from /proc."""

from __future__ import annotations

from pathlib import Path


def rss_mib(pid: int | None) -> float | None:
    """Resident set size of ``pid`` in MiB; None when there is no such process (any more)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
