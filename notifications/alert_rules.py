"""When the two alerts the platform never gives are due. Pure: records and readings in, alerts out.

* Still a Sandbox: a restore switched a Production environment to Sandbox and did not switch it
  back, and some minutes after its restore step ended the platform still reports a Sandbox.
  While that lasts, backups older than 7 days are deleted, so it repeats once a day.
* Backup expiring: the newest backup this app took of an environment in scope expires within a
  day and nothing newer exists, so the environment is about to have no restore point at all.
* Data backup overdue: an environment in DATA_BACKUP_SCOPE has had no complete data backup point
  for more than two schedule periods (plus time for the round in progress to finish).

Each alert's event id is derived from what identifies the situation, so the timer that asks every
few minutes fires each alert once (the caller claims the id before sending).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from notifications.events import BackupExpiringAlert, DataBackupOverdueAlert, StillSandboxAlert
from shared.operations import Operation, OperationKind, OperationStatus, Step, StepStatus
from shared.policy.ncrontab import Ncrontab

# Long enough for a switch back that is merely slow (the platform takes minutes), short enough
# that a person still acts on the same day's backups.
STILL_SANDBOX_AFTER = timedelta(minutes=15)
REMINDER_INTERVAL = timedelta(hours=24)
# Restores older than this are not looked at: after two weeks as a Sandbox the damage is done
# and reminders have been sent every day of it.
RESTORE_LOOKBACK = timedelta(days=14)
EXPIRY_WARNING = timedelta(days=1)
DATA_OVERDUE_PERIODS = 2
# A quarter of a period, at most six hours: a daily round has until 08:00 to commit a 02:00 point.
DATA_OVERDUE_GRACE = 0.25
ROUND_GRACE = timedelta(hours=6)
SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class SandboxSuspect:
    """A restore that left its target switched to Sandbox; the platform decides if it still is."""

    operation: Operation
    since: datetime  # when the switch to Sandbox ended
    due: datetime  # when the first alert is due (restore step end + STILL_SANDBOX_AFTER)


class PlatformBackup(NamedTuple):
    backup_id: str
    point: datetime
    expiry: datetime | None


def sandbox_suspects(restores: Iterable[Operation], now: datetime) -> list[SandboxSuspect]:
    """Environments whose latest type change by a restore left them Sandbox, due for a look.

    Per environment only the newest restore that changed its type counts: a later restore that
    switched it again (and back) supersedes an earlier failure, and restores that never touched
    the type (waiting, rejected, into a Sandbox) say nothing about it.
    """
    decided: set[str] = set()
    suspects: list[SandboxSuspect] = []
    ordered = sorted(
        (r for r in restores if r.kind is OperationKind.RESTORE and r.environment_id),
        key=lambda r: r.created_at, reverse=True,
    )
    for restore in ordered:
        env = restore.environment_id.lower()
        if env in decided or not _changed_type(restore):
            continue
        decided.add(env)
        switched = _step(restore, "switch_to_sandbox")
        if switched is None or switched.status is not StepStatus.SUCCEEDED:
            continue
        back = _step(restore, "switch_to_production")
        if back is not None and back.status is StepStatus.SUCCEEDED:
            continue
        ended = _restore_ended(restore)
        if ended is None:
            continue  # still restoring: a Sandbox is expected now
        due = ended + STILL_SANDBOX_AFTER
        if now >= due:
            suspects.append(SandboxSuspect(restore, switched.ended_at or ended, due))
    return suspects


def still_sandbox_alert(
    suspect: SandboxSuspect, environment_type: str | None, environment_name: str | None,
    now: datetime,
) -> StillSandboxAlert | None:
    """The alert (first, or the day's reminder) if the platform reports the type as Sandbox."""
    if (environment_type or "").lower() != SANDBOX:
        return None
    reminder = int((now - suspect.due) / REMINDER_INTERVAL)
    op = suspect.operation
    return StillSandboxAlert(
        op, op.environment_id, environment_name or op.environment_name, suspect.since, reminder
    )


def newest_backup(backups: Iterable[Operation]) -> Operation | None:
    """The newest succeeded backup operation that names its backup's expiry."""
    usable = [
        b for b in backups
        if b.kind is OperationKind.BACKUP and b.status is OperationStatus.SUCCEEDED
        and b.backup_expiry is not None
    ]
    return max(usable, key=lambda b: b.backup_point or b.created_at, default=None)


def expiring_alert(
    newest: Operation,
    environment_name: str | None,
    now: datetime,
    platform_backups: Sequence[PlatformBackup] | None = None,
) -> BackupExpiringAlert | None:
    """The alert if `newest` expires within EXPIRY_WARNING and nothing newer exists.

    `platform_backups` (the environment's backups as the platform lists them) rules out a newer
    backup taken elsewhere (the admin center, another tool) and a backup that is already gone.
    """
    expiry = newest.backup_expiry
    if newest.status is not OperationStatus.SUCCEEDED or expiry is None:
        return None
    if not now < expiry <= now + EXPIRY_WARNING:
        return None
    if platform_backups is not None:
        if newest.backup_id and all(b.backup_id != newest.backup_id for b in platform_backups):
            return None
        point = newest.backup_point or newest.created_at
        if any(b.point > point and (b.expiry is None or b.expiry > expiry)
               for b in platform_backups):
            return None
    if not (newest.label or newest.backup_id):
        return None
    return BackupExpiringAlert(
        newest.environment_id, environment_name or newest.environment_name, newest.label,
        newest.backup_id, expiry,
    )


def data_backup_overdue(
    schedule: Ncrontab, environment_id: str, environment_name: str | None,
    last_point: datetime | None, watched_since: datetime, now: datetime,
) -> DataBackupOverdueAlert | None:
    """The alert if no complete point is newer than DATA_OVERDUE_PERIODS schedule periods.

    Counted from the newest point, or for an environment that never had one, from when the
    check first saw it in scope. A period is the gap between the first two slots after that
    instant (NCRONTAB schedules need not be regular); the grace lets the round that runs at the
    deadline finish before a point is called missing.
    """
    since = last_point or watched_since
    first = schedule.next_after(since)
    period = schedule.next_after(first) - first
    due = since + DATA_OVERDUE_PERIODS * period + min(period * DATA_OVERDUE_GRACE, ROUND_GRACE)
    if now <= due:
        return None
    return DataBackupOverdueAlert(environment_id, environment_name, last_point, since, due)


def _changed_type(restore: Operation) -> bool:
    return any(
        s.name in ("switch_to_sandbox", "switch_to_production")
        and s.status in (StepStatus.SUCCEEDED, StepStatus.RUNNING, StepStatus.FAILED)
        for s in restore.steps
    )


def _restore_ended(restore: Operation) -> datetime | None:
    step = _step(restore, "restore")
    if step is not None and step.ended_at is not None:
        return step.ended_at
    # A restore that timed out or was cut short has no end on its step; the operation's end
    # is then when people stopped expecting a Sandbox.
    return restore.ended_at if restore.status.terminal else None


def _step(operation: Operation, name: str) -> Step | None:
    return next((s for s in operation.steps if s.name == name), None)

