"""A data backup's private state on the engine: a frozen value stored as versioned JSON beside its
record, so one ETag-guarded write commits both. Each table's cursor lives here: a step reads a
bounded run of pages per table and checkpoints where the read goes on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.state import engine_fields, reading, state_json
from shared.operations import format_time, parse_time

STATE_VERSION = 1


class Phase(StrEnum):
    PLANNING = "Planning"
    COPYING = "Copying"
    COMMITTING = "Committing"
    SWEEPING = "Sweeping"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REJECTED = "Rejected"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.REJECTED)


PHASE_STEP = {
    Phase.PLANNING: "plan",
    Phase.COPYING: "copy",
    Phase.COMMITTING: "commit",
    Phase.SWEEPING: "retention",
    Phase.SUCCEEDED: "retention",
    Phase.FAILED: "copy",
    Phase.REJECTED: "plan",
}


class Event(StrEnum):
    PLANNED = "Planned"
    COPIED = "Copied"
    WAIT = "Wait"
    COMMITTED = "Committed"
    SWEPT = "Swept"
    REJECTED = "Rejected"
    GAVE_UP = "GaveUp"


class TableStatus(StrEnum):
    PENDING = "Pending"
    COPYING = "Running"
    COPIED = "Succeeded"
    FAILED = "Failed"

    @property
    def done(self) -> bool:
        return self in (TableStatus.COPIED, TableStatus.FAILED)


@dataclass(frozen=True, slots=True)
class TableWork:
    """One table of the point: how it is copied and how far the copy has come."""

    table: str
    entity_set: str = ""
    id_column: str = ""
    mode: str = "full"
    # For an incremental: the point it is read on top of, and the delta link that point ended with.
    previous: str | None = None
    since: str | None = None
    cursor: Mapping[str, Any] | None = None
    # The delta link the copy ended with: the manifest keeps it for the next point's read.
    delta_link: str | None = None
    row_chunks: int = 0
    deleted_chunks: int = 0
    # Chunks written again beside an earlier run's: chunk -> the file the checkpointed run
    # wrote (`PageCopied.rewritten`); empty unless a step ran twice.
    rewritten: Mapping[str, str] = field(default_factory=dict)
    rows: int | None = None
    changed: int = 0
    deleted: int = 0
    bytes: int = 0
    status: TableStatus = TableStatus.PENDING
    detail: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The table as the operation record shows it (contract section 9)."""
        return {
            "table": self.table, "mode": self.mode, "rows": self.rows, "changed": self.changed,
            "deleted": self.deleted, "bytes": self.bytes, "status": self.status.value,
            "detail": self.detail,
        }

    def to_json(self) -> dict[str, Any]:
        values = {
            "table": self.table, "entitySet": self.entity_set, "idColumn": self.id_column,
            "mode": self.mode, "previous": self.previous, "since": self.since,
            "cursor": dict(self.cursor) if self.cursor is not None else None,
            "deltaLink": self.delta_link, "rowChunks": self.row_chunks,
            "deletedChunks": self.deleted_chunks,
            "rewritten": dict(self.rewritten) or None,
            "rows": self.rows, "changed": self.changed, "deleted": self.deleted,
            "bytes": self.bytes, "status": self.status.value, "detail": self.detail,
        }
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableWork:
        rows = data.get("rows")
        return cls(
            table=str(data["table"]), entity_set=str(data.get("entitySet", "")),
            id_column=str(data.get("idColumn", "")), mode=str(data.get("mode", "full")),
            previous=data.get("previous"), since=data.get("since"), cursor=data.get("cursor"),
            delta_link=data.get("deltaLink"),
            row_chunks=int(data.get("rowChunks", 0)),
            deleted_chunks=int(data.get("deletedChunks", 0)),
            rewritten={str(k): str(v) for k, v in (data.get("rewritten") or {}).items()},
            rows=int(rows) if rows is not None else None, changed=int(data.get("changed", 0)),
            deleted=int(data.get("deleted", 0)), bytes=int(data.get("bytes", 0)),
            status=TableStatus(data.get("status", TableStatus.PENDING.value)),
            detail=data.get("detail"),
        )


@dataclass(frozen=True, slots=True)
class DataBackupState:
    environment_id: str
    label: str | None = None
    # The tables asked for (None: every readable table) and those left out of `all`.
    requested: tuple[str, ...] | None = None
    excluded: frozenset[str] = frozenset()
    full: bool = False
    page_size: int = 5000
    version: int = STATE_VERSION
    seq: int = 0
    phase: Phase = Phase.PLANNING
    api_url: str | None = None
    instance_url: str | None = None
    point_id: str | None = None
    point_time: datetime | None = None
    tables: tuple[TableWork, ...] = ()
    # Tables read in parallel per step, and the most it may grow back to (the server's
    # x-ms-dop-hint, bounded): halved when the server asks for fewer requests at once
    # (shared.policy.concurrency).
    concurrency: int = 4
    concurrency_limit: int = 4
    # Whether the retention sweep follows the commit (something has expired, per the catalog).
    sweep_due: bool = True
    # Points the sweep deleted in its steps so far (a backlog takes several).
    swept: int = 0
    # Consecutive steps that could not serve a single page (throttling, outages).
    attempts: int = 0
    wake_at: datetime | None = None
    engine_faults: int = 0
    watchdog_nudges: int = 0
    # The queue message that admitted it: only a redelivery of that message runs it again.
    admitted_by: str | None = None

    def table_records(self) -> tuple[dict[str, Any], ...]:
        return tuple(t.to_record() for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return state_json(self, {
            "environmentId": self.environment_id, "label": self.label,
            "requested": list(self.requested) if self.requested is not None else None,
            "excluded": sorted(self.excluded) or None, "full": self.full or None,
            "pageSize": self.page_size, "apiUrl": self.api_url, "instanceUrl": self.instance_url,
            "pointId": self.point_id, "pointTime": format_time(self.point_time),
            "tables": [t.to_json() for t in self.tables], "concurrency": self.concurrency,
            "concurrencyLimit": self.concurrency_limit,
            "sweepDue": None if self.sweep_due else False, "swept": self.swept or None,
            "attempts": self.attempts or None, "admittedBy": self.admitted_by,
        })

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataBackupState:
        with reading(data, "data backup", STATE_VERSION):
            requested = data.get("requested")
            return cls(
                environment_id=str(data["environmentId"]), label=data.get("label"),
                requested=tuple(requested) if requested is not None else None,
                excluded=frozenset(data.get("excluded") or ()), full=bool(data.get("full")),
                page_size=int(data.get("pageSize", 5000)), phase=Phase(data["phase"]),
                api_url=data.get("apiUrl"), instance_url=data.get("instanceUrl"),
                point_id=data.get("pointId"), point_time=parse_time(data.get("pointTime")),
                tables=tuple(TableWork.from_json(t) for t in data.get("tables") or ()),
                concurrency=int(data.get("concurrency", 4)),
                # States written before the limit was kept: their concurrency was the limit.
                concurrency_limit=int(data.get("concurrencyLimit", data.get("concurrency", 4))),
                sweep_due=bool(data.get("sweepDue", True)), swept=int(data.get("swept", 0)),
                attempts=int(data.get("attempts", 0)), admitted_by=data.get("admittedBy"),
                **engine_fields(data),
            )
