"""Restore use cases at the edge: submitting a request (queue, HTTP, CLI) and cancelling one.

Submitting validates the request as such (contract section 3) and admits it once per request
key, then sends the first step message. What needs the platform's answers (the environments'
types, the Production guardrail, the backups) is checked by the orchestrator's Validating phase,
before anything changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from engine.answers import Proceeded
from engine.config import EngineConfig
from engine.messages import send_step
from engine.record import SetOption, apply_changes
from notifications.outbox import announce
from restore_orchestrator.decide import decide
from restore_orchestrator.locks import release_and_wake_next
from restore_orchestrator.phases import CANCELLABLE, Phase
from restore_orchestrator.state import Request, RestoreState, Selector
from shared import errors
from shared.intake import admit, read_intake_message, request_key
from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    format_time,
    new_operation,
    to_millis,
)
from shared.queue_names import RESTORE_REQUESTS, RESTORE_STEPS
from shared.runtime import AppContext
from shared.storage.history import StoredOperation
from shared.validation import RestoreRequest, parse_restore_request

log = logging.getLogger(__name__)

_CANCEL_ROUNDS = 5


# --- submitting ---------------------------------------------------------------------------------


def submit_restore(
    ctx: AppContext, request: RestoreRequest, *, dedup_key: str | None = None
) -> Operation:
    """Admit a restore request (once per request key) and start it; returns the operation."""
    now = to_millis(ctx.clock())
    candidate = new_operation(
        OperationKind.RESTORE,
        request.target_environment_id,
        now,
        source_environment_id=request.source_environment_id,
        label=request.backup_label,
        backup_id=request.backup_id,
        restore_point=request.restore_point,
        requested_by=request.requested_by,
        reason=request.reason,
        request_id=request.request_id,
        options=_options(request),
    )
    state = initial_state(candidate.operation_id, request)
    key = dedup_key or request_key(OperationKind.RESTORE, request.request_id)
    stored, created = admit(ctx, candidate, dedup_key=key, internal=state.to_json())
    stored = _own_state(ctx, stored, request) if created else stored
    operation = stored.operation
    if operation.status is OperationStatus.QUEUED:
        # Also for a request seen before: its first message may be the one that got lost.
        try:
            send_step(
                ctx, RESTORE_STEPS, operation.operation_id, int(stored.internal.get("seq", 0))
            )
        except Exception:
            # The restore is admitted (that is what a caller's 202 promises); a Queued restore
            # without its message is the watchdog's to start, a grace period from now.
            log.exception("restore.first_message_failed",
                          extra={"operationId": operation.operation_id})
    if created:
        announce(ctx, None, operation)
        log.info(
            "restore.submitted",
            extra={
                "operationId": operation.operation_id,
                "environmentId": operation.environment_id,
                "sourceEnvironmentId": operation.source_environment_id,
                "source": request.source_kind,
                "dryRun": request.dry_run,
            },
        )
    return operation


def handle_restore_message(
    ctx: AppContext, body: bytes | str, *, message_id: str
) -> Operation | None:
    """`restore-requests`: an invalid message is recorded as Rejected and never retried."""
    read = read_intake_message(
        ctx, OperationKind.RESTORE, body, parse_restore_request,
        queue=RESTORE_REQUESTS, message_id=message_id,
    )
    if read is None:
        return None  # recorded as Rejected
    request, key = read
    return submit_restore(ctx, request, dedup_key=key)


def initial_state(operation_id: str, request: RestoreRequest) -> RestoreState:
    return RestoreState(
        request=Request(
            operation_id=operation_id,
            target_id=request.target_environment_id,
            source_id=request.source_environment_id,
            selector=Selector(request.source_kind),
            backup_id=request.backup_id,
            backup_label=request.backup_label,
            restore_point=request.restore_point,
            skip_audit_data=request.skip_audit_data,
            safety_backup=request.safety_backup,
            confirm_production=request.confirm_production,
            dry_run=request.dry_run,
        )
    )


def _options(request: RestoreRequest) -> dict[str, Any]:
    options: dict[str, Any] = {
        "skipAuditData": request.skip_audit_data,
        "safetyBackup": request.safety_backup,
    }
    if request.dry_run:
        options["dryRun"] = True
    if request.latest:
        options["latest"] = True
    return options


def _own_state(
    ctx: AppContext, stored: StoredOperation, request: RestoreRequest
) -> StoredOperation:
    """An intake that died between claiming the key and creating the operation left its id to
    us; the state must name the operation it belongs to (the safety backup's label does)."""
    operation_id = stored.operation.operation_id
    if stored.internal.get("request", {}).get("operationId") == operation_id:
        return stored
    state = initial_state(operation_id, request)
    return ctx.history.update(stored, stored.operation, internal=state.to_json())


# --- cancelling ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    accepted: bool
    operation: Operation
    message: str


def cancel_restore(
    ctx: AppContext, operation_id: str, *, requested_by: str | None = None
) -> CancelOutcome:
    """Cancel a restore that has not started its platform restore.

    A Queued restore ends Cancelled at once. A running one gets a cancel flag that the engine
    honours at its next step (and still switches the target back if it had switched it). Once
    the platform restore was requested, the cancel is refused: it cannot be stopped.
    """
    by = requested_by or "an operator"
    for _ in range(_CANCEL_ROUNDS):
        stored = ctx.history.get(operation_id)
        operation = stored.operation
        refusal = _refusal(operation, stored)
        if refusal is not None:
            return refusal
        state = RestoreState.from_json(stored.internal)
        if state.cancel_requested_at is not None:
            return CancelOutcome(True, operation, "A cancel was already requested; it is being "
                                 "carried out.")
        if state.facts.restore_requested or state.phase not in CANCELLABLE:
            when = format_time(state.facts.restore_requested_at)
            return CancelOutcome(
                False, operation,
                f"The platform restore was started{f' at {when}' if when else ''} and cannot be "
                "stopped. The orchestrator switches the environment back and turns "
                "administration mode off when it ends.",
            )
        now = to_millis(ctx.clock())
        flagged = replace(state, cancel_requested_at=now, cancel_requested_by=by)
        note = SetOption("cancel", {"requestedAt": format_time(now), "requestedBy": by})
        try:
            if state.phase is Phase.QUEUED:
                return _cancel_queued(ctx, stored, flagged, note)
            marked = apply_changes(operation, (note,), now)
            flagged = replace(flagged, seq=state.seq + 1, wake_at=None)
            stored = ctx.history.update(stored, marked, internal=flagged.to_json())
            announce(ctx, operation, stored.operation)
        except errors.ConcurrencyConflict:
            continue  # the engine moved on meanwhile: look again
        send_step(ctx, RESTORE_STEPS, operation_id, flagged.seq)
        log.info("restore.cancel_requested", extra={"operationId": operation_id, "by": by})
        return CancelOutcome(
            True, stored.operation,
            "Cancel requested: the restore stops at its next step"
            + (" and switches the environment back." if state.facts.switched_to_sandbox
               or state.phase is Phase.SWITCHING_TO_SANDBOX else "."),
        )
    raise errors.ConcurrencyConflict(
        f"operation {operation_id} kept changing while it was being cancelled; try again"
    )


def _refusal(operation: Operation, stored: StoredOperation) -> CancelOutcome | None:
    if operation.kind is not OperationKind.RESTORE:
        return CancelOutcome(False, operation, "Only restores can be cancelled.")
    if operation.status is OperationStatus.CANCELLED:
        return CancelOutcome(True, operation, "The restore was already cancelled.")
    if operation.status.terminal:
        return CancelOutcome(
            False, operation, f"The restore has already ended ({operation.status.value})."
        )
    return None


def _cancel_queued(
    ctx: AppContext, stored: StoredOperation, flagged: RestoreState, note: SetOption
) -> CancelOutcome:
    now = flagged.cancel_requested_at or to_millis(ctx.clock())
    decision = decide(flagged, Proceeded(), now, EngineConfig())
    operation = apply_changes(stored.operation, (note, *decision.changes), now)
    ended = replace(decision.state, seq=flagged.seq + 1)
    before = stored.operation
    stored = ctx.history.update(stored, operation, internal=ended.to_json())
    announce(ctx, before, stored.operation)
    log.info("restore.cancelled_while_queued", extra={"operationId": operation.operation_id})
    if not flagged.request.dry_run:
        # It may have taken the lock just before (a crash between lock and checkpoint).
        release_and_wake_next(ctx, flagged.request.target_id, operation.operation_id)
    return CancelOutcome(True, stored.operation, "Cancelled: it had not started yet.")
