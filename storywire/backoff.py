"""Waiting before a retry: exponential backoff with jitter, and the server's Retry-After.

Every stage that retries (the poller after a failed fetch, the index writer during an
outage, the alert channels and their outbox, the supervisor restarting a stage) uses
these, so a retry means the same everywhere:

    delay(n) = min(cap, base * 2**n) drawn from [(1 - jitter) * d, d]

``jitter=0.5`` (the default) spreads retries over the upper half of the delay, so many
clients that failed together do not come back together, yet never busy-loop; ``jitter=0``
is the plain exponential. A server's Retry-After (RFC 9110, delta-seconds or an HTTP
date) lengthens a delay, never shortens it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 7 * 86400.0  # a server asking for more than a week is not taken at its word
_MAX_DOUBLINGS = 60  # 2**60 already exceeds any cap; beyond it the float would overflow


def delay_s(
    attempt: int, base_s: float, cap_s: float, jitter: float = 0.5, rand: Callable[[], float] = random.random
) -> float:
    """The wait before retry ``attempt`` (0 for the first): ``base_s * 2**attempt``, capped at
    ``cap_s``, drawn uniformly from its upper ``jitter`` part."""
    full = min(cap_s, base_s * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS))
    return full * (1.0 - jitter * (1.0 - rand()))


@dataclass
class Backoff:
    """Successive delays for one thing that keeps failing; ``reset`` after a success."""

    base_s: float
    cap_s: float
    jitter: float = 0.5
    rand: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self) -> float:
        wait = delay_s(self.attempt, self.base_s, self.cap_s, self.jitter, self.rand)
        self.attempt += 1
        return wait

    def reset(self) -> None:
        self.attempt = 0


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """A Retry-After header as seconds from ``now`` (delta-seconds or an HTTP date), at most a
    week; None when absent or unreadable (the caller's own backoff applies)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    when = http_date(value)
    if when is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_S)


def http_date(value: str) -> datetime | None:
    """An HTTP date (IMF-fixdate and the obsolete forms) as an aware UTC datetime, or None."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
