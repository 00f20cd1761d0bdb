"""A backup round's (or data backup round's) summary from its members' results. Pure.

The timer records which environments a round covers; each member's backup, when it ends, records
its result. The round is summarised once: when no member is left running, or at the deadline,
whichever comes first. The summary is frozen at an instant (`ended_at`): members that ended
after it count as still running, so a summary re-rendered for a retry says the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from notifications.events import DATA_ROUND_PREFIX, BackupRoundSummary
from shared.operations import OperationStatus

# A round whose backups are still not all finished this long after its slot is summarised with
# the stragglers counted as still running: a morning report that never comes is worse.
ROUND_DEADLINE = timedelta(hours=6)
_ROUND_ID_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Member:
    """One environment of a round; `status` None while its backup has not ended."""

    environment_id: str
    environment_name: str | None
    status: OperationStatus | None = None
    ended_at: datetime | None = None
    message: str | None = None
    # A data backup member: tables in its point, rows they hold, tables that failed and why.
    tables: int = 0
    rows: int = 0
    failed_tables: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status is not None and self.status.terminal


def round_slot(round_id: str) -> datetime:
    """The schedule slot a round id names (`20261121T010000Z`, `data-20261121T020000Z`);
    ValueError otherwise."""
    slot = round_id.removeprefix(DATA_ROUND_PREFIX)
    return datetime.strptime(slot, _ROUND_ID_FORMAT).replace(tzinfo=UTC)


def is_data_round(round_id: str) -> bool:
    return round_id.startswith(DATA_ROUND_PREFIX)


def round_deadline(round_id: str) -> datetime:
    return round_slot(round_id) + ROUND_DEADLINE


def frozen_end(members: Iterable[Member], now: datetime) -> datetime:
    """When the summary is taken: the last member's end if all ended, else `now`."""
    ends = []
    for m in members:
        if not m.done or m.ended_at is None:
            return now
        ends.append(m.ended_at)
    return max(ends, default=now)


def build_summary(
    round_id: str, started_at: datetime, ended_at: datetime, members: Iterable[Member]
) -> BackupRoundSummary:
    succeeded = 0
    pending = 0
    failed: list[tuple[str, str | None, str]] = []
    failed_tables: list[tuple[str, str | None, str]] = []
    tables = rows = 0
    total = 0
    for m in sorted(members, key=lambda m: ((m.environment_name or "").lower(), m.environment_id)):
        total += 1
        if not m.done or m.ended_at is None or m.ended_at > ended_at:
            pending += 1
            continue
        if m.status is OperationStatus.SUCCEEDED:
            succeeded += 1
        else:
            status = m.status.value if m.status else "Unknown"
            failed.append((m.environment_id, m.environment_name, m.message or status))
        tables += m.tables
        rows += m.rows
        failed_tables += [(m.environment_id, m.environment_name, t) for t in m.failed_tables]
    return BackupRoundSummary(
        round_id=round_id,
        scheduled_for=round_slot(round_id),
        total=total,
        succeeded_count=succeeded,
        failed=failed,
        pending_count=pending,
        started_at=min(started_at, ended_at),
        ended_at=ended_at,
        tables_count=tables,
        rows_count=rows,
        failed_tables=failed_tables,
    )
