"""Changes to the operation record that a decision asks for, and applying them (pure).

`decide` says *what* changes (a step's status and detail, the resolved restore point, the end);
`apply_changes` turns that into a new `Operation` with the record helpers of shared/operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.operations import (
    Operation,
    OperationError,
    OperationStatus,
    Step,
    StepStatus,
    finish,
    update_step,
)


@dataclass(frozen=True, slots=True)
class StepUpdate:
    """Change one step. A detail on a Pending step starts it (status Running) unless `start` is
    False (a Queued restore explains what it waits for without starting anything)."""

    name: str
    status: StepStatus | None = None
    detail: str | None = None
    platform_operation_id: str | None = None
    start: bool = True


@dataclass(frozen=True, slots=True)
class MarkRunning:
    pass


@dataclass(frozen=True, slots=True)
class SetFacts:
    environment_name: str | None = None
    backup_id: str | None = None
    restore_point: datetime | None = None


@dataclass(frozen=True, slots=True)
class SetBackup:
    """The backup an operation made (a backup's result, shown on its record)."""

    backup_id: str
    point: datetime
    expiry: datetime | None = None


@dataclass(frozen=True, slots=True)
class SetDataPoint:
    """A data backup's tables as the record shows them (contract section 9), and its point once
    committed (None before: a point is named only when it is complete)."""

    tables: tuple[Mapping[str, Any], ...]
    point_id: str | None = None
    point_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SetRestoreCounts:
    """A record restore's point, tables and counts (contract section 10); None keeps a value."""

    point_id: str | None = None
    tables: tuple[str, ...] | None = None
    plan: Mapping[str, Any] | None = None
    applied: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SetOption:
    """An entry of the record's `options` (e.g. the dry run's plan); JSON values only."""

    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class SetFlows:
    """A restore's cloud flows as the record shows them (contract section 11)."""

    flows: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Finish:
    status: OperationStatus
    error: OperationError | None = None
    # Steps that never ran are marked Skipped with this detail.
    skipped_detail: str | None = None


RecordChange = (
    StepUpdate | MarkRunning | SetFacts | SetBackup | SetDataPoint | SetRestoreCounts
    | SetOption | SetFlows | Finish
)


def apply_changes(
    operation: Operation, changes: Iterable[RecordChange], now: datetime
) -> Operation:
    for change in changes:
        operation = _apply(operation, change, now)
    return operation


def _apply(operation: Operation, change: RecordChange, now: datetime) -> Operation:
    if isinstance(change, StepUpdate):
        if all(s.name != change.name for s in operation.steps):
            # A record made before the step existed (a restore in flight across a deployment).
            operation = replace(operation, steps=(*operation.steps, Step(change.name)))
        step = operation.step(change.name)
        fields: dict[str, Any] = {}
        status = change.status
        if (
            status is None
            and change.start
            and step.status is StepStatus.PENDING
            and change.detail is not None
        ):
            status = StepStatus.RUNNING
        if status is not None and status is not step.status:
            fields["status"] = status
        if change.detail is not None:
            fields["detail"] = change.detail
        if change.platform_operation_id is not None:
            fields["platform_operation_id"] = change.platform_operation_id
        return update_step(operation, change.name, now, **fields) if fields else operation
    if isinstance(change, MarkRunning):
        if operation.status is OperationStatus.RUNNING:
            return operation
        return replace(operation, status=OperationStatus.RUNNING, updated_at=now)
    if isinstance(change, SetFacts):
        return replace(
            operation,
            environment_name=change.environment_name or operation.environment_name,
            backup_id=change.backup_id or operation.backup_id,
            restore_point=change.restore_point or operation.restore_point,
            updated_at=now,
        )
    if isinstance(change, SetBackup):
        return replace(
            operation,
            backup_id=change.backup_id,
            backup_point=change.point,
            backup_expiry=change.expiry,
            updated_at=now,
        )
    if isinstance(change, SetDataPoint):
        return replace(
            operation,
            point_id=change.point_id or operation.point_id,
            point_time=change.point_time or operation.point_time,
            tables=change.tables,
            updated_at=now,
        )
    if isinstance(change, SetRestoreCounts):
        return replace(
            operation,
            point_id=change.point_id or operation.point_id,
            tables=change.tables if change.tables is not None else operation.tables,
            plan=change.plan if change.plan is not None else operation.plan,
            applied=change.applied if change.applied is not None else operation.applied,
            updated_at=now,
        )
    if isinstance(change, SetFlows):
        return replace(operation, flows=change.flows, updated_at=now)
    if isinstance(change, SetOption):
        options: Mapping[str, Any] = {**operation.options, change.key: change.value}
        return replace(operation, options=options, updated_at=now)
    for step in operation.steps:
        if step.status is StepStatus.PENDING:
            operation = update_step(
                operation, step.name, now, status=StepStatus.SKIPPED, detail=change.skipped_detail
            )
    return finish(operation, change.status, now, error=change.error)
