"""SafetyBackup: a backup of the target before anything changes (engine/taking_backup.py decides
what the platform's answers mean; this words the restore's record)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine import taking_backup
from engine.answers import (
    Answer,
    Proceeded,
)
from engine.commands import (
    Command,
    CreateBackup,
    Proceed,
)
from engine.config import EngineConfig
from engine.record import StepUpdate
from restore_orchestrator.moves import (
    Decision,
    Entry,
    GiveUp,
    backoff,
    give_up,
    move,
    proceed,
    safety_backup_label,
    target_name,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.state import Problem, RestoreState, Work
from shared.operations import StepStatus, format_time


def plan_safety_backup(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """Nothing asked yet: the decision asks (intent first); an intent: look before leaping."""
    request, work = state.request, state.work
    if not request.safety_backup or work.intent_at is None:
        return Proceed("no backup requested yet")
    return taking_backup.look_first(request.target_id, safety_backup_label(state), work.intent_at)



def enter_safety_backup(state: RestoreState, now: datetime, config: EngineConfig) -> Entry:
    """The backup's intent is checkpointed by the same write that enters the phase; the call
    runs right after it."""
    request = state.request
    if not request.safety_backup:
        return state, None, ()
    label = safety_backup_label(state)
    detail = f"Taking a safety backup of {target_name(state)}, labeled '{label}'."
    entered = replace(state, work=Work(intent_at=now))
    return entered, CreateBackup(request.target_id, label), (
        StepUpdate("safety_backup", detail=detail),
    )


def decide_safety_backup(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
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
    return None
