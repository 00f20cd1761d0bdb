"""Timestamps as the platform writes them, and as it wants them back."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.inputs import parse_timestamp as parse_any_timestamp

# .NET serialises "no value" as DateTime.MinValue; treat that year as absent.
_MIN_YEAR = 1


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp as the platform writes it (.NET round-trip times:
    up to 7 fraction digits, 'Z' or an offset, sometimes no zone, which means UTC) into an aware
    UTC datetime; ValueError for anything else (the parser is `shared.inputs`)."""
    return parse_any_timestamp(value, platform=True)


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
