"""The `backup_delete` operation: who deleted which backup (its label and point), when, and how
it went. Pure: the record's changes; `service` does the I/O.

A deletion is Running from the moment it is admitted until the platform has answered: Succeeded
when the backup is gone (a 404 on a retried delete included), Failed when the platform refused,
and still Running while the platform cannot be reached: the watchdog retries it every
RETRY_SECONDS until GIVE_UP_AFTER, then it ends Failed and the backup may still exist. Each retry
runs the guards again first: one they now refuse ends Failed with their reason (`withdrawn`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from shared.errors import PowerPlatformError
from shared.operations import (
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    StepStatus,
    add_request_ids,
    finish,
    format_time,
    new_operation,
    to_millis,
    update_step,
)
from shared.power_platform.models import Backup

STEP = "delete"
RETRY_SECONDS = 60.0
GIVE_UP_AFTER = timedelta(hours=1)


def new_deletion(
    environment_id: str,
    backup: Backup,
    ledger: Operation | None,
    *,
    requested_by: str,
    now: datetime,
) -> Operation:
    options: dict[str, object] = {"backupKind": "manual"}
    if ledger is not None:
        options["backupOperationId"] = ledger.operation_id
        if ledger.label and ledger.label != backup.label:
            options["ledgerLabel"] = ledger.label
    operation = new_operation(
        OperationKind.BACKUP_DELETE,
        environment_id,
        now,
        status=OperationStatus.RUNNING,
        label=backup.label or None,
        backup_id=backup.id,
        backup_point=to_millis(backup.point),
        backup_expiry=to_millis(backup.expiry) if backup.expiry else None,
        requested_by=requested_by,
        options=options,
    )
    return update_step(operation, STEP, to_millis(now), status=StepStatus.RUNNING)


def deleted(operation: Operation, now: datetime, request_ids: tuple[str, ...]) -> Operation:
    done = update_step(
        add_request_ids(operation, STEP, request_ids), STEP, now, status=StepStatus.SUCCEEDED,
        detail=f"Deleted on the platform at {format_time(now)}.",
    )
    return finish(done, OperationStatus.SUCCEEDED, now)


def refused(
    operation: Operation, now: datetime, error: PowerPlatformError, request_ids: tuple[str, ...]
) -> Operation:
    reason = f"The platform refused the deletion: {error.message}"
    failed = update_step(
        add_request_ids(operation, STEP, request_ids), STEP, now, status=StepStatus.FAILED,
        detail=reason,
    )
    return finish(failed, OperationStatus.FAILED, now,
                  error=OperationError(error.error_code or error.code, reason))


def withdrawn(operation: Operation, now: datetime, code: str, reason: str) -> Operation:
    """A retried deletion that the guards now refuse (a restore named the backup while the
    platform was not answering): it ends as a new request would, with the same reason."""
    failed = update_step(operation, STEP, now, status=StepStatus.FAILED, detail=reason)
    return finish(failed, OperationStatus.FAILED, now, error=OperationError(code, reason))


def unreachable(
    operation: Operation, now: datetime, error: PowerPlatformError, request_ids: tuple[str, ...]
) -> Operation:
    """Still Running (retried later), or Failed once GIVE_UP_AFTER has passed."""
    marked = add_request_ids(operation, STEP, request_ids)
    if now - operation.created_at >= GIVE_UP_AFTER:
        reason = (
            f"The platform could not be reached for {GIVE_UP_AFTER} ({error.message}); the "
            "backup may still exist: list the backups and delete it again if it does."
        )
        failed = update_step(marked, STEP, now, status=StepStatus.FAILED, detail=reason)
        return finish(failed, OperationStatus.FAILED, now,
                      error=OperationError(error.code, reason))
    detail = (
        f"The platform did not answer ({error.message}); the app tries again every "
        f"{RETRY_SECONDS:g} s (last try {format_time(now)})."
    )
    return replace(update_step(marked, STEP, now, detail=detail), updated_at=now)
