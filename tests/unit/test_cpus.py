"""The CPU quota a thread pool should fit: affinity capped by cgroup v2 cpu.max (or v1's CFS quota)."""

from __future__ import annotations

import os
from pathlib import Path

from storywire.cpus import cpu_quota, parse_cpu_max, quota_cpus


def test_cpu_max_lines() -> None:
    assert parse_cpu_max("200000 100000\n") == 2.0
    assert parse_cpu_max("150000 100000") == 1.5
    assert parse_cpu_max("max 100000") is None
    assert parse_cpu_max("") is None
    assert parse_cpu_max("garbage here") is None
    assert parse_cpu_max("0 100000") is None


def _cgroup(root: Path, rel: str, line: str) -> None:
    folder = root / rel.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cpu.max").write_text(line)


def test_the_tightest_quota_on_the_cgroup_path_wins(tmp_path: Path) -> None:
    _cgroup(tmp_path, "/", "max 100000\n")
    _cgroup(tmp_path, "/system.slice", "300000 100000\n")
    _cgroup(tmp_path, "/system.slice/docker-abc.scope", "150000 100000\n")
    _cgroup(tmp_path, "/other", "50000 100000\n")  # not on our path
    assert quota_cpus(tmp_path, "0::/system.slice/docker-abc.scope\n") == 1.5
    assert quota_cpus(tmp_path, "0::/system.slice\n") == 3.0
    assert quota_cpus(tmp_path, "0::/\n") is None  # the root says max: no quota


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert quota_cpus(tmp_path, "") == 1.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "no limit"
    assert quota_cpus(tmp_path, "") is None


def test_this_process_gets_at_least_one_and_no_more_than_its_affinity() -> None:
    assert 1 <= cpu_quota() <= len(os.sched_getaffinity(0))
