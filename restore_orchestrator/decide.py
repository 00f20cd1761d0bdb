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
from dataclasses import dataclass, replace
from datetime import datetime

from engine.answers import (
    AdminWindow,
    Answer,
    Proceeded,
    Refused,
)
from engine.commands import (
    Command,
    Proceed,
)
from engine.config import EngineConfig
from engine.decision import ContinueNow
from engine.waiting import RETRYABLE
from restore_orchestrator.admin_mode import decide_admin_mode, plan_admin_mode
from restore_orchestrator.moves import (
    Decision,
    Entry,
    UnexpectedAnswerError,
    backoff,
    give_up,
    move,
)
from restore_orchestrator.phases import CANCELLABLE, Event, Phase
from restore_orchestrator.queued import decide_queued, plan_queued
from restore_orchestrator.reactivating import (
    decide_reactivating,
    enter_reactivating,
    give_up_reactivating,
    plan_reactivating,
)
from restore_orchestrator.restoring import (
    decide_prechecking,
    decide_restoring,
    enter_restoring,
    plan_prechecking,
    plan_restoring,
)
from restore_orchestrator.safety_backup import (
    decide_safety_backup,
    enter_safety_backup,
    plan_safety_backup,
)
from restore_orchestrator.state import Problem, RestoreState
from restore_orchestrator.switching import decide_switch, plan_switch, switch_in_flight
from restore_orchestrator.validating import (
    decide_validating,
    decide_waiting_for_backup,
    enter_validating,
    give_up_validating,
    plan_validating,
    plan_waiting_for_backup,
)
from restore_orchestrator.verifying import decide_verifying, give_up_verify, plan_verifying
from shared.operations import StepStatus


def cancel_pending(state: RestoreState) -> bool:
    return (
        state.cancel_requested_at is not None
        and not state.cancelled
        and state.phase in CANCELLABLE
        # A switch to Sandbox that may have been sent is followed to its end first: leaving now
        # would forget it (the phase's work resets), and the switch back would read a Production
        # the platform is about to make a Sandbox, and skip.
        and not switch_in_flight(state)
    )


# --- plan ---------------------------------------------------------------------------------------


def plan(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """The command the phase needs, from the stored state alone (also after a crash)."""
    if state.phase.terminal:
        raise ValueError(f"a {state.phase} restore has nothing left to do")
    if cancel_pending(state):
        return Proceed("honour the cancel request")
    return _PHASES[state.phase].plan(state, now, config)


# --- decide -------------------------------------------------------------------------------------


def decide(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision:
    return _entered(state, _decided(state, answer, now, config), now, config)


def _entered(
    before: RestoreState, decision: Decision, now: datetime, config: EngineConfig
) -> Decision:
    """A move into a working phase enters it the phase's way: a non-idempotent first call gets
    its intent checkpointed by the same write that records the phase change, and runs right
    after it."""
    phase = decision.state.phase
    enter = None if phase.terminal or phase is before.phase else _PHASES[phase].enter
    if enter is None:
        return decision
    entered, command, changes = enter(decision.state, now, config)
    return replace(
        decision, state=entered, changes=(*decision.changes, *changes), next=ContinueNow(command)
    )


def _decided(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision:
    if state.phase.terminal:
        raise ValueError(f"a {state.phase} restore takes no more decisions")
    if cancel_pending(state) and isinstance(answer, Proceeded):
        return _honour_cancel(state, now, config)
    if isinstance(answer, AdminWindow) and state.phase not in _WAIT_OUT_ADMIN_WINDOW:
        # 403 UserMissingRequiredPermission is the platform's code for any missing permission;
        # only the phases after the restore wait out its known window. Elsewhere it is the
        # refusal it says it is (never an answer no handler takes, which would poison the step).
        answer = Refused("Forbidden", answer.message)
    rules = _PHASES[state.phase]
    retrying = rules.retrying
    decision = rules.decide(state, answer, now, config)
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


# The phases whose handlers take 403 UserMissingRequiredPermission as the platform's known window.
_WAIT_OUT_ADMIN_WINDOW = frozenset({
    Phase.SWITCHING_TO_SANDBOX, Phase.SWITCHING_TO_PRODUCTION, Phase.DISABLING_ADMIN_MODE,
    Phase.REACTIVATING_FLOWS,
})

Handler = Callable[[RestoreState, Answer, datetime, EngineConfig], Decision | None]


@dataclass(frozen=True, slots=True)
class Retrying:
    """How a phase waits out busy, throttled, unavailable or lost answers its handler leaves to
    the dispatcher: what it was doing (for the record), and how it gives up."""

    doing: str
    give_up: Callable[[RestoreState, datetime, EngineConfig, str], Decision]


def _gives_up(code: str) -> Callable[[RestoreState, datetime, EngineConfig, str], Decision]:
    return lambda state, now, config, message: give_up(state, now, config, Problem(code, message))


Planner = Callable[[RestoreState, datetime, EngineConfig], Command]
Enterer = Callable[[RestoreState, datetime, EngineConfig], Entry]


@dataclass(frozen=True, slots=True)
class PhaseRules:
    """A phase, as its module gives it: what it plans, how it decides, and the retry rule the
    dispatcher applies for it (None: the handler waits out faults its own way; a switch, say,
    reads a 409 as the platform still switching)."""

    plan: Planner
    decide: Handler
    retrying: Retrying | None = None
    enter: Enterer | None = None


_PHASES: dict[Phase, PhaseRules] = {
    Phase.QUEUED: PhaseRules(plan_queued, decide_queued),
    Phase.VALIDATING: PhaseRules(
        plan_validating, decide_validating,
        Retrying("validating the request", give_up_validating), enter_validating,
    ),
    Phase.WAITING_FOR_BACKUP: PhaseRules(plan_waiting_for_backup, decide_waiting_for_backup),
    Phase.SAFETY_BACKUP: PhaseRules(
        plan_safety_backup, decide_safety_backup, enter=enter_safety_backup
    ),
    Phase.SWITCHING_TO_SANDBOX: PhaseRules(plan_switch, decide_switch),
    Phase.PRECHECKING: PhaseRules(
        plan_prechecking, decide_prechecking,
        Retrying("checking the restore with the platform", _gives_up("PrecheckFailed")),
    ),
    Phase.RESTORING: PhaseRules(plan_restoring, decide_restoring, enter=enter_restoring),
    Phase.SWITCHING_TO_PRODUCTION: PhaseRules(plan_switch, decide_switch),
    Phase.DISABLING_ADMIN_MODE: PhaseRules(plan_admin_mode, decide_admin_mode),
    Phase.VERIFYING: PhaseRules(
        plan_verifying, decide_verifying, Retrying("verifying the environment", give_up_verify)
    ),
    Phase.REACTIVATING_FLOWS: PhaseRules(
        plan_reactivating, decide_reactivating,
        Retrying("turning the cloud flows back on", give_up_reactivating), enter_reactivating,
    ),
}

__all__ = ["Decision", "cancel_pending", "decide", "plan"]
