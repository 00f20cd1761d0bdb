"""Cancelling a restore (the route is operations_api's; the CLI's `ppbackup cancel`).

Honoured until the platform restore has been requested (phases in `CANCELLABLE`): a Queued
restore ends Cancelled at once; a running one gets a flag that `plan` and `decide` honour at its
next step (and after a switch to Sandbox it still switches back). Refused after that: the
platform restore cannot be stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from engine.answers import Proceeded
from engine.config import EngineConfig
from engine.messages import send_step
from engine.record import SetOption, apply_changes
from notifications.outbox import update_and_announce
from restore_orchestrator.decide import decide
from restore_orchestrator.locks import release_and_wake_next
from restore_orchestrator.phases import CANCELLABLE, Phase
from restore_orchestrator.state import RestoreState
from shared import errors
from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    format_time,
    to_millis,
)
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext
from shared.storage.history import StoredOperation

log = logging.getLogger(__name__)

_CANCEL_ROUNDS = 5


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
            stored = update_and_announce(ctx, stored, marked, internal=flagged.to_json())
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
    stored = update_and_announce(ctx, stored, operation, internal=ended.to_json())
    log.info("restore.cancelled_while_queued", extra={"operationId": operation.operation_id})
    if not flagged.request.dry_run:
        # It may have taken the lock just before (a crash between lock and checkpoint).
        release_and_wake_next(ctx, flagged.request.target_id, operation.operation_id)
    return CancelOutcome(True, stored.operation, "Cancelled: it had not started yet.")
