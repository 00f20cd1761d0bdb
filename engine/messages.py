"""The step message: `{"operationId", "seq"}`, nothing else (state lives in the table).

Each kind has its queue (`Kind.queue`: `restore-steps`, `backup-work`); the message is the same.

`seq` is the checkpoint the message continues from: a message whose `seq` is not the stored one
is stale (a duplicate, or overtaken by a cancel or the watchdog) and is dropped unread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.runtime import AppContext
from shared.storage.queues import MAX_DELAY_SECONDS, decode_message_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StepMessage:
    operation_id: str
    seq: int


def decode_step(body: bytes | str) -> StepMessage:
    """ValueError when the body is not a step message."""
    payload = decode_message_body(body)
    if not isinstance(payload, dict):
        raise ValueError("a step message is a JSON object")
    operation_id, seq = payload.get("operationId"), payload.get("seq")
    if not isinstance(operation_id, str) or not operation_id:
        raise ValueError("a step message needs an operationId")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("a step message needs a non-negative integer seq")
    return StepMessage(operation_id, seq)


def send_step(
    ctx: AppContext, queue: str, operation_id: str, seq: int, delay_seconds: float = 0.0
) -> float:
    """Send the continuation, `delay_seconds` of the app's clock from now.

    The queue delays a message by at most about 7 days; a longer wait is chained by the runner
    (the message arrives early and is sent on). Returns the real delay used.
    """
    real = min(ctx.real_delay(delay_seconds), float(MAX_DELAY_SECONDS))
    ctx.queues.send(queue, {"operationId": operation_id, "seq": seq}, delay_seconds=real)
    return real


def start_admitted(ctx: AppContext, queue: str, operation_id: str, seq: int) -> None:
    """Send an admitted operation's first step message, never raising.

    The operation is on record as Queued: that is what the caller's 202 (or the CLI's id)
    promises, and an error here would tell the caller it was not, and a caller without a
    requestId would send a second one. A Queued operation without its message is the watchdog's
    to start, a grace period from now."""
    try:
        send_step(ctx, queue, operation_id, seq)
    except Exception:
        log.exception("intake.first_message_failed", extra={"operationId": operation_id})
