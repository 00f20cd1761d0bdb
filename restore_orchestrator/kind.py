"""The restore, as the engine drives it: its state type, decisions, executor and lock release."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.answers import Answer, EnvironmentsRead
from engine.commands import AcquireLock, InspectEnvironments
from engine.config import EngineConfig
from engine.execute import execute
from engine.kind import Kind
from engine.record import Finish, RecordChange
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.locks import (
    acquire_lock,
    as_left,
    keep_original_type,
    release_and_wake_next,
)
from restore_orchestrator.moves import flows_left_off, move, target_name
from restore_orchestrator.phases import Event, Phase
from restore_orchestrator.reactivating import abandoned
from restore_orchestrator.state import Problem, RestoreState, StateUnreadableError
from restore_orchestrator.switching import may_have_switched
from shared.errors import OperationNotFound
from shared.operations import OperationError, OperationKind, OperationStatus, StepStatus
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext


def _execute(ctx: AppContext, command: Any, operation_id: str) -> Answer:
    if isinstance(command, AcquireLock):
        return acquire_lock(ctx, command.target_id, operation_id)
    answer = execute(ctx, command, operation_id=operation_id)
    if isinstance(command, InspectEnvironments) and isinstance(answer, EnvironmentsRead):
        return as_left(ctx, answer)
    return answer


def _step(state: RestoreState) -> str:
    return state.phase.step or "validate"


# From the switch to Sandbox until the switch back, the target may be a Sandbox (and in
# administration mode): an operation the engine gives up on there is switched back first.
_SWITCHED_PHASES = frozenset({Phase.SWITCHING_TO_SANDBOX, Phase.PRECHECKING, Phase.RESTORING})


def _rescue(
    state: RestoreState, message: str, now: datetime
) -> tuple[RestoreState, tuple[RecordChange, ...]] | None:
    """The switch back, entered with the engine's fault as the attention it ends with, for a
    restore the engine would abandon while its target may be switched; None otherwise."""
    if state.phase not in _SWITCHED_PHASES:
        return None
    state = may_have_switched(state)
    problem = Problem("EngineFault", (f"{message} The orchestrator went on to switch "
                                    f"{target_name(state)} back and turn administration mode off."))
    marked = replace(state, attention=state.attention or problem)
    decision = move(marked, Event.GAVE_UP, now, EngineConfig(),
                    step_status=StepStatus.FAILED, step_detail=message)
    return decision.state, decision.changes


def _abandon(state: RestoreState, message: str) -> tuple[RestoreState, tuple[RecordChange, ...]]:
    ended = Finish(
        OperationStatus.NEEDS_ATTENTION,
        OperationError("EngineFault", f"{message}{_left_as(state)}{_before(state)}"),
        skipped_detail="Not run: the orchestrator gave up.",
    )
    flows = (abandoned(state) if state.phase is Phase.REACTIVATING_FLOWS
             else flows_left_off(state, OperationStatus.NEEDS_ATTENTION))
    return replace(state, phase=Phase.NEEDS_ATTENTION, wake_at=None), (*flows, ended)


def _left_as(state: RestoreState) -> str:
    """What the target may be left as when the engine gives up on the phases that undo the
    restore's changes, and what the person must do about it."""
    name = target_name(state)
    original = state.facts.original_type or "Production"
    admin = (
        " Turn administration mode off (Environments > the environment > Edit > Administration "
        "mode) and background operations on."
    )
    facts = state.facts
    # A switch back that gave up goes on to administration mode off and the verification: the
    # target may still be a Sandbox there too.
    not_back = (facts.switched_to_sandbox and not facts.switched_back
                and state.phase in (Phase.DISABLING_ADMIN_MODE, Phase.VERIFYING))
    if state.phase is Phase.SWITCHING_TO_PRODUCTION or not_back:
        return (
            f" {name} may still be a Sandbox, where the platform keeps backups for only 7 days, "
            "and in administration mode: switch it back to "
            f"{original} in the Power Platform admin center (Environments > the environment > "
            f"Edit > Type) as soon as possible.{admin}"
        )
    if state.phase is Phase.DISABLING_ADMIN_MODE:
        return f" {name} may still be in administration mode.{admin}"
    return ""


def _before(state: RestoreState) -> str:
    """What an earlier step already handed to a person (a switch back or administration mode
    given up on): the engine's own fault must not replace it on the record."""
    attention = state.attention
    return f" Before that: {attention.message}" if attention is not None else ""


def _ended(ctx: AppContext, state: RestoreState, operation_id: str) -> None:
    if not state.request.dry_run:  # a dry run takes no lock, and changes nothing
        keep_original_type(ctx, state)
        release_and_wake_next(ctx, state.request.target_id, operation_id)


def _released(ctx: AppContext, target_id: str, operation_id: str) -> None:
    # Handed to a person by the engine (NeedsAttention, the state left as it was): a target it
    # may have left a Sandbox keeps its original type for its next restore, as in `_ended`.
    try:
        state = RestoreState.from_json(ctx.history.get(operation_id).internal)
    except (OperationNotFound, StateUnreadableError):
        state = None
    if state is not None and not state.request.dry_run:
        keep_original_type(ctx, replace(state, phase=Phase.NEEDS_ATTENTION))
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
    rescue=_rescue,
    ended=_ended,
    released=_released,
)
