"""Giving freed heap memory back (storywire.memory): glibc's malloc_trim, at most every N seconds."""

from __future__ import annotations

import platform

import pytest

from storywire import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_reaches_glibc() -> None:
    assert memory.trim_heap() is True


def test_periodic_trim_runs_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    now = [100.0]
    monkeypatch.setattr(memory, "trim_heap", lambda: calls.append(now[0]) or True)
    trim = memory.PeriodicTrim(30.0, clock=lambda: now[0])
    for t in (110.0, 129.9, 130.0, 140.0, 161.0):
        now[0] = t
        trim()
    assert calls == [130.0, 161.0]
    assert trim.trims == 2
    never = memory.PeriodicTrim(0.0, clock=lambda: now[0])
    now[0] = 10_000.0
    never()
    assert calls == [130.0, 161.0]
