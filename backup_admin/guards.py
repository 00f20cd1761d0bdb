"""Why a backup may not be deleted. Pure: the caller reads the platform and the ledger.

Three refusals, each with the reason a person can act on (HTTP 409):
- a system backup: the platform makes and removes those itself;
- a backup a Queued or Running restore names, by id or by a label that resolves to it now;
- the newest pre-update backup of an environment in BACKUP_SCOPE: what a person would restore
  after a failed update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from restore_orchestrator.checks import newest_with_label
from shared.operations import Operation, OperationKind, OperationStatus, format_time
from shared.power_platform.models import Backup

SYSTEM_BACKUP = "SystemBackup"
BACKUP_IN_USE = "BackupInUse"
NEWEST_PRE_UPDATE_BACKUP = "NewestPreUpdateBackup"

_OPEN = (OperationStatus.QUEUED, OperationStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


def system_backup_refusal(backup: Backup) -> Refusal | None:
    if not backup.is_system:
        return None
    return Refusal(
        SYSTEM_BACKUP,
        f"Backup {backup.id} (of {format_time(backup.point)}) is a system backup: the platform "
        "makes and removes those itself, and only manual backups can be deleted.",
    )


def restore_refusal(
    backup: Backup,
    environment_id: str,
    restores: Iterable[Operation],
    platform_backups: Sequence[Backup],
) -> Refusal | None:
    """A Queued or Running restore from this environment names `backup`: by its id (also once
    a label was resolved), or by a label that resolves to it on the platform's list now."""
    for restore in restores:
        if restore.kind is not OperationKind.RESTORE or restore.status not in _OPEN:
            continue
        source = (restore.source_environment_id or restore.environment_id).lower()
        if source != environment_id.lower():
            continue
        if restore.backup_id:
            names_it = restore.backup_id.lower() == backup.id.lower()
            how = "by its id"
        else:
            by_label = newest_with_label(platform_backups, restore.label) if restore.label else None
            names_it = by_label is not None and by_label.id == backup.id
            how = f"by its label '{restore.label}'"
        if names_it:
            return Refusal(
                BACKUP_IN_USE,
                f"Restore {restore.operation_id} ({restore.status.value}) uses this backup "
                f"({how}). Delete it after that restore has ended, or cancel the restore first "
                f"(ppbackup cancel {restore.operation_id}).",
            )
    return None


def newest_pre_update_backup(
    ledger: Iterable[Operation], platform_backups: Sequence[Backup]
) -> Operation | None:
    """The newest succeeded backup this app made of the environment that the platform still
    holds (one that expired or was deleted no longer protects anything)."""
    present = {b.id.lower() for b in platform_backups if not b.is_system}
    made = [
        op for op in ledger
        if op.kind is OperationKind.BACKUP and op.status is OperationStatus.SUCCEEDED
        and op.backup_id and op.backup_id.lower() in present
    ]
    return max(made, key=lambda op: op.backup_point or op.created_at, default=None)


def pre_update_refusal(
    backup: Backup, newest: Operation | None, environment_name: str
) -> Refusal | None:
    """Only for an environment in BACKUP_SCOPE (the caller checks): its newest pre-update
    backup stays until a newer one exists."""
    if newest is None or (newest.backup_id or "").lower() != backup.id.lower():
        return None
    return Refusal(
        NEWEST_PRE_UPDATE_BACKUP,
        f"Backup {backup.id} ('{newest.label or backup.label}', of "
        f"{format_time(backup.point)}) is the newest pre-update backup of {environment_name}, "
        "which is in BACKUP_SCOPE: it is what a restore after a failed update would use. Take "
        f"a newer backup first (ppbackup backup {newest.environment_id} --label ...), then "
        "delete this one.",
    )
