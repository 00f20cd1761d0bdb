"""HistoryStore.list against Azurite: ordering, filters, paging, injection, crash windows."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.data.tables import UpdateMode

from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    finish,
)
from shared.storage.entities import operation_entity
from shared.storage.history import HistoryStore, Page
from shared.storage.keys import normalize_environment_id, row_key

from .conftest import BASE, ENV_A, ENV_B, op_at

pytestmark = pytest.mark.azurite


def _ids(page: Page) -> list[str]:
    return [o.operation_id for o in page.items]


def _load(store: HistoryStore) -> list[Operation]:
    """Ten operations over two environments and both kinds, created out of time order."""
    operations = [
        op_at(
            minute,
            kind=OperationKind.RESTORE if minute % 3 == 0 else OperationKind.BACKUP,
            environment_id=ENV_A if minute % 2 == 0 else ENV_B,
            status=OperationStatus.SUCCEEDED if minute % 4 == 0 else OperationStatus.QUEUED,
        )
        for minute in (5, 1, 9, 0, 7, 3, 8, 2, 6, 4)
    ]
    for operation in operations:
        store.create(operation)
    return sorted(operations, key=lambda o: o.created_at, reverse=True)


def test_tenant_listing_is_newest_first(store: HistoryStore) -> None:
    expected = _load(store)
    page = store.list()
    assert page.items == expected
    assert page.continuation is None


def test_environment_listing_is_newest_first_and_only_that_environment(
    store: HistoryStore,
) -> None:
    expected = _load(store)
    for env in (ENV_A, ENV_B):
        assert store.list(environment_id=env).items == [
            o for o in expected if o.environment_id == env
        ]
    # Environment ids are GUIDs: case does not matter.
    assert _ids(store.list(environment_id=ENV_A.upper())) == _ids(store.list(environment_id=ENV_A))
    assert store.list(environment_id="0a1b2c3d-ffff-4000-8000-000000000000").items == []


@pytest.mark.parametrize("environment", [None, ENV_A])
def test_filters_by_kind_and_status(store: HistoryStore, environment: str | None) -> None:
    expected = [o for o in _load(store) if environment is None or o.environment_id == environment]
    for kind in OperationKind:
        assert store.list(environment_id=environment, kind=kind).items == [
            o for o in expected if o.kind is kind
        ]
    for status in (OperationStatus.SUCCEEDED, OperationStatus.QUEUED, OperationStatus.FAILED):
        assert store.list(environment_id=environment, status=status.value).items == [
            o for o in expected if o.status is status
        ]
    both = store.list(
        environment_id=environment, kind=OperationKind.RESTORE, status=OperationStatus.SUCCEEDED
    )
    assert both.items == [
        o for o in expected if o.kind is OperationKind.RESTORE and o.status.terminal
    ]


@pytest.mark.parametrize("environment", [None, ENV_A])
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 9, 10, 11])
def test_pages_cover_everything_once_in_order(
    store: HistoryStore, environment: str | None, limit: int
) -> None:
    expected = [
        o.operation_id
        for o in _load(store)
        if environment is None or o.environment_id == environment
    ]
    seen: list[str] = []
    continuation: str | None = None
    for _ in range(len(expected) + 2):
        page = store.list(environment_id=environment, limit=limit, continuation=continuation)
        assert len(page.items) <= limit
        seen += _ids(page)
        continuation = page.continuation
        if continuation is None:
            break
    assert seen == expected


def test_bad_continuation_token_is_a_clear_value_error(store: HistoryStore) -> None:
    _load(store)
    for token in ("", "not a token", "%%%", "Zm9v", "'; drop", "a" * 1000):
        with pytest.raises(ValueError, match="invalid continuation token"):
            store.list(continuation=token)


def test_bad_limit_is_a_value_error(store: HistoryStore) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(ValueError, match="limit"):
            store.list(limit=limit)


INJECTIONS = [
    "x' or PartitionKey ne 'q",
    "x' or '1' eq '1",
    "backup' or kind ne 'q",
    "x') or (PartitionKey ne 'q",
    "x' or RowKey ge '",
    "@pk",
    "@kind",
    " or true",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_filter_injection_returns_nothing(store: HistoryStore, value: str) -> None:
    _load(store)
    assert store.list(environment_id=value).items == []
    assert store.list(kind=value).items == []
    assert store.list(status=value).items == []
    assert store.list(environment_id=ENV_A, kind=value, status=value).items == []


def test_injection_control_naive_formatting_would_leak(store: HistoryStore) -> None:
    """Shows the injection values above are live: formatted into the text, one leaks rows."""
    _load(store)
    table = store._tables(store.operations_table)  # white box: only to prove the point
    naive = f"PartitionKey eq 'ops' and kind eq '{INJECTIONS[2]}'"
    assert list(table.query_entities(naive))  # leaks every row


def test_crash_after_the_copy_before_the_row_is_not_listed(store: HistoryStore) -> None:
    """create writes the environment copy first; a crash before the main row leaves an orphan."""
    [*_, oldest] = _load(store)
    orphan = op_at(30, environment_id=ENV_A)
    _write_copy_only(store, orphan)

    assert orphan.operation_id not in _ids(store.list(environment_id=ENV_A))
    assert orphan.operation_id not in _ids(store.list(environment_id=ENV_A, status="Queued"))
    assert orphan.operation_id not in _ids(store.list())
    assert oldest.operation_id in _ids(store.list(environment_id=oldest.environment_id))


def test_crash_during_create_of_a_terminal_operation_is_not_listed(store: HistoryStore) -> None:
    """A `Rejected` record is terminal from birth: its early copy is provisional until the row
    exists, so a crash between the two writes cannot leave a phantom in the listing."""
    rejected = op_at(1, environment_id=ENV_A, status=OperationStatus.REJECTED)
    _write_copy_only(store, rejected, provisional=True)
    assert store.list(environment_id=ENV_A).items == []
    assert store.list(environment_id=ENV_A, status="Rejected").items == []

    store.create(rejected)  # the retry completes it, and the copy is final
    assert store.list(environment_id=ENV_A).items == [rejected]
    copy = _read_copy(store, rejected)
    assert "provisional" not in copy


def test_crash_after_the_row_before_the_copy_shows_the_current_status(
    store: HistoryStore,
) -> None:
    """update writes the main row first; a crash before the copy leaves an older copy."""
    operation = op_at(0, kind=OperationKind.RESTORE, environment_id=ENV_A)
    created = store.create(operation)
    running = store.update(created, replace(operation, status=OperationStatus.RUNNING))
    done = finish(running.operation, OperationStatus.SUCCEEDED, BASE)
    # Simulate: the main row is written with the ETag, the copy never is.
    store._tables(store.operations_table).update_entity(
        operation_entity(done, partition_key="ops", row_key=row_key(done.operation_id)),
        mode=UpdateMode.REPLACE,
    )

    assert store.list(environment_id=ENV_A).items == [done]
    assert store.list(environment_id=ENV_A, status="Succeeded").items == [done]
    assert store.list(environment_id=ENV_A, status="Running").items == []
    assert store.list(environment_id=ENV_A, status="Queued").items == []


def test_operation_without_a_valid_environment_is_listed_tenant_wide_only(
    store: HistoryStore,
) -> None:
    rejected = [
        op_at(minute, environment_id=env, status=OperationStatus.REJECTED)
        for minute, env in enumerate(["", "not/valid", "x' or 'a' eq 'a"])
    ]
    for operation in rejected:
        store.create(operation)

    assert store.list().items == rejected[::-1]
    assert store.list(environment_id="").items == []
    assert store.get(rejected[1].operation_id).operation == rejected[1]


def test_environment_listing_uses_the_current_row_for_unfinished_items(
    store: HistoryStore,
) -> None:
    operation = op_at(0, environment_id=ENV_B)
    created = store.create(operation)
    store.update(created, replace(operation, status=OperationStatus.RUNNING, label="live"))
    [item] = store.list(environment_id=ENV_B).items
    assert item.status is OperationStatus.RUNNING
    assert item.label == "live"


def _write_copy_only(
    store: HistoryStore, operation: Operation, *, provisional: bool = False
) -> None:
    env_key = normalize_environment_id(operation.environment_id)
    table_name = store.environment_table(operation.environment_id)
    assert env_key is not None
    assert table_name is not None
    entity = operation_entity(
        operation, partition_key=env_key, row_key=row_key(operation.operation_id)
    )
    if provisional:
        entity["provisional"] = True
    store._tables(table_name).upsert_entity(entity)


def _read_copy(store: HistoryStore, operation: Operation) -> dict[str, object]:
    env_key = normalize_environment_id(operation.environment_id)
    table_name = store.environment_table(operation.environment_id)
    assert env_key is not None
    assert table_name is not None
    return dict(store._tables(table_name).get_entity(env_key, row_key(operation.operation_id)))
