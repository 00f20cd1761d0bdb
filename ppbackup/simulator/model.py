"""Plain records of the simulated tenant: environments, backups, lifecycle operations.

No rules live here (see `state.py`); only the data and the pure time arithmetic of an
operation's timeline, which is derived from its start and stage durations instead of being
advanced by a background thread. That keeps the simulator deterministic under a frozen clock
(`speed=0`) and makes a saved state resumable.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class OperationKind(StrEnum):
    RESTORE = "Restore"
    MODIFY_SKU = "ModifySku"
    RUNTIME_STATE = "UpdateRuntimeState"
    # Backups are synchronous, but the platform lists them among an environment's operations;
    # keeping them there makes the client pick the *Restore* operation by name, as it must.
    BACKUP = "Backup"


LIFECYCLE_KINDS = frozenset(
    {OperationKind.RESTORE, OperationKind.MODIFY_SKU, OperationKind.RUNTIME_STATE}
)


class OpState(StrEnum):
    """BAP lifecycle vocabulary; `wire.py` maps it to the PP API's for PP responses."""

    NOT_STARTED = "NotStarted"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


STAGES = ("Validate", "Prepare", "Run", "Finalize")
# Share of an operation's duration spent in each stage; Run dominates, as in a real restore.
STAGE_WEIGHTS = (0.05, 0.15, 0.70, 0.10)
RUN_STAGE = STAGES.index("Run")

SKU_PRODUCTION = "Production"
SKU_SANDBOX = "Sandbox"
SKU_DEFAULT = "Default"
KNOWN_SKUS = ("Production", "Sandbox", "Default", "Developer", "Trial", "Teams")


@dataclass(slots=True)
class ContentVersion:
    """One state of an environment's data: what a restore copies from source to target."""

    at: datetime
    marker: str


@dataclass(slots=True)
class Environment:
    id: str
    display_name: str
    sku: str
    location: str
    azure_region: str
    managed: bool
    is_default: bool
    created_at: datetime
    seq: int
    domain_name: str
    runtime_state: str = "Enabled"
    background_operations: str = "Enabled"
    retention_floor: datetime | None = None
    """Earliest restorable point forced by a Production -> Sandbox switch."""
    security_group_id: str | None = None
    admin_forbidden_until: datetime | None = None
    """End of the 403 UserMissingRequiredPermission window after a restore."""
    content: list[ContentVersion] = field(default_factory=list)

    @property
    def current_content(self) -> ContentVersion:
        return self.content[-1]

    def content_at(self, moment: datetime) -> ContentVersion | None:
        """The data as it stood at `moment` (the restore point)."""
        index = bisect.bisect_right(self.content, moment, key=lambda c: c.at)
        return self.content[index - 1] if index else None

    def record_content(self, at: datetime, marker: str) -> None:
        bisect.insort_right(self.content, ContentVersion(at, marker), key=lambda c: c.at)


@dataclass(slots=True)
class Backup:
    id: str
    environment_id: str
    label: str
    point: datetime
    expiry: datetime
    seq: int
    system: bool = False
    """The platform's own daily backup: listed, restorable, never deletable, not stored (derived
    from the environment and the clock, see `SimState.system_backups`)."""

    @property
    def list_key(self) -> int:
        """Newest-first order (backup point, then creation) as one keyset integer for paging."""
        millis = int(self.point.timestamp() * 1000)
        return (millis << 20) | (self.seq & 0xFFFFF)


@dataclass(slots=True)
class Operation:
    id: str
    kind: OperationKind
    environment_id: str
    created_at: datetime
    seq: int
    queued_seconds: float = 0.0
    stage_seconds: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    fail_stage: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    settle_lag_seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    applied: bool = False
    """Effects on the environment done and its lock released."""
    created_monotonic: float | None = None
    """Real (monotonic) creation time, for the early-404 fault; not persisted."""

    def stage_window(self, index: int) -> tuple[datetime, datetime]:
        start = self.created_at + timedelta(
            seconds=self.queued_seconds + sum(self.stage_seconds[:index])
        )
        return start, start + timedelta(seconds=self.stage_seconds[index])

    @property
    def last_stage(self) -> int:
        return self.fail_stage if self.fail_stage is not None else len(STAGES) - 1

    @property
    def ends_at(self) -> datetime:
        return self.stage_window(self.last_stage)[1]

    @property
    def releases_at(self) -> datetime:
        """When effects show and the environment lock is released."""
        return self.ends_at + timedelta(seconds=self.settle_lag_seconds)

    @property
    def will_fail(self) -> bool:
        return self.fail_stage is not None

    def state_at(self, now: datetime) -> OpState:
        if now >= self.ends_at:
            return OpState.FAILED if self.will_fail else OpState.SUCCEEDED
        if now < self.stage_window(0)[0]:
            return OpState.NOT_STARTED
        return OpState.RUNNING

    def stage_state_at(self, index: int, now: datetime) -> OpState:
        if index > self.last_stage:
            return OpState.NOT_STARTED
        start, end = self.stage_window(index)
        if now < start:
            return OpState.NOT_STARTED
        if now < end:
            return OpState.RUNNING
        if index == self.fail_stage:
            return OpState.FAILED
        return OpState.SUCCEEDED
