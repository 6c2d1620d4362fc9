"""Giving freed memory back (storywire.memory): a full collection and glibc's malloc_trim, at most every N seconds."""

from __future__ import annotations

import gc
import platform
import weakref

import pytest

from storywire import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_reaches_glibc() -> None:
    assert memory.trim_heap() is True


def test_reclaim_frees_reference_cycles() -> None:
    class Node:
        pass

    was = gc.isenabled()
    gc.disable()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None  # a cycle outlives its last reference until a collection
        assert memory.reclaim() >= 2
        assert gone() is None
    finally:
        if was:
            gc.enable()


def test_periodic_reclaim_runs_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    now = [100.0]

    def reclaim() -> int:
        calls.append(now[0])
        return 3

    monkeypatch.setattr(memory, "reclaim", reclaim)
    every = memory.PeriodicReclaim(30.0, clock=lambda: now[0])
    for t in (110.0, 129.9, 130.0, 140.0, 161.0):
        now[0] = t
        every()
    assert calls == [130.0, 161.0]
    assert (every.runs, every.collected) == (2, 6)
    never = memory.PeriodicReclaim(0.0, clock=lambda: now[0])
    now[0] = 10_000.0
    never()
    assert calls == [130.0, 161.0]
