"""The data backup, as the engine drives it (engine/kinds.py): its state, its phases, no lock."""

from __future__ import annotations

from typing import Any

from data_backups import committing, copying, planning
from data_backups.execute import execute
from data_backups.faults import fail
from data_backups.state import PHASE_STEP, DataBackupState, Phase
from engine.kind import Kind, abandon_by, nothing_held
from engine.phases import by_phase
from shared.operations import OperationKind
from shared.queue_names import DATA_BACKUP_WORK
from shared.storage.history import StoredOperation

_PHASES: dict[Phase, Any] = {
    Phase.PLANNING: planning,
    Phase.COPYING: copying,
    Phase.COMMITTING: committing,
    Phase.SWEEPING: committing,
}


def read_state(stored: StoredOperation) -> DataBackupState:
    return DataBackupState.from_json(stored.internal)


plan, decide = by_phase(_PHASES, "data backup")


DATA_BACKUP: Kind[DataBackupState] = Kind(
    operation_kind=OperationKind.DATA_BACKUP,
    queue=DATA_BACKUP_WORK,
    read_state=read_state,
    plan=plan,
    decide=decide,
    execute=execute,
    step_of=lambda state: PHASE_STEP[state.phase],
    abandon=abandon_by(lambda state, message: fail(state, "GaveUp", message,
                                                  PHASE_STEP[state.phase])),
    # No lock: an uncommitted point's files are the sweep's to remove.
    ended=nothing_held,
    released=nothing_held,
)
