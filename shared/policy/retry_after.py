"""`Retry-After` (RFC 9110, 10.2.3): delta-seconds or an HTTP-date, read in one place.

What the value is worth as a wait (a `0`, a date already past) is the backoff's business
(`shared.policy.backoff`); this module only reads what the server said.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Delta-seconds are whole seconds; fractions are read too (some servers send them).
_SECONDS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*", re.ASCII)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value, or None when absent or unreadable.

    Never negative: a date in the past means "now". `now` reads the date form; it is the real
    time (dates are real-world instants), passed in so the reading stays pure.
    """
    if value is None or not value.strip():
        return None
    match = _SECONDS.fullmatch(value)
    if match is not None:
        seconds = float(match.group(1))
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # older Pythons answered None instead of raising
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT; a zone-less one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
