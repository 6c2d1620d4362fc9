"""When to poll a feed next: pure functions of the feed's hints, a clock value and a random source.

After a success the interval is the largest of the feed's configured interval, its RSS
``<ttl>``, its ``sy:updatePeriod``/``sy:updateFrequency`` and the response's
``Cache-Control: max-age`` (or ``Expires``), clamped to [min, max] and spread by
jitter so that feeds added together do not stay in lock step. After a failure the
delay grows exponentially with the error count (full jitter in its upper half) and a
Retry-After from the server is honoured when it asks for longer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from storywire.backoff import delay_s, http_date

_PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0, "monthly": 30 * 86400.0, "yearly": 365 * 86400.0}
_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d{1,10})")


@dataclass(frozen=True)
class Policy:
    min_interval_s: float = 60.0
    max_interval_s: float = 6 * 3600.0
    jitter: float = 0.1
    backoff_base_s: float = 60.0
    backoff_max_s: float = 12 * 3600.0


def feed_hint_s(feed: Mapping[str, object]) -> float | None:
    """The feed document's own refresh hint (TTL or syndication module), in seconds."""
    hints = []
    ttl = feed.get("ttl")
    if isinstance(ttl, str) and ttl.strip().isdigit():
        hints.append(float(ttl.strip()) * 60)
    period = feed.get("sy_updateperiod")
    if isinstance(period, str) and period.strip().lower() in _PERIODS:
        freq_raw = feed.get("sy_updatefrequency")
        freq = int(freq_raw.strip()) if isinstance(freq_raw, str) and freq_raw.strip().isdigit() else 1
        hints.append(_PERIODS[period.strip().lower()] / max(1, freq))
    return max(hints) if hints else None


def cache_hint_s(headers: Mapping[str, str], now: datetime) -> float | None:
    """Freshness from Cache-Control max-age, else Expires; None when absent or unusable."""
    cc = headers.get("cache-control", "")
    if "no-cache" in cc.lower() or "no-store" in cc.lower():
        return None
    m = _MAX_AGE.search(cc.lower())
    if m:
        return float(m.group(1))
    expires = headers.get("expires")
    if expires:
        when = http_date(expires)
        if when is not None:
            return max(0.0, (when - now).total_seconds())
    return None


def _jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-jitter, jitter))


def next_after_success(
    now: datetime,
    interval_s: float,
    policy: Policy,
    rng: random.Random,
    feed_hint: float | None = None,
    cache_hint: float | None = None,
) -> datetime:
    base = max(x for x in (interval_s, feed_hint, cache_hint) if x is not None)
    base = min(max(base, policy.min_interval_s), policy.max_interval_s)
    return now + timedelta(seconds=_jittered(base, policy.jitter, rng))


def backoff_s(error_count: int, policy: Policy, rng: random.Random) -> float:
    """Exponential in the error count, capped, jittered over [delay/2, delay]."""
    return delay_s(max(error_count, 1) - 1, policy.backoff_base_s, policy.backoff_max_s, rand=rng.random)


def next_after_failure(
    now: datetime,
    error_count: int,
    interval_s: float,
    policy: Policy,
    rng: random.Random,
    retry_after_s: float | None = None,
) -> datetime:
    """A failing feed is retried later each time, but never later than the cap: it is never given up."""
    delay = max(backoff_s(error_count, policy, rng), min(interval_s, policy.max_interval_s))
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return now + timedelta(seconds=delay)
