"""Backup use cases: the timer round, intake from the queue / HTTP / CLI, and running a backup.

Every handler here is safe to run twice for the same message (queues deliver at least once): the
intake is idempotent on the request key, and a backup attempt is checkpointed before the
platform call so a re-run first looks for the backup the previous attempt may have made, instead
of making a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from backup_triggers import outcomes, rounds
from notifications import rounds as notification_rounds
from notifications.outbox import announce
from shared import errors
from shared.intake import admit, read_intake_message, request_key
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
    parse_time,
    update_step,
)
from shared.policy.clock_skew import CLOCK_SKEW
from shared.policy.ncrontab import Ncrontab
from shared.power_platform import Backup, PlatformCall, recording_calls
from shared.queue_names import BACKUP_REQUESTS, BACKUP_WORK, MAX_DEQUEUE_COUNT
from shared.runtime import AppContext
from shared.storage.claims import claims_for
from shared.storage.directory import directory_for
from shared.storage.history import StoredOperation
from shared.storage.queues import decode_message_body
from shared.validation import BackupRequest, parse_backup_request

log = logging.getLogger(__name__)

STEP = "backup"
# How long one attempt may take before the watchdog treats it as lost.
ATTEMPT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RoundResult:
    round_id: str
    slot: datetime
    planned: int
    notes: tuple[str, ...]


# ----------------------------------------------------------------------------------------- intake


def submit_backup(
    ctx: AppContext,
    request: BackupRequest,
    *,
    dedup_key: str | None = None,
    options: dict[str, Any] | None = None,
) -> Operation:
    """Admit a backup request and queue its work; returns the operation (new or earlier)."""
    stored, _ = _admit(ctx, request, dedup_key=dedup_key, options=options)
    if stored.operation.status is OperationStatus.QUEUED:
        ctx.queues.send(BACKUP_WORK, {"operationId": stored.operation.operation_id})
    return stored.operation


def handle_backup_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int
) -> None:
    """`backup-requests`: validate, admit once, and make the first attempt right away."""
    read = read_intake_message(
        ctx, OperationKind.BACKUP, body, parse_backup_request,
        queue=BACKUP_REQUESTS, message_id=message_id,
    )
    if read is None:
        return  # recorded as Rejected
    request, key = read
    stored, _ = _admit(ctx, request, dedup_key=key)
    _run_guarded(ctx, stored.operation.operation_id, dequeue_count)


def handle_work_message(ctx: AppContext, body: bytes | str, *, dequeue_count: int) -> None:
    """`backup-work`: a (delayed) attempt of an admitted backup."""
    try:
        payload = decode_message_body(body)
        operation_id = str(payload["operationId"])
    except (ValueError, KeyError, TypeError):
        # Only this app writes this queue; a malformed message is a bug, so it is logged loudly
        # and dropped rather than retried into the poison queue.
        log.error("backup.work_message_malformed", extra={"body": str(body)[:200]})
        return
    _run_guarded(ctx, operation_id, dequeue_count)


def _admit(
    ctx: AppContext,
    request: BackupRequest,
    *,
    dedup_key: str | None,
    options: dict[str, Any] | None = None,
) -> tuple[StoredOperation, bool]:
    candidate = new_operation(
        OperationKind.BACKUP,
        request.environment_id,
        ctx.clock(),
        environment_name=directory_for(ctx).name_of(request.environment_id),
        label=request.label,
        notes=request.notes,
        requested_by=request.requested_by,
        request_id=request.request_id,
        options=options or {},
    )
    return admit(
        ctx, candidate, dedup_key=dedup_key or request_key(OperationKind.BACKUP, request.request_id)
    )


# ------------------------------------------------------------------------------------------ timer


def run_backup_round(ctx: AppContext, *, fired_at: datetime) -> RoundResult:
    """Enqueue one labeled backup request per environment in scope. Makes no backup itself."""
    schedule = Ncrontab.parse(ctx.settings.backup_schedule, ctx.settings.time_zone, seconds=True)
    slot = schedule.slot_of(fired_at)
    environments = [
        rounds.ScopedEnvironment(e.id, e.display_name, e.type or "Unknown", e.is_default)
        for e in ctx.platform.list_environments()
    ]
    # Names for history and notifications; a backup itself never learns its environment's name.
    directory_for(ctx).remember(
        (e.environment_id, e.display_name, e.environment_type)
        for e in environments if e.display_name
    )
    planned, notes = rounds.plan_round(
        environments, ctx.settings.backup_scope, ctx.settings.backup_label_template, slot
    )
    round_id = rounds.round_id(slot)
    names = {e.environment_id.lower(): e.display_name for e in environments}
    # Before the requests go out, so no member can finish before the round knows it (one
    # summary per round instead of a card per environment). Never raises.
    notification_rounds.plan_round(
        ctx,
        round_id=round_id,
        started_at=fired_at,
        members=[(p.environment_id, names.get(p.environment_id)) for p in planned],
    )
    messages = [
        {
            "environmentId": p.environment_id,
            "label": p.label,
            "requestedBy": f"timer (round {round_id})",
            "requestId": p.request_id,
        }
        for p in planned
    ]
    # Sends are independent; a small pool keeps a 1,000-environment round to a few seconds.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda m: ctx.queues.send(BACKUP_REQUESTS, m), messages))
    for note in notes:
        log.warning("backup.round_note", extra={"round": round_id, "note": note})
    log.info("backup.round_planned", extra={"round": round_id, "environments": len(planned)})
    return RoundResult(round_id, slot, len(planned), tuple(notes))


# ---------------------------------------------------------------------------------------- running


def _run_guarded(ctx: AppContext, operation_id: str, dequeue_count: int) -> None:
    """Run an attempt; on the message's last delivery, record why before the host poisons it."""
    try:
        run_backup(ctx, operation_id)
    except Exception as error:
        if dequeue_count >= MAX_DEQUEUE_COUNT:
            _record_gave_up(ctx, operation_id, error, dequeue_count)
        raise


def run_backup(ctx: AppContext, operation_id: str) -> Operation:
    """Make (or find) the backup of an admitted operation; returns the operation as it stands."""
    stored = ctx.history.get(operation_id)
    operation = stored.operation
    if operation.status.terminal:
        log.info("backup.duplicate_delivery", extra={"operationId": operation_id})
        return operation
    internal = dict(stored.internal)
    with recording_calls() as calls:
        try:
            attempt_started = parse_time(internal.get("attemptStartedAt"))
            if attempt_started is not None:
                found = _find_backup(ctx, operation, since=attempt_started - CLOCK_SKEW)
                if found is not None:
                    return _succeed(ctx, stored, found, calls)
                wait = outcomes.in_flight_wait(
                    started=attempt_started,
                    in_flight=bool(internal.get("attemptInFlight")),
                    now=ctx.clock(),
                    grace=ATTEMPT_GRACE,
                )
                if wait is not None:
                    # Another delivery is inside its platform call right now; taking over would
                    # make a second backup. Look again soon (that call usually ends within
                    # seconds), and take over only once its grace has passed.
                    recheck = min(wait.total_seconds(), ctx.backoff.base_seconds)
                    ctx.queues.send(
                        BACKUP_WORK,
                        {"operationId": operation_id},
                        delay_seconds=ctx.real_delay(recheck),
                    )
                    return operation
            return _attempt(ctx, stored, internal, calls)
        except errors.ConcurrencyConflict:
            # Another delivery of this operation holds it; that one finishes the job.
            log.info("backup.concurrent_delivery", extra={"operationId": operation_id})
            return ctx.history.get(operation_id).operation


def _attempt(
    ctx: AppContext,
    stored: StoredOperation,
    internal: dict[str, Any],
    calls: list[PlatformCall],
) -> Operation:
    now = ctx.clock()
    operation = stored.operation
    attempt = int(internal.get("attempt", 0)) + 1
    exhausted = outcomes.attempts_exhausted(attempt, ctx.backoff)
    if exhausted is not None:
        # Reached only after run_backup looked for an earlier attempt's backup and found none.
        return _fail(ctx, stored, _with_calls(ctx, operation, calls), exhausted, internal=internal)
    running = update_step(
        replace(operation, status=OperationStatus.RUNNING),
        STEP,
        now,
        status=StepStatus.RUNNING,
        detail=f"Creating the backup (attempt {attempt}).",
    )
    internal.update(attempt=attempt, attemptStartedAt=format_time(now), attemptInFlight=True)
    # Checkpoint before the call: if we die after the platform made the backup, the next run
    # sees attemptStartedAt and looks for that backup instead of making a second one.
    stored = ctx.history.update(stored, running, internal=internal)
    ctx.history.set_next_due(operation.operation_id, now + ATTEMPT_GRACE)
    announce(ctx, operation, stored.operation)
    try:
        backup = ctx.platform.create_backup(operation.environment_id, operation.label or "")
    except errors.PowerPlatformError as error:
        return _after_error(ctx, stored, internal, error, attempt, calls)
    except Exception:
        # Unexpected: the outcome is unknown and this worker leaves the attempt. Marking it no
        # longer in flight lets the redelivery reconcile at once instead of waiting for it.
        _leave_attempt(ctx, stored, internal)
        raise
    # Ours by construction; claimed so that no other operation's reconciliation adopts it.
    _claim_backup(ctx, operation, backup)
    return _succeed(ctx, stored, backup, calls)


def _leave_attempt(ctx: AppContext, stored: StoredOperation, internal: dict[str, Any]) -> None:
    try:
        ctx.history.update(
            stored, stored.operation, internal={**internal, "attemptInFlight": False}
        )
    except Exception:  # noqa: BLE001 (best effort; the original error is what gets raised)
        log.warning(
            "backup.leave_attempt_failed", extra={"operationId": stored.operation.operation_id}
        )


def _after_error(
    ctx: AppContext,
    stored: StoredOperation,
    internal: dict[str, Any],
    error: errors.PowerPlatformError,
    attempt: int,
    calls: list[PlatformCall],
) -> Operation:
    now = ctx.clock()
    decision = outcomes.after_platform_error(error, attempt=attempt, backoff=ctx.backoff)
    operation = _with_calls(ctx, stored.operation, calls)
    if isinstance(decision, outcomes.GiveUp):
        return _fail(ctx, stored, operation, decision, internal=internal)
    internal["attemptInFlight"] = False
    if not decision.may_exist:
        internal["attemptStartedAt"] = None  # the platform refused: nothing was made
    waiting = update_step(operation, STEP, now, detail=decision.detail)
    due = now + timedelta(seconds=decision.delay_seconds)
    # Send first, checkpoint second (the Durable Task order): a crash in between leaves a message
    # that re-runs an idempotent attempt, never an operation that nobody will drive on.
    ctx.queues.send(
        BACKUP_WORK,
        {"operationId": operation.operation_id},
        delay_seconds=ctx.real_delay(decision.delay_seconds),
    )
    result = ctx.history.update(stored, waiting, internal=internal).operation
    ctx.history.set_next_due(operation.operation_id, due + ATTEMPT_GRACE)
    return result


def _fail(
    ctx: AppContext,
    stored: StoredOperation,
    operation: Operation,
    reason: outcomes.GiveUp,
    *,
    internal: dict[str, Any] | None = None,
) -> Operation:
    """End `operation` Failed with `reason` on its step and its record, and announce it."""
    now = ctx.clock()
    failed = update_step(operation, STEP, now, status=StepStatus.FAILED, detail=reason.message)
    failed = finish(
        failed, OperationStatus.FAILED, now, error=OperationError(reason.code, reason.message)
    )
    log.warning("backup.failed", extra={"operationId": operation.operation_id, "code": reason.code})
    ended = ctx.history.update(stored, failed, internal=internal).operation
    announce(ctx, stored.operation, ended)
    return ended


def _succeed(
    ctx: AppContext, stored: StoredOperation, backup: Backup, calls: list[PlatformCall]
) -> Operation:
    now = ctx.clock()
    operation = _with_calls(ctx, stored.operation, calls)
    done = update_step(
        replace(
            operation,
            backup_id=backup.id,
            backup_point=backup.point,
            backup_expiry=backup.expiry,
        ),
        STEP,
        now,
        status=StepStatus.SUCCEEDED,
        detail=f"Backup {backup.id} at {format_time(backup.point)}.",
    )
    done = finish(done, OperationStatus.SUCCEEDED, now)
    internal = dict(stored.internal)
    internal.update(attemptStartedAt=None, attemptInFlight=False)
    result = ctx.history.update(stored, done, internal=internal).operation
    announce(ctx, stored.operation, result)
    log.info(
        "backup.succeeded",
        extra={"operationId": operation.operation_id, "backupId": backup.id},
    )
    return result


def _find_backup(ctx: AppContext, operation: Operation, *, since: datetime) -> Backup | None:
    """The backup an earlier attempt of `operation` made, if the platform shows one.

    Two requests may share a label on one environment (two keyless pipeline runs), so a match by
    label and time is only a candidate: the one this operation can claim is its own.
    """
    candidates = sorted(
        (
            b
            for b in ctx.platform.list_backups(operation.environment_id)
            if b.label == operation.label and b.point >= since
        ),
        key=lambda b: b.point,
        reverse=True,
    )
    return next((b for b in candidates if _claim_backup(ctx, operation, b)), None)


def _claim_backup(ctx: AppContext, operation: Operation, backup: Backup) -> bool:
    """Make `backup` this operation's for good; False if another operation owns it already."""
    owner = claims_for(ctx).claim(f"platform-backup:{backup.id}", operation.operation_id)
    return owner == operation.operation_id


def _with_calls(ctx: AppContext, operation: Operation, calls: Sequence[PlatformCall]) -> Operation:
    ids = tuple(c.request_id for c in calls if c.request_id)
    if calls:
        ctx.history.append_calls(operation.operation_id, STEP, [c.to_log_entry() for c in calls])
    return add_request_ids(operation, STEP, ids)


def _record_gave_up(
    ctx: AppContext, operation_id: str, error: BaseException, dequeue_count: int
) -> None:
    message = (
        f"Gave up after {dequeue_count} deliveries; the message goes to the poison queue. "
        f"Last error: {type(error).__name__}: {error}"
    )[:1000]
    try:
        stored = ctx.history.get(operation_id)
        _fail(ctx, stored, stored.operation, outcomes.GiveUp("GaveUp", message))
    except Exception:
        # Recording is best effort: the poison queue still holds the message for a person.
        log.exception("backup.record_gave_up_failed", extra={"operationId": operation_id})
