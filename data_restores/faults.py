"""How a record restore step ends or waits when it cannot go on (pure; every phase's way)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from data_restores.state import DataRestoreState, Event, Phase
from engine.answers import Missing, Refused
from engine.config import EngineConfig
from engine.decision import Decision, Stop, WaitFor
from engine.record import Finish, RecordChange, StepUpdate
from engine.waiting import RETRYABLE, Retryable, reason, retry_delay
from shared.operations import OperationError, OperationStatus, StepStatus

NOT_REACHED = "Not reached."


def wait_or_give_up(
    state: DataRestoreState, fault: Retryable, now: datetime, config: EngineConfig, step: str
) -> Decision[DataRestoreState]:
    """A delayed message spaced by the shared backoff (a throttle's Retry-After exactly): a
    429 storm is waited out, never failed, while it lets anything through; after
    `Backoff.max_attempts` steps in a row without progress the operation fails."""
    attempts = state.attempts + 1
    if attempts > config.backoff.max_attempts:
        return fail(state, "GaveUp", (
            f"Dataverse could not serve this restore for {attempts - 1} attempts in a row; last "
            f"answer: {fault.message}"), step)
    delay = retry_delay(fault, attempts, config)
    waiting = replace(state, attempts=attempts, wake_at=now + timedelta(seconds=delay))
    detail = f"Waiting: {reason(fault)}; going on in {delay:.0f}s (attempt {attempts})."
    return Decision(waiting, Event.WAIT, (StepUpdate(step, detail=detail),), WaitFor(delay))


def on_fault(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig, step: str
) -> Decision[DataRestoreState]:
    """Every phase's answer to a platform that cannot serve: wait it out (throttled, busy,
    unavailable, an answer lost), or fail with the platform's reason (refused, gone)."""
    if isinstance(answer, RETRYABLE):
        return wait_or_give_up(state, answer, now, config, step)
    if isinstance(answer, Refused | Missing):
        return fail(state, getattr(answer, "code", "Missing"), answer.message, step)
    raise ValueError(f"{type(answer).__name__} is no answer to {state.phase}")


def fail(
    state: DataRestoreState, code: str, message: str, step: str
) -> Decision[DataRestoreState]:
    ended = replace(state, phase=Phase.FAILED, wake_at=None)
    return Decision(ended, Event.GAVE_UP, abandon_changes(code, message, step), Stop())


def reject(
    state: DataRestoreState, code: str, message: str, step: str
) -> Decision[DataRestoreState]:
    """A request that cannot be carried out as asked: nothing was written."""
    ended = replace(state, phase=Phase.REJECTED, wake_at=None)
    return Decision(ended, Event.REJECTED, (
        StepUpdate(step, status=StepStatus.FAILED, detail=message),
        Finish(OperationStatus.REJECTED, OperationError(code, message),
               skipped_detail="Not reached: nothing was read or written."),
    ), Stop())


def abandon_changes(code: str, message: str, step: str) -> tuple[RecordChange, ...]:
    return (
        StepUpdate(step, status=StepStatus.FAILED, detail=message),
        Finish(OperationStatus.FAILED, OperationError(code, message), skipped_detail=NOT_REACHED),
    )
