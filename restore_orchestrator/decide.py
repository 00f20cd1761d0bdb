"""The orchestrator's logic, as pure functions (the "orchestrator function" of Durable Functions).

    plan(state, now, config)            -> the command the phase needs next
    decide(state, answer, now, config)  -> Decision: new state, record changes, what comes next

No I/O and no clock of its own: `now` is passed in, so the same inputs always give the same
decision, a step can be re-run after a crash from the stored state alone, and the tests can state
"given this state and this answer, expect that" as a table. Every phase change goes through the
transition table (`transitions.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from engine import taking_backup
from engine.answers import (
    Answer,
    Busy,
    EnvironmentRead,
    LockAcquired,
    LockBusy,
    Lost,
    Missing,
    Proceeded,
    Refused,
    Throttled,
    Unavailable,
)
from engine.commands import (
    AcquireLock,
    CheckRestorable,
    Command,
    CreateBackup,
    InspectEnvironments,
    ListBackups,
    Poll,
    Proceed,
    ReadEnvironment,
    Reconcile,
)
from engine.config import EngineConfig
from restore_orchestrator import checks
from restore_orchestrator.decision import (
    Decision,
    GiveUp,
    UnexpectedAnswerError,
    backoff,
    give_up,
    move,
    proceed,
    safety_backup_label,
    target_name,
    wait,
)
from restore_orchestrator.phases import CANCELLABLE, Event, Phase
from restore_orchestrator.restoring import decide_prechecking, decide_restoring
from restore_orchestrator.state import Problem, RestoreState, Work
from restore_orchestrator.switching import MODIFY_SKU, busy, decide_admin_mode, decide_switch
from restore_orchestrator.validating import decide_validating, decide_waiting_for_backup
from shared.operations import StepStatus, format_time

RESTORE_OPERATION = "Restore"


def cancel_pending(state: RestoreState) -> bool:
    return (
        state.cancel_requested_at is not None
        and not state.cancelled
        and state.phase in CANCELLABLE
    )


# --- plan ---------------------------------------------------------------------------------------


def plan(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """The command the phase needs, from the stored state alone (also after a crash)."""
    phase, request, facts, work = state.phase, state.request, state.facts, state.work
    target, source = request.target_id, request.source_id
    if phase.terminal:
        raise ValueError(f"a {phase} restore has nothing left to do")
    if cancel_pending(state):
        return Proceed("honour the cancel request")
    if phase is Phase.QUEUED:
        if request.dry_run:
            return Proceed("a dry run changes nothing and needs no lock")
        return AcquireLock(target)
    if phase is Phase.VALIDATING:
        if facts.original_type is None:
            return InspectEnvironments(target, source)
        if facts.restore_point is None:
            return ListBackups(source)
        if request.dry_run and facts.original_type == checks.SANDBOX:
            return CheckRestorable(target, source, facts.restore_point, request.skip_audit_data)
        return Proceed("conclude the validation")
    if phase is Phase.WAITING_FOR_BACKUP:
        return Proceed("the backup may be restorable now")
    if phase is Phase.SAFETY_BACKUP:
        if not request.safety_backup or work.intent_at is None:
            return Proceed("no backup requested yet")
        return taking_backup.look_first(target, safety_backup_label(state), work.intent_at)
    if phase in (Phase.SWITCHING_TO_SANDBOX, Phase.SWITCHING_TO_PRODUCTION):
        if facts.original_type != checks.PRODUCTION:
            return Proceed("no switch needed")
        if work.handle is not None and not work.confirming:
            return Poll(work.handle)
        if work.intent_at is not None and work.handle is None and not work.confirming:
            return Reconcile(target, MODIFY_SKU, work.intent_at)
        return ReadEnvironment(target)
    if phase is Phase.PRECHECKING:
        if facts.restore_point is None:
            raise ValueError("Prechecking without a restore point")
        return CheckRestorable(target, source, facts.restore_point, request.skip_audit_data)
    if phase is Phase.RESTORING:
        if work.handle is not None:
            return Poll(work.handle)
        if work.intent_at is not None:
            return Reconcile(target, RESTORE_OPERATION, work.intent_at)
        return Proceed("no restore requested yet")
    if phase is Phase.DISABLING_ADMIN_MODE:
        if not facts.restore_requested:
            return Proceed("no restore ran")
        if work.handle is not None and not work.confirming:
            return Poll(work.handle)
        return ReadEnvironment(target)
    return ReadEnvironment(target)  # Verifying


# --- decide -------------------------------------------------------------------------------------


def decide(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision:
    if state.phase.terminal:
        raise ValueError(f"a {state.phase} restore takes no more decisions")
    if cancel_pending(state) and isinstance(answer, Proceeded):
        return _honour_cancel(state, now, config)
    return _HANDLERS[state.phase](state, answer, now, config)


def _honour_cancel(state: RestoreState, now: datetime, config: EngineConfig) -> Decision:
    by = state.cancel_requested_by or "an operator"
    step_detail = f"Cancelled at the request of {by} before this step finished."
    if state.phase is Phase.QUEUED:
        step_detail = f"Cancelled at the request of {by} while waiting for its turn."
    return move(
        state, Event.CANCEL, now, config,
        step_status=StepStatus.SKIPPED, step_detail=step_detail, cancelled=True,
    )


def _queued(state: RestoreState, answer: Answer, now: datetime, config: EngineConfig) -> Decision:
    if isinstance(answer, LockAcquired | Proceeded):
        return move(state, Event.STARTED, now, config)
    if isinstance(answer, LockBusy):
        why = (
            f"Waiting for restore {answer.holder_id}, which holds {target_name(state)}, to end."
            if not answer.first_in_line
            else f"Waiting for the older restore {answer.holder_id} of {target_name(state)} to "
            "go first."
        )
        return wait(state, now, config.lock_retry_seconds, why, start_step=False)
    raise UnexpectedAnswerError(f"{type(answer).__name__} in {state.phase}")


def _safety_backup(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision:
    """engine/taking_backup.py decides what the platform's answer means; this words it."""
    request, work = state.request, state.work
    label = safety_backup_label(state)
    if isinstance(answer, Proceeded):
        if not request.safety_backup:
            return move(state, Event.DONE, now, config, step_status=StepStatus.SKIPPED,
                        step_detail="Not requested (safetyBackup: false).")
        return proceed(state, command=CreateBackup(request.target_id, label),
                       work=replace(work, intent_at=now))
    outcome = taking_backup.after(
        answer, environment_id=request.target_id, label=label,
        tries=work.failures + 1, max_tries=config.max_operation_attempts + 1,
    )
    if isinstance(outcome, taking_backup.Made):
        backup = outcome.backup
        return move(
            state, Event.DONE, now, config, step_status=StepStatus.SUCCEEDED,
            step_detail=f"Backup {backup.id} of {target_name(state)} at "
            f"{format_time(backup.point)}, labeled '{backup.label}'.",
            facts=replace(state.facts, safety_backup_id=backup.id),
        )
    if isinstance(outcome, taking_backup.MakeIt):
        return proceed(state, command=outcome.command,
                       work=Work(intent_at=now, failures=outcome.tries - 1))
    if isinstance(outcome, taking_backup.Exhausted):
        return give_up(state, now, config, Problem(
            "SafetyBackupFailed", "The safety backup could not be made; nothing was changed."))
    if isinstance(outcome, taking_backup.Refusal):
        return give_up(state, now, config, Problem(
            "SafetyBackupFailed",
            f"The platform refused the safety backup of {target_name(state)}: "
            f"{outcome.message}. Nothing was changed."))
    if isinstance(outcome, taking_backup.Retry):
        # A refused call made nothing: the next one is made without looking first.
        left = work if outcome.may_exist else replace(work, intent_at=None)
        return backoff(state, now, outcome.fault, config, doing="taking the safety backup",
                       give_up=GiveUp(state, now, config, "SafetyBackupFailed"), work=left)
    raise UnexpectedAnswerError(f"{type(answer).__name__} in {state.phase}")


def _verifying(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision:
    if isinstance(answer, EnvironmentRead):
        env = answer.environment
        facts = state.facts
        problems: list[str] = []
        if facts.original_type and env.type != facts.original_type:
            problems.append(f"it is a {env.type} environment, not {facts.original_type} as before")
        if facts.restore_requested:
            if env.admin_mode:
                problems.append("it is still in administration mode")
            if env.background_operations_enabled is False:
                problems.append("background operations are disabled")
        name = target_name(state)
        if problems and state.work.attempts < config.confirm_max_attempts and busy(env):
            return wait(state, now, config.confirm_retry_seconds,
                        f"{name} is still settling; checking again.",
                        work=replace(state.work, attempts=state.work.attempts + 1))
        if problems:
            problem = Problem("VerificationFailed", f"{name}: " + "; ".join(problems) + ".")
            return move(state, Event.NEEDS_ATTENTION, now, config,
                        step_status=StepStatus.FAILED, step_detail=problem.message,
                        attention=state.attention or problem)
        checked = f"{name} is {env.type}"
        if facts.restore_requested:
            checked += ", out of administration mode, with background operations on"
        detail = checked + "."
        if state.attention is not None:
            event = Event.NEEDS_ATTENTION
        elif state.failure is not None:
            event = Event.CONCLUDED_FAILED
        elif state.cancelled:
            event = Event.CONCLUDED_CANCELLED
        else:
            event = Event.VERIFIED
        return move(state, event, now, config, step_status=StepStatus.SUCCEEDED,
                    step_detail=detail)
    if isinstance(answer, Refused | Missing):
        return give_up_verify(state, now, config, answer.message)
    if isinstance(answer, Busy | Throttled | Unavailable | Lost):
        return backoff(state, now, answer, config, doing="verifying the environment",
                       give_up=lambda message: give_up_verify(state, now, config, message))
    raise UnexpectedAnswerError(f"{type(answer).__name__} in {state.phase}")


def give_up_verify(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    problem = Problem("VerificationImpossible",
                      f"{target_name(state)} could not be read to verify it: {message}")
    return move(state, Event.NEEDS_ATTENTION, now, config, step_status=StepStatus.FAILED,
                step_detail=problem.message, attention=state.attention or problem)


Handler = Callable[[RestoreState, Answer, datetime, EngineConfig], Decision]

_HANDLERS: dict[Phase, Handler] = {
    Phase.QUEUED: _queued,
    Phase.VALIDATING: decide_validating,
    Phase.WAITING_FOR_BACKUP: decide_waiting_for_backup,
    Phase.SAFETY_BACKUP: _safety_backup,
    Phase.SWITCHING_TO_SANDBOX: decide_switch,
    Phase.PRECHECKING: decide_prechecking,
    Phase.RESTORING: decide_restoring,
    Phase.SWITCHING_TO_PRODUCTION: decide_switch,
    Phase.DISABLING_ADMIN_MODE: decide_admin_mode,
    Phase.VERIFYING: _verifying,
}

__all__ = ["Decision", "cancel_pending", "decide", "plan"]
