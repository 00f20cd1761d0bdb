"""The operation record (contract section 6): one backup or restore, with its steps.

Records are immutable values; a change is a new value (`dataclasses.replace` or the helpers here),
which the history store writes with an ETag. `to_record()` is the contract's JSON form, the one the
HTTP API, the CLI's `--json` and the webhook payload share.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.inputs import parse_timestamp

# Newest request ids kept on a step inside the record; the rest live in the store's call log, so
# a day of polling cannot grow one entity past Table Storage's limits.
MAX_REQUEST_IDS_PER_STEP = 20
MAX_DETAIL_CHARS = 2000


class OperationKind(StrEnum):
    BACKUP = "backup"
    RESTORE = "restore"
    BACKUP_DELETE = "backup_delete"
    DATA_BACKUP = "data_backup"
    DATA_RESTORE = "data_restore"


class OperationStatus(StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NEEDS_ATTENTION = "NeedsAttention"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.NEEDS_ATTENTION,
        OperationStatus.REJECTED,
        OperationStatus.CANCELLED,
    }
)


class StepStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


BACKUP_STEPS = ("backup",)
BACKUP_DELETE_STEPS = ("delete",)
DATA_BACKUP_STEPS = ("plan", "copy", "commit", "retention")
DATA_RESTORE_STEPS = ("validate", "plan", "apply")
RESTORE_STEPS = (
    "validate",
    "safety_backup",
    "switch_to_sandbox",
    "restore",
    "switch_to_production",
    "disable_admin_mode",
    "verify",
    "reactivate_flows",
)


@dataclass(frozen=True, slots=True)
class OperationError:
    code: str
    message: str


# The code of a request the app could not take from its queue, its poison queue included
# (shared/intake.py, `take_poisoned`): never started, so never on the platform.
INTAKE_FAILED = "IntakeFailed"
# How the restore's `reactivate_flows` step says a read of the flows stopped at its bound, so that
# some flows are in no list (the advice looks for it to say so).
UNREAD_FLOWS = "Not every cloud flow could be read"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: str | None = None
    platform_operation_id: str | None = None
    request_ids: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "status": self.status.value,
                "startedAt": format_time(self.started_at),
                "endedAt": format_time(self.ended_at),
                "detail": self.detail,
                "platformOperationId": self.platform_operation_id,
                "requestIds": list(self.request_ids),
            },
            keep=("name", "status", "requestIds"),
        )

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            name=str(data["name"]),
            status=StepStatus(data.get("status", StepStatus.PENDING.value)),
            started_at=parse_time(data.get("startedAt")),
            ended_at=parse_time(data.get("endedAt")),
            detail=data.get("detail"),
            platform_operation_id=data.get("platformOperationId"),
            request_ids=tuple(data.get("requestIds") or ()),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    kind: OperationKind
    status: OperationStatus
    environment_id: str
    created_at: datetime
    updated_at: datetime
    environment_name: str | None = None
    source_environment_id: str | None = None
    label: str | None = None
    notes: str | None = None
    backup_id: str | None = None
    backup_point: datetime | None = None
    backup_expiry: datetime | None = None
    restore_point: datetime | None = None
    requested_by: str | None = None
    reason: str | None = None
    request_id: str | None = None
    ended_at: datetime | None = None
    error: OperationError | None = None
    steps: tuple[Step, ...] = ()
    # Request-level options that are not part of the contract's record shape but which the
    # orchestrator and the record's readers need (e.g. dryRun, skipAuditData, the plan).
    options: Mapping[str, Any] = field(default_factory=dict)
    # A data backup's point and its tables (contract section 9), as the record shows them.
    point_id: str | None = None
    point_time: datetime | None = None
    # (A record restore's are table names.)
    tables: tuple[Any, ...] = ()
    # A restore's solution cloud flows, before and after it (contract section 11).
    flows: tuple[Mapping[str, Any], ...] = ()
    # A record restore's counts (contract section 10): `{"total": COUNTS, "tables": {...}}`.
    plan: Mapping[str, Any] | None = None
    applied: Mapping[str, Any] | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return round((self.ended_at - self.created_at).total_seconds(), 3)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_record(self) -> dict[str, Any]:
        record = {
            "operationId": self.operation_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "environmentId": self.environment_id,
            "environmentName": self.environment_name,
            "sourceEnvironmentId": self.source_environment_id,
            "label": self.label,
            "notes": self.notes,
            "backupId": self.backup_id,
            "backupPointDateTime": format_time(self.backup_point),
            "backupExpiryDateTime": format_time(self.backup_expiry),
            "restorePointDateTime": format_time(self.restore_point),
            "requestedBy": self.requested_by,
            "reason": self.reason,
            "requestId": self.request_id,
            "createdAt": format_time(self.created_at),
            "updatedAt": format_time(self.updated_at),
            "endedAt": format_time(self.ended_at),
            "durationSeconds": self.duration_seconds,
            "error": (
                {"code": self.error.code, "message": self.error.message} if self.error else None
            ),
            "steps": [s.to_record() for s in self.steps],
        }
        if self.options:
            record["options"] = dict(self.options)
        if self.kind is OperationKind.DATA_BACKUP:
            record["pointId"] = self.point_id
            record["pointTime"] = format_time(self.point_time)
            record["tables"] = [dict(t) for t in self.tables]
        if self.kind is OperationKind.DATA_RESTORE:
            record["pointId"] = self.point_id
            record["tables"] = list(self.tables)
            record["plan"] = dict(self.plan) if self.plan is not None else None
            record["applied"] = dict(self.applied) if self.applied is not None else None
        if self.kind is OperationKind.RESTORE and self.flows:
            record["flows"] = [dict(f) for f in self.flows]
        return _compact(record, keep=("operationId", "kind", "status", "environmentId", "steps"))

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Operation:
        error = data.get("error")
        return cls(
            operation_id=str(data["operationId"]),
            kind=OperationKind(data["kind"]),
            status=OperationStatus(data["status"]),
            environment_id=str(data.get("environmentId") or ""),
            environment_name=data.get("environmentName"),
            created_at=_required_time(data.get("createdAt")),
            updated_at=_required_time(data.get("updatedAt") or data.get("createdAt")),
            source_environment_id=data.get("sourceEnvironmentId"),
            label=data.get("label"),
            notes=data.get("notes"),
            backup_id=data.get("backupId"),
            backup_point=parse_time(data.get("backupPointDateTime")),
            backup_expiry=parse_time(data.get("backupExpiryDateTime")),
            restore_point=parse_time(data.get("restorePointDateTime")),
            requested_by=data.get("requestedBy"),
            reason=data.get("reason"),
            request_id=data.get("requestId"),
            ended_at=parse_time(data.get("endedAt")),
            error=OperationError(str(error["code"]), str(error["message"])) if error else None,
            steps=tuple(Step.from_record(s) for s in data.get("steps") or ()),
            options=dict(data.get("options") or {}),
            point_id=data.get("pointId"),
            point_time=parse_time(data.get("pointTime")),
            tables=tuple(
                dict(t) if isinstance(t, Mapping) else t for t in data.get("tables") or ()
            ),
            plan=data.get("plan"),
            applied=data.get("applied"),
            flows=tuple(dict(f) for f in data.get("flows") or ()),
        )


def new_operation_id(kind: OperationKind, now: datetime) -> str:
    """A readable, time-ordered id: `backup-20261121T014502123Z-1a2b3c`.

    The creation instant is in the id so the history store can place the record (newest first)
    from the id alone, which keeps a lookup by id to a single point read.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    return f"{kind.value}-{stamp}-{secrets.token_hex(3)}"


def operation_id_instant(operation_id: str) -> datetime:
    """The creation instant encoded in an id made by `new_operation_id`; ValueError otherwise."""
    parts = operation_id.split("-")
    if len(parts) != 3 or parts[0] not in {k.value for k in OperationKind}:
        raise ValueError(f"not an operation id: {operation_id!r}")
    stamp = parts[1]
    if len(stamp) != 19 or not stamp.endswith("Z"):
        raise ValueError(f"not an operation id: {operation_id!r}")
    base = datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return base.replace(microsecond=int(stamp[15:18]) * 1000)


def new_operation(
    kind: OperationKind,
    environment_id: str,
    now: datetime,
    *,
    operation_id: str | None = None,
    status: OperationStatus = OperationStatus.QUEUED,
    **fields: Any,
) -> Operation:
    names = {
        OperationKind.BACKUP: BACKUP_STEPS,
        OperationKind.RESTORE: RESTORE_STEPS,
        OperationKind.BACKUP_DELETE: BACKUP_DELETE_STEPS,
        OperationKind.DATA_BACKUP: DATA_BACKUP_STEPS,
        OperationKind.DATA_RESTORE: DATA_RESTORE_STEPS,
    }[kind]
    now = to_millis(now)
    return Operation(
        operation_id=operation_id or new_operation_id(kind, now),
        kind=kind,
        status=status,
        environment_id=environment_id,
        created_at=now,
        updated_at=now,
        steps=tuple(Step(name=n) for n in names),
        **fields,
    )


def update_step(operation: Operation, name: str, now: datetime, **changes: Any) -> Operation:
    """Return `operation` with step `name` changed; stamps start/end times on status moves."""
    status = changes.get("status")
    new_steps = []
    found = False
    for s in operation.steps:
        if s.name != name:
            new_steps.append(s)
            continue
        found = True
        if status is StepStatus.RUNNING and s.started_at is None:
            changes.setdefault("started_at", now)
        if status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED):
            changes.setdefault("ended_at", now)
            if status is not StepStatus.SKIPPED and s.started_at is None:
                changes.setdefault("started_at", now)
        if "detail" in changes and changes["detail"] is not None:
            changes["detail"] = str(changes["detail"])[:MAX_DETAIL_CHARS]
        new_steps.append(replace(s, **changes))
    if not found:
        raise KeyError(name)
    return replace(operation, steps=tuple(new_steps), updated_at=now)


def add_request_ids(operation: Operation, name: str, request_ids: tuple[str, ...]) -> Operation:
    """Append platform request ids to a step, keeping the newest MAX_REQUEST_IDS_PER_STEP."""
    if not request_ids:
        return operation
    step = operation.step(name)
    merged = tuple(dict.fromkeys(step.request_ids + request_ids))[-MAX_REQUEST_IDS_PER_STEP:]
    return replace(
        operation,
        steps=tuple(
            replace(s, request_ids=merged) if s.name == name else s for s in operation.steps
        ),
    )


def finish(
    operation: Operation,
    status: OperationStatus,
    now: datetime,
    *,
    error: OperationError | None = None,
) -> Operation:
    if not status.terminal:
        raise ValueError(f"{status} is not a terminal status")
    return replace(operation, status=status, ended_at=now, updated_at=now, error=error)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_timestamp(str(value), platform=True)


def utcnow() -> datetime:
    return to_millis(datetime.now(UTC))


def to_millis(value: datetime) -> datetime:
    """Records keep millisecond precision; truncating up front keeps round trips exact."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _required_time(value: object) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a timestamp is required")
    return parsed


def _compact(record: dict[str, Any], *, keep: tuple[str, ...]) -> dict[str, Any]:
    """Drop empty optional fields so records stay small and readable."""
    return {k: v for k, v in record.items() if v is not None or k in keep}
