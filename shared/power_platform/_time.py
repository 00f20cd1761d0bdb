"""Timestamps as the platform writes them, and as it wants them back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The platform writes .NET round-trip times: up to 7 fraction digits, 'Z' or an offset, and
# sometimes no zone at all. Python keeps 6 digits, so the 7th (100 ns) is dropped.
_TIMESTAMP = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<fraction>\d+))?\s*(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?\s*$"
)

# .NET serialises "no value" as DateTime.MinValue; treat that year as absent.
_MIN_YEAR = 1


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp into an aware UTC datetime.

    A missing zone is read as UTC: that is what the platform means by it.
    Raises ValueError for anything else.
    """
    match = _TIMESTAMP.match(value)
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:64]!r}")
    time_part = match["time"]
    if time_part.count(":") == 1:
        time_part += ":00"
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = match["zone"] or "Z"
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    parsed = datetime.fromisoformat(f"{match['date']}T{time_part}.{fraction}{zone}")
    return parsed.astimezone(UTC)


def parse_optional_timestamp(value: object) -> datetime | None:
    """Like `parse_timestamp`, but None for absent, malformed or MinValue timestamps."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parse_timestamp(value)
    except (ValueError, OverflowError):
        return None
    return None if parsed.year <= _MIN_YEAR else parsed


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with an explicit offset, as the restore API requires."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (the restore API needs an offset)")
    return value.astimezone(UTC).isoformat()


def utcnow() -> datetime:
    return datetime.now(UTC)
