"""Backup use cases at the edge: the timer round, and intake from the queue / HTTP / CLI.

A backup runs on the engine (engine/, backup_triggers/backing_up.py); intake admits it once per
request key with its initial state, and either starts it in the same invocation (the queue) or
sends its first step message (HTTP, CLI). Every handler here is safe to run twice for the same
message: the intake is idempotent on the request key, and the engine's steps are checkpointed.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from backup_triggers import rounds
from backup_triggers.backing_up import started
from backup_triggers.state import BackupState
from engine.commands import CreateBackup
from engine.messages import start_admitted
from engine.record import apply_changes
from engine.runner import run_admitted
from notifications import rounds as notification_rounds
from shared.errors import PowerPlatformError
from shared.intake import admit, read_intake_message, request_key, take_poisoned
from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    new_operation,
)
from shared.policy.ncrontab import Ncrontab
from shared.queue_names import BACKUP_REQUESTS, BACKUP_WORK
from shared.runtime import AppContext
from shared.storage.directory import directory_for
from shared.storage.history import StoredOperation
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
    """Admit a backup request and queue its first step; returns the operation (new or earlier)."""
    stored, _, _ = _admit(ctx, request, dedup_key=dedup_key, options=options)
    if stored.operation.status is OperationStatus.QUEUED:
        # Also for a request seen before: its first message may be the one that got lost (a
        # second message for the same checkpoint loses the ETag race, or is stale).
        start_admitted(ctx, BACKUP_WORK, stored.operation.operation_id,
                       int(stored.internal["seq"]))
    return stored.operation


def handle_backup_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int,
    queue: str = BACKUP_REQUESTS,
) -> Operation | None:
    """`backup-requests`: validate, admit once, and make the first attempt right away.

    `queue`: the queue the message came from (the key of a request without a requestId)."""
    read = read_intake_message(
        ctx, OperationKind.BACKUP, body, parse_backup_request,
        queue=queue, message_id=message_id,
    )
    if read is None:
        return None  # recorded as Rejected
    request, key = read
    stored, created, first = _admit(ctx, request, dedup_key=key, start=True,
                                    message_id=message_id)
    # A duplicate of a request (another message, even redelivered) leaves the operation to the
    # engine, which drives it from its checkpoints, and to the watchdog if its driver died:
    # running it here too could make a second backup while the admitting call is under way. A
    # redelivery of the message that admitted it means that delivery failed, so nobody drives
    # the operation on its behalf: run it again.
    rerun = dequeue_count > 1 and bool(message_id) and (
        stored.internal.get("admittedBy") == message_id
    )
    if created or rerun:
        run_admitted(ctx, stored, dequeue_count=dequeue_count, first=first if created else None)
    return stored.operation


def handle_poisoned_backup_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int
) -> Operation | None:
    """`backup-requests-poison`: the same intake, for a request the host gave up on before it
    was admitted (`shared.intake.take_poisoned`)."""
    return take_poisoned(
        ctx, OperationKind.BACKUP, body, parse_backup_request,
        lambda queue: handle_backup_message(
            ctx, body, message_id=message_id, dequeue_count=dequeue_count, queue=queue),
        queue=BACKUP_REQUESTS, message_id=message_id, dequeue_count=dequeue_count,
    )


def _admit(
    ctx: AppContext,
    request: BackupRequest,
    *,
    dedup_key: str | None,
    options: dict[str, Any] | None = None,
    start: bool = False,
    message_id: str | None = None,
) -> tuple[StoredOperation, bool, CreateBackup | None]:
    """Admit the request once per key: (stored, created, the first call when `start`).

    `start`: the caller runs the backup right away, so it is admitted already making its first
    call (backing_up.started); otherwise it is admitted Queued, and its first step plans.
    `message_id`: the queue message admitting it, kept in its state (`admitted_by`)."""
    now = ctx.clock()
    candidate = new_operation(
        OperationKind.BACKUP,
        request.environment_id,
        now,
        environment_name=directory_for(ctx).name_of(request.environment_id),
        label=request.label,
        notes=request.notes,
        requested_by=request.requested_by,
        request_id=request.request_id,
        options=options or {},
    )
    state, first = BackupState(request.environment_id, request.label), None
    if start:
        state, changes, first = started(request.environment_id, request.label, now)
        candidate = apply_changes(candidate, changes, now)
    state = replace(state, admitted_by=message_id or None)
    stored, created = admit(
        ctx,
        candidate,
        dedup_key=dedup_key or request_key(OperationKind.BACKUP, request.request_id),
        internal=state.to_json(),
    )
    return stored, created, first


# ------------------------------------------------------------------------------------------ timer


def run_backup_round(ctx: AppContext, *, fired_at: datetime) -> RoundResult:
    """Enqueue one labeled backup request per environment in scope. Makes no backup itself."""
    schedule = Ncrontab.parse(ctx.settings.backup_schedule, ctx.settings.time_zone, seconds=True)
    slot = schedule.slot_of(fired_at)
    failure: str | None = None
    try:
        listed = ctx.platform.list_environments()
    except PowerPlatformError as error:
        # A timer run is not retried: without this the round, and every backup before the
        # update, would be lost with no record. The environments named by id need no listing.
        listed, failure = [], f"{error.code}: {error}"
    environments = [
        rounds.ScopedEnvironment(e.id, e.display_name, e.type or "Unknown", e.is_default)
        for e in listed
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
    if failure is not None:
        # Not "named but not listed" for each id: nothing was listed at all.
        notes = [rounds.listing_failure(failure, len(planned))]
        log.error("backup.round_listing_failed", extra={"round": round_id, "error": failure})
    names = {e.environment_id.lower(): e.display_name for e in environments}
    # Before the requests go out, so no member can finish before the round knows it (one
    # summary per round instead of a card per environment). Never raises. A failed listing is
    # reported in that same summary, as a failure a person reads.
    notification_rounds.plan_round(
        ctx,
        round_id=round_id,
        started_at=fired_at,
        members=[(p.environment_id, names.get(p.environment_id)) for p in planned],
        listing_failure=notes[0] if failure is not None else None,
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
