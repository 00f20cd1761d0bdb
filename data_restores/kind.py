"""The record restore, as the engine drives it (engine/kinds.py): its state, its phases, no lock.

It holds no lock: it never deletes and writes only conditionally, so an environment restore or
another record restore running at the same time meets conflicts, never lost writes.
"""

from __future__ import annotations

from typing import Any

from data_restores import applying, planning, settling, validating
from data_restores.execute import execute
from data_restores.faults import fail
from data_restores.state import PHASE_STEP, DataRestoreState, Phase
from engine.kind import Kind, abandon_by, nothing_held
from engine.phases import by_phase
from shared.operations import OperationKind
from shared.queue_names import DATA_RESTORE_WORK
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


DATA_RESTORE: Kind[DataRestoreState] = Kind(
    operation_kind=OperationKind.DATA_RESTORE,
    queue=DATA_RESTORE_WORK,
    read_state=read_state,
    plan=plan,
    decide=decide,
    execute=execute,
    step_of=lambda state: PHASE_STEP[state.phase],
    abandon=abandon_by(lambda state, message: fail(state, "GaveUp", message,
                                                  PHASE_STEP[state.phase])),
    # No lock: its files in the store are its record of what it did.
    ended=nothing_held,
    released=nothing_held,
)
