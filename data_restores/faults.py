"""How a record restore step ends or waits when it cannot go on (pure; every phase's way)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_restores.state import DataRestoreState, Event, Phase
from engine.answers import Missing, Refused
from engine.config import EngineConfig
from engine.decision import Decision, Stop
from engine.record import Finish, RecordChange, StepUpdate
from engine.waiting import RETRYABLE, Retryable, wait_or_fail
from shared.operations import OperationError, OperationStatus, StepStatus

NOT_REACHED = "Not reached."


def wait_or_give_up(
    state: DataRestoreState, fault: Retryable, now: datetime, config: EngineConfig, step: str
) -> Decision[DataRestoreState]:
    """The engine's wait (`wait_or_fail`): a 429 storm is waited out while it lets anything
    through; past the budget the restore fails (GaveUp)."""
    return wait_or_fail(state, fault, now, config, step, what="record restore", event=Event.WAIT,
                        give_up=lambda message: fail(state, "GaveUp", message, step))


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
