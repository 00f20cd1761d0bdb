"""HistoryStore.list reads a bounded part of a partition: a `since` bound becomes a RowKey range,
and one call makes at most `scan_pages` service round trips, then hands back a continuation."""

from __future__ import annotations

from collections.abc import Callable
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


def _listing_through(
    store: HistoryStore, trips: Trips, read: Callable[[str | None], Any]
) -> tuple[list[str], list[int]]:
    """Follow continuations to the end: the ids listed and the query trips of each call."""
    ids: list[str] = []
    per_call: list[int] = []
    continuation: str | None = None
    for _ in range(200):
        trips.reset()
        page = read(continuation)
        per_call.append(trips.queries)
        ids += [o.operation_id for o in page.items]
        continuation = page.continuation
        if continuation is None:
            return ids, per_call
    raise AssertionError("the listing never ended")


def test_a_call_stops_after_its_round_trips_and_hands_back_a_continuation(
    counted: HistoryStore, trips: Trips
) -> None:
    # An environment's Succeeded backups lie behind many newer unfinished ones: every listed
    # unfinished copy is re-read and dropped, so the service is asked page after page.
    wanted = [_succeeded(m) for m in (0, 1, 2)]
    for operation in wanted:
        counted.create(operation)
    counted.import_operations(op_at(10 + i) for i in range(60))  # Queued: not Succeeded
    read = lambda token: counted.list(  # noqa: E731
        environment_id=ENV_A, kind=OperationKind.BACKUP, status=OperationStatus.SUCCEEDED,
        limit=2, continuation=token, scan_pages=3,
    )

    first = read(None)
    assert first.items == []
    assert first.continuation is not None  # cut short, not "there is none"

    ids, per_call = _listing_through(counted, trips, read)
    assert ids == [o.operation_id for o in reversed(wanted)]
    assert max(per_call) <= 3
    # Pages of limit + 1 = 3 rows: 60 dropped rows take 20 trips, spread over calls of 3.
    assert len(per_call) >= 60 // (3 * 3)


def test_the_budget_does_not_cut_a_listing_that_fits(counted: HistoryStore, trips: Trips) -> None:
    for minute in range(5):
        counted.create(op_at(minute))
    page = counted.list(limit=10, scan_pages=1)
    assert len(page.items) == 5
    assert page.continuation is None
    assert trips.queries == 1


def test_scan_pages_below_one_is_a_value_error(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="scan_pages"):
        store.list(scan_pages=0)
