"""Data backup intake (queue, HTTP, CLI): admit once per request key with the initial state,
then start: the queue's intake runs the first steps in its own invocation, the others send the
first step message; the engine does the rest (data_backups/kind.py). Safe to run twice for one
message.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from data_backups.execute import HEAD_START_SECONDS, start_plan_read
from data_backups.planning import first_read
from data_backups.state import DataBackupState
from engine.messages import start_admitted
from engine.runner import run_admitted
from shared.intake import admit, read_intake_message, request_key, take_poisoned
from shared.operations import Operation, OperationKind, OperationStatus, new_operation
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_BACKUP_WORK
from shared.runtime import AppContext
from shared.settings import DEFAULT_DATA_BACKUP_EXCLUSIONS

if TYPE_CHECKING:
    from data_backups.request import DataBackupRequest
    from shared.storage.history import StoredOperation

log = logging.getLogger(__name__)

PAGE_SIZE = 5000


def submit_data_backup(
    ctx: AppContext,
    request: DataBackupRequest,
    *,
    dedup_key: str | None = None,
    page_size: int = PAGE_SIZE,
    admitted_by: str | None = None,
) -> Operation:
    """Admit once per key and send the first step (again for a request seen before and still
    Queued: its first message may be the one that got lost; a second one is stale or loses).
    `admitted_by`: the queue message admitting it, if any."""
    state = replace(_first_state(ctx, request, page_size), admitted_by=admitted_by)
    stored, _ = _admit(ctx, state, request, dedup_key=dedup_key)
    if stored.operation.status is OperationStatus.QUEUED:
        start_admitted(ctx, DATA_BACKUP_WORK, stored.operation.operation_id,
                       int(stored.internal["seq"]))
    return stored.operation


def _first_state(
    ctx: AppContext, request: DataBackupRequest, page_size: int
) -> DataBackupState:
    settings = ctx.settings
    return DataBackupState(
        request.environment_id, request.label,
        requested=request.tables if request.tables is not None else settings.data_backup_tables,
        excluded=DEFAULT_DATA_BACKUP_EXCLUSIONS | settings.data_backup_exclude_tables,
        full=request.full, page_size=page_size,
    )


def _admit(
    ctx: AppContext, state: DataBackupState, request: DataBackupRequest, *,
    dedup_key: str | None,
) -> tuple[StoredOperation, bool]:
    candidate = new_operation(
        OperationKind.DATA_BACKUP, request.environment_id, ctx.clock(), label=request.label,
        requested_by=request.requested_by, request_id=request.request_id,
    )
    return admit(
        ctx, candidate,
        dedup_key=dedup_key or request_key(OperationKind.DATA_BACKUP, request.request_id),
        internal=state.to_json(),
    )


def handle_data_backup_message(
    ctx: AppContext,
    body: bytes | str,
    *,
    message_id: str,
    dequeue_count: int | None = None,
    page_size: int = PAGE_SIZE,
    queue: str = DATA_BACKUP_REQUESTS,
) -> Operation | None:
    """`data-backup-requests`: validate (invalid -> Rejected, on record), admit once, start.

    With the queue trigger's `dequeue_count`, the backup's steps start in this invocation (no
    queue round trip before the first read; the runner hands over to a step message when its
    budget is spent), as a platform backup's intake does. A duplicate of a request (another
    message, even redelivered) leaves the operation to whoever drives it; a redelivery of the
    message that admitted it (`admittedBy`) means its earlier run failed, so it runs again.
    Without it (callers that drive the steps themselves) the first step message is sent, as
    `submit_data_backup` does.
    `queue`: where the message came from (the key of a request without a requestId).
    """
    from data_backups.request import parse_data_backup_request

    read = read_intake_message(
        ctx, OperationKind.DATA_BACKUP, body, parse_data_backup_request,
        queue=queue, message_id=message_id,
    )
    if read is None:
        return None
    request, key = read
    if dequeue_count is None:
        return submit_data_backup(ctx, request, dedup_key=key, page_size=page_size,
                                  admitted_by=message_id or None)
    state = replace(_first_state(ctx, request, page_size), admitted_by=message_id or None)
    # The plan's reads go on while the admission is written (its step takes their answer), the
    # platform's requests first (see `start_plan_read`).
    start_plan_read(ctx, first_read(state)).wait(HEAD_START_SECONDS)
    stored, created = _admit(ctx, state, request, dedup_key=key)
    # A duplicate (another message, even redelivered) leaves the operation to whoever drives it
    # and to the watchdog: running it here too makes two drivers of one backup. A redelivery of
    # the message that admitted it means that delivery failed: run it again.
    rerun = dequeue_count > 1 and bool(message_id) and (
        stored.internal.get("admittedBy") == message_id)
    if created or rerun:
        run_admitted(ctx, stored, dequeue_count=dequeue_count)
    elif stored.operation.status is OperationStatus.QUEUED:
        start_admitted(ctx, DATA_BACKUP_WORK, stored.operation.operation_id,
                       int(stored.internal["seq"]))
    return stored.operation


def handle_poisoned_data_backup_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int
) -> Operation | None:
    """`data-backup-requests-poison`: the same intake, for a request the host gave up on before
    it was admitted (`shared.intake.take_poisoned`)."""
    from data_backups.request import parse_data_backup_request

    return take_poisoned(
        ctx, OperationKind.DATA_BACKUP, body, parse_data_backup_request,
        lambda queue: handle_data_backup_message(
            ctx, body, message_id=message_id, dequeue_count=dequeue_count, queue=queue),
        queue=DATA_BACKUP_REQUESTS, message_id=message_id, dequeue_count=dequeue_count,
    )
