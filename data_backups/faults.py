"""How a data backup step ends or waits when it cannot go on (pure; every phase's way)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_backups.state import DataBackupState, Event, Phase
from engine.config import EngineConfig
from engine.decision import Decision, Stop
from engine.record import Finish, RecordChange, SetDataPoint, StepUpdate
from engine.waiting import Retryable, wait_or_fail
from shared.operations import OperationError, OperationStatus, StepStatus


def wait_or_give_up(
    state: DataBackupState, fault: Retryable, now: datetime, config: EngineConfig, step: str
) -> Decision[DataBackupState]:
    """The engine's wait (`wait_or_fail`); past its budget the backup fails (GaveUp)."""
    return wait_or_fail(state, fault, now, config, step, what="data backup", event=Event.WAIT,
                        give_up=lambda message: fail(state, "GaveUp", message, step))


def fail(
    state: DataBackupState, code: str, message: str, step: str
) -> Decision[DataBackupState]:
    ended = replace(state, phase=Phase.FAILED, wake_at=None)
    return Decision(ended, Event.GAVE_UP, abandon_changes(state, code, message, step), Stop())


def abandon_changes(
    state: DataBackupState, code: str, message: str, step: str
) -> tuple[RecordChange, ...]:
    """The record of a backup that ends here, from the state it was in (a sweep that gives up
    comes after its point was committed)."""
    changes: list[RecordChange] = [StepUpdate(step, status=StepStatus.FAILED, detail=message)]
    if state.tables:
        changes.append(SetDataPoint(state.table_records()))
    skipped = ("Not reached: the point is complete; the next backup's sweep deletes what is "
               "left." if state.phase is Phase.SWEEPING else "Not reached: no point was committed.")
    changes.append(Finish(OperationStatus.FAILED, OperationError(code, message),
                          skipped_detail=skipped))
    return tuple(changes)
