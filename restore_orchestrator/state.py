"""The orchestration's private state: a frozen value, stored as JSON in `StoredOperation.internal`.

It travels with the operation record in the same table entity, so one ETag-guarded write commits
both (the checkpoint). The layout is versioned: a process running older code must not misread a
newer state, and newer code must keep reading states written before it was deployed (restores
run for a day, deployments do not wait for them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.state import StateUnreadableError, engine_fields, reading, state_json
from restore_orchestrator.phases import Phase
from shared.flows import FlowsSeen
from shared.operations import format_time, parse_time
from shared.power_platform import OperationHandle

STATE_VERSION = 1

__all__ = ["STATE_VERSION", "RestoreState", "StateUnreadableError"]


class Selector(StrEnum):
    """Which of the request's four ways of naming the restore point was used."""

    BACKUP_ID = "backupId"
    BACKUP_LABEL = "backupLabel"
    POINT = "restorePointDateTime"
    LATEST = "latest"


@dataclass(frozen=True, slots=True)
class Request:
    """What was asked, copied at intake; never changes afterwards."""

    operation_id: str
    target_id: str
    source_id: str
    selector: Selector
    backup_id: str | None = None
    backup_label: str | None = None
    restore_point: datetime | None = None
    skip_audit_data: bool = True
    safety_backup: bool = True
    confirm_production: str | None = None
    dry_run: bool = False
    reactivate_flows: str = "previous"

    @property
    def in_place(self) -> bool:
        return self.source_id == self.target_id


# A flow's state on the record (contract section 11).
ON, OFF, ABSENT = "on", "off", "absent"


@dataclass(frozen=True, slots=True)
class FlowResult:
    """What turning one flow on came to: `after` is on, off or absent; `reason` when it is not
    on (in plain words, with what to do)."""

    flow_id: str
    after: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the orchestration has learned and must remember to the end."""

    target_name: str | None = None
    original_type: str | None = None
    source_name: str | None = None
    source_retention_days: float | None = None
    restore_point: datetime | None = None
    backup_id: str | None = None
    restorable_at: datetime | None = None
    safety_backup_id: str | None = None
    switched_to_sandbox: bool = False
    # The switch back to the original type was seen done (not skipped as never needed).
    switched_back: bool = False
    # From the moment the restore's intent is checkpointed the platform may be restoring: a
    # cancel is refused from then on, and administration mode is turned off at the end.
    restore_requested_at: datetime | None = None
    restore_operation_id: str | None = None
    restore_started_at: datetime | None = None
    restore_ended_at: datetime | None = None
    # The target's cloud flows before the overwrite (recorded while validating; None: not yet,
    # or a state written before this was recorded), and what the step after the restore did.
    flows_before: FlowsSeen | None = None
    flows_before_unreadable: str | None = None
    flows_after: FlowsSeen | None = None
    flow_results: tuple[FlowResult, ...] = ()

    @property
    def restore_requested(self) -> bool:
        return self.restore_requested_at is not None


@dataclass(frozen=True, slots=True)
class ProgressMark:
    """`done` of `total` stages finished, first seen at `seen_at`; the poll before that one was
    at `since`, so the change happened in between."""

    done: int
    total: int
    seen_at: datetime
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """The piece of work in flight inside the current phase; reset on every phase change."""

    # A non-idempotent call may have been sent since then (the intent is checkpointed first).
    intent_at: datetime | None = None
    handle: OperationHandle | None = None
    # The platform says the operation ended; waiting for the environment to show it.
    confirming: bool = False
    # Consecutive waits for a busy, throttled or unavailable platform (backoff exponent).
    attempts: int = 0
    # Platform operations of this phase that ended Failed or were refused, and retried.
    failures: int = 0
    forbidden_since: datetime | None = None
    progress: tuple[ProgressMark, ...] = ()
    last_poll_at: datetime | None = None
    last_detail: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RestoreState:
    request: Request
    version: int = STATE_VERSION
    seq: int = 0
    phase: Phase = Phase.QUEUED
    phase_since: datetime | None = None
    facts: Facts = field(default_factory=Facts)
    work: Work = field(default_factory=Work)
    # Recorded on the way, concluded after the switch back: Failed, or NeedsAttention.
    failure: Problem | None = None
    attention: Problem | None = None
    cancel_requested_at: datetime | None = None
    cancel_requested_by: str | None = None
    cancelled: bool = False
    # The time the next step is due (the delay of the message that continues it).
    wake_at: datetime | None = None
    # Engine-level faults (a message given up by the host) and watchdog re-drives, for the record.
    engine_faults: int = 0
    watchdog_nudges: int = 0

    # -- JSON ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        r, f, w = self.request, self.facts, self.work
        return state_json(
            self,
            {
                "phaseSince": format_time(self.phase_since),
                "request": _compact(
                    {
                        "operationId": r.operation_id,
                        "targetId": r.target_id,
                        "sourceId": r.source_id,
                        "selector": r.selector.value,
                        "backupId": r.backup_id,
                        "backupLabel": r.backup_label,
                        "restorePoint": format_time(r.restore_point),
                        "skipAuditData": r.skip_audit_data,
                        "safetyBackup": r.safety_backup,
                        "confirmProduction": r.confirm_production,
                        "dryRun": r.dry_run,
                        "reactivateFlows": (
                            r.reactivate_flows if r.reactivate_flows != "previous" else None
                        ),
                    }
                ),
                "facts": _compact(
                    {
                        "targetName": f.target_name,
                        "originalType": f.original_type,
                        "sourceName": f.source_name,
                        "sourceRetentionDays": f.source_retention_days,
                        "restorePoint": format_time(f.restore_point),
                        "backupId": f.backup_id,
                        "restorableAt": format_time(f.restorable_at),
                        "safetyBackupId": f.safety_backup_id,
                        "switchedToSandbox": f.switched_to_sandbox or None,
                        "switchedBack": f.switched_back or None,
                        "restoreRequestedAt": format_time(f.restore_requested_at),
                        "restoreOperationId": f.restore_operation_id,
                        "restoreStartedAt": format_time(f.restore_started_at),
                        "restoreEndedAt": format_time(f.restore_ended_at),
                        "flowsBefore": f.flows_before.to_json() if f.flows_before else None,
                        "flowsBeforeUnreadable": f.flows_before_unreadable,
                        "flowsAfter": f.flows_after.to_json() if f.flows_after else None,
                        "flowResults": [
                            _compact({"id": x.flow_id, "after": x.after, "reason": x.reason})
                            for x in f.flow_results
                        ] or None,
                    }
                ),
                "work": _compact(
                    {
                        "intentAt": format_time(w.intent_at),
                        "handle": w.handle.to_dict() if w.handle else None,
                        "confirming": w.confirming or None,
                        "attempts": w.attempts or None,
                        "failures": w.failures or None,
                        "forbiddenSince": format_time(w.forbidden_since),
                        "progress": [
                            [m.done, m.total, format_time(m.seen_at), format_time(m.since)]
                            for m in w.progress
                        ]
                        or None,
                        "lastPollAt": format_time(w.last_poll_at),
                        "lastDetail": w.last_detail,
                    }
                ),
                "failure": _problem_json(self.failure),
                "attention": _problem_json(self.attention),
                "cancelRequestedAt": format_time(self.cancel_requested_at),
                "cancelRequestedBy": self.cancel_requested_by,
                "cancelled": self.cancelled or None,
            },
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RestoreState:
        with reading(data, "orchestration", STATE_VERSION):
            return _read(data)


def _read(data: Mapping[str, Any]) -> RestoreState:
    r = data["request"]
    f = data.get("facts") or {}
    w = data.get("work") or {}
    handle = w.get("handle")
    return RestoreState(
        version=STATE_VERSION,
        phase=Phase(data["phase"]),
        phase_since=parse_time(data.get("phaseSince")),
        request=Request(
            operation_id=str(r["operationId"]),
            target_id=str(r["targetId"]),
            source_id=str(r["sourceId"]),
            selector=Selector(r["selector"]),
            backup_id=r.get("backupId"),
            backup_label=r.get("backupLabel"),
            restore_point=parse_time(r.get("restorePoint")),
            skip_audit_data=bool(r.get("skipAuditData", True)),
            safety_backup=bool(r.get("safetyBackup", True)),
            confirm_production=r.get("confirmProduction"),
            dry_run=bool(r.get("dryRun", False)),
            reactivate_flows=str(r.get("reactivateFlows") or "previous"),
        ),
        facts=Facts(
            target_name=f.get("targetName"),
            original_type=f.get("originalType"),
            source_name=f.get("sourceName"),
            source_retention_days=_optional_float(f.get("sourceRetentionDays")),
            restore_point=parse_time(f.get("restorePoint")),
            backup_id=f.get("backupId"),
            restorable_at=parse_time(f.get("restorableAt")),
            safety_backup_id=f.get("safetyBackupId"),
            switched_to_sandbox=bool(f.get("switchedToSandbox", False)),
            switched_back=bool(f.get("switchedBack", False)),
            restore_requested_at=parse_time(f.get("restoreRequestedAt")),
            restore_operation_id=f.get("restoreOperationId"),
            restore_started_at=parse_time(f.get("restoreStartedAt")),
            restore_ended_at=parse_time(f.get("restoreEndedAt")),
            flows_before=_flows(f.get("flowsBefore")),
            flows_before_unreadable=f.get("flowsBeforeUnreadable"),
            flows_after=_flows(f.get("flowsAfter")),
            flow_results=tuple(
                FlowResult(str(x["id"]), str(x["after"]), x.get("reason"))
                for x in f.get("flowResults") or ()
            ),
        ),
        work=Work(
            intent_at=parse_time(w.get("intentAt")),
            handle=OperationHandle.from_dict(handle) if handle else None,
            confirming=bool(w.get("confirming", False)),
            attempts=int(w.get("attempts", 0)),
            failures=int(w.get("failures", 0)),
            forbidden_since=parse_time(w.get("forbiddenSince")),
            progress=tuple(
                ProgressMark(int(done), int(total), _time(seen), parse_time(since))
                for done, total, seen, since in w.get("progress") or ()
            ),
            last_poll_at=parse_time(w.get("lastPollAt")),
            last_detail=w.get("lastDetail"),
        ),
        failure=_problem(data.get("failure")),
        attention=_problem(data.get("attention")),
        cancel_requested_at=parse_time(data.get("cancelRequestedAt")),
        cancel_requested_by=data.get("cancelRequestedBy"),
        cancelled=bool(data.get("cancelled", False)),
        **engine_fields(data),
    )


def _flows(value: object) -> FlowsSeen | None:
    return FlowsSeen.from_json(value) if isinstance(value, Mapping) else None


def _optional_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _time(value: object) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a time is required")
    return parsed


def _problem(value: object) -> Problem | None:
    if not isinstance(value, Mapping):
        return None
    return Problem(str(value["code"]), str(value["message"]))


def _problem_json(problem: Problem | None) -> dict[str, str] | None:
    return None if problem is None else {"code": problem.code, "message": problem.message}


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
