"""A kind whose phases are modules, each with its own `plan` and `decide` (pure).

The data backup and the record restore keep one module per phase; the kind's `plan` and
`decide` only pick the module of the state's phase and refuse a terminal one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine.config import EngineConfig
from engine.decision import Decision
from engine.state import PhaseLike

Plan = Callable[[Any, datetime, EngineConfig], Any]
Decide = Callable[[Any, Any, datetime, EngineConfig], Decision[Any]]


def by_phase(phases: Mapping[Any, Any], what: str) -> tuple[Plan, Decide]:
    """`plan` and `decide` that hand the state to the module of its phase (`phases`: phase ->
    a module with `plan(state, now, config)` and `decide(state, answer, now, config)`)."""

    def module(phase: PhaseLike, doing: str) -> Any:
        if phase.terminal:
            raise ValueError(f"a {phase.value} {what} {doing}")
        return phases[phase]

    def plan(state: Any, now: datetime, config: EngineConfig) -> Any:
        return module(state.phase, "has nothing left to do").plan(state, now, config)

    def decide(state: Any, answer: Any, now: datetime, config: EngineConfig) -> Decision[Any]:
        decision: Decision[Any] = module(state.phase, "takes no more decisions").decide(
            state, answer, now, config
        )
        return decision

    return plan, decide
