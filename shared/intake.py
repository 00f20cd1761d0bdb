"""Admitting requests into history, exactly once per idempotency key, whatever path they took.

The order of writes makes every crash recoverable by simply running the intake again:
1. claim the key for a fresh operation id (insert-if-absent; a second claimer learns the owner);
2. create the operation under the owner's id (insert-if-absent);
3. the caller then sends the work message.
A crash after 1 leaves a claim without an operation: the retry finds the owner id and creates it.
A crash after 2 leaves a Queued operation without a message: the retry sends it (duplicates of
work messages are harmless), and the watchdog finds it overdue if no retry ever comes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from shared.errors import ConcurrencyConflict, OperationNotFound, RequestInvalid
from shared.notifications.outbox import announce
from shared.operations import (
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    finish,
    new_operation,
)
from shared.runtime import AppContext
from shared.storage.history import StoredOperation
from shared.validation import is_guid

log = logging.getLogger(__name__)


def admit(
    ctx: AppContext,
    candidate: Operation,
    *,
    dedup_key: str | None,
    internal: dict[str, Any] | None = None,
) -> tuple[StoredOperation, bool]:
    """Store `candidate` unless its key was admitted before; returns (stored, created)."""
    if dedup_key is not None:
        owner = ctx.history.claim_request(dedup_key, candidate.operation_id)
        if owner != candidate.operation_id:
            try:
                return ctx.history.get(owner), False
            except OperationNotFound:
                # Claimed by an intake that died before creating its operation: finish its job.
                candidate = replace(candidate, operation_id=owner)
    try:
        return ctx.history.create(candidate, internal=internal), True
    except ConcurrencyConflict:
        return ctx.history.get(candidate.operation_id), False


def record_rejected(
    ctx: AppContext,
    kind: OperationKind,
    error: RequestInvalid,
    raw: object,
    *,
    dedup_key: str | None,
) -> StoredOperation:
    """Keep an invalid request in history as `Rejected`, with the reason a person can act on."""
    fields: dict[str, Any] = raw if isinstance(raw, dict) else {}
    env_field = "environmentId" if kind is OperationKind.BACKUP else "targetEnvironmentId"
    environment_id = _text(fields.get(env_field))
    now = ctx.clock()
    operation = new_operation(
        kind,
        environment_id.lower() if environment_id and is_guid(environment_id) else "",
        now,
        label=_text(fields.get("label") or fields.get("backupLabel")),
        requested_by=_text(fields.get("requestedBy")),
        reason=_text(fields.get("reason")),
        request_id=_text(fields.get("requestId")),
    )
    detail = error.message
    if error.fields:
        operation = replace(operation, options={"invalidFields": dict(error.fields)})
    operation = finish(
        operation, OperationStatus.REJECTED, now, error=OperationError(error.code, detail)
    )
    stored, created = admit(ctx, operation, dedup_key=dedup_key)
    if created:
        log.warning(
            "intake.rejected",
            extra={"operationId": operation.operation_id, "kind": kind.value, "code": error.code},
        )
        announce(ctx, None, stored.operation)
    return stored


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    return None
