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
from datetime import datetime

from engine import taking_backup
from engine.answers import (
    Answer,
    Proceeded,
)
from engine.commands import (
    AcquireLock,
    CheckRestorable,
    Command,
    InspectEnvironments,
    ListBackups,
    Poll,
    Proceed,
    ReadEnvironment,
    Reconcile,
)
from engine.config import EngineConfig
from restore_orchestrator import checks
from restore_orchestrator.admin_mode import decide_admin_mode
from restore_orchestrator.decision import (
    Decision,
    move,
    safety_backup_label,
)
from restore_orchestrator.phases import CANCELLABLE, Event, Phase
from restore_orchestrator.queued import decide_queued
from restore_orchestrator.restoring import decide_prechecking, decide_restoring
from restore_orchestrator.safety_backup import decide_safety_backup
from restore_orchestrator.state import RestoreState
from restore_orchestrator.switching import MODIFY_SKU, decide_switch
from restore_orchestrator.validating import decide_validating, decide_waiting_for_backup
from restore_orchestrator.verifying import decide_verifying
from shared.operations import StepStatus

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


Handler = Callable[[RestoreState, Answer, datetime, EngineConfig], Decision]

_HANDLERS: dict[Phase, Handler] = {
    Phase.QUEUED: decide_queued,
    Phase.VALIDATING: decide_validating,
    Phase.WAITING_FOR_BACKUP: decide_waiting_for_backup,
    Phase.SAFETY_BACKUP: decide_safety_backup,
    Phase.SWITCHING_TO_SANDBOX: decide_switch,
    Phase.PRECHECKING: decide_prechecking,
    Phase.RESTORING: decide_restoring,
    Phase.SWITCHING_TO_PRODUCTION: decide_switch,
    Phase.DISABLING_ADMIN_MODE: decide_admin_mode,
    Phase.VERIFYING: decide_verifying,
}

__all__ = ["Decision", "cancel_pending", "decide", "plan"]
