"""The watchdog's index of operations that have not finished: `{prefix}Active`.

One small row per non-terminal operation, so the watchdog lists a handful of rows instead of
scanning history. Entries are *hints*: the index guarantees that every unfinished operation has an
entry (written before the operation row on create, and on an update that opens an ended operation
again), not that every entry is current (its status is the one it was written with); a crash or a
stale writer can leave an entry for a finished operation. The watchdog reads the operation itself
before acting and calls `discard` for such leftovers.

An entry is also kept on purpose past an operation's end while its notice is not queued yet (the
"notice pending" marker, notifications/outbox.py): the watchdog sends that notice again before it
discards the entry.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.errors import ConcurrencyConflict
from shared.operations import Operation, OperationKind, OperationStatus
from shared.storage.entities import from_table_time, utc
from shared.storage.keys import validate_operation_id

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

PARTITION = "active"


@dataclass(frozen=True, slots=True)
class ActiveEntry:
    operation_id: str
    kind: OperationKind
    status: OperationStatus  # as the entry was written (create, or opening again): a hint
    next_due_at: datetime | None


class ActiveIndex:
    def __init__(self, table: Callable[[], TableClient]) -> None:
        self._table = table

    def touch(self, operation: Operation) -> None:
        """Record `operation` as unfinished. MERGE keeps a `nextDueAt` set by `set_next_due`."""
        self._table().upsert_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": operation.operation_id,
                "kind": operation.kind.value,
                "status": operation.status.value,
            },
            mode=UpdateMode.MERGE,
        )

    def discard(self, operation_id: str) -> None:
        self._table().delete_entity(PARTITION, validate_operation_id(operation_id))  # 404 is fine

    def list(self) -> builtins.list[ActiveEntry]:
        """Every entry this version of the app can read; the others are logged and left alone.

        One row of a kind or status only a newer version knows (a deployment rolled back while
        such an operation runs) must not fail the whole listing: the watchdog would then look
        after no operation at all, every minute, for as long as that row exists.
        """
        rows = self._table().query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
        entries: builtins.list[ActiveEntry] = []
        for row in rows:
            try:
                entries.append(ActiveEntry(
                    operation_id=str(row["RowKey"]),
                    kind=OperationKind(row["kind"]),
                    status=OperationStatus(row["status"]),
                    next_due_at=from_table_time(row.get("nextDueAt")),
                ))
            except (KeyError, ValueError) as error:
                log.error("active.entry_unreadable",
                          extra={"operationId": row.get("RowKey"), "error": str(error)})
        return entries

    def set_next_due(self, operation_id: str, when: datetime | None) -> bool:
        """Set (or clear, with None) when the watchdog should next look at an operation.

        Returns False when the operation has no entry (it finished): a due time must not bring a
        finished operation back into the index.
        """
        key = validate_operation_id(operation_id)
        table = self._table()
        due = utc(when, "next due time")
        if due is not None:
            try:
                table.update_entity(
                    {"PartitionKey": PARTITION, "RowKey": key, "nextDueAt": due},
                    mode=UpdateMode.MERGE,
                )
            except ResourceNotFoundError:
                return False
            return True
        # Clearing a property needs REPLACE, hence read-modify-write guarded by the ETag.
        for _ in range(10):
            try:
                row = table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                return False
            if "nextDueAt" not in row:
                return True
            kept = {k: v for k, v in row.items() if k != "nextDueAt"}
            try:
                table.update_entity(
                    kept,
                    mode=UpdateMode.REPLACE,
                    etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            except ResourceNotFoundError:
                return False
            return True
        raise ConcurrencyConflict(f"active entry of {operation_id} kept changing; try again")
