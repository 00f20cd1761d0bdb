"""How a restore phase moves: `wait`, `proceed`, `backoff`, `give_up` stay in it; `move` leaves it.

`Decision` itself is the engine's (engine/decision.py), typed with `RestoreState` here.

The builders here keep the phase handlers short and make every phase change go
through the transition table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from engine.answers import Lost
from engine.commands import Command
from engine.config import EngineConfig
from engine.decision import ContinueNow, Stop, WaitFor
from engine.decision import Decision as EngineDecision
from engine.record import Finish, RecordChange, SetFlows, StepUpdate
from engine.waiting import Retryable, reason, retry_delay
from restore_orchestrator.phases import TERMINAL_STATUS, Event, Phase
from restore_orchestrator.state import OFF, ON, Problem, RestoreState, Work
from restore_orchestrator.transitions import next_phase
from shared.operations import OperationError, OperationStatus, StepStatus, format_time

# How a phase is entered: the state with its first call's intent, that call, the record changes.
Entry = tuple[RestoreState, "Command | None", tuple[RecordChange, ...]]

# A type only: constructing through the alias would set `__orig_class__` on a slotted value.
Decision = EngineDecision[RestoreState]


class UnexpectedAnswerError(RuntimeError):
    """An answer no command of this phase produces: a bug in the runner or the planner."""


def safety_backup_label(state: RestoreState) -> str:
    return f"Safety backup before restore {state.request.operation_id}"


def target_name(state: RestoreState) -> str:
    name = state.facts.target_name
    target = state.request.target_id
    return f"{name} ({target})" if name else target


def source_name(state: RestoreState) -> str:
    if state.request.in_place:
        return "itself"
    return state.facts.source_name or state.request.source_id


def in_words(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f}m"
    return f"{minutes / 60:.1f}h"


# --- staying in the phase ---------------------------------------------------------------------


def wait(
    state: RestoreState,
    now: datetime,
    seconds: float,
    detail: str,
    *,
    work: Work | None = None,
    changes: tuple[RecordChange, ...] = (),
    start_step: bool = True,
    **updates: object,
) -> Decision:
    seconds = max(0.0, seconds)
    work = replace(work or state.work, last_detail=detail)
    new = replace(state, work=work, wake_at=now + timedelta(seconds=seconds), **updates)  # type: ignore[arg-type]
    step = state.phase.step
    text = f"{detail} Next check in {in_words(seconds)}." if seconds > 0 else detail
    extra = (StepUpdate(step, detail=text, start=start_step),) if step else ()
    return EngineDecision(new, Event.WAIT, (*changes, *extra), WaitFor(seconds))


def proceed(
    state: RestoreState,
    *,
    command: Command | None = None,
    changes: tuple[RecordChange, ...] = (),
    **updates: object,
) -> Decision:
    """Stay in the phase and run its next step now (the state changed, e.g. an intent)."""
    new = replace(state, wake_at=None, **updates)  # type: ignore[arg-type]
    return EngineDecision(new, Event.WAIT, changes, ContinueNow(command))


def backoff(
    state: RestoreState,
    now: datetime,
    fault: Retryable,
    config: EngineConfig,
    *,
    doing: str,
    give_up: Callable[[str], Decision],
    work: Work | None = None,
    bounded: bool = True,
) -> Decision:
    """Wait out a busy, throttled or unavailable platform, boundedly (unless the caller bounds
    the phase itself: `bounded=False`); then `give_up`."""
    base = work or state.work
    attempts = base.attempts + 1
    if bounded and attempts > config.backoff.max_attempts:
        return give_up(
            f"Gave up {doing} after {attempts - 1} attempts; the platform's last answer: "
            f"{fault.message}"
        )
    if isinstance(fault, Lost):
        # The call may have been carried out: look for its effect before anything else.
        return wait(
            state, now, retry_delay(fault, attempts, config),
            f"The platform's answer to {doing} was lost ({fault.message}); checking what it did.",
            work=replace(base, attempts=attempts),
        )
    return wait(
        state, now, retry_delay(fault, attempts, config),
        f"Waiting before {doing}: {reason(fault)} (attempt {attempts}).",
        work=replace(base, attempts=attempts),
    )


class GiveUp:
    """A callable that turns a give-up message into the phase's give-up decision."""

    def __init__(self, state: RestoreState, now: datetime, config: EngineConfig, code: str) -> None:
        self.state, self.now, self.config, self.code = state, now, config, code

    def __call__(self, message: str) -> Decision:
        return give_up(self.state, self.now, self.config, Problem(self.code, message))


def give_up(
    state: RestoreState, now: datetime, config: EngineConfig, problem: Problem
) -> Decision:
    """Leave the phase through GAVE_UP, remembering what went wrong for the end."""
    phase = state.phase
    if phase in (Phase.SWITCHING_TO_PRODUCTION, Phase.DISABLING_ADMIN_MODE, Phase.VERIFYING):
        marked = replace(state, attention=state.attention or problem)
    else:
        marked = replace(state, failure=state.failure or problem)
    return move(
        marked, Event.GAVE_UP, now, config,
        step_status=StepStatus.FAILED, step_detail=problem.message,
    )


# --- leaving the phase ------------------------------------------------------------------------


def move(
    state: RestoreState,
    event: Event,
    now: datetime,
    config: EngineConfig,
    *,
    step_status: StepStatus | None = None,
    step_detail: str | None = None,
    changes: tuple[RecordChange, ...] = (),
    **updates: object,
) -> Decision:
    """Take the table's move for `event`, close the current step, and enter the next phase."""
    target = next_phase(state.phase, event)
    step = state.phase.step
    all_changes = list(changes)
    if step is not None and (step_status is not None or step_detail is not None):
        all_changes.append(StepUpdate(step, status=step_status, detail=step_detail))
    new = replace(
        state, phase=target, phase_since=now, work=Work(), wake_at=None, **updates  # type: ignore[arg-type]
    )
    if target.terminal:
        status = TERMINAL_STATUS[target]
        all_changes.extend(flows_left_off(state, status))
        all_changes.append(
            Finish(status, _ending_error(new, status), skipped_detail=_skipped(status))
        )
        return EngineDecision(new, event, tuple(all_changes), Stop())
    # Entering the next phase (its first call, its record) is the phase's own: decide.py applies
    # it to every move.
    return EngineDecision(new, event, tuple(all_changes), ContinueNow())


def flows_left_off(state: RestoreState, ending: OperationStatus) -> tuple[RecordChange, ...]:
    """The record's `flows` for a restore that ends, once the target may have been overwritten,
    without its flow step (which lists them itself): a platform restore turns every solution
    flow off, so each flow that was on is named as left off (contract section 11)."""
    before = state.facts.flows_before
    if (before is None or not state.facts.restore_requested
            or state.phase is Phase.REACTIVATING_FLOWS or ending is OperationStatus.SUCCEEDED):
        return ()
    reason = (f"The restore ended {ending.value} before its flows were turned on again, so it "
              "may be off (a restore turns solution flows off). Once the restore is sorted out, "
              "turn it on in Power Automate if it should run.")
    return (SetFlows(tuple(
        {"id": f.id, "name": f.name, "before": ON if f.on else OFF, "after": OFF,
         **({"reason": reason} if f.on else {})}
        for f in sorted(before.flows, key=lambda f: (f.name.lower(), f.id))
    )),)


def _ending_error(state: RestoreState, status: OperationStatus) -> OperationError | None:
    problem: Problem | None = None
    if status is OperationStatus.NEEDS_ATTENTION:
        problem = state.attention or state.failure
    elif status in (OperationStatus.FAILED, OperationStatus.REJECTED):
        problem = state.failure
    elif status is OperationStatus.CANCELLED:
        by = state.cancel_requested_by or "an operator"
        when = format_time(state.cancel_requested_at) or "?"
        back = (
            f"; {target_name(state)} was switched back to {state.facts.original_type}"
            if state.facts.switched_to_sandbox
            else ""
        )
        problem = Problem("Cancelled", f"Cancelled at the request of {by} at {when}{back}.")
    return None if problem is None else OperationError(problem.code, problem.message)


def _skipped(status: OperationStatus) -> str | None:
    if status is OperationStatus.SUCCEEDED:
        return None
    return f"Not run: the restore ended {status.value}."
