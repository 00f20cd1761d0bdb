"""Operation history in Azure Table Storage: the records, their per-environment copies, the
watchdog's index of unfinished operations and the platform call log.

Tables (all created lazily, once per store instance):

    {prefix}Operations        PK "ops", RK <inverted creation millis>-<operation id>: the truth
    {prefix}EnvHistory00..3F  PK <environment id>, same RK: a copy per environment, 64 shards
    {prefix}Active            PK "active", RK <operation id>: unfinished operations (watchdog)
    {prefix}OperationCalls    PK <operation id>, RK <step>-<time>-<digest>: platform call log

Idempotency claims, restore locks and the environment directory are stores of their own on the
same table service and prefix (shared/storage/claims.py, locks.py, directory.py).

Why the row key: the creation instant is part of the operation id, so `get` computes the key from
the id alone (one point read), and the tenant-wide newest-first listing is one partition range
query, because Table Storage returns a partition in RowKey order.

Why 64 shard tables for the per-environment copies: Azurite evaluates every query as a scan of
the whole table (measured: a 50-row partition query took 6.4 ms at 100k rows vs 1.5 ms at 10k),
while real Table Storage indexes partitions. Spreading environments over 64 tables keeps listing
fast on both, and each environment's history is still one partition range query.

Consistency between the truth and the copies (no cross-table transactions exist):
- create writes the copy first, then the row in `Operations`; update writes `Operations` first
  (ETag-guarded), then the copy. A crash in between leaves a copy whose row is missing or newer.
- Readers of an environment listing re-read (point read) every listed copy that is not terminal,
  and drop copies whose row is missing. A copy written ahead of its row for an operation that is
  terminal from birth (e.g. `Rejected`) carries `provisional` until the row exists, so it is
  re-read too. A status shown is therefore never wrong, and a crashed create never shows up.
- Residual case, by design: if an operation that is already terminal is updated again and the
  process dies between the two writes, that environment listing shows the previous terminal
  version until the next update; `get` and the tenant-wide listing are always current.
"""

from __future__ import annotations

import builtins
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from shared.concurrency import at_once
from shared.errors import ConcurrencyConflict, OperationNotFound
from shared.inputs import quote
from shared.operations import Operation, OperationKind, OperationStatus
from shared.storage.active import ActiveEntry, ActiveIndex
from shared.storage.calls import CallLog
from shared.storage.connection import table_service
from shared.storage.entities import entity_internal, entity_operation, operation_entity, plain
from shared.storage.keys import (
    created_since_bound,
    decode_continuation,
    encode_continuation,
    encode_service_continuation,
    environment_shard,
    normalize_environment_id,
    row_key,
    row_key_or_none,
)
from shared.storage.tables import TableStore, upsert_batches

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity

log = logging.getLogger(__name__)

MAIN_PARTITION = "ops"
# Marks an environment copy written ahead of its row: readers must check the row exists.
PROVISIONAL = "provisional"
MAX_PAGE_SIZE = 1000  # the service's own page cap; a bigger `limit` would only hide paging
# Service round trips one `list` call makes at most. A filter on a non-key property (kind,
# status) is applied while the service scans the partition, at most 1,000 rows per round trip,
# and the history is never pruned: without a cap, a filter that matches little would read the
# whole partition, more of it every day. The call ends early with a continuation token instead.
SCAN_PAGES = 5
_OPEN_STATUSES = tuple(s for s in OperationStatus if not s.terminal)


@dataclass(frozen=True, slots=True)
class StoredOperation:
    """An operation as read from (or just written to) the store, with what guards the next write.

    `internal` is the orchestrator's private JSON state; it lives in the same entity, so one
    ETag-guarded write commits record and state together, but it is never part of `to_record()`.
    """

    operation: Operation
    etag: str
    internal: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Operation]
    continuation: str | None


class HistoryStore(TableStore):
    @functools.cached_property
    def _active(self) -> ActiveIndex:
        return ActiveIndex(lambda: self._tables(f"{self.prefix}Active"))

    @functools.cached_property
    def _calls(self) -> CallLog:
        return CallLog(lambda: self._tables(f"{self.prefix}OperationCalls"), self._clock)

    @classmethod
    def from_connection(cls, connection: str, *, prefix: str = "ppb") -> HistoryStore:
        return cls(table_service(connection), prefix=prefix)

    # -- table names ---------------------------------------------------------------------------

    @property
    def operations_table(self) -> str:
        return f"{self.prefix}Operations"

    def environment_table(self, environment_id: str) -> str | None:
        """The shard table holding `environment_id`'s copies; None for an invalid id."""
        key = normalize_environment_id(environment_id)
        return None if key is None else self._shard_name(key)

    # -- operations ----------------------------------------------------------------------------

    def create(
        self,
        operation: Operation,
        *,
        internal: Mapping[str, Any] | None = None,
        keep_active: bool = False,
    ) -> StoredOperation:
        """Store a new operation; ConcurrencyConflict if its id exists already.

        `keep_active`: an operation terminal from birth (a rejected request) whose notice is still
        to be sent gets an active entry all the same, as its "notice pending" marker (`update`).
        """
        key = row_key(operation.operation_id)
        # Built (and limit-checked) before the first write, so a too-large record writes nothing.
        entity = operation_entity(
            operation, partition_key=MAIN_PARTITION, row_key=key, internal=internal
        )
        copy = self._environment_copy(operation, key)
        # Derived rows first: a crash after them leaves a copy without its row (dropped by
        # readers) and an active entry without an operation (discarded by the watchdog), never
        # an operation that a listing or the watchdog cannot see.
        terminal = operation.status.terminal
        if copy is not None:
            early = {**copy[1], PROVISIONAL: True} if terminal else copy[1]
            copy[0].upsert_entity(early, mode=UpdateMode.REPLACE)
        if not terminal or keep_active:
            self._active.touch(operation)
        try:
            metadata = self._main().create_entity(entity)
        except ResourceExistsError as exc:
            self._repair_derived(key, operation, keep_active=keep_active)
            raise ConcurrencyConflict(f"operation {operation.operation_id} exists already") from exc
        if copy is not None and terminal:
            copy[0].upsert_entity(copy[1], mode=UpdateMode.REPLACE)  # the row exists now
        return StoredOperation(operation, str(metadata["etag"]), dict(internal or {}))

    def get(self, operation_id: str) -> StoredOperation:
        """One point read; OperationNotFound for an unknown (or malformed) id."""
        key = row_key_or_none(operation_id)
        if key is None:
            raise OperationNotFound(f"no operation {quote(operation_id)}")
        try:
            entity = self._main().get_entity(MAIN_PARTITION, key)
        except ResourceNotFoundError as exc:
            raise OperationNotFound(f"no operation {quote(operation_id)}") from exc
        return _stored(entity)

    def update(
        self,
        stored: StoredOperation,
        operation: Operation,
        *,
        internal: Mapping[str, Any] | None = None,
        beside: Sequence[Callable[[], object]] = (),
        keep_active: bool = False,
    ) -> StoredOperation:
        """Replace the record `stored` was read as; ConcurrencyConflict if it changed since.

        `internal` replaces the orchestrator state; None keeps `stored.internal` (pass `{}` to
        clear it). `beside`: the caller's writes that wait for the record and for nothing else
        (the runner's call log): made with the derived rows, once the record is written.
        `keep_active`: an ending whose notice is still to be sent leaves the active entry in place
        as the durable "notice pending" marker (it exists since the create, so the marker costs
        no write); `notifications.outbox.announce` removes it once the notice is queued, and the
        watchdog sends the notice again for an ended operation whose entry outlived a grace.
        """
        before = stored.operation
        if (operation.operation_id, operation.kind, operation.environment_id) != (
            before.operation_id,
            before.kind,
            before.environment_id,
        ):
            raise ValueError("an update cannot change an operation's id, kind or environment")
        state = stored.internal if internal is None else internal
        key = row_key(operation.operation_id)
        entity = operation_entity(
            operation, partition_key=MAIN_PARTITION, row_key=key, internal=state
        )
        # The derived rows change only when an operation ends (or opens again). While it is open,
        # its active entry exists since its create and listings re-read open copies from this
        # table, so a checkpoint, the step from Queued to Running included, costs one round trip
        # instead of three.
        derived = operation.status.terminal or (
            before.status.terminal and operation.status is not before.status
        )
        copy = self._environment_copy(operation, key) if derived else None
        if derived and not operation.status.terminal:
            self._active.touch(operation)  # before the checkpoint: see ActiveIndex
        try:
            metadata = self._main().update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=stored.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError as exc:
            raise ConcurrencyConflict(
                f"operation {operation.operation_id} was changed by someone else; re-read it"
            ) from exc
        except ResourceNotFoundError as exc:
            raise OperationNotFound(f"no operation {operation.operation_id!r}") from exc
        # The copy and the active entry follow the record (a crash between is recovered: see
        # the module docstring); neither needs the other, so an ending costs one round trip
        # after the checkpoint, not two.
        writes: list[Callable[[], object]] = list(beside)
        if copy is not None:
            table, row = copy
            writes.append(lambda: table.upsert_entity(row, mode=UpdateMode.REPLACE))
        # Only the update that ends the operation removes its entry: one left on an ended
        # operation is a pending notice (or a leftover the watchdog clears), and a later edit
        # of the record (a label, a delivery problem noted) must not drop that marker.
        if operation.status.terminal and not before.status.terminal and not keep_active:
            writes.append(lambda: self._active.discard(operation.operation_id))
        try:
            at_once(writes, _side_pool)
        except Exception:
            # The record is written, and what follows it is repaired by its readers (above;
            # active entries are hints the watchdog discards): raising now would cost the
            # caller what it does with the new record (the announcement of an ending, the next
            # step) for rows nobody relies on being current.
            log.warning("history.derived_rows_failed", exc_info=True,
                        extra={"operationId": operation.operation_id})
        return StoredOperation(operation, str(metadata["etag"]), dict(state))

    def list(
        self,
        *,
        environment_id: str | None = None,
        kind: OperationKind | str | None = None,
        status: OperationStatus | str | None = None,
        limit: int = 50,
        continuation: str | None = None,
        since: datetime | None = None,
        scan_pages: int = SCAN_PAGES,
    ) -> Page:
        """Newest first, `limit` at most; pass `continuation` back for the next page.

        `since`: only operations created at or after it (a RowKey bound: the service stops
        there instead of scanning older history). A page may hold fewer than `limit` items, none
        even, and still carry a continuation: the read stopped after `scan_pages` round trips
        (SCAN_PAGES), so "no continuation" alone means nothing further matches.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        if scan_pages < 1:
            raise ValueError("scan_pages must be at least 1")
        resume = decode_continuation(continuation) if continuation is not None else None
        start = resume.row_key if resume is not None else None
        if environment_id is None:
            table, partition = self._main(), MAIN_PARTITION
        else:
            env_key = normalize_environment_id(environment_id)
            if env_key is None:
                return Page([], None)  # no copy is ever written under an invalid id
            table = self._tables(self._shard_name(env_key))
            partition = env_key
        # Copies may be stale while non-terminal, so an environment listing also fetches every
        # non-terminal copy and decides on the re-read row (see the module docstring).
        is_copy = environment_id is not None
        query, parameters = _filter(
            partition, start, since, kind, status, include_open=is_copy
        )
        rows = table.query_entities(
            query,
            parameters=parameters,
            results_per_page=min(limit + 1, MAX_PAGE_SIZE),
            # Only what a listing needs: the SDK decodes entities property by property, and this
            # halves the cost of a 50-row page (and keeps `internal` off the wire).
            select=["RowKey", "record", "recordParts", PROVISIONAL],
        )
        items: builtins.list[Operation] = []
        service = resume.service if resume is not None else None
        # The tables SDK's page token is this mapping, though its stubs say `str`.
        token: Any = None if service is None else {"PartitionKey": service[0], "RowKey": service[1]}
        pages = rows.by_page(continuation_token=token)
        for _ in range(scan_pages):
            try:
                page = next(pages)
            except StopIteration:
                return Page(items, None)
            for row in page:
                key = str(row["RowKey"])
                if len(items) == limit:
                    return Page(items, encode_continuation(key))
                operation = self._listed(row, key, partition, kind, status, is_copy=is_copy)
                if operation is not None:
                    items.append(operation)
        # Out of round trips: the caller goes on from the service's own next position (opaque:
        # it need not name a row, and with a filter the rows it passed were never sent).
        following: Mapping[str, str] | None = pages.continuation_token  # type: ignore[attr-defined]
        if not following:
            return Page(items, None)
        return Page(
            items,
            encode_service_continuation(following["PartitionKey"], following["RowKey"]),
        )

    def import_operations(self, operations: Iterable[Operation]) -> int:
        """Bulk-write operations as `create` would, in entity group transactions.

        Same entities as `create`, same write order (copies, active entries, then the truth),
        but insert-or-replace: importing again overwrites instead of raising. For loading
        benchmarks and migrations, not for request handling.
        """
        mains: builtins.list[dict[str, Any]] = []
        copies: dict[str, builtins.list[dict[str, Any]]] = {}
        active: builtins.list[Operation] = []
        for operation in operations:
            key = row_key(operation.operation_id)
            mains.append(operation_entity(operation, partition_key=MAIN_PARTITION, row_key=key))
            env_key = normalize_environment_id(operation.environment_id)
            if env_key is not None:
                table = self._shard_name(env_key)
                copies.setdefault(table, []).append(
                    operation_entity(operation, partition_key=env_key, row_key=key)
                )
            if not operation.status.terminal:
                active.append(operation)
        for table, entities in copies.items():
            upsert_batches(self._tables(table), entities)
        for operation in active:
            self._active.touch(operation)
        return upsert_batches(self._main(), mains)

    # -- watchdog index --------------------------------------------------------------------------

    def list_active(self) -> builtins.list[ActiveEntry]:
        return self._active.list()

    def set_next_due(self, operation_id: str, when: datetime | None) -> bool:
        """Set when the watchdog should look again; False if the operation is not active."""
        return self._active.set_next_due(operation_id, when)

    def discard_active(self, operation_id: str) -> None:
        """Drop a leftover entry of a finished operation (see ActiveIndex); idempotent."""
        self._active.discard(operation_id)

    # -- call log ------------------------------------------------------------------------------

    def append_calls(
        self, operation_id: str, calls_by_step: Mapping[str, Sequence[Mapping[str, Any]]]
    ) -> None:
        self._calls.append(operation_id, calls_by_step)

    def list_calls(self, operation_id: str) -> builtins.list[dict[str, Any]]:
        return self._calls.list(operation_id)

    # -- internals -------------------------------------------------------------------------------

    def _shard_name(self, environment_key: str) -> str:
        return f"{self.prefix}EnvHistory{environment_shard(environment_key)}"

    def _main(self) -> TableClient:
        return self._tables(self.operations_table)

    def _environment_copy(
        self, operation: Operation, key: str
    ) -> tuple[TableClient, dict[str, Any]] | None:
        env_key = normalize_environment_id(operation.environment_id)
        if env_key is None:
            return None  # e.g. a request rejected for its environment id: tenant listing only
        table = self._tables(self._shard_name(env_key))
        # The copy leaves out `internal`: listings never need it and it is the bulkiest part.
        return table, operation_entity(operation, partition_key=env_key, row_key=key)

    def _listed(
        self,
        row: Mapping[str, Any],
        key: str,
        partition: str,
        kind: OperationKind | str | None,
        status: OperationStatus | str | None,
        *,
        is_copy: bool,
    ) -> Operation | None:
        """The operation a listed row stands for, or None if it is not to be listed."""
        whole = int(plain(row.get("recordParts") or 1)) == 1
        operation = entity_operation(row) if whole else None
        if operation is None or (
            is_copy and (not operation.status.terminal or row.get(PROVISIONAL))
        ):
            operation = self._current(key)  # also fetches the rare record split in parts
            if (
                operation is None  # a copy orphaned by a crash during create
                or (is_copy and normalize_environment_id(operation.environment_id) != partition)
                or not _matches(operation, kind, status)  # it moved out of the filter
            ):
                return None
        return operation

    def _current(self, key: str) -> Operation | None:
        try:
            return entity_operation(self._main().get_entity(MAIN_PARTITION, key))
        except ResourceNotFoundError:
            return None

    def _repair_derived(self, key: str, attempted: Operation, *, keep_active: bool) -> None:
        """After a lost create race, undo what the losing create wrote to the derived rows."""
        try:
            existing = entity_operation(self._main().get_entity(MAIN_PARTITION, key))
        except ResourceNotFoundError:
            return
        ours, theirs = (normalize_environment_id(o.environment_id) for o in (attempted, existing))
        if ours is not None and ours != theirs:  # our copy went to another environment
            self._tables(self._shard_name(ours)).delete_entity(ours, key)
        copy = self._environment_copy(existing, key)
        if copy is not None:
            copy[0].upsert_entity(copy[1], mode=UpdateMode.REPLACE)
        if existing.status.terminal and not keep_active:
            # (With `keep_active` the entry may be the winner's "notice pending" marker.)
            self._active.discard(existing.operation_id)


def _stored(entity: TableEntity) -> StoredOperation:
    etag = entity.metadata["etag"]
    return StoredOperation(entity_operation(entity), str(etag), entity_internal(entity))


def _filter(
    partition: str,
    start: str | None,
    since: datetime | None,
    kind: OperationKind | str | None,
    status: OperationStatus | str | None,
    *,
    include_open: bool,
) -> tuple[str, dict[str, Any]]:
    # Every value travels as a parameter, never formatted into the text (reference 2.3); the
    # SDK only substitutes whitespace-delimited `@name` tokens, hence "( a or b )".
    clauses = ["PartitionKey eq @pk"]
    parameters: dict[str, Any] = {"pk": partition}
    if start is not None:
        clauses.append("RowKey ge @start")
        parameters["start"] = start
    if since is not None:
        clauses.append("RowKey lt @since")
        parameters["since"] = created_since_bound(since)
    if kind is not None:
        clauses.append("kind eq @kind")
        parameters["kind"] = str(kind)
    if status is not None:
        options = ["status eq @status"]
        parameters["status"] = str(status)
        if include_open:
            for index, open_status in enumerate(_OPEN_STATUSES):
                options.append(f"status eq @open{index}")
                parameters[f"open{index}"] = open_status.value
        clauses.append("( " + " or ".join(options) + " )")
    return " and ".join(clauses), parameters


def _matches(
    operation: Operation,
    kind: OperationKind | str | None,
    status: OperationStatus | str | None,
) -> bool:
    return (kind is None or operation.kind.value == str(kind)) and (
        status is None or operation.status.value == str(status)
    )


@functools.lru_cache(maxsize=1)
def _side_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(4, thread_name_prefix="history-side")


