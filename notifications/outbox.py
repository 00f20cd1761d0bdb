"""The outbox: one small message on the `notifications` queue per status change worth announcing.

Called right after a checkpoint (the ETag write) that may have changed an operation's status:

    stored = ctx.history.update(stored, new_operation, ...)
    announce(ctx, before, stored.operation)

An operation must never wait for, or fail because of, a notification. `announce` therefore sends
at most one queue message, without reading anything, and swallows every error (logged at WARNING).
A message lost that way is not lost state: the event is a pure function of the record
(`messages.operation_notice`), so it can be derived again from history at any time.
"""

from __future__ import annotations

import logging

from notifications.messages import Envelope, Notice, operation_notice, to_payload
from notifications.transport import destinations
from shared.operations import Operation
from shared.queue_names import NOTIFICATIONS
from shared.runtime import AppContext

log = logging.getLogger(__name__)


def announce(ctx: AppContext, before: Operation | None, after: Operation) -> None:
    """Queue the notice for `before` -> `after` if it announces anything. Never raises."""
    try:
        if not destinations(ctx.settings):
            return  # notifications are off: no message at all
        notice = operation_notice(before, after)
        if notice is not None:
            send_notice(ctx, notice, fail_fast=True)
    except Exception as error:  # noqa: BLE001 - an operation never fails because of a notification
        log.warning(
            "notifications.announce_failed",
            extra={"operationId": after.operation_id, "error": type(error).__name__},
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
