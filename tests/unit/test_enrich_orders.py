"""Arrival orders of the eval: seeded, complete, and as a live pipeline meets them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enrich.orders import ORDERS, UnknownOrder, arrival, backfill, jitter, one_day
from storywire.messages import EmbeddedArticle
from tests.unit.test_cluster_core import T0, art, vec


def items() -> list[EmbeddedArticle]:
    return [
        art(f"a{i}", f"Item {i}", vec("e", i), T0 + timedelta(hours=6 * i), source=f"s{i % 3}.example")
        for i in range(12)
    ]


def test_every_order_keeps_every_article_once() -> None:
    base = items()
    for order in ORDERS:
        got = arrival(base, order, seed=1)
        assert sorted(a.id for a in got) == sorted(a.id for a in base)
    with pytest.raises(UnknownOrder):
        arrival(base, "sideways")


def test_jitter_delays_by_at_most_36_hours_and_keeps_the_dates() -> None:
    base = items()
    got = jitter(base, seed=2)
    assert got == jitter(base, seed=2) and got != jitter(base, seed=3)
    assert {a.id: a.published for a in got} == {a.id: a.published for a in base}
    pos = {a.id: i for i, a in enumerate(got)}
    for a in base:  # nothing published 36 h or more after ``a`` arrives before it
        for b in base:
            if b.published >= a.published + timedelta(hours=36):
                assert pos[a.id] < pos[b.id]


def test_backfill_polls_feed_by_feed_newest_first() -> None:
    got = backfill(items(), seed=0)
    sources = [a.source for a in got]
    assert [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s] == list(dict.fromkeys(sources))
    for src in set(sources):
        dates = [a.published for a in got if a.source == src]
        assert dates == sorted(dates, reverse=True)
    assert backfill(items(), seed=0) == got


def test_one_day_keeps_the_order_on_one_day() -> None:
    got = one_day(items())
    assert [a.id for a in got] == [a.id for a in items()]
    assert max(a.published for a in got) - min(a.published for a in got) < timedelta(days=1)
