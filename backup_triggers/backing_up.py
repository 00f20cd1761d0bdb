"""The one working phase of a backup, BackingUp: what it plans, how it decides (pure).

What a platform answer means for the backup is `engine/taking_backup.py`'s, shared with the
restore's safety backup; this module words the backup's record and bounds its waits.

    plan:   no intent yet -> Proceed (the decision checkpoints the intent, then the call runs)
            an intent     -> look first: the backup with this label since then, claimed
    decide: made/found -> Succeeded; none found -> make it (boundedly); refused -> Failed;
            busy/throttled/unavailable/lost -> wait (shared backoff), then again
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from backup_triggers.state import BackupPhase, BackupState, Event
from engine import taking_backup
from engine.answers import Answer, Proceeded
from engine.commands import Command, CreateBackup, Proceed
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop, WaitFor
from engine.record import Finish, MarkRunning, RecordChange, SetBackup, StepUpdate
from engine.waiting import reason, retry_delay
from shared.operations import OperationError, OperationStatus, StepStatus, format_time

STEP = "backup"


def plan(state: BackupState, now: datetime, config: EngineConfig) -> Command:
    if state.phase.terminal:
        raise ValueError(f"a {state.phase} backup has nothing left to do")
    if state.intent_at is None:
        return Proceed("make the backup")
    return taking_backup.look_first(state.environment_id, state.label, state.intent_at)


def decide(
    state: BackupState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision[BackupState]:
    if state.phase.terminal:
        raise ValueError(f"a {state.phase} backup takes no more decisions")
    if isinstance(answer, Proceeded):
        return _make(state, now, taking_backup.make(state.environment_id, state.label, state.tries))
    outcome = taking_backup.after(
        answer, environment_id=state.environment_id, label=state.label,
        tries=state.tries, max_tries=config.backoff.max_attempts,
    )
    if isinstance(outcome, taking_backup.Made):
        backup = outcome.backup
        done = replace(state, phase=BackupPhase.SUCCEEDED, intent_at=None, wake_at=None)
        return Decision(done, Event.DONE, (
            SetBackup(backup.id, backup.point, backup.expiry),
            StepUpdate(STEP, status=StepStatus.SUCCEEDED,
                       detail=f"Backup {backup.id} at {format_time(backup.point)}."),
            Finish(OperationStatus.SUCCEEDED),
        ), Stop())
    if isinstance(outcome, taking_backup.MakeIt):
        return _make(state, now, outcome)
    if isinstance(outcome, taking_backup.Exhausted):
        return fail(state, "GaveUp", (
            f"No backup was confirmed after {outcome.tries} attempts; the platform's answers "
            "were lost or refused. Check the environment's backups for this label before asking "
            "again: one of the attempts may have made it."))
    if isinstance(outcome, taking_backup.Refusal):
        return fail(state, outcome.code, outcome.message)
    if isinstance(outcome, taking_backup.Retry):
        fault, attempts = outcome.fault, state.attempts + 1
        if attempts > config.backoff.max_attempts:
            return fail(state, "GaveUp", (
                f"The platform kept refusing the backup for {attempts - 1} attempts; last answer: "
                f"{fault.message}"))
        delay = retry_delay(fault, attempts, config)
        look = "checking whether the backup was made" if outcome.may_exist else "trying again"
        detail = f"Waiting: {reason(fault)}; {look} in {delay:.0f}s (attempt {attempts})."
        waiting = replace(
            state,
            attempts=attempts,
            # A refused call made nothing: the next one is made without looking first.
            intent_at=state.intent_at if outcome.may_exist else None,
            wake_at=now + timedelta(seconds=delay),
        )
        return Decision(waiting, Event.WAIT, (StepUpdate(STEP, detail=detail),), WaitFor(delay))
    raise ValueError(f"{type(answer).__name__} is no answer to a backup's command")


def started(
    environment_id: str, label: str, now: datetime
) -> tuple[BackupState, tuple[RecordChange, ...], CreateBackup]:
    """A backup admitted already making its first call: the state, the record changes, and the
    call. The admission's insert is then the intent's checkpoint (one write fewer per backup);
    only the invocation that made that insert may send the call without looking first."""
    make = taking_backup.make(environment_id, label, 0)
    state = BackupState(environment_id, label, intent_at=now, tries=make.tries)
    return state, _making(make), make.command


def _make(state: BackupState, now: datetime, make: taking_backup.MakeIt) -> Decision[BackupState]:
    """The intent is checkpointed by this decision; the call runs right after it."""
    intent = replace(state, intent_at=now, tries=make.tries, wake_at=None)
    return Decision(intent, Event.MAKE, _making(make), ContinueNow(make.command))


def _making(make: taking_backup.MakeIt) -> tuple[RecordChange, ...]:
    return (
        MarkRunning(),
        StepUpdate(STEP, status=StepStatus.RUNNING,
                   detail=f"Creating the backup (attempt {make.tries})."),
    )


def fail(state: BackupState, code: str, message: str) -> Decision[BackupState]:
    ended = replace(state, phase=BackupPhase.FAILED, wake_at=None)
    return Decision(ended, Event.GAVE_UP, abandon_changes(code, message), Stop())


def abandon_changes(code: str, message: str) -> tuple[StepUpdate, Finish]:
    return (
        StepUpdate(STEP, status=StepStatus.FAILED, detail=message),
        Finish(OperationStatus.FAILED, OperationError(code, message)),
    )
