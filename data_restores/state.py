"""A record restore's private state on the engine: a frozen value stored as versioned JSON beside
its record, so one ETag-guarded write commits both.

The work is a list of bounded jobs walked by a cursor: in Planning one job is one stored chunk of
a table at the point (diffed against the target's rows with those ids), in Relating one chunk read
for rows that reference the rows chosen so far, in Applying one batch of writes. What a job makes
(the rows to write, the ids found, the writes) lives in the backup store under the operation
(`shared/data_store/restore_files.py`), never in this state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from data_restores.apply_order import BATCH_SIZE
from data_restores.counts import empty_summary
from engine.state import engine_fields, reading, state_json
from shared.operations import format_time, parse_time

STATE_VERSION = 1


class Phase(StrEnum):
    VALIDATING = "Validating"
    PLANNING = "Planning"
    RELATING = "Relating"
    SETTLING = "Settling"
    APPLYING = "Applying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REJECTED = "Rejected"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.REJECTED)


PHASE_STEP = {
    Phase.VALIDATING: "validate",
    Phase.PLANNING: "plan",
    Phase.RELATING: "plan",
    Phase.SETTLING: "plan",
    Phase.APPLYING: "apply",
    Phase.SUCCEEDED: "apply",
    Phase.FAILED: "plan",
    Phase.REJECTED: "validate",
}


class Event(StrEnum):
    VALIDATED = "Validated"
    DIFFED = "Diffed"
    RELATED = "Related"
    SETTLED = "Settled"
    WROTE = "Wrote"
    WAIT = "Wait"
    FINISHED = "Finished"
    REJECTED = "Rejected"
    GAVE_UP = "GaveUp"


# Which rows of a table a planning job compares: all of them, the request's recordIds, or the
# rows the related-rows walk found.
ALL, IDS, RELATED = "all", "ids", "related"


@dataclass(frozen=True, slots=True)
class Job:
    """One bounded piece of work: a table's stored chunk `unit` (Planning, Relating), or a
    stage's batch (Applying: `table` is the stage's table, `unit` the stage, `batch` the batch)."""

    table: str
    unit: int
    narrow: str = ALL
    batch: int = 0

    def to_json(self) -> list[Any]:
        return [self.table, self.unit, self.narrow, self.batch]

    @classmethod
    def from_json(cls, data: Any) -> Job:
        table, unit, narrow, batch = data
        return cls(str(table), int(unit), str(narrow), int(batch))


@dataclass(frozen=True, slots=True)
class DataRestoreState:
    source_environment_id: str
    target_environment_id: str
    tables: tuple[str, ...]
    mode: str = "missing"
    point_id: str | None = None
    at: datetime | None = None
    record_ids: tuple[str, ...] | None = None
    with_related: bool = False
    apply: bool = False
    # The request's confirmation of a Production target (checked by the validating phase).
    confirm_production: str | None = None
    # Writes per $batch (apply_order.BATCH_SIZE; smaller where plug-ins make each write slow).
    batch_size: int = BATCH_SIZE
    version: int = STATE_VERSION
    seq: int = 0
    phase: Phase = Phase.VALIDATING
    api_url: str | None = None
    instance_url: str | None = None
    point_time: datetime | None = None
    # Every table the point holds that the target knows (the related-rows walk reads them all).
    point_tables: tuple[str, ...] = ()
    # Stored chunks per point table (a planning or relating job is one of them).
    units: Mapping[str, int] = field(default_factory=dict)
    jobs: tuple[Job, ...] = ()
    cursor: int = 0
    # Relating: the pass, and how many ids the walk held when the pass began (a pass that adds
    # none ends the walk; the ids themselves are in the store, so a crash cannot lose them).
    relate_pass: int = 0
    relate_size: int = 0
    # Of the recordIds, how many the planning jobs found at the point (in any chosen table).
    matched: int = 0
    # Rows the planning jobs kept to write (creates, updates, rows that cannot be restored);
    # None in a state stored before it was counted (unknown, not none).
    kept: int | None = 0
    plan: Mapping[str, Any] = field(default_factory=empty_summary)
    applied: Mapping[str, Any] = field(default_factory=empty_summary)
    concurrency: int = 4
    attempts: int = 0
    wake_at: datetime | None = None
    engine_faults: int = 0
    watchdog_nudges: int = 0

    @property
    def done(self) -> bool:
        return self.cursor >= len(self.jobs)

    def to_json(self) -> dict[str, Any]:
        return state_json(self, {
            "sourceEnvironmentId": self.source_environment_id,
            "targetEnvironmentId": self.target_environment_id, "tables": list(self.tables),
            "mode": self.mode, "pointId": self.point_id, "at": format_time(self.at),
            "recordIds": list(self.record_ids) if self.record_ids is not None else None,
            "withRelated": self.with_related or None, "apply": self.apply or None,
            "confirmProduction": self.confirm_production,
            "batchSize": self.batch_size if self.batch_size != BATCH_SIZE else None,
            "apiUrl": self.api_url, "instanceUrl": self.instance_url,
            "pointTime": format_time(self.point_time),
            "pointTables": list(self.point_tables) or None,
            "units": dict(self.units) or None,
            "jobs": [j.to_json() for j in self.jobs] or None, "cursor": self.cursor or None,
            "relatePass": self.relate_pass or None, "relateSize": self.relate_size or None,
            "matched": self.matched or None, "kept": self.kept,
            "plan": self.plan, "applied": self.applied, "concurrency": self.concurrency,
            "attempts": self.attempts or None,
        })

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataRestoreState:
        with reading(data, "record restore", STATE_VERSION):
            record_ids = data.get("recordIds")
            return cls(
                source_environment_id=str(data["sourceEnvironmentId"]),
                target_environment_id=str(data["targetEnvironmentId"]),
                tables=tuple(str(t) for t in data["tables"]), mode=str(data.get("mode", "missing")),
                point_id=data.get("pointId"), at=parse_time(data.get("at")),
                record_ids=tuple(record_ids) if record_ids is not None else None,
                with_related=bool(data.get("withRelated")), apply=bool(data.get("apply")),
                confirm_production=data.get("confirmProduction"),
                batch_size=int(data.get("batchSize", BATCH_SIZE)), phase=Phase(data["phase"]),
                api_url=data.get("apiUrl"), instance_url=data.get("instanceUrl"),
                point_time=parse_time(data.get("pointTime")),
                point_tables=tuple(data.get("pointTables") or ()),
                units={str(k): int(v) for k, v in (data.get("units") or {}).items()},
                jobs=tuple(Job.from_json(j) for j in data.get("jobs") or ()),
                cursor=int(data.get("cursor", 0)), relate_pass=int(data.get("relatePass", 0)),
                relate_size=int(data.get("relateSize", 0)), matched=int(data.get("matched", 0)),
                kept=int(data["kept"]) if data.get("kept") is not None else None,
                plan=data.get("plan") or empty_summary(),
                applied=data.get("applied") or empty_summary(),
                concurrency=int(data.get("concurrency", 4)),
                attempts=int(data.get("attempts", 0)), **engine_fields(data),
            )
