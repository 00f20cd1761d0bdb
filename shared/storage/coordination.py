"""Insert-if-absent records: idempotency claims (`{prefix}RequestKeys`) and restore locks
(`{prefix}Locks`).

Both rest on `create_entity` being atomic (409 if the key exists), the race-free "claim" primitive
of reference 2.1 / 3.4; check-then-insert would let two concurrent requests both win.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from shared.errors import ConcurrencyConflict
from shared.storage.keys import normalize_environment_id, validate_operation_id

if TYPE_CHECKING:
    from azure.data.tables import TableClient

LOCK_PARTITION = "lock"
# A lock that is released and re-taken between our insert and our read is vanishingly rare;
# a few rounds settle it, and an endless loop would hide a bug.
_ROUNDS = 10


class RequestClaims:
    def __init__(self, table: Callable[[], TableClient], clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def claim(self, key: str, operation_id: str) -> str:
        """The id of the operation that owns `key`: `operation_id` if this call claimed it.

        The key is stored only as its SHA-256 (it may be any caller-chosen text, so it is
        hashed into key-safe characters), partitioned by the first byte to spread load.
        """
        validate_operation_id(operation_id)
        digest = _digest(key)
        table = self._table()
        try:
            table.create_entity(
                {
                    "PartitionKey": digest[:2],
                    "RowKey": digest,
                    "operationId": operation_id,
                    "claimedAt": self._clock(),
                }
            )
        except ResourceExistsError:
            return str(table.get_entity(digest[:2], digest)["operationId"])
        return operation_id

    def owner(self, key: str) -> str | None:
        """The id of the operation that owns `key`, or None; claims nothing."""
        digest = _digest(key)
        try:
            return str(self._table().get_entity(digest[:2], digest)["operationId"])
        except ResourceNotFoundError:
            return None


def _digest(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError("an idempotency key must be a non-empty string")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class EnvironmentLocks:
    """One restore per environment at a time; the row names the operation holding the lock."""

    def __init__(self, table: Callable[[], TableClient], clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def try_acquire(self, environment_id: str, operation_id: str) -> str:
        key = _lock_key(environment_id)
        validate_operation_id(operation_id)
        table = self._table()
        for _ in range(_ROUNDS):
            try:
                table.create_entity(
                    {
                        "PartitionKey": LOCK_PARTITION,
                        "RowKey": key,
                        "operationId": operation_id,
                        "environmentId": environment_id,
                        "acquiredAt": self._clock(),
                    }
                )
            except ResourceExistsError:
                try:
                    return str(table.get_entity(LOCK_PARTITION, key)["operationId"])
                except ResourceNotFoundError:
                    continue  # released between our insert and our read: try again
            return operation_id
        raise ConcurrencyConflict(f"the lock on {environment_id} keeps changing hands")

    def release(self, environment_id: str, operation_id: str) -> None:
        """Delete the lock if `operation_id` holds it; a no-op otherwise (idempotent)."""
        key = _lock_key(environment_id)
        table = self._table()
        for _ in range(_ROUNDS):
            try:
                row = table.get_entity(LOCK_PARTITION, key)
            except ResourceNotFoundError:
                return
            if row.get("operationId") != operation_id:
                return
            try:
                # ETag-guarded: between our read and this delete the lock may have been
                # released and taken by someone else; that new holder's row must survive.
                table.delete_entity(
                    LOCK_PARTITION,
                    key,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            return
        raise ConcurrencyConflict(f"the lock on {environment_id} keeps changing hands")

    def holder(self, environment_id: str) -> str | None:
        try:
            row = self._table().get_entity(LOCK_PARTITION, _lock_key(environment_id))
        except ResourceNotFoundError:
            return None
        return str(row["operationId"])


def _lock_key(environment_id: str) -> str:
    key = normalize_environment_id(environment_id)
    if key is None:
        raise ValueError(f"not an environment id: {environment_id!r}")
    return key
