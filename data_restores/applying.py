"""Applying: the batches of writes, stage by stage, then the end (pure).

    plan:   ApplyJobs: the next batches of the current stage, up to `concurrency` at once (a
            stage's batches are independent; stages run in order: parents before children)
    decide: each batch's outcome counts join `applied`; a throttled or failing batch is sent
            again after the shared backoff (the batches before it are done, and a batch sent
            twice is safe: creates are If-None-Match, updates If-Match, and a 412 on our own
            earlier write is recognised); all sent -> Succeeded, or NeedsAttention when rows
            conflicted or failed (`ppbackup data diff` lists them)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_restores.commands import Applied, ApplyJobs, BatchApplied, Guard, WritesHeld
from data_restores.counts import added
from data_restores.faults import fail, on_fault, wait_or_give_up
from data_restores.planning import target_of
from data_restores.state import DataRestoreState, Event, Job, Phase
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop
from engine.record import Finish, SetRestoreCounts, StepUpdate
from engine.waiting import RETRYABLE
from shared.operations import OperationError, OperationStatus, StepStatus

STEP = "apply"


def next_batches(state: DataRestoreState) -> tuple[Job, ...]:
    """The next batches, all of one stage."""
    jobs = state.jobs[state.cursor : state.cursor + max(1, state.concurrency)]
    return tuple(j for j in jobs if j.unit == jobs[0].unit) if jobs else ()


def plan(state: DataRestoreState, now: datetime, config: EngineConfig) -> ApplyJobs:
    return ApplyJobs(target_of(state), next_batches(state), Guard(
        state.target_environment_id, state.confirm_production, config.allow_production))


def decide(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    if isinstance(answer, Applied):
        return _applied(state, answer, now, config)
    if isinstance(answer, WritesHeld):
        total = state.applied["total"]
        return fail(state, answer.code, (
            f"Before writing more: {answer.message} {total['create']} row(s) created, "
            f"{total['update']} updated before it became one; nothing more was written."), STEP)
    return on_fault(state, answer, now, config, STEP)


def _applied(
    state: DataRestoreState, answer: Applied, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    done = 0
    applied = state.applied
    fault = None
    for result in answer.results:
        if not isinstance(result, BatchApplied):
            fault = result
            break
        done += 1
        applied = added(applied, result.counts)
    moved = replace(state, cursor=state.cursor + done, applied=applied,
                    attempts=0 if done else state.attempts)
    counts = SetRestoreCounts(applied=applied)
    if fault is not None:
        if isinstance(fault, RETRYABLE):
            waiting = wait_or_give_up(moved, fault, now, config, STEP)
            return replace(waiting, changes=(counts, *waiting.changes))
        return fail(moved, getattr(fault, "code", "ApplyFailed"),
                    getattr(fault, "message", type(fault).__name__), STEP)
    if not moved.done:
        total = applied["total"]
        detail = (f"Sent {moved.cursor} of {len(moved.jobs)} batch(es): {total['create']} "
                  f"created, {total['update']} updated so far.")
        return Decision(moved, Event.WROTE, (counts, StepUpdate(STEP, detail=detail)),
                        ContinueNow())
    return finished(moved)


def finished(state: DataRestoreState) -> Decision[DataRestoreState]:
    total = state.applied["total"]
    written = f"{total['create']} row(s) created, {total['update']} updated"
    counts = SetRestoreCounts(applied=state.applied)
    if total["conflict"] or total["failed"]:
        message = (
            f"{written}; {total['conflict']} row(s) changed in the target since the plan were "
            f"left as they are (conflicts) and {total['failed']} could not be written. "
            "`ppbackup data diff` lists them with the platform's messages."
        )
        ended = replace(state, phase=Phase.SUCCEEDED, wake_at=None)
        return Decision(ended, Event.FINISHED, (
            counts, StepUpdate(STEP, status=StepStatus.FAILED, detail=message),
            Finish(OperationStatus.NEEDS_ATTENTION, OperationError("RowsNotRestored", message)),
        ), Stop())
    ended = replace(state, phase=Phase.SUCCEEDED, wake_at=None)
    return Decision(ended, Event.FINISHED, (
        counts, StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=written + "."),
        Finish(OperationStatus.SUCCEEDED),
    ), Stop())
