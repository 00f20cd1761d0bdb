"""Queued: waiting for the target's lock (one restore per target, oldest first)."""

from __future__ import annotations

from datetime import datetime

from engine.answers import (
    Answer,
    LockAcquired,
    LockBusy,
    Proceeded,
)
from engine.commands import AcquireLock, Command, Proceed
from engine.config import EngineConfig
from restore_orchestrator.moves import (
    Decision,
    move,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.state import RestoreState


def plan_queued(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """The lock (a dry run needs none)."""
    if state.request.dry_run:
        return Proceed("a dry run changes nothing and needs no lock")
    return AcquireLock(state.request.target_id)


def decide_queued(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    if isinstance(answer, LockAcquired | Proceeded):
        return move(state, Event.STARTED, now, config)
    if isinstance(answer, LockBusy):
        why = (
            f"Waiting for restore {answer.holder_id}, which holds {target_name(state)}, to end."
            if not answer.first_in_line
            else f"Waiting for the older restore {answer.holder_id} of {target_name(state)} to "
            "go first."
        )
        return wait(state, now, config.lock_retry_seconds, why, start_step=False)
    return None
