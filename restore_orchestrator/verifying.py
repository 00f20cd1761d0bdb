"""Verifying: reading the target back, and concluding the restore from what it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.answers import (
    Answer,
    EnvironmentRead,
    Missing,
    Refused,
)
from engine.commands import Command, ReadEnvironment
from engine.config import EngineConfig
from restore_orchestrator.moves import (
    Decision,
    move,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.state import Problem, RestoreState
from restore_orchestrator.switching import busy
from shared.operations import StepStatus


def plan_verifying(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    return ReadEnvironment(state.request.target_id)


def decide_verifying(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    if isinstance(answer, EnvironmentRead):
        env = answer.environment
        facts = state.facts
        problems: list[str] = []
        if facts.original_type and env.type != facts.original_type:
            problems.append(f"it is a {env.type} environment, not {facts.original_type} as before")
        if facts.restore_requested:
            if env.admin_mode:
                problems.append("it is still in administration mode")
            if env.background_operations_enabled is False:
                problems.append("background operations are disabled")
        name = target_name(state)
        if problems and state.work.attempts < config.confirm_max_attempts and busy(env):
            return wait(state, now, config.confirm_retry_seconds,
                        f"{name} is still settling; checking again.",
                        work=replace(state.work, attempts=state.work.attempts + 1))
        if problems:
            problem = Problem("VerificationFailed", f"{name}: " + "; ".join(problems) + ".")
            return move(state, Event.NEEDS_ATTENTION, now, config,
                        step_status=StepStatus.FAILED, step_detail=problem.message,
                        attention=state.attention or problem)
        checked = f"{name} is {env.type}"
        if facts.restore_requested:
            checked += ", out of administration mode, with background operations on"
        detail = checked + "."
        if state.attention is not None:
            event = Event.NEEDS_ATTENTION
        elif state.failure is not None:
            event = Event.CONCLUDED_FAILED
        elif state.cancelled:
            event = Event.CONCLUDED_CANCELLED
        else:
            event = Event.VERIFIED
        return move(state, event, now, config, step_status=StepStatus.SUCCEEDED,
                    step_detail=detail)
    if isinstance(answer, Refused | Missing):
        return give_up_verify(state, now, config, answer.message)
    return None  # faults: the dispatcher's (decide.py)


def give_up_verify(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    problem = Problem("VerificationImpossible",
                      f"{target_name(state)} could not be read to verify it: {message}")
    return move(state, Event.NEEDS_ATTENTION, now, config, step_status=StepStatus.FAILED,
                step_detail=problem.message, attention=state.attention or problem)
