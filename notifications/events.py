"""Notification events: what happened, as values, before anyone renders or sends them.

Every event has a name (`<kind>.<outcome>`, contract section 8) and an `event_id` derived only from
what identifies the event (the operation id and outcome, the round id, ...). Delivery is
at-least-once, so the same event may be built and sent more than once; because its id is the same
each time, receivers (and our own outbox) can drop the repeats.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, TypeAlias, cast

from shared.operations import Operation, OperationKind, OperationStatus, format_time

# Fixed forever: changing it (or the parts an id is built from) changes every event id, and
# receivers would then see already-delivered events as new ones.
_EVENT_ID_NAMESPACE = uuid.UUID("5f0c2a52-7d0e-5b8e-9a43-2f6f1c9e4b71")
# ASCII unit separator: cannot occur in ids or timestamps, so ("a|b", "c") and ("a", "b|c") differ.
_SEPARATOR = "\x1f"


ROUND_FINISHED = "backup_round.finished"
DATA_ROUND_FINISHED = "data_backup_round.finished"
# A data backup round's id is its slot with this prefix (data_backups/rounds.py), so the two
# timers' rounds never share an id even when their schedules fire at the same instant.
DATA_ROUND_PREFIX = "data-"


class Outcome(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


_OUTCOME_BY_STATUS = {
    OperationStatus.RUNNING: Outcome.STARTED,
    OperationStatus.SUCCEEDED: Outcome.SUCCEEDED,
    OperationStatus.FAILED: Outcome.FAILED,
    OperationStatus.REJECTED: Outcome.REJECTED,
    OperationStatus.CANCELLED: Outcome.CANCELLED,
    OperationStatus.NEEDS_ATTENTION: Outcome.NEEDS_ATTENTION,
}


def outcome_for(operation: Operation) -> Outcome | None:
    """The outcome an operation's current status announces, or None if it announces nothing.

    A backup's start is not announced (a round starts dozens at once; the round summary covers
    them); a restore's start is, because it can run for a day and people plan around it.
    """
    outcome = _OUTCOME_BY_STATUS.get(operation.status)
    if outcome is Outcome.STARTED and operation.kind is not OperationKind.RESTORE:
        return None
    return outcome


def event_for(operation: Operation) -> OperationEvent | None:
    """The event for an operation's status: every terminal status, and Running for a restore."""
    outcome = outcome_for(operation)
    return None if outcome is None else OperationEvent(operation, outcome)


@dataclass(frozen=True, slots=True)
class OperationEvent:
    """A backup or restore reached an outcome (`backup.failed`, `restore.started`, ...).

    The outcome must agree with the operation's status: a card saying "succeeded" over a record
    saying "Failed" would be worse than no card.
    """

    operation: Operation
    outcome: Outcome

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        expected = outcome_for(self.operation)
        if expected is not self.outcome:
            raise ValueError(
                f"{self.operation.kind.value} {self.operation.operation_id} has status "
                f"{self.operation.status.value}, which does not announce {self.outcome.value!r}"
            )

    @property
    def event(self) -> str:
        return f"{self.operation.kind.value}.{self.outcome.value}"

    @property
    def event_id(self) -> str:
        return operation_event_id(self.operation.kind, self.outcome, self.operation.operation_id)


class RoundFailure(NamedTuple):
    """One environment whose backup failed in a round."""

    environment_id: str
    environment_name: str | None
    message: str


@dataclass(frozen=True, slots=True)
class BackupRoundSummary:
    """A scheduled backup round is over: how many environments were backed up, which failed.

    `failed` accepts plain `(environment id, name, message)` tuples; they are kept as
    `RoundFailure`s. `pending_count` counts backups still running when the round was summarised.
    """

    round_id: str
    scheduled_for: datetime
    total: int
    succeeded_count: int
    failed: Sequence[tuple[str, str | None, str]]
    pending_count: int
    started_at: datetime
    ended_at: datetime
    # A data backup round (`data-` round ids): tables and rows in the new points, and each
    # table that failed as (environment id, name, "table: why").
    tables_count: int = 0
    rows_count: int = 0
    failed_tables: Sequence[tuple[str, str | None, str]] = ()

    def __post_init__(self) -> None:
        failures = tuple(RoundFailure(*f) for f in self.failed)
        object.__setattr__(self, "failed", failures)
        object.__setattr__(self, "failed_tables",
                           tuple(RoundFailure(*f) for f in self.failed_tables))
        counts = (self.total, self.succeeded_count, self.pending_count)
        if min(counts) < 0:
            raise ValueError("round counts cannot be negative")
        if self.succeeded_count + len(failures) + self.pending_count != self.total:
            raise ValueError(
                f"round {self.round_id}: succeeded ({self.succeeded_count}) + failed "
                f"({len(failures)}) + pending ({self.pending_count}) != total ({self.total})"
            )
        _require_aware(self.scheduled_for, self.started_at, self.ended_at)

    @property
    def failures(self) -> tuple[RoundFailure, ...]:
        # `__post_init__` stored them as RoundFailures; this only tells the type checker so.
        return cast(tuple[RoundFailure, ...], self.failed)

    @property
    def table_failures(self) -> tuple[RoundFailure, ...]:
        return cast(tuple[RoundFailure, ...], self.failed_tables)

    @property
    def is_data(self) -> bool:
        return self.round_id.startswith(DATA_ROUND_PREFIX)

    @property
    def event(self) -> str:
        return round_event_name(self.round_id)

    @property
    def event_id(self) -> str:
        return round_event_id(self.round_id)


@dataclass(frozen=True, slots=True)
class StillSandboxAlert:
    """An environment a restore switched to Sandbox has not been switched back.

    Its backups older than 7 days are being deleted while this lasts. `reminder` numbers repeat
    alerts for the same situation: each reminder is a new event, a re-send of one is not.
    """

    operation: Operation
    environment_id: str
    environment_name: str | None
    since: datetime
    reminder: int = 0

    def __post_init__(self) -> None:
        _require_aware(self.since)
        if self.reminder < 0:
            raise ValueError("reminder cannot be negative")

    @property
    def event(self) -> str:
        return "alert.still_sandbox"

    @property
    def event_id(self) -> str:
        return _event_id(
            self.event,
            self.operation.operation_id,
            self.environment_id.lower(),
            format_time(self.since) or "",
            str(self.reminder),
        )


@dataclass(frozen=True, slots=True)
class BackupExpiringAlert:
    """A manual backup people may still need is about to be deleted by the platform."""

    environment_id: str
    environment_name: str | None
    backup_label: str | None
    backup_id: str | None
    expires_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.expires_at)
        if not (self.backup_label or self.backup_id):
            raise ValueError("a backup label or id is required")

    @property
    def event(self) -> str:
        return "alert.backup_expiring"

    @property
    def event_id(self) -> str:
        return _event_id(
            self.event,
            self.environment_id.lower(),
            self.backup_id or "",
            self.backup_label or "",
            format_time(self.expires_at) or "",
        )


@dataclass(frozen=True, slots=True)
class DataBackupOverdueAlert:
    """An environment in DATA_BACKUP_SCOPE has had no complete data backup point for more than
    two schedule periods. `last_point` is its newest point (None: it never had one, and
    `since` is when the check first saw it in scope). One episode, one event: the id is built
    from the environment and `since`, so a new point ends the episode."""

    environment_id: str
    environment_name: str | None
    last_point: datetime | None
    since: datetime
    due: datetime

    def __post_init__(self) -> None:
        _require_aware(self.since, self.due, *([self.last_point] if self.last_point else []))

    @property
    def event(self) -> str:
        return "alert.data_backup_overdue"

    @property
    def event_id(self) -> str:
        return _event_id(self.event, self.environment_id.lower(), format_time(self.since) or "")


NotificationEvent: TypeAlias = (
    OperationEvent | BackupRoundSummary | StillSandboxAlert | BackupExpiringAlert
    | DataBackupOverdueAlert
)


def operation_event_id(kind: OperationKind, outcome: Outcome, operation_id: str) -> str:
    """The id `OperationEvent(...).event_id` has, without a record in that status at hand (the
    outbox looks up an earlier event of an operation that has moved on)."""
    return _event_id(f"{kind.value}.{Outcome(outcome).value}", operation_id)


def round_event_name(round_id: str) -> str:
    return DATA_ROUND_FINISHED if round_id.startswith(DATA_ROUND_PREFIX) else ROUND_FINISHED


def round_event_id(round_id: str) -> str:
    # Built on ROUND_FINISHED for both kinds of round: the round ids differ already, and the ids
    # of backup rounds' events must stay what they were.
    return _event_id(ROUND_FINISHED, round_id)


def _event_id(*parts: str) -> str:
    # A UUID (v5, name-based) rather than the joined parts: fixed length, fits a GUID column, and
    # does not carry labels or names into receivers' dedup tables.
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, _SEPARATOR.join(parts)))


def _require_aware(*values: datetime) -> None:
    # A naive datetime would be read in the host's zone, so the same instant could get two ids.
    for value in values:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
