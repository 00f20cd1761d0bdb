"""Record restore intake (queue, HTTP, CLI): admit once per request key with the initial state,
then send the first step message; the engine does the rest (the `data_restore` kind). Safe to run
twice for one message.

The Production guardrail (allow-list and confirmation) is not checked here: it needs the
target's type from the platform, so the validating phase checks it, before anything is written.
The confirmation travels in the operation's internal state only, never on its record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data_restores.state import DataRestoreState
from engine.messages import start_admitted
from shared.intake import admit, read_intake_message, request_key, take_poisoned
from shared.operations import Operation, OperationKind, OperationStatus, new_operation
from shared.queue_names import DATA_RESTORE_REQUESTS, DATA_RESTORE_WORK
from shared.runtime import AppContext

if TYPE_CHECKING:
    from data_restores.request import DataRestoreRequest


def initial_state(request: DataRestoreRequest) -> DataRestoreState:
    return DataRestoreState(
        request.source_environment_id, request.target_environment_id, request.tables,
        mode=request.mode, point_id=request.point_id, at=request.at,
        record_ids=request.record_ids, with_related=request.with_related, apply=request.apply,
        confirm_production=request.confirm_production,
    )


def _options(request: DataRestoreRequest) -> dict[str, Any]:
    """What the record shows of the request beyond the contract's fields (the card and the CLI
    say "dry run" from it); the ids themselves stay in the state: 1,000 GUIDs would crowd it."""
    options: dict[str, Any] = {"mode": request.mode}
    if not request.apply:
        options["dryRun"] = True
    if request.with_related:
        options["withRelated"] = True
    if request.record_ids is not None:
        options["recordIds"] = len(request.record_ids)
    return options


def submit_data_restore(
    ctx: AppContext, request: DataRestoreRequest, *, dedup_key: str | None = None
) -> Operation:
    """Admit once per key and send the first step (again for a request seen before and still
    Queued: its first message may be the one that got lost; a second one is stale or loses)."""
    candidate = new_operation(
        OperationKind.DATA_RESTORE, request.target_environment_id, ctx.clock(),
        source_environment_id=request.source_environment_id, point_id=request.point_id,
        tables=request.tables, restore_point=request.at, options=_options(request),
        requested_by=request.requested_by, reason=request.reason, request_id=request.request_id,
    )
    stored, _ = admit(
        ctx, candidate,
        dedup_key=dedup_key or request_key(OperationKind.DATA_RESTORE, request.request_id),
        internal=initial_state(request).to_json(),
    )
    if stored.operation.status is OperationStatus.QUEUED:
        start_admitted(ctx, DATA_RESTORE_WORK, stored.operation.operation_id,
                       int(stored.internal["seq"]))
    return stored.operation


def handle_data_restore_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, queue: str = DATA_RESTORE_REQUESTS
) -> Operation | None:
    """`data-restore-requests`: validate (invalid -> Rejected, on record), admit once, start.

    `queue`: where the message came from (the key of a request without a requestId)."""
    from data_restores.request import parse_data_restore_request

    read = read_intake_message(
        ctx, OperationKind.DATA_RESTORE, body, parse_data_restore_request,
        queue=queue, message_id=message_id,
    )
    if read is None:
        return None
    request, key = read
    return submit_data_restore(ctx, request, dedup_key=key)


def handle_poisoned_data_restore_message(
    ctx: AppContext, body: bytes | str, *, message_id: str, dequeue_count: int
) -> Operation | None:
    """`data-restore-requests-poison`: the same intake, for a request the host gave up on
    before it was admitted (`shared.intake.take_poisoned`)."""
    from data_restores.request import parse_data_restore_request

    return take_poisoned(
        ctx, OperationKind.DATA_RESTORE, body, parse_data_restore_request,
        lambda queue: handle_data_restore_message(ctx, body, message_id=message_id, queue=queue),
        queue=DATA_RESTORE_REQUESTS, message_id=message_id, dequeue_count=dequeue_count,
    )
