"""Next-poll computation: pure functions with a fixed clock and seeded randomness."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ingest.schedule import (
    Policy,
    backoff_s,
    cache_hint_s,
    feed_hint_s,
    next_after_failure,
    next_after_success,
)
from storywire.backoff import retry_after_s as parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(min_interval_s=60, max_interval_s=6 * 3600, jitter=0.1, backoff_base_s=60, backoff_max_s=3600)


def test_feed_hints() -> None:
    assert feed_hint_s({"ttl": "30"}) == 1800
    assert feed_hint_s({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert feed_hint_s({"sy_updateperiod": "daily"}) == 86400
    assert feed_hint_s({"ttl": "soon", "sy_updateperiod": "sometimes"}) is None
    assert feed_hint_s({"ttl": "10", "sy_updateperiod": "hourly"}) == 3600


def test_cache_hints() -> None:
    assert cache_hint_s({"cache-control": "public, max-age=900"}, NOW) == 900
    assert cache_hint_s({"cache-control": "no-cache, max-age=900"}, NOW) is None
    expires = (NOW + timedelta(minutes=20)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert cache_hint_s({"expires": expires}, NOW) == 1200
    assert cache_hint_s({"expires": "0"}, NOW) is None


def test_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Wed, 01 May 2024 12:05:00 GMT", NOW) == 300
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", NOW) == 0
    assert parse_retry_after("99999999999", NOW) == 7 * 86400
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


def test_success_takes_the_longest_hint_clamped_and_jittered() -> None:
    rng = random.Random(1)
    for _ in range(50):
        nxt = next_after_success(NOW, 600, POLICY, rng, feed_hint=1800, cache_hint=300)
        assert timedelta(seconds=1620) <= nxt - NOW <= timedelta(seconds=1980)
    huge = next_after_success(NOW, 600, POLICY, rng, feed_hint=10 * 86400)
    assert huge - NOW <= timedelta(hours=6, minutes=36)
    tiny = next_after_success(NOW, 1, POLICY, rng)
    assert tiny - NOW >= timedelta(seconds=54)


def test_backoff_grows_with_errors_and_is_capped() -> None:
    rng = random.Random(2)
    delays = [max(backoff_s(n, POLICY, rng) for _ in range(20)) for n in range(1, 12)]
    assert delays[0] <= 60 and delays[3] > 240 and max(delays) <= 3600
    assert all(backoff_s(n, POLICY, rng) >= 30 for n in range(1, 40))


def test_failure_honours_retry_after_and_never_gives_up() -> None:
    rng = random.Random(3)
    assert next_after_failure(NOW, 1, 600, POLICY, rng, retry_after_s=7200) - NOW == timedelta(hours=2)
    far = next_after_failure(NOW, 500, 600, POLICY, rng)
    assert far - NOW <= timedelta(hours=6)
