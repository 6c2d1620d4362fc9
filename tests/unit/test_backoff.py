"""The one backoff: exponential, capped, jittered in its upper part; Retry-After in both forms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storywire.backoff import MAX_RETRY_AFTER_S, Backoff, delay_s, http_date, retry_after_s

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    assert [delay_s(n, 1.0, 10.0, jitter=0.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@given(st.integers(min_value=-5, max_value=10_000), st.floats(0.0, 1.0))
def test_jitter_stays_in_the_upper_half_and_never_overflows(attempt: int, r: float) -> None:
    d = delay_s(attempt, 0.5, 30.0, jitter=0.5, rand=lambda: r)
    full = 0.5 * 2.0 ** max(attempt, 0) if attempt < 10 else 30.0
    full = min(30.0, full)
    assert full / 2 <= d <= full


def test_backoff_counts_attempts_and_resets() -> None:
    b = Backoff(1.0, 4.0, jitter=0.0)
    assert [b.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    b.reset()
    assert b.next_delay() == 1.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Fri, 04 Dec 2026 12:01:30 GMT", 90.0),  # IMF-fixdate
        ("Friday, 04-Dec-26 12:00:10 GMT", 10.0),  # RFC 850, obsolete but still sent
        ("Fri, 04 Dec 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        ("99999999999", MAX_RETRY_AFTER_S),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header, NOW) == seconds


def test_http_dates_are_utc() -> None:
    assert http_date("Fri, 04 Dec 2026 12:00:00 GMT") == NOW
    assert http_date("not a date") is None
