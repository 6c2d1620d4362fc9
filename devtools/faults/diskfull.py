"""Fault 7, the disk filling on Elasticsearch's data path: for real on a small tmpfs when we may mount one.

``DataDisk`` mounts a dedicated tmpfs (256 MiB by default) on the fault suite's own
Elasticsearch data path before that node starts (root only), and unmounts it when the
stack is gone. ``fill_disk`` is the fault itself, in two steps while the pipeline keeps
writing:

1. a ballast file grows until the file system refuses another byte (100 %), held
   ``full_s``: real ENOSPC for Elasticsearch's writes (translog, refresh, the cluster
   state), faster than its disk monitor (which looks every 10 s) can react;
2. the ballast is cut so that the disk is at ``flood_pct`` (97 %, past the 95 %
   flood-stage watermark), until the disk monitor puts its read-only-allow-delete block
   on the indices (bulk items answer 429 ``cluster_block_exception``), plus
   ``flood_hold_s``, or at most ``flood_s``;

then the ballast is deleted and Elasticsearch recovers by itself. For the flood stage
the node's disk threshold is turned on through the cluster settings API (the local stack
turns it off), with the disk info refreshed every 10 s (the smallest value allowed).

Without root, or when the mount fails, ``mode`` is ``"simulated"`` and the harness puts
the flood-stage block on the indices by hand instead, as before.

Safety: the ballast is only ever written inside the mount point, and only after
checking in ``/proc/mounts`` and by device number that it is the tmpfs mounted here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BALLAST = "storywire-ballast"
MIB = 1024 * 1024
# What Elasticsearch's log says about a full disk, counted for the report.
LOG_SIGNS = {
    "flood_stage_exceeded": r"flood stage disk watermark \[[^]]+\] exceeded",
    "block_released": r"releasing read-only block on indices",
    "no_space_left": r"No space left on device",
    "failed_engine": r"failed engine",
    "shard_failed": r"marking and sending shard failed",
    "cluster_state_not_committed": r"failed to commit cluster state",
    "master_election_retries": r"retrying master election",
    "health_red": r'current\.health="RED"',
    "health_green": r'current\.health="GREEN"',
}


class DataDisk:
    """A size-limited tmpfs on Elasticsearch's data path, or the reason there is none."""

    def __init__(self, path: Path, size_mib: int = 256) -> None:
        self.path = path
        self.size_mib = size_mib
        self.mode = "simulated"
        self.why = ""
        self.dev: int | None = None
        self.peak_used = 0  # bytes used by Elasticsearch (ballast excluded), largest seen by note()

    @property
    def ballast(self) -> Path:
        return self.path / BALLAST

    def mount(self) -> None:
        """Mount the tmpfs (root only; before Elasticsearch starts). On any failure stay ``simulated``."""
        if os.environ.get("STORYWIRE_FAULTS_DISK", "tmpfs") == "simulated":
            self.why = "STORYWIRE_FAULTS_DISK=simulated"
            return
        if os.geteuid() != 0:
            self.why = "not root: cannot mount a tmpfs"
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if any(True for _ in self.path.iterdir()):
            self.why = f"{self.path} is not empty"
            return
        opts = f"size={self.size_mib}m,mode=0755,nosuid,nodev"
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "storywire-faults", str(self.path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            self.why = f"mount failed: {(proc.stdout + proc.stderr).strip()[-200:]}"
            return
        self.dev = os.stat(self.path).st_dev
        if not self.is_our_tmpfs():
            self.unmount()
            self.why = "mounted, but not found as a tmpfs in /proc/mounts"
            return
        self.mode = "tmpfs"

    def unmount(self) -> None:
        """Delete the ballast and unmount (lazily if still busy). Safe to call more than once."""
        if self.dev is None:
            return
        self.release()
        proc = subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
        self.dev = None

    def is_our_tmpfs(self) -> bool:
        if self.dev is None:
            return False
        try:
            if os.stat(self.path).st_dev != self.dev:
                return False
            mounts = Path("/proc/mounts").read_text().splitlines()
        except OSError:
            return False
        target = str(self.path).replace(" ", "\\040")
        ours = [m.split() for m in mounts if len(m.split()) > 2 and m.split()[1] == target]
        return bool(ours) and ours[-1][2] == "tmpfs" and self.usage()[1] <= (self.size_mib + 1) * MIB

    def usage(self) -> tuple[int, int]:
        """(bytes used, bytes in all) of the file system at the mount point."""
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bavail) * st.f_frsize, st.f_blocks * st.f_frsize

    def note(self) -> None:
        """Record how much Elasticsearch uses (the ballast left out), for sizing the tmpfs."""
        if self.mode != "tmpfs" or self.dev is None:
            return
        with contextlib.suppress(OSError):
            used = self.usage()[0]
            ballast = self.ballast.stat().st_blocks * 512 if self.ballast.exists() else 0
            self.peak_used = max(self.peak_used, used - ballast)

    def fill(self, leave: int = 0) -> float:
        """Grow the ballast until only ``leave`` bytes are free (0: until ENOSPC); return the fraction used."""
        if not self.is_our_tmpfs():
            raise RuntimeError(f"refusing to fill {self.path}: not the tmpfs this suite mounted")
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            st = os.fstatvfs(fd)
            grow = st.f_bavail * st.f_frsize - leave
            if grow > 0:
                with contextlib.suppress(OSError):  # raced by Elasticsearch's own writes: topped up below
                    os.posix_fallocate(fd, os.fstat(fd).st_size, grow)
            if leave == 0:
                chunk = b"\0" * MIB
                while chunk:
                    try:
                        os.write(fd, chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        chunk = chunk[: len(chunk) // 2] if len(chunk) > 1 else b""
        finally:
            os.close(fd)
        used, total = self.usage()
        return used / total

    def shrink(self, leave: int) -> float:
        """Cut the ballast so that ``leave`` bytes are free (about); return the fraction used."""
        st = os.statvfs(self.path)
        cut = leave - st.f_bavail * st.f_frsize
        if cut > 0 and self.ballast.exists():
            os.truncate(self.ballast, max(0, self.ballast.stat().st_size - cut))
        used, total = self.usage()
        return used / total

    def release(self) -> None:
        self.ballast.unlink(missing_ok=True)


def arm_watermarks(es_url: str) -> None:
    """Turn the disk threshold on for this node, with the disk info refreshed as often as allowed (10 s)."""
    body = {
        "persistent": {
            "cluster.routing.allocation.disk.threshold_enabled": True,
            "cluster.info.update.interval": "10s",
        }
    }
    httpx.put(f"{es_url}/_cluster/settings", json=body, timeout=30).raise_for_status()


def put_block(es_url: str, indices: str, on: bool) -> None:
    """Put the flood stage's read-only-allow-delete block on ``indices`` by hand, or lift it (the simulation)."""
    body = {"index.blocks.read_only_allow_delete": True if on else None}
    httpx.put(f"{es_url}/{indices}/_settings", json=body, timeout=30).raise_for_status()


def _blocked(es_url: str, indices: str) -> bool | None:
    """Whether any of ``indices`` has the read-only-allow-delete block; None when Elasticsearch does not say."""
    try:
        resp = httpx.get(f"{es_url}/{indices}/_settings/index.blocks.read_only_allow_delete", timeout=2)
        if resp.status_code != 200:
            return None
        return any(
            str(v.get("settings", {}).get("index", {}).get("blocks", {}).get("read_only_allow_delete")) == "true"
            for v in resp.json().values()
        )
    except (httpx.HTTPError, ValueError):
        return None


def _health(es_url: str) -> str:
    try:
        return str(httpx.get(f"{es_url}/_cluster/health", timeout=2).json()["status"])
    except (httpx.HTTPError, ValueError, KeyError):
        return "no answer"


def fill_disk(
    disk: DataDisk,
    es_url: str,
    indices: str,
    wait: Callable[[float], bool],
    detail: dict[str, Any],
    *,
    full_s: float = 15.0,
    flood_pct: float = 97.0,
    flood_s: float = 25.0,
    flood_hold_s: float = 5.0,
) -> None:
    """The fault: a full disk, then one past the flood stage, then no ballast. Figures go into ``detail``."""
    t0 = time.monotonic()

    def since() -> float:
        return round(time.monotonic() - t0, 1)

    used, total = disk.usage()
    detail |= {"mode": "tmpfs", "tmpfs_mib": total // MIB, "es_used_mib_before": round(used / MIB, 1)}
    try:
        detail["full_fill_pct"] = round(disk.fill(leave=0) * 100, 2)
        if wait(full_s):
            return
        detail["health_while_full"] = _health(es_url)
        detail["flood_fill_pct"] = round(disk.shrink(leave=int(total * (1 - flood_pct / 100))) * 100, 1)
        detail["flood_at_s"] = since()
        while time.monotonic() - t0 < full_s + flood_s:
            if _blocked(es_url, indices):
                detail["block_seen_after_s"] = since()
                wait(flood_hold_s)  # the writer meets the block (it stays until the next disk check anyway)
                break
            if wait(1.0):
                return
    finally:
        disk.release()
        detail["released_at_s"] = since()


def watch_recovery(es_url: str, indices: str, wait: Callable[[float], bool], detail: dict[str, Any]) -> None:
    """After the ballast is gone: seconds until the cluster is green and the block is lifted (up to 120 s)."""
    released = time.monotonic()
    while time.monotonic() < released + 120 and not ("green_after_s" in detail and "unblocked_after_s" in detail):
        if "green_after_s" not in detail and _health(es_url) == "green":
            detail["green_after_s"] = round(time.monotonic() - released, 1)
        if "unblocked_after_s" not in detail and _blocked(es_url, indices) is False:
            detail["unblocked_after_s"] = round(time.monotonic() - released, 1)
        if wait(0.5):
            return


def log_signs(log_file: Path) -> dict[str, int]:
    """How often each of ``LOG_SIGNS`` occurs in Elasticsearch's log."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return {}
    return {name: len(re.findall(pattern, text)) for name, pattern in LOG_SIGNS.items()}


def log_lines(log_file: Path, limit: int = 40, width: int = 220) -> list[str]:
    """The log's own lines (no stack traces) that match ``LOG_SIGNS``, shortened: what happened, in order."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return []
    signs = re.compile("|".join(LOG_SIGNS.values()))
    return [line[:width] for line in lines if line.startswith("[") and signs.search(line)][:limit]
