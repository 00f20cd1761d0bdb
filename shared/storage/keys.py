"""Keys of the history tables: row keys, environment partitions, shards, continuation tokens.

Everything that ends up in a PartitionKey or RowKey goes through here, so the "keys stay inside
`[A-Za-z0-9-_.:]`" rule (reference 2.2: `/ \\ # ?` and control characters are refused, `'` and `%`
have caused query and URL trouble) is enforced in one place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.operations import OperationKind, operation_id_instant

# Row keys sort newest first: 13 digits of (INVERTED_MILLIS_BASE - creation epoch millis).
INVERTED_MILLIS_BASE = 9_999_999_999_999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What `new_operation_id` makes (`backup-20261121T014502123Z-1a2b3c`). The suffix is checked here
# because `operation_id_instant` only validates the kind and the stamp.
_OPERATION_ID = re.compile(
    "(?:" + "|".join(k.value for k in OperationKind) + r")-\d{8}T\d{9}Z-[A-Za-z0-9_.]{1,64}",
    re.ASCII,  # `\d` alone also matches other scripts' digits, which keys must not hold
)
_ROW_KEY = re.compile(r"(\d{13})-(" + _OPERATION_ID.pattern + r")", re.ASCII)
# Environment ids are GUIDs or `Default-<GUID>`; keep a little room, but only key-safe characters.
_ENVIRONMENT_ID = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,127}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,600}")
# The service's own next position (NextPartitionKey, NextRowKey): opaque, its shape unpromised
# (Azure sends `1!8!b3Bz`, Azurite base64), so only kept to key-header-safe characters.
_SERVICE_KEY = re.compile(r"[A-Za-z0-9!*+/=_.:-]{1,200}", re.ASCII)
_SERVICE_MARK = "~"  # in no row key, so the two kinds of token cannot be mistaken
# The layout has 64 environment shard tables, named by two hex digits. Azurite answers every query
# by scanning its whole table, so shards keep a partition query near a point read locally
# (bench/history_bench.py: 16 shards 3.13x, 64 shards 2.57x); Azure indexes partitions and does
# not care. Other powers of two exist only for the bench's --shards experiment: changing the
# count for stored data would strand every history written under the old one.
SHARD_COUNT = 64


def validate_operation_id(value: str) -> str:
    """`value` if it is an operation id the store can key; ValueError otherwise."""
    if row_key_or_none(value) is None:
        raise ValueError(f"not an operation id: {value!r}")
    return value


def row_key(operation_id: str) -> str:
    """The RowKey of an operation in every history table; ValueError for a malformed id."""
    key = row_key_or_none(operation_id)
    if key is None:
        raise ValueError(f"not an operation id: {operation_id!r}")
    return key


def row_key_or_none(operation_id: str) -> str | None:
    if not isinstance(operation_id, str) or not _OPERATION_ID.fullmatch(operation_id):
        return None
    try:
        instant = operation_id_instant(operation_id)
    except ValueError:  # e.g. month 13: the shape matched but it is not a date
        return None
    millis = (instant - _EPOCH) // timedelta(milliseconds=1)
    if not 0 <= millis <= INVERTED_MILLIS_BASE:
        return None
    return f"{INVERTED_MILLIS_BASE - millis:013d}-{operation_id}"


def created_since_bound(since: datetime) -> str:
    """A RowKey every operation created at or after `since` sorts below (`RowKey lt` it).

    Row keys start with inverted creation millis, so "created since" is a key range: `since`'s
    own 13 digits then "." (after the "-" that follows the digits in every key).
    """
    millis = min(max((since - _EPOCH) // timedelta(milliseconds=1), 0), INVERTED_MILLIS_BASE)
    return f"{INVERTED_MILLIS_BASE - millis:013d}."


def normalize_environment_id(value: str | None) -> str | None:
    """The partition key for an environment, or None when `value` cannot be one.

    Lower-cased because environment ids are GUIDs, which compare case-insensitively: a pipeline
    that sends `ABC...` and a person who types `abc...` mean the same environment, and must share
    one history partition and one restore lock.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _ENVIRONMENT_ID.fullmatch(text) else None


def environment_shard(environment_key: str) -> str:
    """Hex digits, stable across processes and releases (not Python's salted `hash`)."""
    digest = hashlib.sha256(environment_key.encode("utf-8")).hexdigest()
    if SHARD_COUNT == 16:
        return digest[0].upper()
    return f"{int(digest[:2], 16) % SHARD_COUNT:02X}"


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a listing goes on: at a row key (inclusive; the next row a page had no room for),
    or at the service's own next position (a call that ran out of round trips scanning)."""

    row_key: str | None = None
    service: tuple[str, str] | None = None  # (NextPartitionKey, NextRowKey) as the service sent


def encode_continuation(next_row_key: str) -> str:
    """Opaque, URL-safe token for the row key the next page starts at (inclusive)."""
    return _b64(next_row_key)


def encode_service_continuation(next_partition_key: str, next_row_key: str) -> str:
    """Opaque, URL-safe token for the service's position where a cut-short scan stopped.

    The position is the service's to judge: an edited one can only move within the caller's
    own query (the filter, partition included, is sent again with it), never out of it.
    """
    if not (_SERVICE_KEY.fullmatch(next_partition_key) and _SERVICE_KEY.fullmatch(next_row_key)):
        raise ValueError("the service sent a continuation this store cannot carry")
    return _b64(f"{_SERVICE_MARK}{next_partition_key}{_SERVICE_MARK}{next_row_key}")


def decode_continuation(token: str) -> Resume:
    """Where a token from `encode_continuation` or `encode_service_continuation` resumes;
    ValueError for anything else."""
    if isinstance(token, str) and _TOKEN.fullmatch(token):
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        if text.startswith(_SERVICE_MARK):
            parts = text[1:].split(_SERVICE_MARK)
            if len(parts) == 2 and all(_SERVICE_KEY.fullmatch(part) for part in parts):
                return Resume(service=(parts[0], parts[1]))
        match = _ROW_KEY.fullmatch(text)
        # The digits must agree with the id: a hand-edited token could otherwise skip around.
        if match and row_key_or_none(match.group(2)) == text:
            return Resume(row_key=text)
    raise ValueError(
        "invalid continuation token: it is not a token this service issued; start again without one"
    )


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")
