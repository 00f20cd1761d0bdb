"""The restore, as the engine drives it: its state type, decisions, executor and lock release."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.answers import Answer
from engine.commands import AcquireLock
from engine.execute import execute
from engine.kind import Kind
from engine.record import Finish, RecordChange
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.locks import acquire_lock, release_and_wake_next
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import RestoreState
from shared.operations import OperationError, OperationKind, OperationStatus
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext


def _execute(ctx: AppContext, command: Any, operation_id: str) -> Answer:
    if isinstance(command, AcquireLock):
        return acquire_lock(ctx, command.target_id, operation_id)
    return execute(ctx, command, operation_id=operation_id)


def _step(state: RestoreState) -> str:
    return state.phase.step or "validate"


def _abandon(state: RestoreState, message: str) -> tuple[RestoreState, tuple[RecordChange, ...]]:
    ended = Finish(
        OperationStatus.NEEDS_ATTENTION,
        OperationError("EngineFault", message),
        skipped_detail="Not run: the orchestrator gave up.",
    )
    return replace(state, phase=Phase.NEEDS_ATTENTION, wake_at=None), (ended,)


def _ended(ctx: AppContext, state: RestoreState, operation_id: str) -> None:
    if not state.request.dry_run:  # a dry run takes no lock
        release_and_wake_next(ctx, state.request.target_id, operation_id)


def _released(ctx: AppContext, target_id: str, operation_id: str) -> None:
    release_and_wake_next(ctx, target_id, operation_id)


RESTORE: Kind[RestoreState] = Kind(
    operation_kind=OperationKind.RESTORE,
    queue=RESTORE_STEPS,
    read_state=lambda stored: RestoreState.from_json(stored.internal),
    plan=plan,
    decide=decide,
    execute=_execute,
    step_of=_step,
    abandon=_abandon,
    ended=_ended,
    released=_released,
)
