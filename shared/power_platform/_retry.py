"""Retry policy and Retry-After parsing (wire page: errors, idempotency)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Resent for idempotent calls (with every 5xx); 429 is resent for every call, the server refused it.
_RETRYABLE_4XX = frozenset({408, 425, 429})


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_4XX or 500 <= status <= 599


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on the client's own retries: whichever of attempts or total time runs out first.

    The total-time bound is small on purpose: a function invocation must not sleep for minutes;
    a longer wait goes back to the caller (error.retry_after) to reschedule with a delayed message.
    """

    max_attempts: int = 4
    max_total_seconds: float = 20.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_total_seconds < 0 or self.backoff_base_seconds < 0:
            raise ValueError("retry times must not be negative")

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay after failed attempt `attempt` (1-based): exponential, jittered in [d/2, d]."""
        exponent = min(attempt - 1, 32)
        delay = min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0**exponent)
        return delay / 2 + rand() * delay / 2


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date.

    None when absent or unreadable; never negative (a date in the past means "now").
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.replace(".", "", 1).isdigit():
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        # RFC 9110 HTTP-dates are always GMT.
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
