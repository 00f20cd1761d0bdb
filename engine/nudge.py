"""Driving an operation on from outside its own steps (the watchdog, a lock released by another
operation): a checkpoint first, then the message.

The checkpoint bumps `seq` and clears any pending wait, so the message it sends runs at once and
a message still in flight for the old `seq` becomes stale. A lost ETag race means the operation
moved meanwhile: nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from engine.messages import send_step
from engine.record import RecordChange, apply_changes
from engine.state import S
from shared.errors import ConcurrencyConflict
from shared.operations import to_millis
from shared.runtime import AppContext
from shared.storage.history import StoredOperation


def nudge(
    ctx: AppContext,
    queue: str,
    stored: StoredOperation,
    state: S,
    *,
    changes: Sequence[RecordChange] = (),
    **updates: Any,
) -> S | None:
    """The state now stored (and continued), or None if the operation moved meanwhile."""
    moved = replace(state, seq=state.seq + 1, wake_at=None, **updates)
    operation = apply_changes(stored.operation, changes, to_millis(ctx.clock()))
    try:
        ctx.history.update(stored, operation, internal=moved.to_json())
    except ConcurrencyConflict:
        return None
    send_step(ctx, queue, operation.operation_id, moved.seq)
    return moved
