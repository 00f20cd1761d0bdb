"""Idempotency claims (`{prefix}RequestKeys`): which operation a request key was admitted as.

A claim is an insert-if-absent row: `create_entity` is atomic (409 if the key exists), the
race-free "claim" primitive of reference 2.1 / 3.4; check-then-insert would let two concurrent
requests both win.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.storage.keys import validate_operation_id
from shared.storage.tables import OneTable

if TYPE_CHECKING:
    from shared.runtime import AppContext


class RequestClaims(OneTable):
    TABLE = "RequestKeys"

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


def claims_for(ctx: AppContext) -> RequestClaims:
    """The claims on the context's storage account and table prefix, built once per context."""
    from shared.runtime import side_store

    return side_store(ctx, RequestClaims)
