"""Notification state in Table Storage: per-target delivery rows, fire-once claims, round members.

    {prefix}Deliveries  PK <event id>, RK "claim"             emitted once (alerts)
                        PK <event id>, RK "teams"|"webhook"   that event's delivery to that target
                        PK "schedule", RK <check name>        when a periodic check last ran
                        PK "seen", RK <name>                  since when a check has watched it
    {prefix}Rounds      PK "open", RK <round id>              not summarised yet (the sweep's list)
                        PK <round id>, RK "~round"            when the timer fired
                        PK <round id>, RK "~summary"          summarised once, frozen at endedAt
                        PK <round id>, RK <environment id>    a member: planned, then its result

Every "only once" here is an insert-if-absent (`create_entity`, 409 for the loser) or an
ETag-guarded replace (412 for the loser), never a read-then-write.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode

from notifications.round_rules import Member
from shared.operations import OperationStatus
from shared.storage.entities import from_table_time
from shared.storage.tables import MAX_BATCH_OPERATIONS, LazyTables

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity, TableServiceClient

    from shared.runtime import AppContext

CLAIM = "claim"
SCHEDULE = "schedule"
SEEN = "seen"
OPEN = "open"
ROUND = "~round"
SUMMARY = "~summary"
PLANNED = "planned"
DONE = "done"
# Cap on texts kept per member (a platform error can be 10,000 characters; a card shows 300).
_MESSAGE_CHARS = 1000
# Failed tables kept per member (a card lists a few; 30 KB of an entity's 1 MB at most).
_FAILED_TABLES = 30


class DeliveryState:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    event_id: str
    target: str
    event: str
    state: str = DeliveryState.PENDING
    attempts: int = 0
    next_attempt: int = 1
    lease_until: datetime | None = None
    first_attempt_at: datetime | None = None
    last_status: int | None = None
    last_reason: str | None = None
    done_at: datetime | None = None
    etag: str | None = None

    @property
    def settled(self) -> bool:
        return self.state in (DeliveryState.DELIVERED, DeliveryState.FAILED)

    def entity(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "PartitionKey": self.event_id,
            "RowKey": self.target,
            "event": self.event,
            "state": self.state,
            "attempts": self.attempts,
            "nextAttempt": self.next_attempt,
            "leaseUntil": self.lease_until,
            "firstAttemptAt": self.first_attempt_at,
            "lastStatus": self.last_status,
            "lastReason": self.last_reason,
            "doneAt": self.done_at,
        }
        # None would be dropped by the SDK anyway; leaving them out says so.
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_entity(cls, row: TableEntity) -> DeliveryRow:
        return cls(
            event_id=str(row["PartitionKey"]),
            target=str(row["RowKey"]),
            event=str(row.get("event", "")),
            state=str(row.get("state", DeliveryState.PENDING)),
            attempts=int(row.get("attempts", 0)),
            next_attempt=int(row.get("nextAttempt", 1)),
            lease_until=from_table_time(row.get("leaseUntil")),
            first_attempt_at=from_table_time(row.get("firstAttemptAt")),
            last_status=_optional_int(row.get("lastStatus")),
            last_reason=row.get("lastReason"),
            done_at=from_table_time(row.get("doneAt")),
            etag=str(row.metadata["etag"]),
        )


@dataclass(frozen=True, slots=True)
class RoundHeader:
    round_id: str
    started_at: datetime


class NotificationStore:
    def __init__(self, table_service: TableServiceClient, *, prefix: str) -> None:
        tables = LazyTables(table_service)
        self._deliveries: Callable[[], TableClient] = lambda: tables(f"{prefix}Deliveries")
        self._rounds: Callable[[], TableClient] = lambda: tables(f"{prefix}Rounds")

    # -- fire-once claims ------------------------------------------------------------------------

    def event_claimed(self, event_id: str) -> bool:
        """Whether `event_id` was emitted (claimed) before."""
        try:
            self._deliveries().get_entity(event_id, CLAIM, select=["PartitionKey"])
        except ResourceNotFoundError:
            return False
        return True

    def claim_event(self, event_id: str, event: str, now: datetime) -> bool:
        """Record that `event_id` was emitted: True for the first caller, False after that."""
        try:
            self._deliveries().create_entity(
                {"PartitionKey": event_id, "RowKey": CLAIM, "event": event, "claimedAt": now}
            )
        except ResourceExistsError:
            return False
        return True

    # -- per-target delivery state ---------------------------------------------------------------

    def delivery(self, event_id: str, target: str) -> DeliveryRow | None:
        try:
            return DeliveryRow.from_entity(self._deliveries().get_entity(event_id, target))
        except ResourceNotFoundError:
            return None

    def take_lease(self, row: DeliveryRow, until: datetime) -> DeliveryRow | None:
        """`row` leased to us until `until`, or None if another worker changed it first.

        `row.etag` None means the row does not exist yet (created here, insert-if-absent).
        """
        leased = replace(row, lease_until=until)
        table = self._deliveries()
        try:
            if row.etag is None:
                metadata = table.create_entity(leased.entity())
            else:
                metadata = table.update_entity(
                    leased.entity(), mode=UpdateMode.REPLACE, etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return None
        return replace(leased, etag=str(metadata["etag"]))

    def save(self, row: DeliveryRow) -> bool:
        """Write the outcome of our attempt; False if the row changed since we leased it."""
        try:
            self._deliveries().update_entity(
                row.entity(), mode=UpdateMode.REPLACE, etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def failed_deliveries(self, event_id: str) -> list[DeliveryRow]:
        rows = self._deliveries().query_entities(
            "PartitionKey eq @pk and state eq @state",
            parameters={"pk": event_id, "state": DeliveryState.FAILED},
        )
        return [DeliveryRow.from_entity(r) for r in rows]

    # -- periodic checks -------------------------------------------------------------------------

    def first_seen(self, name: str, now: datetime) -> datetime:
        """When `name` was first asked about (insert-if-absent: concurrent callers agree)."""
        table = self._deliveries()
        try:
            table.create_entity({"PartitionKey": SEEN, "RowKey": name, "seenAt": now})
        except ResourceExistsError:
            return from_table_time(table.get_entity(SEEN, name).get("seenAt")) or now
        return now

    def forget_seen(self, name: str) -> None:
        """`name` is fine again (a point exists): the next absence starts a new watch."""
        with contextlib.suppress(ResourceNotFoundError):
            self._deliveries().delete_entity(SEEN, name)

    def due(self, name: str, every: timedelta, now: datetime) -> bool:
        """True (and the run recorded) if `name` last ran at least `every` ago, for one caller."""
        table = self._deliveries()
        try:
            row = table.get_entity(SCHEDULE, name)
        except ResourceNotFoundError:
            try:
                table.create_entity({"PartitionKey": SCHEDULE, "RowKey": name, "lastRunAt": now})
            except ResourceExistsError:
                return False
            return True
        last = from_table_time(row.get("lastRunAt"))
        if last is not None and now - last < every:
            return False
        try:
            table.update_entity(
                {"PartitionKey": SCHEDULE, "RowKey": name, "lastRunAt": now},
                mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return False
        return True

    # -- rounds ----------------------------------------------------------------------------------

    def open_round(
        self,
        round_id: str,
        *,
        started_at: datetime,
        deadline: datetime,
        members: Sequence[tuple[str, str | None]],
    ) -> bool:
        """Record a round and its members; False (nothing written) if it was recorded before.

        Members first, header next, the open index last: the backups are sent only after this
        returns, so no member can finish before its row exists, and a crash part-way leaves a
        round the next firing of the timer completes (members are insert-if-absent, so a
        member's result is never overwritten by "planned").
        """
        if self.round_header(round_id) is not None:
            return False
        table = self._rounds()
        entities = [
            {"PartitionKey": round_id, "RowKey": env, "state": PLANNED, "name": name}
            for env, name in members
        ]
        for start in range(0, len(entities), MAX_BATCH_OPERATIONS):
            batch = entities[start:start + MAX_BATCH_OPERATIONS]
            try:
                table.submit_transaction([("create", e) for e in batch])
            except TableTransactionError:
                for entity in batch:  # some exist (an earlier, interrupted firing): the rest
                    with contextlib.suppress(ResourceExistsError):
                        table.create_entity(entity)
        table.upsert_entity(
            {"PartitionKey": round_id, "RowKey": ROUND, "startedAt": started_at},
            mode=UpdateMode.REPLACE,
        )
        table.upsert_entity(
            {"PartitionKey": OPEN, "RowKey": round_id, "deadline": deadline},
            mode=UpdateMode.REPLACE,
        )
        return True

    def round_header(self, round_id: str) -> RoundHeader | None:
        try:
            row = self._rounds().get_entity(round_id, ROUND)
        except ResourceNotFoundError:
            return None
        started = from_table_time(row.get("startedAt"))
        return None if started is None else RoundHeader(round_id, started)

    def finish_member(
        self,
        round_id: str,
        environment_id: str,
        *,
        status: OperationStatus,
        operation_id: str,
        ended_at: datetime,
        message: str | None,
        tables: int = 0,
        rows: int = 0,
        failed_tables: Sequence[str] = (),
    ) -> None:
        entity: dict[str, Any] = {
            "PartitionKey": round_id, "RowKey": environment_id, "state": DONE,
            "status": status.value, "operationId": operation_id, "endedAt": ended_at,
        }
        if message:
            entity["message"] = message[:_MESSAGE_CHARS]
        if tables:
            # Rows as text: a count past 2**31 would not fit the Int32 a Python int is sent as.
            entity.update(tables=tables, rows=str(rows))
        if failed_tables:
            entity["failedTables"] = json.dumps(
                [t[:_MESSAGE_CHARS] for t in failed_tables[:_FAILED_TABLES]])
        # MERGE keeps the name the timer recorded.
        self._rounds().upsert_entity(entity, mode=UpdateMode.MERGE)

    def has_unfinished_members(self, round_id: str) -> bool:
        """Whether any member is still planned: one row at most crosses the wire."""
        rows = self._rounds().query_entities(
            "PartitionKey eq @pk and state eq @state",
            parameters={"pk": round_id, "state": PLANNED},
            select=["RowKey"],
            results_per_page=1,
        )
        return next(iter(rows), None) is not None

    def members(self, round_id: str) -> list[Member]:
        rows = self._rounds().query_entities(
            "PartitionKey eq @pk", parameters={"pk": round_id}
        )
        found = []
        for row in rows:
            if str(row["RowKey"]).startswith("~"):
                continue
            status = row.get("status") if row.get("state") == DONE else None
            found.append(Member(
                environment_id=str(row["RowKey"]),
                environment_name=row.get("name"),
                status=OperationStatus(status) if status else None,
                ended_at=from_table_time(row.get("endedAt")),
                message=row.get("message"),
                tables=int(row.get("tables") or 0),
                rows=int(row.get("rows") or 0),
                failed_tables=tuple(json.loads(row.get("failedTables") or "[]")),
            ))
        return found

    def claim_summary(self, round_id: str, ended_at: datetime) -> bool:
        try:
            self._rounds().create_entity(
                {"PartitionKey": round_id, "RowKey": SUMMARY, "endedAt": ended_at}
            )
        except ResourceExistsError:
            return False
        return True

    def release_summary(self, round_id: str) -> None:
        self._rounds().delete_entity(round_id, SUMMARY)

    def summary_end(self, round_id: str) -> datetime | None:
        try:
            row = self._rounds().get_entity(round_id, SUMMARY)
        except ResourceNotFoundError:
            return None
        return from_table_time(row.get("endedAt"))

    def open_rounds(self) -> list[tuple[str, datetime]]:
        rows = self._rounds().query_entities("PartitionKey eq @pk", parameters={"pk": OPEN})
        found = []
        for row in rows:
            deadline = from_table_time(row.get("deadline"))
            if deadline is not None:
                found.append((str(row["RowKey"]), deadline))
        return found

    def close_round(self, round_id: str) -> None:
        self._rounds().delete_entity(OPEN, round_id)  # 404 is fine: closed already


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


# ----------------------------------------------------------------------- one store per context


def store_for(ctx: AppContext) -> NotificationStore:
    """The store on the context's storage account and table prefix, built once per context."""
    from shared.runtime import side_store

    return side_store(ctx, _build)


def _build(
    table_service: TableServiceClient, prefix: str, _clock: Callable[[], datetime]
) -> NotificationStore:
    return NotificationStore(table_service, prefix=prefix)
