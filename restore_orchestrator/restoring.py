"""Prechecking and Restoring: the platform's own checks on the (now Sandbox) target, then the
restore, started exactly once and followed to its end or its timeout."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from engine.answers import (
    Answer,
    Busy,
    Lost,
    Missing,
    OperationStarted,
    Polled,
    Proceeded,
    Reconciled,
    Refused,
    Restorable,
    Throttled,
    Unavailable,
)
from engine.commands import CheckRestorable, Command, Poll, Proceed, Reconcile, StartRestore
from engine.config import EngineConfig
from engine.record import StepUpdate
from restore_orchestrator.checks import PRODUCTION
from restore_orchestrator.moves import (
    Decision,
    Entry,
    UnexpectedAnswerError,
    backoff,
    give_up,
    in_words,
    move,
    proceed,
    source_name,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.polling import estimated_end, poll_delay
from restore_orchestrator.state import Problem, ProgressMark, RestoreState, Work
from restore_orchestrator.switching import adopt, busy
from restore_orchestrator.validating import not_a_candidate
from shared.operations import StepStatus, format_time
from shared.power_platform import LifecycleKind as PlatformKind
from shared.power_platform import PlatformOperation

RESTORE_OPERATION = "Restore"


def plan_prechecking(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    request, point = state.request, state.facts.restore_point
    if point is None:
        raise ValueError("Prechecking without a restore point")
    return CheckRestorable(request.target_id, request.source_id, point, request.skip_audit_data)


def plan_restoring(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """Follow the restore; an intent without a handle (a crash): look for it before asking again."""
    work = state.work
    if work.handle is not None:
        return Poll(work.handle)
    if work.intent_at is not None:
        return Reconcile(state.request.target_id, RESTORE_OPERATION, work.intent_at)
    return Proceed("no restore requested yet")



def enter_restoring(state: RestoreState, now: datetime, config: EngineConfig) -> Entry:
    """The restore's intent is checkpointed by the same write that enters the phase (from then on
    a cancel is refused); the call runs right after it."""
    request, facts = state.request, state.facts
    point = facts.restore_point
    if point is None:
        raise UnexpectedAnswerError("entering Restoring without a restore point")
    entered = replace(
        state,
        work=Work(intent_at=now),
        facts=replace(facts, restore_requested_at=facts.restore_requested_at or now),
    )
    restore = StartRestore(request.target_id, request.source_id, point, request.skip_audit_data)
    detail = (
        f"Starting the restore of {source_name(state)} at {format_time(point)} into "
        f"{target_name(state)}."
    )
    return entered, restore, (StepUpdate("restore", detail=detail),)


def decide_prechecking(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    if isinstance(answer, Restorable):
        if not answer.listed:
            return _refuse_restore(state, now, config, not_a_candidate(state))
        return move(state, Event.DONE, now, config,
                    step_detail="The platform's validation of the restore passed.")
    if isinstance(answer, Refused):
        if answer.code == "RestorePointTooRecent":
            attempts = state.work.attempts + 1
            if attempts <= config.backoff.max_attempts:
                return wait(state, now, config.too_recent_retry_seconds,
                            f"The platform says the restore point is too recent: {answer.message}",
                            work=replace(state.work, attempts=attempts))
        return _refuse_restore(state, now, config, Problem(
            answer.code, f"The platform refused the restore: {answer.message}"))
    if isinstance(answer, Missing):
        return _refuse_restore(state, now, config, Problem("EnvironmentNotFound", answer.message))
    return None  # faults: the dispatcher's (decide.py)


def _refuse_restore(
    state: RestoreState, now: datetime, config: EngineConfig, problem: Problem
) -> Decision:
    return move(state, Event.REFUSED, now, config, step_status=StepStatus.FAILED,
                step_detail=problem.message, failure=problem)


def decide_restoring(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    request, facts, work = state.request, state.facts, state.work
    if isinstance(answer, Proceeded):
        point = facts.restore_point
        if point is None:
            raise UnexpectedAnswerError("Restoring without a restore point")
        return proceed(
            state,
            command=StartRestore(request.target_id, request.source_id, point,
                                 request.skip_audit_data),
            work=replace(work, intent_at=now),
            facts=replace(facts, restore_requested_at=facts.restore_requested_at or now),
        )
    if isinstance(answer, OperationStarted):
        handle = answer.handle
        # Our clock, not the handle's: the client stamps handles with its own, and every time
        # this module compares is the app clock's (which may run faster than real time).
        since = work.intent_at or now
        started = replace(state, facts=replace(facts, restore_started_at=since),
                          work=replace(work, handle=handle, attempts=0))
        delay = poll_delay(now=now, started_at=since, progress=(),
                           retry_after=handle.retry_after, config=config)
        return wait(started, now, delay, "The platform accepted the restore.")
    if isinstance(answer, Reconciled):
        operation = answer.operation
        if operation is not None:
            handle = adopt(PlatformKind.RESTORE, request.target_id, operation,
                           work.intent_at or now)
            found = replace(
                state,
                work=replace(work, handle=handle, attempts=0),
                facts=replace(facts, restore_started_at=work.intent_at or now),
            )
            return _followed_restore(found, operation, now, config)
        intent = work.intent_at or now
        if (now - intent).total_seconds() < config.reconcile_grace_seconds or busy(
            answer.environment
        ):
            # An environment that reads busy for ever must not hold it a Sandbox for ever.
            if _timed_out(state, now, config):
                return _time_out(state, now, config)
            return wait(state, now, config.reconcile_retry_seconds,
                        f"Looking for the restore requested at {format_time(intent)}; the "
                        "platform does not list it yet.")
        failures = work.failures + 1
        if failures > config.max_operation_attempts:
            return give_up(state, now, config, Problem(
                "RestoreNotStarted", "The restore could not be started on the platform."))
        # The platform never saw the earlier request: send it again.
        return proceed(
            state,
            command=StartRestore(request.target_id, request.source_id,
                                 facts.restore_point or intent, request.skip_audit_data),
            work=Work(intent_at=now, failures=failures),
        )
    if isinstance(answer, Polled):
        return _followed_restore(state, answer.operation, now, config)
    if isinstance(answer, Refused):
        if work.handle is not None:
            # Reading the status of an accepted restore was refused: the restore may run on.
            return _outcome_unknown(
                state, now, config, "RestoreUnknown",
                f"The platform refused to report on the restore it accepted: {answer.message}")
        return give_up(state, now, config, Problem(
            "RestoreRefused", f"The platform refused the restore: {answer.message}"))
    if isinstance(answer, Missing):
        return _outcome_unknown(
            state, now, config, "RestoreLost",
            f"The platform no longer knows the restore operation: {answer.message}")
    if isinstance(answer, Busy | Throttled | Unavailable | Lost):
        # A 409 to the restore request may be our own restore, running since before a crash:
        # the intent stays, so the next step looks for it before asking again.
        if _timed_out(state, now, config):
            return _time_out(state, now, config)
        return backoff(
            state, now, answer, config, doing="following the restore",
            give_up=lambda message: _outcome_unknown(state, now, config, "RestoreUnknown",
                                                     message),
        )
    return None


def _outcome_unknown(
    state: RestoreState, now: datetime, config: EngineConfig, code: str, message: str
) -> Decision:
    """The restore was requested and can no longer be followed: it may still run, or have
    overwritten the target, so the restore ends NeedsAttention (a person checks), not Failed
    (which says nothing changed)."""
    problem = Problem(
        code,
        f"{message.rstrip('.')}. The restore may still be running or may have completed;"
        f"{_switched_back_when_allowed(state)} Check the restore's outcome in the Power "
        "Platform admin center.",
    )
    return move(state, Event.GAVE_UP, now, config, step_status=StepStatus.FAILED,
                step_detail=problem.message, attention=state.attention or problem)


def _followed_restore(
    state: RestoreState, operation: PlatformOperation, now: datetime, config: EngineConfig
) -> Decision:
    facts, work = state.facts, state.work
    handle = work.handle
    if handle is not None and operation.id and handle.operation_id != operation.id:
        handle = handle.with_operation_id(operation.id)
    progress = _with_progress(work, operation, now)
    work = replace(work, handle=handle, progress=progress, last_poll_at=now, attempts=0)
    operation_id = operation.id or facts.restore_operation_id
    state = replace(state, work=work, facts=replace(facts, restore_operation_id=operation_id))
    seen = (StepUpdate("restore", platform_operation_id=operation_id),) if operation_id else ()
    if operation.succeeded:
        return move(
            state, Event.DONE, now, config, changes=seen, step_status=StepStatus.SUCCEEDED,
            step_detail=f"Restored {source_name(state)} at {format_time(facts.restore_point)} "
            f"into {target_name(state)}.",
            facts=replace(state.facts, restore_ended_at=now),
        )
    if operation.terminal:
        said = ": ".join(x for x in (operation.error_code, operation.error_message) if x)
        problem = Problem(
            "RestoreFailed",
            f"The platform's restore ended {operation.state or 'Failed'}"
            + (f" ({said})" if said else "")
            + (f"; {target_name(state)} is switched back." if _switches_back(state) else "."),
        )
        return move(state, Event.GAVE_UP, now, config, changes=seen,
                    step_status=StepStatus.FAILED, step_detail=problem.message,
                    failure=state.failure or problem,
                    facts=replace(state.facts, restore_ended_at=now))
    if operation.not_yet_visible:
        return wait(state, now, config.reconcile_retry_seconds,
                    "The platform accepted the restore; its operation is not visible yet.",
                    changes=seen)
    if _timed_out(state, now, config):
        return _time_out(state, now, config)
    started = facts.restore_started_at or state.phase_since
    delay = poll_delay(now=now, started_at=started, progress=progress,
                       retry_after=operation.retry_after, config=config)
    return wait(state, now, delay, _restore_progress(state, operation, now), changes=seen)


def _with_progress(
    work: Work, operation: PlatformOperation, now: datetime
) -> tuple[ProgressMark, ...]:
    if operation.progress is None:
        return work.progress
    done, total = operation.progress
    last = work.progress[-1] if work.progress else None
    if last is not None and last.done == done and last.total == total:
        return work.progress
    return (*work.progress, ProgressMark(done, total, now, work.last_poll_at))


def _restore_progress(state: RestoreState, operation: PlatformOperation, now: datetime) -> str:
    started = state.facts.restore_started_at
    parts = ["Restoring"]
    if started is not None:
        parts.append(f"for {in_words((now - started).total_seconds())}")
    if operation.progress is not None:
        done, total = operation.progress
        parts.append(f"({done} of {total} stages done")
        total_seconds = estimated_end(state.work.progress, started)
        if total_seconds is not None and started is not None:
            end = started + timedelta(seconds=total_seconds)
            parts[-1] += f"; expected to end around {format_time(end)}"
        parts[-1] += ")"
    elif operation.state:
        parts.append(f"(platform state: {operation.state})")
    return " ".join(parts) + "."


def _switches_back(state: RestoreState) -> bool:
    # Only a Production target was switched to Sandbox for the restore; a Sandbox one never is.
    return state.facts.original_type == PRODUCTION


def _switched_back_when_allowed(state: RestoreState) -> str:
    if not _switches_back(state):
        return ""
    return f" {target_name(state)} is switched back as soon as the platform allows."


def _timed_out(state: RestoreState, now: datetime, config: EngineConfig) -> bool:
    started = state.facts.restore_started_at or state.facts.restore_requested_at
    return started is not None and (now - started).total_seconds() >= (
        config.restore_timeout_seconds
    )


def _time_out(state: RestoreState, now: datetime, config: EngineConfig) -> Decision:
    hours = config.restore_timeout_seconds / 3600
    problem = Problem(
        "RestoreTimedOut",
        f"The restore was still running after {hours:g} hours (RESTORE_TIMEOUT_HOURS)."
        f"{_switched_back_when_allowed(state)} Check the restore's outcome in the Power Platform "
        "admin center.",
    )
    return move(state, Event.TIMED_OUT, now, config, step_status=StepStatus.FAILED,
                step_detail=problem.message, attention=state.attention or problem)
