"""The table of kinds the engine drives: one line per kind of long-running operation.

A new kind is a state type, a phase module per phase, and a line here.
Operations of a kind not in the table (a backup deletion: one idempotent call, resumed by the
watchdog through its own use case) are not stepped by the runner.
"""

from __future__ import annotations

from typing import Any

from backup_triggers.kind import BACKUP
from data_backups.kind import DATA_BACKUP
from data_restores.kind import DATA_RESTORE
from engine.kind import Kind
from restore_orchestrator.kind import RESTORE
from shared.operations import OperationKind

KINDS: dict[OperationKind, Kind[Any]] = {
    OperationKind.BACKUP: BACKUP,
    OperationKind.RESTORE: RESTORE,
    OperationKind.DATA_BACKUP: DATA_BACKUP,
    OperationKind.DATA_RESTORE: DATA_RESTORE,
}


def kind_for(operation_kind: OperationKind) -> Kind[Any] | None:
    return KINDS.get(operation_kind)
