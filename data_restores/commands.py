"""A record restore's commands (what a step asks the executor to do) and their answers (values).

Platform faults come back as the engine's answers (`engine.answers`: `Throttled`, `Unavailable`,
`Refused`, `Missing`, ...), so a decision never sees an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from data_restores.state import Job

if TYPE_CHECKING:
    from shared.power_platform.models import Environment
    from shared.settings import ProductionAllowList


@dataclass(frozen=True, slots=True)
class Validate:
    """The target environment, the point (named, or the newest at or before `at`) and the tables
    the target's Dataverse knows."""

    source_environment_id: str
    target_environment_id: str
    tables: tuple[str, ...]
    point_id: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Validated:
    target: Environment
    api_url: str
    instance_url: str
    point_id: str
    point_time: datetime
    # Tables the point holds that the target knows, with their stored units.
    units: Mapping[str, int]
    # Tables the point holds that the target does not know.
    unknown_in_target: tuple[str, ...] = ()
    # The target's x-ms-dop-hint: batches sent at once.
    recommended_concurrency: int | None = None
    # Tables asked for that are N:N intersect tables in the target (rows are links there).
    intersect: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoPoint:
    message: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where planning and applying read and write (the target's Dataverse)."""

    api_url: str
    instance_url: str


@dataclass(frozen=True, slots=True)
class DiffJobs:
    """Planning: each job's point rows against the target's rows with the same ids."""

    source_environment_id: str
    point_id: str
    target: Target
    mode: str
    record_ids: tuple[str, ...] | None
    jobs: tuple[Job, ...]


@dataclass(frozen=True, slots=True)
class JobDiffed:
    unchanged: int
    kept: int
    # The job's point rows compared (after narrowing): of a recordIds job, the ids found.
    matched: int = 0


@dataclass(frozen=True, slots=True)
class Diffed:
    """One answer per job, in order: `JobDiffed` or the engine's fault answer."""

    results: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RelateJobs:
    """Relating: rows of each job's unit that reference the rows chosen so far join them. The
    first job of the walk seeds it (the request's recordIds, else the rows the plan writes)."""

    source_environment_id: str
    point_id: str
    target: Target
    tables: tuple[str, ...]
    record_ids: tuple[str, ...] | None
    jobs: tuple[Job, ...]


@dataclass(frozen=True, slots=True)
class Related:
    # Ids found so far (seed excluded), per table.
    found: Mapping[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(self.found.values())


@dataclass(frozen=True, slots=True)
class Settle:
    """Every planned row's lookups checked against the target; the diff written; with `apply`,
    the recycle bin asked for the rows to create and the writes laid out in stages."""

    target: Target
    apply: bool
    batch_size: int
    # Settling holds every row it checks in memory at once: past this many, it does not start.
    max_rows: int
    # With apply: the target, read again right before the writes are laid out (its type may
    # have changed since it was validated, hours of planning ago).
    target_environment_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlanTooLarge:
    """More rows to write than `Settle.max_rows`, per table; nothing was settled."""

    counts: Mapping[str, int]
    limit: int


@dataclass(frozen=True, slots=True)
class StagePlan:
    pass_name: str
    table: str
    batches: int


@dataclass(frozen=True, slots=True)
class Settled:
    # COUNTS of the rows kept by planning (create, update, notRestorable), per table.
    counts: Mapping[str, Any]
    stages: tuple[StagePlan, ...] = ()
    target: Environment | None = None  # as read for Settle.target_environment_id


@dataclass(frozen=True, slots=True)
class Guard:
    """The Production guardrail of the writes: the target's type is read again before every
    step's writes (an apply takes hours; an administrator may convert it meanwhile)."""

    environment_id: str
    confirm_production: str | None
    allow_production: ProductionAllowList


@dataclass(frozen=True, slots=True)
class ApplyJobs:
    """Applying: send these batches (one stage), at once."""

    target: Target
    jobs: tuple[Job, ...]
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class WritesHeld:
    """Nothing of the step was sent: the target is Production now and the guardrail refuses."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BatchApplied:
    # (table, action) -> rows: what this batch's rows came to (a later pass moves a row whose
    # write failed from its first action to `failed`: negative counts there).
    counts: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Applied:
    """One answer per job, in order: `BatchApplied` or the engine's fault answer."""

    results: tuple[Any, ...]


Command = Validate | DiffJobs | RelateJobs | Settle | ApplyJobs
