"""How a data backup step ends or waits when it cannot go on (pure; every phase's way)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from data_backups.state import DataBackupState, Event, Phase
from engine.config import EngineConfig
from engine.decision import Decision, Stop, WaitFor
from engine.record import Finish, RecordChange, SetDataPoint, StepUpdate
from engine.waiting import Retryable, reason, retry_delay
from shared.operations import OperationError, OperationStatus, StepStatus


def wait_or_give_up(
    state: DataBackupState, fault: Retryable, now: datetime, config: EngineConfig, step: str
) -> Decision[DataBackupState]:
    """A delayed message spaced by the shared backoff (a throttle's Retry-After exactly), at most
    `Backoff.max_attempts` in a row; then the operation fails with the last answer."""
    attempts = state.attempts + 1
    if attempts > config.backoff.max_attempts:
        return fail(state, "GaveUp", (
            f"Dataverse could not serve this backup for {attempts - 1} attempts in a row; last "
            f"answer: {fault.message}"), step)
    delay = retry_delay(fault, attempts, config)
    waiting = replace(state, attempts=attempts, wake_at=now + timedelta(seconds=delay))
    detail = f"Waiting: {reason(fault)}; trying again in {delay:.0f}s (attempt {attempts})."
    return Decision(waiting, Event.WAIT, (StepUpdate(step, detail=detail),), WaitFor(delay))


def fail(
    state: DataBackupState, code: str, message: str, step: str
) -> Decision[DataBackupState]:
    ended = replace(state, phase=Phase.FAILED, wake_at=None)
    return Decision(ended, Event.GAVE_UP, abandon_changes(ended, code, message, step), Stop())


def abandon_changes(
    state: DataBackupState, code: str, message: str, step: str
) -> tuple[RecordChange, ...]:
    changes: list[RecordChange] = [StepUpdate(step, status=StepStatus.FAILED, detail=message)]
    if state.tables:
        changes.append(SetDataPoint(state.table_records()))
    changes.append(Finish(OperationStatus.FAILED, OperationError(code, message),
                          skipped_detail="Not reached: no point was committed."))
    return tuple(changes)
