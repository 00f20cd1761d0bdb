"""The watchdog: every minute, re-drive operations whose next step is overdue.

An operation is overdue when its next due time (set at every checkpoint: when its continuation
message should run, plus a grace) has passed: the process died between a checkpoint and the
message that continues it, or the message was lost or poisoned. Unfinished operations that never
got a due time (a Queued one whose intake died before sending its message) are overdue a grace
after their last update.

An operation of a kind the engine drives (`engine/kinds.py`) is re-driven the one way: a
checkpoint (seq + 1, so a late original message is stale) and a fresh step message; after
`max_watchdog_nudges` it is handed to a person. At most `_REDRIVES_PER_TICK` a tick, the
longest overdue first. A backup deletion the platform did not answer is sent again through its
own use case (a delete is idempotent). It alerts on nothing itself; what it did is logged and
noted on the operation.

An entry left on an ended operation is either a leftover (a crash after the checkpoint) or the
"notice pending" marker of an ending whose notice was not queued (notifications/outbox.py). Past
a grace after the ending (its own `announce` may be under way), the watchdog queues the notice
again, with the event id it had the first time, then drops the entry; a send that fails keeps the
entry for the next tick. At most `_NOTICES_PER_TICK` a tick, and none for an ending older than
`NOTICE_WINDOW` (the entry is dropped, logged at ERROR): a day-old event a person already missed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backup_admin.service import resume_deletion
from engine.kind import Kind
from engine.kinds import kind_for
from engine.nudge import nudge
from engine.record import SetOption
from engine.runner import RunnerConfig, end_needing_attention, runner_config
from engine.state import S, StateUnreadableError
from notifications.outbox import announce_again, ending_notice_due
from shared.errors import OperationNotFound
from shared.operations import OperationKind, format_time, operation_id_instant, to_millis
from shared.runtime import AppContext
from shared.storage.active import ActiveEntry
from shared.storage.history import StoredOperation

log = logging.getLogger(__name__)

# Endings whose notice is queued again per tick: a queue outage that left many is caught up over
# a few minutes, and a tick stays short.
_NOTICES_PER_TICK = 50
# Operations re-driven (or handed over) per tick: each costs a few storage round trips and a
# message, and a tick must stay short however many an outage left overdue; the rest are still
# overdue at the next tick.
_REDRIVES_PER_TICK = 200
# How long after an ending its lost notice is still worth sending (in real time, like the grace).
NOTICE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WatchdogReport:
    checked: int = 0
    redriven: tuple[str, ...] = ()
    discarded: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    handed_over: tuple[str, ...] = ()
    renotified: tuple[str, ...] = ()


def run_watchdog(ctx: AppContext, *, config: RunnerConfig | None = None) -> WatchdogReport:
    config = config or runner_config()
    now = to_millis(ctx.clock())
    grace = config.grace(ctx)
    entries = ctx.history.list_active()
    redriven: list[str] = []
    discarded: list[str] = []
    skipped: list[str] = []
    handed_over: list[str] = []
    renotified: list[str] = []
    # The longest overdue first: when more are overdue than a tick re-drives (after an outage),
    # those wait one more tick, not the ones that waited longest.
    overdue = sorted(
        (e for e in entries if e.next_due_at is None or e.next_due_at <= now),
        key=lambda e: e.next_due_at or _instant(e.operation_id),
    )
    for entry in overdue:
        if len(redriven) + len(handed_over) >= _REDRIVES_PER_TICK:
            break
        try:
            outcome = _look_at(ctx, entry, now, grace, config,
                               notices_left=_NOTICES_PER_TICK - len(renotified))
        except Exception:
            # One bad operation must not stop the watchdog from looking at the others.
            log.exception("watchdog.failed", extra={"operationId": entry.operation_id})
            skipped.append(entry.operation_id)
            continue
        if outcome == "redriven":
            redriven.append(entry.operation_id)
        elif outcome == "discarded":
            discarded.append(entry.operation_id)
        elif outcome == "handed_over":
            handed_over.append(entry.operation_id)
        elif outcome == "renotified":
            renotified.append(entry.operation_id)
    if redriven or discarded or renotified:
        log.warning(
            "watchdog.round",
            extra={"checked": len(entries), "redriven": redriven, "discarded": discarded,
                   "renotified": renotified},
        )
    return WatchdogReport(
        len(entries), tuple(redriven), tuple(discarded), tuple(skipped), tuple(handed_over),
        tuple(renotified),
    )


def _look_at(
    ctx: AppContext, entry: ActiveEntry, now: datetime, grace: timedelta, config: RunnerConfig,
    *, notices_left: int = _NOTICES_PER_TICK,
) -> str:
    try:
        stored = ctx.history.get(entry.operation_id)
    except OperationNotFound:
        # An entry is written before its operation; one whose operation never came is dropped
        # once that could no longer be an intake still in progress.
        if _instant(entry.operation_id) + grace < now:
            ctx.history.discard_active(entry.operation_id)
            return "discarded"
        return "waiting"
    operation = stored.operation
    if operation.status.terminal:
        return _ended(ctx, stored, now, grace, notices_left)
    if entry.next_due_at is None and operation.updated_at + grace > now:
        return "waiting"
    if operation.updated_at >= now:
        # Checkpointed after this tick listed it as overdue: a late step of its own is driving
        # it (and sets its next due time); a nudge would cut that step's wait short.
        return "waiting"
    overdue_since = entry.next_due_at or operation.updated_at
    if operation.kind is OperationKind.BACKUP_DELETE:
        # One idempotent platform call: the deletion's own use case carries it on (or ends it).
        resume_deletion(ctx, stored)
        return "redriven"
    kind = kind_for(operation.kind)
    if kind is None:
        log.error("watchdog.unknown_kind", extra={"operationId": operation.operation_id})
        return "skipped"
    return _redrive(ctx, kind, stored, now, overdue_since, grace, config)


def _ended(
    ctx: AppContext, stored: StoredOperation, now: datetime, grace: timedelta, notices_left: int
) -> str:
    """An entry on an ended operation: send its notice again if it may have been lost."""
    operation = stored.operation
    ended = operation.ended_at or operation.updated_at
    if ending_notice_due(ctx, None, operation):
        if now < ended + grace:
            return "waiting"  # the ending's own announce may not have run yet
        if now - ended > NOTICE_WINDOW * ctx.time_scale:
            log.error("watchdog.notice_abandoned", extra={"operationId": operation.operation_id})
        elif notices_left <= 0:
            return "waiting"  # this tick's share is used up: the next tick goes on
        else:
            announce_again(ctx, operation)  # raises if the send fails: the entry stays
            # After the send: while it keeps failing, the release is not repeated every tick.
            _release_again(ctx, stored)
            ctx.history.discard_active(operation.operation_id)
            log.warning("watchdog.renotified", extra={"operationId": operation.operation_id,
                                                      "status": operation.status.value})
            return "renotified"
    _release_again(ctx, stored)
    ctx.history.discard_active(operation.operation_id)
    return "discarded"


def _release_again(ctx: AppContext, stored: StoredOperation) -> None:
    """Release what an ended operation held, again, before its entry goes (idempotent): the
    entry outlives an ending until its release has run (`runner.end_and_release`), so one left
    may be an ending whose release failed or never ran. Raises: the entry stays for a next tick.
    """
    operation = stored.operation
    kind = kind_for(operation.kind)
    if kind is None:
        return
    try:
        state = kind.read_state(stored)
    except StateUnreadableError:
        state = None
    if state is not None and state.phase.terminal:
        kind.ended(ctx, state, operation.operation_id)
    else:  # ended by the engine itself, its state left as it was (`end_needing_attention`)
        kind.released(ctx, operation.environment_id, operation.operation_id)


def _redrive(
    ctx: AppContext,
    kind: Kind[S],
    stored: StoredOperation,
    now: datetime,
    overdue_since: datetime,
    grace: timedelta,
    config: RunnerConfig,
) -> str:
    operation = stored.operation
    try:
        state = kind.read_state(stored)
    except StateUnreadableError:
        end_needing_attention(ctx, stored, "The engine cannot read this operation's saved state.")
        return "handed_over"
    if state.wake_at is not None and state.wake_at + grace > now:
        # A wait its own step scheduled after the listing (that instance's clock may be behind
        # ours): its message is on the way, and its due time follows the wake-up.
        return "waiting"
    nudges = state.watchdog_nudges + 1
    if nudges > config.max_watchdog_nudges:
        message = (
            f"Its next step went missing {config.max_watchdog_nudges} times (lost messages or "
            "killed invocations); the last one was due by "
            f"{format_time(overdue_since)}, in phase {state.phase.value}."
        )
        rescued = kind.rescue(state, message, now) if kind.rescue is not None else None
        if rescued is None:
            end_needing_attention(ctx, stored, message)
            return "handed_over"
        # Driven on in the phase the kind chose (a restore's switch back), with fresh budgets.
        ctx.history.set_next_due(operation.operation_id, now + grace)
        rescued_state, changes = rescued
        moved = nudge(ctx, kind.queue, stored, rescued_state, changes=changes,
                      watchdog_nudges=0, engine_faults=0)
        if moved is None:
            return "busy"
        log.error(
            "watchdog.rescued",
            extra={"operationId": operation.operation_id, "phase": state.phase.value,
                   "nextPhase": moved.phase.value},
        )
        return "redriven"
    before = operation.options.get("watchdog")
    earlier = before.get("total", before.get("nudges")) if isinstance(before, dict) else None
    note = SetOption(
        "watchdog",
        {
            # In the current phase (the budget), and over the whole operation (for people).
            "nudges": nudges,
            "total": (earlier if isinstance(earlier, int) else 0) + 1,
            "lastAt": format_time(now),
            "reason": f"the next step was due by {format_time(overdue_since)} and had not run",
            "phase": state.phase.value,
        },
    )
    # The due time first: should the send below fail, the next round tries again after a grace.
    ctx.history.set_next_due(operation.operation_id, now + grace)
    moved = nudge(ctx, kind.queue, stored, state, changes=(note,), watchdog_nudges=nudges)
    if moved is None:
        return "busy"  # a worker just checkpointed it: it is moving after all
    log.warning(
        "watchdog.redriven",
        extra={
            "operationId": operation.operation_id,
            "kind": operation.kind.value,
            "phase": state.phase.value,
            "seq": moved.seq,
            "overdueSince": format_time(overdue_since),
        },
    )
    return "redriven"


def _instant(operation_id: str) -> datetime:
    try:
        return operation_id_instant(operation_id)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
