"""Submitting a restore (queue, HTTP, CLI): the request validated as such, admitted once.

Submitting validates the request as such (contract section 3) and admits it once per request
key, then sends the first step message. What needs the platform's answers (the environments'
types, the Production guardrail, the backups) is checked by the orchestrator's Validating phase,
before anything changes.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.messages import start_admitted
from notifications.outbox import announce
from restore_orchestrator.state import Request, RestoreState, Selector
from shared.intake import admit, read_intake_message, request_key, take_poisoned
from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    new_operation,
    to_millis,
)
from shared.queue_names import RESTORE_REQUESTS, RESTORE_STEPS
from shared.runtime import AppContext
from shared.storage.history import StoredOperation
from shared.validation import RestoreRequest, parse_restore_request

log = logging.getLogger(__name__)

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
        start_admitted(ctx, RESTORE_STEPS, operation.operation_id,
                       int(stored.internal.get("seq", 0)))
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
    ctx: AppContext, body: bytes | str, *, message_id: str, queue: str = RESTORE_REQUESTS
) -> Operation | None:
    """`restore-requests`: an invalid message is recorded as Rejected and never retried.

    Needs no dequeue count, unlike a backup's intake: it runs nothing itself, and every delivery
    sends the first step again while the restore is Queued (the watchdog starts one whose
    message is lost). `queue`: where the message came from (the key without a requestId)."""
    read = read_intake_message(
        ctx, OperationKind.RESTORE, body, parse_restore_request,
        queue=queue, message_id=message_id,
    )
    if read is None:
        return None  # recorded as Rejected
    request, key = read
    return submit_restore(ctx, request, dedup_key=key)


def handle_poisoned_restore_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int
) -> Operation | None:
    """`restore-requests-poison`: the same intake, for a request the host gave up on before it
    was admitted (`shared.intake.take_poisoned`)."""
    return take_poisoned(
        ctx, OperationKind.RESTORE, body, parse_restore_request,
        lambda queue: handle_restore_message(ctx, body, message_id=message_id, queue=queue),
        queue=RESTORE_REQUESTS, message_id=message_id, dequeue_count=dequeue_count,
    )


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
            reactivate_flows=request.reactivate_flows,
        )
    )


def _options(request: RestoreRequest) -> dict[str, Any]:
    options: dict[str, Any] = {
        "skipAuditData": request.skip_audit_data,
        "safetyBackup": request.safety_backup,
    }
    if request.dry_run:
        options["dryRun"] = True
    if request.reactivate_flows != "previous":
        options["reactivateFlows"] = request.reactivate_flows
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
