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
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from notifications.outbox import announce, ending_notice_due
from shared.errors import ConcurrencyConflict, OperationNotFound, RequestInvalid
from shared.inputs import decode_json, parse_guid, parse_text, readable, usable_request_id
from shared.operations import (
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    finish,
    new_operation,
)
from shared.runtime import AppContext
from shared.storage.claims import claims_for
from shared.storage.history import StoredOperation
from shared.validation import MAX_LABEL

log = logging.getLogger(__name__)

# Where a request names the environment its record is filed under (the target), in order; a
# record restore's target defaults to its source.
_ENVIRONMENT_FIELDS = {
    OperationKind.RESTORE: ("targetEnvironmentId",),
    OperationKind.DATA_RESTORE: ("targetEnvironmentId", "sourceEnvironmentId"),
}



class _Request(Protocol):
    @property
    def request_id(self) -> str | None: ...


R = TypeVar("R", bound=_Request)


def admit(
    ctx: AppContext,
    candidate: Operation,
    *,
    dedup_key: str | None,
    internal: dict[str, Any] | None = None,
    keep_active: bool = False,
) -> tuple[StoredOperation, bool]:
    """Store `candidate` unless its key was admitted before; returns (stored, created).

    `keep_active`: see `HistoryStore.create` (a rejection whose notice is still to be sent)."""
    if dedup_key is not None:
        owner = claims_for(ctx).claim(dedup_key, candidate.operation_id)
        if owner != candidate.operation_id:
            try:
                return ctx.history.get(owner), False
            except OperationNotFound:
                # Claimed by an intake that died before creating its operation: finish its job.
                candidate = replace(candidate, operation_id=owner)
    try:
        return ctx.history.create(candidate, internal=internal, keep_active=keep_active), True
    except ConcurrencyConflict:
        return ctx.history.get(candidate.operation_id), False


def request_key(kind: OperationKind, request_id: str | None) -> str | None:
    """The idempotency key of a request id: the same id twice is one operation of its kind."""
    return f"{kind.value}:{request_id}" if request_id else None


def read_intake_message(
    ctx: AppContext,
    kind: OperationKind,
    body: bytes | str,
    parse: Callable[[object], R],
    *,
    queue: str,
    message_id: str,
) -> tuple[R, str] | None:
    """The request in an intake queue message and the key to admit it under; None when it is
    not a valid request, which is then on record as `Rejected` (and the message may go).

    Keyed by the request's id when it carries a usable one, so a pipeline finds its rejected
    request by it, and a second delivery or a resend is one record; by the message id otherwise.
    """
    fallback_key = f"queue:{queue}:{message_id}"
    raw: object = None
    try:
        raw = decode_json(body, what=f"{kind.value} request", base64_fallback=True)
        request = parse(raw)
    except RequestInvalid as error:
        key = request_key(kind, usable_request_id(raw)) or fallback_key
        record_rejected(ctx, kind, error, raw, dedup_key=key)
        return None
    return request, request_key(kind, request.request_id) or fallback_key


def record_rejected(
    ctx: AppContext,
    kind: OperationKind,
    error: RequestInvalid,
    raw: object,
    *,
    dedup_key: str | None,
) -> StoredOperation:
    """Keep an invalid request in history as `Rejected`, with the reason a person can act on.

    Only the fields that pass their own parser are copied onto the record: the rest of an
    invalid request is caller text that must not reach storage (it is named in the reason).
    """
    fields: dict[str, Any] = raw if isinstance(raw, dict) else {}
    environment = next(
        (env for name in _ENVIRONMENT_FIELDS.get(kind, ("environmentId",))
         if (env := _lenient(parse_guid, fields.get(name)))), "",
    )
    now = ctx.clock()
    operation = new_operation(
        kind,
        environment,
        now,
        label=_text(fields.get("label") or fields.get("backupLabel")),
        requested_by=_text(fields.get("requestedBy")),
        reason=_text(fields.get("reason"), multiline=True),  # a reason may run over lines
        request_id=usable_request_id(fields),
    )
    detail = error.message
    if operation.request_id:
        # The id now names this rejection (a resend of it finds this record, not a new request):
        # the person who corrects the request must know to choose another.
        detail += (f" To send the corrected request, give it a new requestId: "
                   f"'{operation.request_id}' now names this rejected one.")
    if error.fields:
        operation = replace(operation, options={"invalidFields": dict(error.fields)})
    operation = finish(
        operation, OperationStatus.REJECTED, now, error=OperationError(error.code, detail)
    )
    # Terminal from birth: no later delivery of the request announces it, so its notice is kept
    # pending like any ending's (notifications/outbox.py).
    pending = ending_notice_due(ctx, None, operation)
    stored, created = admit(ctx, operation, dedup_key=dedup_key, keep_active=pending)
    if created:
        log.warning(
            "intake.rejected",
            extra={"operationId": operation.operation_id, "kind": kind.value, "code": error.code},
        )
        announce(ctx, None, stored.operation, pending=pending)
    return stored


def _text(value: object, *, multiline: bool = False) -> str | None:
    """Cut rather than dropped: a long label still tells a person which request this was."""
    # (A one-line text as it reads: a label refused for a character that reorders text still
    # names the request.)
    cut = (value if multiline else readable(value)).strip()[:MAX_LABEL] \
        if isinstance(value, str) else value
    return _lenient(lambda v: parse_text(v, max_length=MAX_LABEL, multiline=multiline), cut)


def _lenient(parse: Callable[[object], str | None], value: object) -> str | None:
    try:
        return parse(value)
    except ValueError:
        return None
