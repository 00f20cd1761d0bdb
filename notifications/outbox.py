"""The outbox: one small message on the `notifications` queue per status change worth announcing.

A checkpoint (the ETag write) that may change an operation's status goes through
`update_and_announce`, which writes it and then queues its notice:

    stored = update_and_announce(ctx, stored, new_operation, internal=...)

An operation must never wait for, or fail because of, a notification. `announce` therefore sends
at most one queue message, without reading anything, and swallows every error (logged at WARNING).

An ending must not be lost that way, though: a failed send (or a crash between the checkpoint and
the send) is not retried by anyone else, since the operation's own messages stop at a terminal
status. So the checkpoint that ends an operation with a notice to send (`ending_notice_due`)
keeps the operation's watchdog entry (`keep_active`), which exists since its create: that is the
durable "notice pending" marker, at no extra write. `announce(..., pending=True)` removes it once
the message is queued; an entry left on an ended operation makes the watchdog send the notice
again after a grace (`announce_again`). The notice is a pure function of the record
(`messages.operation_notice`), so the resent one has the same event id, and delivery (its rows per
event id and target) and receivers drop a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifications.messages import Envelope, Notice, operation_notice, to_payload
from notifications.transport import destinations
from shared.operations import Operation
from shared.queue_names import NOTIFICATIONS
from shared.runtime import AppContext

if TYPE_CHECKING:
    from shared.storage.history import StoredOperation

log = logging.getLogger(__name__)


def update_and_announce(
    ctx: AppContext,
    stored: StoredOperation,
    operation: Operation,
    *,
    internal: Mapping[str, Any] | None = None,
    beside: Sequence[Callable[[], object]] = (),
) -> StoredOperation:
    """A checkpoint (`HistoryStore.update`: ConcurrencyConflict if the record changed since) and
    the notice it announces. An ending with a notice keeps its watchdog entry until the notice
    is queued (`ending_notice_due`), so a failed send or a crash between is sent again."""
    pending = ending_notice_due(ctx, stored.operation, operation)
    written = ctx.history.update(stored, operation, internal=internal, beside=beside,
                                 keep_active=pending)
    announce(ctx, stored.operation, written.operation, pending=pending)
    return written


def ending_notice_due(ctx: AppContext, before: Operation | None, after: Operation) -> bool:
    """Whether the checkpoint `before` -> `after` ends the operation with a notice to send: its
    caller then writes it with `keep_active=True` and calls `announce(..., pending=True)`."""
    return (
        after.status.terminal
        and bool(destinations(ctx.settings))
        and operation_notice(before, after) is not None
    )


def announce(
    ctx: AppContext, before: Operation | None, after: Operation, *, pending: bool = False
) -> None:
    """Queue the notice for `before` -> `after` if it announces anything. Never raises.

    `pending`: the checkpoint kept the operation's watchdog entry as the "notice pending" marker;
    it is removed once the message is queued, and left for the watchdog if the send failed.
    """
    try:
        if destinations(ctx.settings):  # else notifications are off: no message at all
            notice = operation_notice(before, after)
            if notice is not None:
                send_notice(ctx, notice, fail_fast=True)
    except Exception as error:  # noqa: BLE001 - an operation never fails because of a notification
        log.warning(
            "notifications.announce_failed",
            extra={"operationId": after.operation_id, "error": type(error).__name__},
        )
        return  # the marker stays: the watchdog sends the notice again
    if pending:
        _clear_marker(ctx, after.operation_id)


def announce_again(ctx: AppContext, operation: Operation) -> None:
    """Queue an ended operation's notice again (for the watchdog), if it has one to send.

    Raises if the send fails: the caller keeps the marker and tries on its next tick.
    """
    if not destinations(ctx.settings):
        return
    notice = operation_notice(None, operation)  # same event id as the one first announced
    if notice is not None:
        send_notice(ctx, notice, fail_fast=True)  # the next tick is the retry


def _clear_marker(ctx: AppContext, operation_id: str) -> None:
    try:
        ctx.history.discard_active(operation_id)
    except Exception as error:  # noqa: BLE001 - a marker left behind costs one repeated notice
        log.warning(
            "notifications.marker_left",
            extra={"operationId": operation_id, "error": type(error).__name__},
        )


def send_notice(
    ctx: AppContext, notice: Notice, *, delay_seconds: float = 0.0, fail_fast: bool = False
) -> None:
    """Put `notice` on the outbox queue (raises on failure: for callers that handle it)."""
    ctx.queues.send(
        NOTIFICATIONS,
        to_payload(Envelope(notice)),
        delay_seconds=ctx.real_delay(delay_seconds),
        fail_fast=fail_fast,
    )
