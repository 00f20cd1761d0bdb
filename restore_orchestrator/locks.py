"""One restore per target environment at a time, oldest request first (docs/orchestrator.md).

The lock is a row per environment taken with insert-if-absent (`shared/storage/locks.py`);
it names the operation holding it. A lock whose holder has ended (a crash between its last
checkpoint and the release) is taken over. Before taking a free lock, a restore checks that no
older restore of the same target is still waiting: the lock goes to them in request order.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from engine.answers import EnvironmentsRead, LockAcquired, LockBusy
from engine.nudge import nudge
from restore_orchestrator.checks import PRODUCTION, SANDBOX
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import RestoreState, StateUnreadableError
from shared.errors import OperationNotFound
from shared.operations import Operation, OperationKind, OperationStatus, operation_id_instant
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext
from shared.storage.history import MAX_PAGE_SIZE
from shared.storage.locks import locks_for

log = logging.getLogger(__name__)

_ROUNDS = 3


def acquire_lock(ctx: AppContext, target_id: str, operation_id: str) -> LockAcquired | LockBusy:
    locks = locks_for(ctx)
    for _ in range(_ROUNDS):
        holder = locks.holder(target_id)
        if holder == operation_id:
            return LockAcquired()
        if holder is not None:
            if not _ended(ctx, holder):
                return LockBusy(holder, first_in_line=False)
            log.warning(
                "restore.lock_taken_over",
                extra={"operationId": operation_id, "environmentId": target_id, "from": holder},
            )
            locks.release(target_id, holder)
            continue
        older = oldest_waiting(ctx, target_id, before=operation_id)
        if older is not None:
            return LockBusy(older.operation_id, first_in_line=True)
        holder = locks.try_acquire(target_id, operation_id)
        if holder == operation_id:
            log.info("restore.lock_acquired",
                     extra={"operationId": operation_id, "environmentId": target_id})
            return LockAcquired()
    return LockBusy(holder or "another restore", first_in_line=False)


def keep_original_type(ctx: AppContext, state: RestoreState) -> None:
    """Before the lock goes: a restore that ends with its target possibly still switched from its
    type (a Production left a Sandbox) keeps that type for the target's next restore, which then
    treats the target as what it was (guardrail, switch back); one that switched it back clears
    it. The environment's current type is no guide: it is what the failure left."""
    facts = state.facts
    locks = locks_for(ctx)
    if facts.switched_back:
        locks.forget_original_type(state.request.target_id)
    elif (state.phase is Phase.NEEDS_ATTENTION and facts.switched_to_sandbox
          and facts.original_type == PRODUCTION):
        locks.remember_original_type(state.request.target_id, state.request.operation_id,
                                     facts.original_type)


def as_left(ctx: AppContext, read: EnvironmentsRead) -> EnvironmentsRead:
    """The environments as a restore must judge them: a target an earlier restore may have left
    a Sandbox is the Production it was (the allow-list and confirmation apply, and it is switched
    back at the end)."""
    target = read.target
    if target.type != SANDBOX or locks_for(ctx).original_type(target.id) != PRODUCTION:
        return read
    production = replace(target, type=PRODUCTION)
    source = production if read.source.id == target.id else read.source
    log.warning("restore.target_left_switched", extra={"environmentId": target.id})
    return EnvironmentsRead(production, source)


def release_and_wake_next(ctx: AppContext, target_id: str, operation_id: str) -> None:
    """Release our lock (if we hold it) and nudge the oldest restore waiting for the target."""
    locks_for(ctx).release(target_id, operation_id)
    following = oldest_waiting(ctx, target_id)
    if following is None:
        return
    try:
        stored = ctx.history.get(following.operation_id)
        state = RestoreState.from_json(stored.internal)
    except (OperationNotFound, StateUnreadableError):
        return
    # A checkpoint, not just a message: the waiting restore's own message is delayed by its
    # lock-retry wait, and a bare message would be taken for an early arrival and sent on.
    queued = stored.operation.status is OperationStatus.QUEUED
    if queued and nudge(ctx, RESTORE_STEPS, stored, state):
        log.info("restore.next_woken",
                 extra={"operationId": following.operation_id, "environmentId": target_id,
                        "after": operation_id})


def oldest_waiting(
    ctx: AppContext, target_id: str, *, before: str | None = None
) -> Operation | None:
    """The oldest Queued restore of the target that needs the lock (dry runs do not)."""
    page = ctx.history.list(
        environment_id=target_id, kind=OperationKind.RESTORE, status=OperationStatus.QUEUED,
        limit=MAX_PAGE_SIZE,
    )
    waiting = [
        op for op in page.items
        if op.status is OperationStatus.QUEUED and not op.options.get("dryRun")
    ]
    if before is not None:
        limit = _order(before)
        waiting = [op for op in waiting if _order(op.operation_id) < limit]
    return min(waiting, key=lambda op: _order(op.operation_id), default=None)


def _order(operation_id: str) -> tuple[datetime, str]:
    # Operation ids carry their creation instant, so they sort in request order.
    return operation_id_instant(operation_id), operation_id


def _ended(ctx: AppContext, operation_id: str) -> bool:
    try:
        return ctx.history.get(operation_id).operation.status.terminal
    except OperationNotFound:
        return True
