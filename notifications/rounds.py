"""One summary per backup round: recording members, noticing the end, the deadline sweep.

The timer calls `plan_round` before it sends the round's backup requests. Each member's terminal
notice (see `messages.timer_round`) reaches `member_finished` through the outbox; the member whose
result leaves none planned claims the summary. Rounds that never get there are summarised by the
alerts timer after `round_rules.ROUND_DEADLINE`, with the stragglers counted as still running;
a straggler that then fails is announced on its own, since the summary said nothing of it.
A round that could not be recorded (`plan_round` never raises) has no summary to wait for: its
members' notices are delivered one by one instead, so a failed timer backup still reaches someone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from notifications.events import BackupRoundSummary, round_event_id
from notifications.messages import OperationNotice, RoundNotice, timer_round
from notifications.outbox import send_notice
from notifications.round_rules import (
    Member,
    build_summary,
    frozen_end,
    is_data_round,
    round_deadline,
)
from notifications.store import NotificationStore, store_for
from notifications.transport import destinations
from shared.errors import OperationNotFound
from shared.operations import Operation, OperationKind, OperationStatus
from shared.runtime import AppContext

log = logging.getLogger(__name__)

# The member that stands for a failed environment listing (no environment id has this form).
LISTING_MEMBER = "environment-listing"
LISTING_NAME = "Environment listing"
# How many of a pending member's newest backups are searched for the round's request id.
_LOOKUP_LIMIT = 20


def plan_round(
    ctx: AppContext,
    *,
    round_id: str,
    started_at: datetime,
    members: Sequence[tuple[str, str | None]],
    listing_failure: str | None = None,
) -> None:
    """Record the round's members (environment id, name). Never raises: a round without a
    summary is a lesser loss than a round without backups.

    `listing_failure`: the platform did not list the environments, so the round has only those
    named by id. It is recorded as one more member (`LISTING_MEMBER`), failed from the start, so
    the round's one summary lists it among the failures: the message a person already reads,
    sent at once when no member is left to wait for."""
    try:
        if not destinations(ctx.settings):
            return
        store = store_for(ctx)
        planned = [*members, (LISTING_MEMBER, LISTING_NAME)] if listing_failure else members
        opened = store.open_round(
            round_id, started_at=started_at, deadline=round_deadline(round_id), members=planned
        )
        if listing_failure:
            _listing_failed(ctx, store, round_id, listing_failure)
        elif opened and not members:
            _summarize_if_complete(ctx, store, round_id)  # nothing to wait for: say so now
    except Exception as error:  # noqa: BLE001 - the round must start whatever happens here
        log.warning(
            "notifications.round_plan_failed",
            extra={"round": round_id, "error": type(error).__name__},
        )


def _listing_failed(
    ctx: AppContext, store: NotificationStore, round_id: str, message: str
) -> None:
    # Only on the round's own listing member, still planned: a later firing of the slot whose
    # listing fails must not add a failure to a round that listed fine, nor rewrite one ended.
    member = next((m for m in store.members(round_id) if m.environment_id == LISTING_MEMBER),
                  None)
    if member is None or member.done:
        return
    store.finish_member(round_id, LISTING_MEMBER, status=OperationStatus.FAILED,
                        operation_id="", ended_at=ctx.clock(), message=message)
    _summarize_if_complete(ctx, store, round_id)


def member_finished(ctx: AppContext, store: NotificationStore, notice: OperationNotice) -> bool:
    """Record a member's result; summarise the round if it was the last one running.

    False when no summary speaks for this member's result, so the caller delivers its notice on
    its own, as an on-demand backup's (same event id: a repeat of the message posts nothing
    twice): the round was never recorded, or the member failed after the summary that counted
    it as still running.
    """
    round_id, env = notice.round_id, notice.environment_id
    if round_id is None or env is None:
        return False
    if store.round_header(round_id) is None:
        # Recording the round failed (a storage blip in `plan_round`, which lets the backups run
        # anyway), or it was planned while notifications were off. Dropping the notice would
        # leave a failed pre-update backup unreported: one card per member beats none.
        log.warning("notifications.round_unknown",
                    extra={"round": round_id, "operationId": notice.operation_id})
        return False
    try:
        operation = ctx.history.get(notice.operation_id).operation
    except OperationNotFound:
        log.warning("notifications.member_missing", extra={"operationId": notice.operation_id})
        return True
    if not operation.status.terminal:
        return True
    _record(store, round_id, env, operation)
    _summarize_if_complete(ctx, store, round_id)
    return not _failed_after_summary(store, round_id, operation)


def _failed_after_summary(store: NotificationStore, round_id: str, operation: Operation) -> bool:
    """Whether `operation` did not succeed and ended after its round's summary, which counted it
    as still running: nothing else would ever tell a person about that failure (a backup kept
    waiting for a busy environment retries for hours, past the round's deadline)."""
    if operation.status is OperationStatus.SUCCEEDED:
        return False
    summarised = store.summary_end(round_id)
    ended = operation.ended_at or operation.updated_at
    return summarised is not None and ended > summarised


def sweep_overdue(ctx: AppContext, store: NotificationStore, now: datetime) -> int:
    """Summarise rounds past their deadline; returns how many were summarised."""
    done = 0
    for round_id, deadline in store.open_rounds():
        if store.summary_end(round_id) is not None:
            # Claimed, but the index row outlived a crash: after the send (the repeat is
            # dropped by its event id) or before it (the member whose message is redelivered
            # finds the claim taken), where nobody else would ever send the summary.
            _send_summary(ctx, round_id)
            store.close_round(round_id)
            done += 1
            continue
        if now < deadline:
            continue
        members = _reconciled(ctx, store, round_id)
        if _emit(ctx, store, round_id, frozen_end(members, now)):
            done += 1
    return done


def load_summary(store: NotificationStore, round_id: str) -> BackupRoundSummary | None:
    """The round's summary as frozen when it was claimed; None if it was never claimed."""
    ended_at = store.summary_end(round_id)
    header = store.round_header(round_id)
    if ended_at is None or header is None:
        return None
    return build_summary(round_id, header.started_at, ended_at, store.members(round_id))


def _summarize_if_complete(ctx: AppContext, store: NotificationStore, round_id: str) -> None:
    # Write-then-read: of two members finishing together, at least the later reader sees both
    # results, so a round is never left unsummarised; the claim stops a second summary.
    if store.has_unfinished_members(round_id):
        return
    _emit(ctx, store, round_id, frozen_end(store.members(round_id), ctx.clock()))


def _emit(ctx: AppContext, store: NotificationStore, round_id: str, ended_at: datetime) -> bool:
    if not store.claim_summary(round_id, ended_at):
        return False  # another member (or the sweep) got there first; it closes the round
    try:
        _send_summary(ctx, round_id)
    except Exception:
        store.release_summary(round_id)  # let the next member or the sweep try again
        raise
    store.close_round(round_id)
    log.info("notifications.round_summarised", extra={"round": round_id})
    return True


def _send_summary(ctx: AppContext, round_id: str) -> None:
    send_notice(ctx, RoundNotice(event_id=round_event_id(round_id), round_id=round_id))


def _record(store: NotificationStore, round_id: str, env: str, operation: Operation) -> None:
    error = operation.error
    copied = [t for t in operation.tables if t.get("status") == "Succeeded"]
    store.finish_member(
        round_id, env,
        status=operation.status,
        operation_id=operation.operation_id,
        ended_at=operation.ended_at or operation.updated_at,
        message=(error.message or error.code) if error else None,
        tables=len(copied),
        rows=sum(int(t.get("rows") or 0) for t in copied),
        failed_tables=[f"{t.get('table')}: {t.get('detail') or t.get('status')}"
                       for t in operation.tables if t.get("status") == "Failed"],
    )


def _reconciled(ctx: AppContext, store: NotificationStore, round_id: str) -> list[Member]:
    """Members, after looking up in history the results of those still marked planned.

    A member's notice can be lost (the outbox never blocks an operation), so before a round is
    reported with stragglers, each straggler's own history is asked once.
    """
    members = store.members(round_id)
    for member in members:
        if member.done:
            continue
        operation = _find_member_backup(ctx, round_id, member.environment_id)
        if operation is not None and operation.status.terminal:
            _record(store, round_id, member.environment_id, operation)
    return store.members(round_id)


def _find_member_backup(ctx: AppContext, round_id: str, env: str) -> Operation | None:
    try:
        kind = OperationKind.DATA_BACKUP if is_data_round(round_id) else OperationKind.BACKUP
        page = ctx.history.list(environment_id=env, kind=kind, limit=_LOOKUP_LIMIT)
    except Exception as error:  # noqa: BLE001 - the summary then counts it as pending
        log.warning("notifications.member_lookup_failed",
                    extra={"round": round_id, "error": type(error).__name__})
        return None
    for operation in page.items:
        if timer_round(operation) == (round_id, env):
            return operation
    return None

