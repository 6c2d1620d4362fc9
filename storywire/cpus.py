"""How many CPUs this process may use: its affinity, capped by its cgroup's CPU quota.

A container limited to ``cpus: "2.0"`` on a 16-core host still sees 16 CPUs in
``os.cpu_count()``; a thread pool that size spends its time descheduled. The quota is
cgroup v2's ``cpu.max`` (``"200000 100000"`` = 2 CPUs; ``"max 100000"`` = none) or cgroup
v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, taken as the smallest along the
process's cgroup path up to the root, rounded up to whole CPUs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> float | None:
    """CPUs a cgroup v2 ``cpu.max`` line allows (None: no limit or unreadable)."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _v2_paths(root: Path, proc_cgroup: str) -> list[Path]:
    """``cpu.max`` from the process's own cgroup (``0::/path`` in /proc/self/cgroup) up to the root."""
    rel = next((line[3:].strip() for line in proc_cgroup.splitlines() if line.startswith("0::")), "/")
    folder = root / rel.lstrip("/")
    out = []
    while True:
        out.append(folder / "cpu.max")
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    return out


def quota_cpus(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> float | None:
    """The tightest CPU quota on this process's cgroup path, in CPUs (None: no quota)."""
    if proc_cgroup is None:
        proc_cgroup = _read(Path("/proc/self/cgroup")) or ""
    limits = [c for p in _v2_paths(root, proc_cgroup) if (c := parse_cpu_max(_read(p) or "")) is not None]
    quota, period = _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" / "cpu.cfs_period_us")
    if quota and period:
        v1 = parse_cpu_max(f"{quota.strip()} {period.strip()}")
        if v1 is not None:
            limits.append(v1)
    return min(limits) if limits else None


def cpu_quota() -> int:
    """Whole CPUs this process may use (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = quota_cpus()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
