"""Delivering outbox messages: rebuild the event, POST it to each target once, retry by message.

For each message on `notifications`:

1. Parse it; rebuild the event from the current records (an operation that moved on since makes
   the message superseded: dropped, the later status has its own message).
2. For each configured target, its delivery row (`{prefix}Deliveries`, PK event id, RK target)
   decides: delivered or failed for good -> skip; a different attempt is expected -> this message
   is a duplicate, skip; another worker holds the lease -> look again when it ends; else lease
   it (ETag), POST, and record the verdict.
3. A retryable answer sends this message again for that target only, delayed (never a sleep),
   with the next attempt number; a permanent refusal, or retries running out, is noted on the
   operation the event is about (`options["notifications"]`), once it has ended.

At-least-once: a crash between a POST and its record repeats the POST later, with the same
event id, which receivers use to drop the repeat.

A message whose handling raised on every try of the host (storage unreachable for longer than
the host's five tries, 10 s apart) would go to `notifications-poison`, which nothing reads: on its
last try it is put back on the queue, delayed, a few times (HOLD_DELAYS) before that happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from notifications.cards import build_teams_message, encode_teams_message
from notifications.events import (
    NotificationEvent,
    OperationEvent,
    Outcome,
    operation_event_id,
)
from notifications.failures import DeliveryProblem, with_problems
from notifications.messages import (
    DataOverdueNotice,
    Envelope,
    ExpiringNotice,
    OperationNotice,
    RoundNotice,
    StillSandboxNotice,
    Target,
    current_event,
    from_payload,
    to_payload,
)
from notifications.retry_policy import (
    Accepted,
    Permanent,
    Retryable,
    Verdict,
    classify_response,
    classify_transport_error,
    next_delay,
)
from notifications.rounds import load_summary, member_finished
from notifications.store import DeliveryRow, DeliveryState, NotificationStore, store_for
from notifications.transport import (
    Destination,
    TransportError,
    UrlRefusedError,
    destinations,
    post,
    signing_time,
)
from notifications.webhook import build_webhook_payload, sign
from shared.errors import ConcurrencyConflict, OperationNotFound
from shared.jitter import draw
from shared.operations import OperationKind
from shared.queue_names import MAX_DEQUEUE_COUNT, NOTIFICATIONS
from shared.runtime import AppContext
from shared.storage.queues import decode_message_body

log = logging.getLogger(__name__)

# Longer than a POST can take (transport.TIMEOUT), so a lease only outlives a worker that died.
LEASE = timedelta(minutes=2)
EVENT_ID_HEADER = "X-PPBackup-Event-Id"
_NOTE_ROUNDS = 3
# The waits before a message whose every try failed is handled again: about an hour in all,
# enough for a storage outage to end, and bounded, so a message that fails for a bug does not
# come back forever (after the last, the host's poison queue takes it, as it always did).
HOLD_DELAYS = (60.0, 300.0, 900.0, 1800.0)


@dataclass(frozen=True, slots=True)
class Loaded:
    """An event ready to render, and the operation (if any) its delivery problems are noted on."""

    event: NotificationEvent
    occurred_at: datetime
    operation_id: str | None


@dataclass(frozen=True, slots=True)
class Delivered:
    target: Target


@dataclass(frozen=True, slots=True)
class Skipped:
    target: Target
    why: str


@dataclass(frozen=True, slots=True)
class Scheduled:
    target: Target
    attempt: int
    delay_seconds: float


@dataclass(frozen=True, slots=True)
class GaveUp:
    target: Target
    problem: DeliveryProblem


Result: TypeAlias = Delivered | Skipped | Scheduled | GaveUp


def handle_notification(
    ctx: AppContext, body: bytes | str, *, dequeue_count: int = 1
) -> list[Result]:
    """Process one `notifications` message; returns what happened per target (for tests/logs).

    Raises only for storage or queue failures, so the host retries the message; on the host's
    last try (`dequeue_count`) the message is held back on the queue instead, a few times.
    """
    try:
        return _handle(ctx, body)
    except Exception as error:
        if dequeue_count < MAX_DEQUEUE_COUNT or not _hold(ctx, body, error):
            raise
        return []


def _hold(ctx: AppContext, body: bytes | str, error: Exception) -> bool:
    """Put the message back on the queue, delayed; False when its holds are used up (or the
    queue refuses it too), and the host's poison queue is where it goes."""
    try:
        envelope = from_payload(decode_message_body(body))
    except ValueError:
        return False
    if envelope.held >= len(HOLD_DELAYS):
        log.error("notifications.given_up",
                  extra={"eventId": envelope.notice.event_id, "event": envelope.notice.event,
                         "error": type(error).__name__})
        return False
    delay = HOLD_DELAYS[envelope.held]
    try:
        _send(ctx, replace(envelope, held=envelope.held + 1), delay)
    except Exception:  # noqa: BLE001 - the host's own failure handling takes over
        return False
    log.warning("notifications.held",
                extra={"eventId": envelope.notice.event_id, "event": envelope.notice.event,
                       "held": envelope.held + 1, "delaySeconds": delay,
                       "error": type(error).__name__})
    return True


def _handle(ctx: AppContext, body: bytes | str) -> list[Result]:
    try:
        envelope = from_payload(decode_message_body(body))
    except ValueError as error:
        # Only this app writes the queue: a malformed message is a bug; retrying cannot fix it.
        log.error("notifications.message_malformed", extra={"error": str(error)[:200]})
        return []
    wanted = [
        d for d in destinations(ctx.settings)
        if envelope.targets is None or d.target in envelope.targets
    ]
    if not wanted:
        return []  # notifications were switched off since the message was sent
    store = store_for(ctx)
    notice = envelope.notice
    if (isinstance(notice, OperationNotice) and notice.round_id
            and member_finished(ctx, store, notice)):
        return []  # reported by the round's summary, not on its own
    loaded = _load(ctx, store, envelope)
    if loaded is None:
        return []
    results = [_deliver(ctx, store, loaded, d, envelope) for d in wanted]
    problems = [r.problem for r in results if isinstance(r, GaveUp)]
    problems += _earlier_problems(store, loaded)
    if problems:
        _note(ctx, loaded, problems)
    return results


# --------------------------------------------------------------------------- loading the event


def _load(ctx: AppContext, store: NotificationStore, envelope: Envelope) -> Loaded | None:
    notice = envelope.notice
    if isinstance(notice, RoundNotice):
        summary = load_summary(store, notice.round_id)
        if summary is None:
            log.warning("notifications.round_missing", extra={"round": notice.round_id})
            return None
        return Loaded(summary, summary.ended_at, None)
    if isinstance(notice, ExpiringNotice):
        return Loaded(notice.alert(), notice.occurred_at, notice.operation_id)
    if isinstance(notice, DataOverdueNotice):
        return Loaded(notice.alert(), notice.occurred_at, None)
    try:
        operation = ctx.history.get(notice.operation_id).operation
    except OperationNotFound:
        log.warning("notifications.operation_missing", extra={"operationId": notice.operation_id})
        return None
    if isinstance(notice, StillSandboxNotice):
        return Loaded(notice.alert(operation), notice.occurred_at, operation.operation_id)
    event = current_event(notice, operation)
    if event is None:
        log.info(
            "notifications.superseded",
            extra={"operationId": operation.operation_id, "event": notice.event,
                   "status": operation.status.value},
        )
        return None
    return Loaded(event, notice.occurred_at, operation.operation_id)


# --------------------------------------------------------------------------- one target


def _deliver(
    ctx: AppContext,
    store: NotificationStore,
    loaded: Loaded,
    destination: Destination,
    envelope: Envelope,
) -> Result:
    target, event = destination.target, loaded.event
    now = ctx.clock()
    row = store.delivery(event.event_id, target.value)
    if row is None:
        row = DeliveryRow(event.event_id, target.value, event.event, next_attempt=envelope.attempt)
    if row.settled:
        return Skipped(target, row.state)
    if row.etag is not None and row.next_attempt != envelope.attempt:
        return Skipped(target, "duplicate message")
    if row.lease_until is not None and row.lease_until > now:
        # Another worker is posting. If it dies, its lease ends and nobody would look again,
        # so this message comes back for the target just after the lease.
        wait = (row.lease_until - now).total_seconds() + 1
        _send(ctx, replace(envelope, targets=(target,)), wait)
        return Skipped(target, "in flight elsewhere")
    leased = store.take_lease(row, now + LEASE)
    if leased is None:
        return Skipped(target, "lost the lease race")
    verdict = _attempt(destination, loaded)
    first = leased.first_attempt_at or now
    after = replace(
        leased, attempts=leased.attempts + 1, first_attempt_at=first, lease_until=None,
        last_status=verdict.status,
        last_reason=None if isinstance(verdict, Accepted) else verdict.reason,
    )
    if isinstance(verdict, Accepted):
        _save(store, replace(after, state=DeliveryState.DELIVERED, done_at=now))
        log.info("notifications.delivered",
                 extra={"eventId": event.event_id, "event": event.event, "target": target.value,
                        "attempt": after.attempts})
        return Delivered(target)
    if isinstance(verdict, Retryable):
        delay = next_delay(verdict, attempts=after.attempts, first_attempt_at=first, now=now,
                           jitter=2.0 * draw() - 1.0)  # in [-1, 1)
        if delay is not None:
            return _retry_later(ctx, store, after, envelope, target, verdict, delay)
        reason = f"gave up after {after.attempts} attempts; last: {verdict.reason}"
    else:
        reason = verdict.reason
    _save(store, replace(after, state=DeliveryState.FAILED, done_at=now, last_reason=reason))
    log.warning("notifications.delivery_failed",
                extra={"eventId": event.event_id, "event": event.event, "target": target.value,
                       "status": after.last_status, "reason": reason})
    return GaveUp(target, DeliveryProblem(
        event.event, event.event_id, target.value, reason, now, after.last_status
    ))


def _retry_later(
    ctx: AppContext,
    store: NotificationStore,
    after: DeliveryRow,
    envelope: Envelope,
    target: Target,
    verdict: Retryable,
    delay: float,
) -> Scheduled:
    attempt = envelope.attempt + 1
    try:
        # Message first, record second. If the send fails, the row is released without moving
        # on to the next attempt and the error is raised: the host redelivers this message,
        # whose attempt number the row still expects, and the attempt is made again.
        _send(ctx, Envelope(envelope.notice, (target,), attempt), delay)
    except Exception:
        _save(store, after)
        raise
    _save(store, replace(after, next_attempt=attempt))
    log.info("notifications.retry_scheduled",
             extra={"eventId": after.event_id, "target": target.value, "attempt": attempt,
                    "delaySeconds": round(delay, 1), "reason": verdict.reason})
    return Scheduled(target, attempt, delay)


def _attempt(destination: Destination, loaded: Loaded) -> Verdict:
    event = loaded.event
    try:
        if destination.target is Target.TEAMS:
            body = encode_teams_message(build_teams_message(event))
            headers = {"Content-Type": "application/json"}
        else:
            body = build_webhook_payload(event, occurred_at=loaded.occurred_at)
            headers = sign(body, destination.secret or "", signing_time())
    except Exception as error:
        # A message that cannot be built will not build on a retry either: recorded as a
        # permanent failure (the lease released, the attempt counted), never an endless loop.
        log.exception("notifications.build_failed", extra={"eventId": event.event_id})
        return Permanent(f"the message could not be built ({type(error).__name__})")
    headers[EVENT_ID_HEADER] = event.event_id
    try:
        answer = post(destination, body, headers)
    except TransportError as failure:
        return classify_transport_error(failure.kind)
    except UrlRefusedError as refused:
        return Permanent(str(refused))
    # Retry-After dates are real-world instants, so they are read against the real clock.
    return classify_response(answer.status, answer.retry_after, answer.body, now=datetime.now(UTC))


def _send(ctx: AppContext, envelope: Envelope, delay_seconds: float) -> None:
    ctx.queues.send(NOTIFICATIONS, to_payload(envelope),
                    delay_seconds=ctx.real_delay(delay_seconds))


def _save(store: NotificationStore, row: DeliveryRow) -> None:
    if not store.save(row):
        # Our lease ran out and someone else took the row over; their record stands.
        log.warning("notifications.delivery_row_changed",
                    extra={"eventId": row.event_id, "target": row.target})


# --------------------------------------------------------------------------- noting problems


def _earlier_problems(store: NotificationStore, loaded: Loaded) -> list[DeliveryProblem]:
    """Problems of a restore's "started" event, which could not be noted while it ran."""
    event = loaded.event
    if not (isinstance(event, OperationEvent) and event.operation.kind is OperationKind.RESTORE
            and event.operation.status.terminal):
        return []
    started = operation_event_id(OperationKind.RESTORE, Outcome.STARTED,
                                 event.operation.operation_id)
    return [
        DeliveryProblem(row.event, row.event_id, row.target, row.last_reason or "failed",
                        row.done_at or event.operation.updated_at, row.last_status)
        for row in store.failed_deliveries(started)
    ]


def _note(ctx: AppContext, loaded: Loaded, problems: list[DeliveryProblem]) -> None:
    """Note delivery problems on the operation, once it has ended.

    Never on a running operation: its owner (the orchestrator, a backup attempt) writes it with
    an ETag, and a write of ours would make that owner's next checkpoint lose its race.
    """
    operation_id = loaded.operation_id
    if operation_id is None:
        return  # a round summary: the delivery rows and the log are the record
    for _ in range(_NOTE_ROUNDS):
        try:
            stored = ctx.history.get(operation_id)
        except OperationNotFound:
            return
        if not stored.operation.status.terminal:
            return
        updated = with_problems(stored.operation, problems)
        if updated is None:
            return
        try:
            ctx.history.update(stored, updated)
        except ConcurrencyConflict:
            continue
        return
