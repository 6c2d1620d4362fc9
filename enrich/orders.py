"""Arrival orders for replaying a labelled set the way a live pipeline receives it (pure).

A live clusterer does not see articles in publication order: feeds are polled one after
another, some lag, a new feed or a restart after an outage brings a backlog of older
items. Each function takes the articles sorted by publication time and returns them in
the order of arrival; an article keeps its own ``published`` date (only ``one_day``
rewrites dates).

- ``published``: publication order (the order given).
- ``jitter``: each article arrives a seeded random 0 to 36 hours after its publication.
- ``backfill``: the feeds (sources) are polled one by one in a seeded random order, each
  feed newest first, as a pipeline that starts on feeds full of older items sees them.
- ``one_day``: publication order, every article moved onto one day, so that time cannot
  separate events and only content can.

``jitter`` and ``backfill`` are random: ``storywire eval`` reports the worst of ``SEEDS``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from storywire.messages import Article

ORDERS = ("published", "jitter", "backfill", "one-day")
SEEDS = (0, 1, 2)
MAX_DELAY_HOURS = 36.0

A = TypeVar("A", bound=Article)


class UnknownOrder(ValueError):
    """An order name that is not one of ``ORDERS``."""


def arrival(articles: Sequence[A], order: str, seed: int = 0) -> list[A]:
    """``articles`` (in publication order) in the arrival order named ``order``."""
    if order == "published":
        return list(articles)
    if order == "jitter":
        return jitter(articles, seed)
    if order == "backfill":
        return backfill(articles, seed)
    if order in ("one-day", "concurrent"):
        return one_day(articles)
    raise UnknownOrder(f"unknown order {order!r}; one of {', '.join(ORDERS)}")


def seeds_of(order: str) -> tuple[int, ...]:
    """The seeds an order is replayed with (one for the deterministic orders)."""
    return SEEDS if order in ("jitter", "backfill") else (0,)


def jitter(articles: Sequence[A], seed: int, max_delay_hours: float = MAX_DELAY_HOURS) -> list[A]:
    """Sorted by publication time plus a random delay of 0 to ``max_delay_hours`` (stable)."""
    rng = random.Random(seed)
    delays = [timedelta(hours=rng.uniform(0.0, max_delay_hours)) for _ in articles]
    keyed = sorted(range(len(articles)), key=lambda i: (articles[i].published + delays[i], i))
    return [articles[i] for i in keyed]


def backfill(articles: Sequence[A], seed: int) -> list[A]:
    """Feed by feed (by source) in a random order; each feed's articles newest first."""
    feeds: dict[str, list[int]] = {}
    for i, a in enumerate(articles):
        feeds.setdefault(a.source, []).append(i)
    names = sorted(feeds)
    random.Random(seed).shuffle(names)
    out: list[A] = []
    for name in names:
        idx = sorted(feeds[name], key=lambda i: (articles[i].published, i), reverse=True)
        out.extend(articles[i] for i in idx)
    return out


def one_day(articles: Sequence[A], day: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> list[A]:
    """The same articles in the same order, all published within one day."""
    step = timedelta(seconds=max(1, 86_000 // max(1, len(articles))))
    return [a.model_copy(update={"published": day + i * step}) for i, a in enumerate(articles)]
