"""Why a backup may not be deleted. Pure: the caller reads the platform and the ledger.

Three refusals, each with the reason a person can act on (HTTP 409):
- a system backup: the platform makes and removes those itself;
- a backup a Queued, Running or NeedsAttention restore names, by id or by a label that resolves
  to it now, and the safety backup such a restore made of its target (a restore that needs
  attention may have to be run again from either, so they stay until they expire);
- the newest pre-update backup of an environment in BACKUP_SCOPE: what a person would restore
  after a failed update. An environment is judged by every type it has or had while a restore
  may have switched it (`scope_types`): a Production restored in place is a Sandbox for hours.
  When the app's records are too many to read back to the oldest backup, a backup is refused
  too unless the part read shows a newer one (fail closed).
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
PRE_UPDATE_BACKUP_UNCHECKED = "PreUpdateBackupUnchecked"

_OPEN = (OperationStatus.QUEUED, OperationStatus.RUNNING)
# Ended, but a person may have to run it again from the same backups.
_IN_USE = (*_OPEN, OperationStatus.NEEDS_ATTENTION)


@dataclass(frozen=True, slots=True)
class RestoreInUse:
    """A restore as the guards see it: its record, and from its state the safety backup it
    made of its target (None until made) and the type its target had before it (None until
    read)."""

    operation: Operation
    safety_backup_id: str | None = None
    original_type: str | None = None


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
    restores: Iterable[RestoreInUse],
    platform_backups: Sequence[Backup],
) -> Refusal | None:
    """A Queued, Running or NeedsAttention restore from this environment names `backup`: by
    its id (also once a label was resolved), or by a label that resolves to it on the
    platform's list now; or one into this environment made it as its safety backup (what
    undoes that restore)."""
    env = environment_id.lower()
    for in_use in restores:
        restore = in_use.operation
        if restore.kind is not OperationKind.RESTORE or restore.status not in _IN_USE:
            continue
        how = _how_it_uses(restore, in_use.safety_backup_id, backup, env, platform_backups)
        if how is None:
            continue
        used = f"Restore {restore.operation_id} ({restore.status.value}) uses this backup ({how})."
        if restore.status in _OPEN:
            return Refusal(BACKUP_IN_USE, f"{used} Delete it after that restore has ended, or "
                           f"cancel the restore first (ppbackup cancel {restore.operation_id}).")
        return Refusal(BACKUP_IN_USE, f"{used} That restore needs attention and may have to be "
                       "run again from this backup, so it stays until it expires (ppbackup "
                       f"status {restore.operation_id} says what went wrong).")
    return None


def _how_it_uses(
    restore: Operation, safety_backup_id: str | None, backup: Backup, env: str,
    platform_backups: Sequence[Backup],
) -> str | None:
    if restore.environment_id.lower() == env and backup.has_id(safety_backup_id):
        return "as the safety backup it made of its target"
    source = (restore.source_environment_id or restore.environment_id).lower()
    if source != env:
        return None
    if restore.backup_id:
        return "by its id" if backup.has_id(restore.backup_id) else None
    by_label = newest_with_label(platform_backups, restore.label) if restore.label else None
    if by_label is not None and backup.has_id(by_label.id):
        return f"by its label '{restore.label}'"
    return None


def scope_types(
    environment_id: str, current: str, kept: str | None, restores: Iterable[RestoreInUse]
) -> tuple[str, ...]:
    """The types BACKUP_SCOPE is checked against: the type now, the one a restore that ended
    with the environment switched kept (`kept`), and the one each restore into it that is open
    or needs attention found. In scope under any of them is in scope: a restore switches a
    Production to a Sandbox while it runs, and may fail to switch it back."""
    env = environment_id.lower()
    found = [
        r.original_type for r in restores
        if r.original_type and r.operation.kind is OperationKind.RESTORE
        and r.operation.status in _IN_USE and r.operation.environment_id.lower() == env
    ]
    return tuple(dict.fromkeys((current, *(t for t in (kept, *found) if t))))


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
    backup: Backup, newest: Operation | None, environment_name: str, *, whole: bool = True
) -> Refusal | None:
    """Only for an environment in BACKUP_SCOPE (the caller checks): its newest pre-update
    backup stays until a newer one exists. `newest` is of the ledger as read; when the read was
    cut off (`whole` False), only a newer backup seen in it clears `backup`."""
    if newest is not None and backup.has_id(newest.backup_id):
        return Refusal(
            NEWEST_PRE_UPDATE_BACKUP,
            f"Backup {backup.id} ('{newest.label or backup.label}', of "
            f"{format_time(backup.point)}) is the newest pre-update backup of "
            f"{environment_name}, which is in BACKUP_SCOPE: it is what a restore after a failed "
            f"update would use. Take a newer backup first (ppbackup backup "
            f"{newest.environment_id} --label ...), then delete this one.",
        )
    if whole or (newest is not None and (newest.backup_point or newest.created_at) > backup.point):
        return None
    return Refusal(
        PRE_UPDATE_BACKUP_UNCHECKED,
        f"Backup {backup.id} (of {format_time(backup.point)}) may be the newest pre-update "
        f"backup of {environment_name}, which is in BACKUP_SCOPE, and the app could not tell: "
        "it has more backup records of that environment within the platform's retention than "
        "it reads at once. Take a newer backup first, then delete this one.",
    )
