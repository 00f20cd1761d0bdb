"""Table clients that create their table on first use, once per owner, safely across threads.

Not at import and not per call: the Functions host imports modules before settings are checked,
and a `create_table` round trip on every write would double the cost of small writes.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from shared.operations import utcnow
from shared.storage.entities import entity_size

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,39}")
# Entity group transactions: one partition, <= 100 operations, <= 4 MiB payload (reference 2.4).
# The budget is in `entity_size` bytes (UTF-16 accounting), about twice the JSON wire size of
# ASCII text, so it keeps a wide margin below the 4 MiB request limit.
MAX_BATCH_OPERATIONS = 100
MAX_BATCH_BYTES = 3 * 1024 * 1024


def validate_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"table prefix {prefix!r} must be a letter followed by up to 39 letters or digits"
        )
    return prefix


class LazyTables:
    def __init__(self, service: TableServiceClient) -> None:
        self._service = service
        self._clients: dict[str, TableClient] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> TableClient:
        client = self._clients.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._service.get_table_client(name)
                # Exists already (an earlier run, another instance): exactly what we want.
                with contextlib.suppress(ResourceExistsError):
                    client.create_table()
                self._clients[name] = client
        return client


class TableStore:
    """Tables named `{prefix}...` on one table service, each created on first use."""

    def __init__(
        self,
        table_service: TableServiceClient,
        prefix: str = "ppb",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.prefix = validate_prefix(prefix)
        self.table_service = table_service
        self._tables = LazyTables(table_service)
        self._clock = clock


class OneTable(TableStore):
    """A store kept in a single table, `{prefix}{TABLE}`.

    The side tables (locks, claims, the environment directory) are each such a store, built on
    the same table service and prefix as the history (see `shared.runtime.side_store`).
    """

    TABLE: ClassVar[str]

    def _table(self) -> TableClient:
        return self._tables(f"{self.prefix}{self.TABLE}")


def upsert_batches(table: TableClient, entities: Iterable[Mapping[str, Any]]) -> int:
    """Insert-or-replace `entities` with as few entity group transactions as the limits allow.

    Each transaction is atomic on its own; a failure part-way leaves earlier batches written,
    which is why callers order their writes so that a partial result is still consistent.
    """
    count = 0
    for batch in _batches(entities):
        if len(batch) == 1:
            # One entity is atomic on its own; a transaction of one costs the SDK a multipart
            # body and a thread pool (about 8 ms of CPU against 4 for the plain upsert).
            table.upsert_entity(dict(batch[0]), mode=UpdateMode.REPLACE)
        else:
            table.submit_transaction(
                [("upsert", dict(e), {"mode": UpdateMode.REPLACE}) for e in batch]
            )
        count += len(batch)
    return count


def _batches(entities: Iterable[Mapping[str, Any]]) -> Iterator[Sequence[Mapping[str, Any]]]:
    by_partition: dict[str, dict[str, Mapping[str, Any]]] = {}
    for entity in entities:
        # Keyed by RowKey: an entity may appear only once per transaction; the last one wins.
        by_partition.setdefault(str(entity["PartitionKey"]), {})[str(entity["RowKey"])] = entity
    for rows in by_partition.values():
        batch: list[Mapping[str, Any]] = []
        size = 0
        for entity in rows.values():
            entity_bytes = entity_size(entity)
            if batch and (
                len(batch) == MAX_BATCH_OPERATIONS or size + entity_bytes > MAX_BATCH_BYTES
            ):
                yield batch
                batch, size = [], 0
            batch.append(entity)
            size += entity_bytes
        if batch:
            yield batch
