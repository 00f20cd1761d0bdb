"""The backup listing: the platform's backups of one environment (manual and system), newest
first, each with what the ledger knows where this app made it. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.operations import Operation, OperationKind, format_time
from shared.power_platform.models import Backup

MANUAL = "manual"
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    backup: Backup
    operation: Operation | None  # the backup operation of this app that made it, if any
    restorable_from: datetime

    @property
    def kind(self) -> str:
        return SYSTEM if self.backup.is_system else MANUAL

    def restorable(self, now: datetime) -> bool:
        return self.restorable_from <= now

    def to_record(self, now: datetime) -> dict[str, Any]:
        """One backup as the HTTP API and `ppbackup backups --json` show it."""
        record: dict[str, Any] = {
            "backupId": self.backup.id,
            "kind": self.kind,
            "label": self.backup.label or None,
            "backupPointDateTime": format_time(self.backup.point),
            "backupExpiryDateTime": format_time(self.backup.expiry),
            "restorable": self.restorable(now),
            "restorableFrom": format_time(self.restorable_from),
            "createdByType": self.backup.created_by_type,
        }
        if self.operation is not None:
            op = self.operation
            record["operation"] = {
                "operationId": op.operation_id,
                "label": op.label,
                "notes": op.notes,
                "requestedBy": op.requested_by,
            }
            # The platform keeps the label a backup was made with; the ledger's may have been
            # edited since (`ppbackup annotate`). Both are shown where they differ.
            record["labelDiffers"] = (op.label or None) != (self.backup.label or None)
        return record


def build_catalog(
    backups: Sequence[Backup],
    ledger: Iterable[Operation],
    *,
    settle: timedelta,
) -> list[CatalogEntry]:
    """Newest backup point first. A manual backup is restorable `settle` after its point (the
    platform needs some minutes, reference §3.2); a system backup is listed once it is."""
    by_backup: dict[str, Operation] = {}
    for op in ledger:
        if op.kind is OperationKind.BACKUP and op.backup_id:
            # The newest operation naming a backup wins (a later claim would be a repair).
            current = by_backup.get(op.backup_id.lower())
            if current is None or op.created_at > current.created_at:
                by_backup[op.backup_id.lower()] = op
    entries = [
        CatalogEntry(
            backup=b,
            operation=by_backup.get(b.id.lower()),
            restorable_from=b.point if b.is_system else b.point + settle,
        )
        for b in backups
    ]
    return sorted(entries, key=lambda e: e.backup.point, reverse=True)


def ledger_horizon(backups: Sequence[Backup]) -> datetime | None:
    """How far back the ledger must be read: operations older than the oldest listed backup
    (less a day for clock skew) cannot have made any of them."""
    if not backups:
        return None
    return min(b.point for b in backups) - timedelta(days=1)
