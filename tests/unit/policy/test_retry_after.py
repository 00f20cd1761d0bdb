"""Reading `Retry-After`: delta-seconds or an HTTP-date, never a negative wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.policy.retry_after import parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 30 ", 30.0),
        ("1.5", 1.5),
        ("Sat, 21 Nov 2026 12:00:45 GMT", 45.0),
        # A zone-less date is GMT, as RFC 9110 says every HTTP-date is.
        ("Sat, 21 Nov 2026 12:02:00", 120.0),
        # A date in the past means "now", never a negative wait.
        ("Sat, 21 Nov 2026 11:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("-5", None),
        ("1e3", None),
        ("PT10S", None),
        ("٣", None),  # a non-ASCII digit is not delta-seconds
    ],
)
def test_parse_retry_after_examples(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@given(st.integers(min_value=0, max_value=10**9))
def test_delta_seconds_are_read_exactly(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=NOW) == float(seconds)


@given(st.integers(min_value=0, max_value=10 * 365 * 24 * 3600))
def test_http_dates_give_the_seconds_until_then(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, now=NOW) == pytest.approx(seconds)


@given(st.text(max_size=64))
def test_any_text_is_either_unreadable_or_a_non_negative_wait(text: str) -> None:
    result = parse_retry_after(text, now=NOW)
    assert result is None or result >= 0.0
