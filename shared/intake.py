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

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from notifications.outbox import announce, ending_notice_due
from shared.errors import ConcurrencyConflict, OperationNotFound, RequestInvalid
from shared.inputs import decode_json, parse_guid, parse_text, readable, usable_request_id
from shared.operations import (
    INTAKE_FAILED,
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    finish,
    new_operation,
)
from shared.queue_names import MAX_DEQUEUE_COUNT, poison_queue
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
    raw, read, key = _read_request(kind, body, parse, f"queue:{queue}:{message_id}")
    if isinstance(read, RequestInvalid):
        record_rejected(ctx, kind, read, raw, dedup_key=key)
        return None
    return read, key


def _read_request(
    kind: OperationKind, body: bytes | str, parse: Callable[[object], R], fallback_key: str
) -> tuple[object, R | RequestInvalid, str]:
    """The body as decoded (for the fields a record may keep), the request or why it is not
    one, and the key it is admitted under: its requestId's, even when the request is invalid
    but names a usable one, else `fallback_key`."""
    raw: object = None
    try:
        raw = decode_json(body, what=f"{kind.value} request", base64_fallback=True)
        request = parse(raw)
    except RequestInvalid as error:
        return raw, error, request_key(kind, usable_request_id(raw)) or fallback_key
    return raw, request, request_key(kind, request.request_id) or fallback_key


def take_poisoned(
    ctx: AppContext,
    kind: OperationKind,
    body: bytes | str,
    parse: Callable[[object], R],
    intake: Callable[[str], Operation | None],
    *,
    queue: str,
    message_id: str,
    dequeue_count: int,
) -> Operation | None:
    """`<queue>-poison`: a request whose intake failed on every delivery (the history table
    unreachable for a minute), moved there by the host as a new message with only its body
    (semantics reference 1.3). Runs the same intake, `intake(poison queue name)`, the name being
    for the key of a request without a usable requestId: idempotent by request key, so a request
    admitted after all is not admitted twice; a valid one is admitted late and carried out, an
    invalid one Rejected.

    On this message's own last delivery the request is put on record as Failed, with what to
    do, under the key a pipeline polls by (if storage allows; the error log names the queue in
    any case). The body is never logged: it may be hostile or large; its length and hash are.
    """
    poisoned = poison_queue(queue)
    trace = {"queue": poisoned, "kind": kind.value, "messageId": message_id,
             "dequeueCount": dequeue_count, **body_trace(body)}
    log.warning("intake.poisoned_request", extra=trace)
    try:
        operation = intake(poisoned)
    except Exception as error:
        if dequeue_count >= MAX_DEQUEUE_COUNT:
            _give_up(ctx, kind, body, parse, error, queue=poisoned, message_id=message_id,
                     trace=trace)
        raise
    if operation is None:
        log.warning("intake.poisoned_request_rejected", extra=trace)
    else:
        # What a person reading the operation's log learns of its late start.
        log.warning(
            "intake.poisoned_request_taken",
            extra={**trace, "operationId": operation.operation_id,
                   "status": operation.status.value,
                   "note": "arrived through the poison queue after repeated delivery failures"},
        )
    return operation


def body_trace(body: bytes | str) -> dict[str, Any]:
    """What the log may say of a message body: its length and SHA-256, never the text."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    return {"bodyLength": len(data), "bodySha256": hashlib.sha256(data).hexdigest()}


def _give_up(
    ctx: AppContext,
    kind: OperationKind,
    body: bytes | str,
    parse: Callable[[object], R],
    error: Exception,
    *,
    queue: str,
    message_id: str,
    trace: dict[str, Any],
) -> None:
    """The poison queue's last delivery failed too: the host moves the body on to
    `<queue>-poison-poison`, which nothing reads. Leave a trace a person finds."""
    log.error("intake.poisoned_request_failed", extra={**trace, "error": type(error).__name__})
    summary = f"{type(error).__name__}: {error}"[:300]
    try:
        raw, _, key = _read_request(kind, body, parse, f"queue:{queue}:{message_id}")
        resend = ("send it again with a new requestId"
                  if key.startswith(f"{kind.value}:") else "send it again")
        reason = (
            f"This request could not be taken after repeated failures: its intake failed on "
            f"every delivery, then on each of {MAX_DEQUEUE_COUNT} deliveries from {queue} "
            f"({summary}). Nothing was done; check the app's storage and log, then {resend}."
        )
        stored = record_refused(ctx, kind, OperationStatus.FAILED,
                                OperationError(INTAKE_FAILED, reason), raw, dedup_key=key)
    except Exception as unrecorded:  # noqa: BLE001 - the error log above is the trace left
        log.error("intake.poisoned_request_unrecorded",
                  extra={**trace, "error": type(unrecorded).__name__})
        return
    # This Failed record, or the operation admitted after all, whose run is what failed (the
    # engine recorded that on it, `run_admitted`) or whose first step the watchdog starts.
    log.error("intake.poisoned_request_on_record",
              extra={**trace, "operationId": stored.operation.operation_id,
                     "status": stored.operation.status.value})


def record_rejected(
    ctx: AppContext,
    kind: OperationKind,
    error: RequestInvalid,
    raw: object,
    *,
    dedup_key: str | None,
) -> StoredOperation:
    """Keep an invalid request in history as `Rejected`, with the reason a person can act on."""
    detail = error.message
    if request_id := usable_request_id(raw if isinstance(raw, dict) else {}):
        # The id now names this rejection (a resend of it finds this record, not a new request):
        # the person who corrects the request must know to choose another.
        detail += (f" To send the corrected request, give it a new requestId: "
                   f"'{request_id}' now names this rejected one.")
    return record_refused(
        ctx, kind, OperationStatus.REJECTED, OperationError(error.code, detail), raw,
        dedup_key=dedup_key, invalid_fields=error.fields,
    )


def record_refused(
    ctx: AppContext,
    kind: OperationKind,
    status: OperationStatus,
    error: OperationError,
    raw: object,
    *,
    dedup_key: str | None,
    invalid_fields: dict[str, str] | None = None,
) -> StoredOperation:
    """Keep a request that was not taken in history, ended (`status`) with `error`.

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
    if invalid_fields:
        operation = replace(operation, options={"invalidFields": dict(invalid_fields)})
    operation = finish(operation, status, now, error=error)
    # Terminal from birth: no later delivery of the request announces it, so its notice is kept
    # pending like any ending's (notifications/outbox.py).
    pending = ending_notice_due(ctx, None, operation)
    stored, created = admit(ctx, operation, dedup_key=dedup_key, keep_active=pending)
    if created:
        log.warning(
            "intake.rejected" if status is OperationStatus.REJECTED else "intake.failed",
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
