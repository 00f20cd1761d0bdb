"""Committing the point (manifest last, create-only) and the retention sweep (pure).

    Committing: CommitPoint (the tables copied, the tables that failed and why) -> Sweeping, or
                the end when the plan found nothing the sweep could delete; the store refusing
                (a chunk missing, a chain broken) -> Failed
    Sweeping:   Sweep (the environment's points the retention rule no longer keeps) -> the end:
                Succeeded, or Failed naming the tables the point does not hold
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_backups.commands import CommitPoint, CommitRefused, Committed, Sweep, Swept, TableToCommit
from data_backups.faults import fail
from data_backups.state import DataBackupState, Event, Phase, TableStatus
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop
from engine.record import Finish, SetDataPoint, StepUpdate
from shared.operations import OperationError, OperationStatus, StepStatus, format_time

STEP_COMMIT = "commit"
STEP_SWEEP = "retention"


def plan(state: DataBackupState, now: datetime, config: EngineConfig) -> CommitPoint | Sweep:
    if state.phase is Phase.SWEEPING:
        return Sweep(state.environment_id)
    if state.point_id is None or state.point_time is None:
        raise ValueError("a data backup commits only after it was planned")
    return CommitPoint(
        state.environment_id, state.point_id, state.point_time, state.label,
        tuple(TableToCommit(t.table, t.mode, t.id_column, t.row_chunks, t.deleted_chunks,
                            t.previous, t.rows, t.delta_link, t.rewritten)
              for t in state.tables if t.status is TableStatus.COPIED),
        failed_tables(state), state.api_url, state.instance_url or state.api_url,
    )


def failed_tables(state: DataBackupState) -> dict[str, str]:
    """The tables the point does not hold, and why (the manifest names them)."""
    return {t.table: t.detail or "not copied" for t in state.tables
            if t.status is TableStatus.FAILED}


def decide(
    state: DataBackupState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    if isinstance(answer, Committed):
        tables = tuple(
            replace(t, rows=answer.tables[t.table][0], bytes=answer.tables[t.table][1])
            if t.table in answer.tables else t
            for t in state.tables
        )
        sweeping = replace(state, phase=Phase.SWEEPING, tables=tables)
        detail = f"Point {state.point_id} at {format_time(state.point_time)} is complete."
        committed = (
            StepUpdate(STEP_COMMIT, status=StepStatus.SUCCEEDED, detail=detail),
            SetDataPoint(sweeping.table_records(), state.point_id, state.point_time),
        )
        if not state.sweep_due:  # a sweep would read every chained manifest to delete nothing
            ended = _ended(sweeping, None)
            return replace(ended, changes=committed + ended.changes)
        return Decision(sweeping, Event.COMMITTED, committed, ContinueNow())
    if isinstance(answer, CommitRefused):
        return fail(state, "CommitRefused", answer.message, STEP_COMMIT)
    if isinstance(answer, Swept):
        swept = state.swept + answer.deleted_points
        if answer.more:  # a backlog: the next step deletes the next batch
            going = replace(state, swept=swept)
            detail = f"{swept} expired point(s) deleted so far; deleting more."
            return Decision(going, Event.SWEPT, (StepUpdate(STEP_SWEEP, detail=detail),),
                            ContinueNow())
        return _ended(state, replace(answer, deleted_points=swept))
    raise ValueError(f"{type(answer).__name__} is no answer to {state.phase}")


def _ended(state: DataBackupState, swept: Swept | None) -> Decision[DataBackupState]:
    if swept is None:
        detail = "Nothing to delete: no point has expired (judged from the catalog)."
    else:
        detail = f"{swept.deleted_points} expired point(s) deleted."
    if swept is not None and swept.failures:
        detail += f" Not deleted yet (the next sweep tries again): {'; '.join(swept.failures)}"
    failed = [t for t in state.tables if t.status is TableStatus.FAILED]
    sweep_step = StepUpdate(STEP_SWEEP, status=StepStatus.SUCCEEDED, detail=detail)
    if not failed:
        done = replace(state, phase=Phase.SUCCEEDED, wake_at=None)
        return Decision(done, Event.SWEPT, (sweep_step, Finish(OperationStatus.SUCCEEDED)), Stop())
    message = (
        f"Point {state.point_id} is complete without {len(failed)} table(s): "
        + "; ".join(f"{t.table}: {t.detail}" for t in failed)
    )
    ended = replace(state, phase=Phase.FAILED, wake_at=None)
    return Decision(ended, Event.SWEPT, (
        sweep_step, Finish(OperationStatus.FAILED, OperationError("TablesFailed", message)),
    ), Stop())
