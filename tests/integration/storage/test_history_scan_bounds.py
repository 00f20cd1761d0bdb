"""HistoryStore.list reads a bounded part of a partition: a `since` bound becomes a RowKey range."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.operations import Operation, OperationKind, OperationStatus, finish
from shared.storage.history import HistoryStore

from .conftest import BASE, ENV_A, ENV_B, Trips, counting_store, op_at

pytestmark = pytest.mark.azurite


@pytest.fixture
def trips() -> Trips:
    return Trips()


@pytest.fixture
def counted(storage: str, trips: Trips) -> HistoryStore:
    return counting_store(storage, trips)


def _succeeded(minutes: float, **fields: Any) -> Operation:
    operation = op_at(minutes, **fields)
    return finish(operation, OperationStatus.SUCCEEDED, operation.created_at)


def test_since_reads_only_the_rows_created_since(counted: HistoryStore, trips: Trips) -> None:
    # Three thousand backups and two old restores: history nobody asking for recent restores
    # should pay for.
    counted.import_operations(
        [_succeeded(i / 100, environment_id=ENV_A if i % 2 else ENV_B) for i in range(3000)]
    )
    old = [_succeeded(m, kind=OperationKind.RESTORE) for m in (1.5, 2.5)]
    recent = [_succeeded(m, kind=OperationKind.RESTORE) for m in (60, 90)]
    at_cutoff = _succeeded(45, kind=OperationKind.RESTORE)
    just_before = _succeeded(45 - 1 / 60_000, kind=OperationKind.RESTORE)  # 1 ms earlier
    for operation in [*old, *recent, at_cutoff, just_before]:
        counted.create(operation)
    trips.reset()

    cutoff = BASE + timedelta(minutes=45)
    page = counted.list(kind=OperationKind.RESTORE, since=cutoff, limit=100)

    assert [o.operation_id for o in page.items] == [
        o.operation_id for o in (recent[1], recent[0], at_cutoff)
    ]
    assert page.continuation is None
    # The service sent the three rows in range and nothing older.
    assert (trips.queries, trips.rows) == (1, 3)

    env_page = counted.list(environment_id=ENV_A, kind=OperationKind.RESTORE, since=cutoff)
    assert [o.operation_id for o in env_page.items] == [o.operation_id for o in page.items]


def test_since_later_than_everything_finds_nothing(counted: HistoryStore) -> None:
    counted.create(_succeeded(0, kind=OperationKind.RESTORE))
    page = counted.list(kind=OperationKind.RESTORE, since=BASE + timedelta(days=1))
    assert (page.items, page.continuation) == ([], None)
