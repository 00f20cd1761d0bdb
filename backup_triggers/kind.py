"""The backup, as the engine drives it (engine/kinds.py): its state, its one phase, no lock."""

from __future__ import annotations

from typing import Any

from backup_triggers.backing_up import STEP, decide, fail, plan
from backup_triggers.state import BackupState
from engine.answers import Answer
from engine.execute import execute
from engine.kind import Kind, abandon_by, nothing_held
from shared.operations import OperationKind, parse_time
from shared.queue_names import BACKUP_WORK
from shared.runtime import AppContext
from shared.storage.history import StoredOperation


def read_state(stored: StoredOperation) -> BackupState:
    """The backup's state; for a backup admitted before backups ran on the engine (no versioned
    state), one built from its record and its old attempt fields, so it carries on: with an
    attempt started, its first step looks for the backup that attempt may have made."""
    internal = stored.internal
    if internal and "version" in internal:
        return BackupState.from_json(internal)
    operation = stored.operation
    attempt = int(internal.get("attempt", 0)) if internal else 0
    return BackupState(
        operation.environment_id,
        operation.label or "",
        intent_at=parse_time(internal.get("attemptStartedAt")) if internal else None,
        tries=attempt,
    )


def _execute(ctx: AppContext, command: Any, operation_id: str) -> Answer:
    return execute(ctx, command, operation_id=operation_id)


BACKUP: Kind[BackupState] = Kind(
    operation_kind=OperationKind.BACKUP,
    queue=BACKUP_WORK,
    read_state=read_state,
    plan=plan,
    decide=decide,
    execute=_execute,
    step_of=lambda state: STEP,
    abandon=abandon_by(lambda state, message: fail(state, "GaveUp", message)),
    # No lock: there is nothing to release when it ends.
    ended=nothing_held,
    released=nothing_held,
    # A backup changes nothing but makes a backup: a message the host gives up on ends it Failed
    # at once (the caller may ask again), rather than being retried by the watchdog.
    max_engine_faults=1,
)
