"""Restore locks (`{prefix}Locks`): one restore per environment at a time.

The row names the operation holding the lock. Taking it is an insert-if-absent (`create_entity`
is atomic, 409 if the row exists: the race-free "claim" primitive of reference 2.1 / 3.4), and
releasing it is an ETag-guarded delete, so a lock released and re-taken in between survives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from shared.errors import ConcurrencyConflict
from shared.storage.keys import normalize_environment_id, validate_operation_id
from shared.storage.tables import OneTable

if TYPE_CHECKING:
    from shared.runtime import AppContext

LOCK_PARTITION = "lock"
# An environment a restore may have left switched from its type (a Production left a Sandbox):
# the type it had, kept past the lock, for the environment's next restore.
ORIGINAL_TYPE_PARTITION = "originalType"
# A lock that is released and re-taken between our insert and our read is vanishingly rare;
# a few rounds settle it, and an endless loop would hide a bug.
_ROUNDS = 10


class EnvironmentLocks(OneTable):
    """One restore per environment at a time; the row names the operation holding the lock."""

    TABLE = "Locks"

    def try_acquire(self, environment_id: str, operation_id: str) -> str:
        """The lock holder's operation id after trying: ours if we hold it (now or already)."""
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

    def remember_original_type(
        self, environment_id: str, operation_id: str, original_type: str
    ) -> None:
        """Keep `original_type` for the environment's next restore (idempotent)."""
        self._table().upsert_entity(
            {
                "PartitionKey": ORIGINAL_TYPE_PARTITION,
                "RowKey": _lock_key(environment_id),
                "originalType": original_type,
                "operationId": operation_id,
                "environmentId": environment_id,
                "recordedAt": self._clock(),
            },
            mode=UpdateMode.REPLACE,
        )

    def original_type(self, environment_id: str) -> str | None:
        """The type a restore left the environment switched from, if it is still on record."""
        try:
            row = self._table().get_entity(ORIGINAL_TYPE_PARTITION, _lock_key(environment_id))
        except ResourceNotFoundError:
            return None
        return str(row["originalType"])

    def forget_original_type(self, environment_id: str) -> None:
        """The environment was switched back (idempotent)."""
        try:
            self._table().delete_entity(ORIGINAL_TYPE_PARTITION, _lock_key(environment_id))
        except ResourceNotFoundError:
            return

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


def locks_for(ctx: AppContext) -> EnvironmentLocks:
    """The locks on the context's storage account and table prefix, built once per context."""
    from shared.runtime import side_store

    return side_store(ctx, EnvironmentLocks)
