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
from dataclasses import dataclass
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
from engine.waiting import RETRYABLE
from restore_orchestrator import checks
from restore_orchestrator.admin_mode import decide_admin_mode
from restore_orchestrator.decision import (
    Decision,
    UnexpectedAnswerError,
    backoff,
    give_up,
    move,
    safety_backup_label,
)
from restore_orchestrator.phases import CANCELLABLE, Event, Phase
from restore_orchestrator.queued import decide_queued
from restore_orchestrator.restoring import decide_prechecking, decide_restoring
from restore_orchestrator.safety_backup import decide_safety_backup
from restore_orchestrator.state import Problem, RestoreState
from restore_orchestrator.switching import MODIFY_SKU, decide_switch
from restore_orchestrator.validating import decide_validating, decide_waiting_for_backup
from restore_orchestrator.verifying import decide_verifying, give_up_verify
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
    handler, retrying = _PHASES[state.phase]
    decision = handler(state, answer, now, config)
    if decision is not None:
        return decision
    # The fault-handling tail every phase shared: a platform that cannot serve the step now is
    # waited out (the shared backoff, bounded), then the phase gives up its own way.
    if retrying is not None and isinstance(answer, RETRYABLE):
        return backoff(state, now, answer, config, doing=retrying.doing,
                       give_up=lambda message: retrying.give_up(state, now, config, message))
    raise UnexpectedAnswerError(f"{type(answer).__name__} in {state.phase}")


def _honour_cancel(state: RestoreState, now: datetime, config: EngineConfig) -> Decision:
    by = state.cancel_requested_by or "an operator"
    step_detail = f"Cancelled at the request of {by} before this step finished."
    if state.phase is Phase.QUEUED:
        step_detail = f"Cancelled at the request of {by} while waiting for its turn."
    return move(
        state, Event.CANCEL, now, config,
        step_status=StepStatus.SKIPPED, step_detail=step_detail, cancelled=True,
    )


Handler = Callable[[RestoreState, Answer, datetime, EngineConfig], Decision | None]


@dataclass(frozen=True, slots=True)
class Retrying:
    """How a phase waits out busy, throttled, unavailable or lost answers its handler leaves to
    the dispatcher: what it was doing (for the record), and how it gives up."""

    doing: str
    give_up: Callable[[RestoreState, datetime, EngineConfig, str], Decision]


def _gives_up(code: str) -> Callable[[RestoreState, datetime, EngineConfig, str], Decision]:
    return lambda state, now, config, message: give_up(state, now, config, Problem(code, message))


# Each phase's handler (its own module), and the retry rule the dispatcher applies for it; None:
# the handler waits out faults its own way (a switch: a 409 is the platform still switching).
_PHASES: dict[Phase, tuple[Handler, Retrying | None]] = {
    Phase.QUEUED: (decide_queued, None),
    Phase.VALIDATING: (decide_validating,
                       Retrying("validating the request", _gives_up("ValidationFailed"))),
    Phase.WAITING_FOR_BACKUP: (decide_waiting_for_backup, None),
    Phase.SAFETY_BACKUP: (decide_safety_backup, None),
    Phase.SWITCHING_TO_SANDBOX: (decide_switch, None),
    Phase.PRECHECKING: (decide_prechecking,
                        Retrying("checking the restore with the platform",
                                 _gives_up("PrecheckFailed"))),
    Phase.RESTORING: (decide_restoring, None),
    Phase.SWITCHING_TO_PRODUCTION: (decide_switch, None),
    Phase.DISABLING_ADMIN_MODE: (decide_admin_mode, None),
    Phase.VERIFYING: (decide_verifying, Retrying("verifying the environment", give_up_verify)),
}

__all__ = ["Decision", "cancel_pending", "decide", "plan"]
