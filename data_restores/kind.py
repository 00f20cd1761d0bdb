"""The record restore, as the engine drives it (engine/kinds.py): its state, its phases, no lock.

It holds no lock: it never deletes and writes only conditionally, so an environment restore or
another record restore running at the same time meets conflicts, never lost writes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from data_restores import applying, planning, settling, validating
from data_restores.execute import execute
from data_restores.faults import abandon_changes
from data_restores.state import PHASE_STEP, DataRestoreState, Phase
from engine.kind import Kind
from engine.phases import by_phase
from engine.record import RecordChange
from shared.operations import OperationKind
from shared.queue_names import DATA_RESTORE_WORK
from shared.runtime import AppContext
from shared.storage.history import StoredOperation

_PHASES: dict[Phase, Any] = {
    Phase.VALIDATING: validating,
    Phase.PLANNING: planning,
    Phase.RELATING: planning,
    Phase.SETTLING: settling,
    Phase.APPLYING: applying,
}


def read_state(stored: StoredOperation) -> DataRestoreState:
    return DataRestoreState.from_json(stored.internal)


plan, decide = by_phase(_PHASES, "record restore")


def _abandon(
    state: DataRestoreState, message: str
) -> tuple[DataRestoreState, tuple[RecordChange, ...]]:
    ended = replace(state, phase=Phase.FAILED, wake_at=None)
    return ended, abandon_changes("GaveUp", message, PHASE_STEP[state.phase])


def _nothing_held(ctx: AppContext, *args: Any) -> None:
    """A record restore holds no lock; its files in the store are its record of what it did."""


DATA_RESTORE: Kind[DataRestoreState] = Kind(
    operation_kind=OperationKind.DATA_RESTORE,
    queue=DATA_RESTORE_WORK,
    read_state=read_state,
    plan=plan,
    decide=decide,
    execute=execute,
    step_of=lambda state: PHASE_STEP[state.phase],
    abandon=_abandon,
    ended=_nothing_held,
    released=_nothing_held,
)
