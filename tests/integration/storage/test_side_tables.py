"""Active index, idempotency claims, the call log and environment locks, against Azurite."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.operations import OperationKind, OperationStatus, finish
from shared.storage.claims import RequestClaims
from shared.storage.connection import StorageTarget, table_service
from shared.storage.history import HistoryStore
from shared.storage.locks import EnvironmentLocks

from .conftest import BASE, ENV_A, ENV_B, op_at

pytestmark = pytest.mark.azurite


@pytest.fixture
def claims(storage: str) -> RequestClaims:
    return RequestClaims(table_service(storage))


@pytest.fixture
def locks(storage: str) -> EnvironmentLocks:
    return EnvironmentLocks(table_service(storage))


# -- active index ---------------------------------------------------------------------------------


def test_active_index_follows_the_operation(store: HistoryStore) -> None:
    operation = op_at(0, kind=OperationKind.RESTORE)
    created = store.create(operation)
    [entry] = store.list_active()
    assert (entry.operation_id, entry.kind, entry.status, entry.next_due_at) == (
        operation.operation_id,
        OperationKind.RESTORE,
        OperationStatus.QUEUED,
        None,
    )

    due = BASE + timedelta(minutes=10)
    assert store.set_next_due(operation.operation_id, due)
    running = store.update(created, replace(operation, status=OperationStatus.RUNNING))
    [entry] = store.list_active()
    # Still listed, with the due time set through the index: a step of an open operation does
    # not write the entry (its status stays the one written at create: a hint).
    assert (entry.operation_id, entry.next_due_at) == (operation.operation_id, due)

    assert store.set_next_due(operation.operation_id, None)
    assert store.list_active()[0].next_due_at is None

    store.update(running, finish(running.operation, OperationStatus.SUCCEEDED, BASE))
    assert store.list_active() == []
    # A finished operation does not come back through a late due time.
    assert not store.set_next_due(operation.operation_id, due)
    assert store.list_active() == []


def test_terminal_operations_never_enter_the_index(store: HistoryStore) -> None:
    store.create(op_at(0, status=OperationStatus.REJECTED, environment_id=""))
    store.import_operations([op_at(1, status=OperationStatus.SUCCEEDED)])
    assert store.list_active() == []


def test_discard_active_is_idempotent(store: HistoryStore) -> None:
    operation = op_at(0)
    store.create(operation)
    store.discard_active(operation.operation_id)
    store.discard_active(operation.operation_id)
    assert store.list_active() == []


# -- idempotency claims -------------------------------------------------------------------------


def test_same_key_twice_yields_the_first_owner(claims: RequestClaims) -> None:
    first, second = op_at(0).operation_id, op_at(1).operation_id
    assert claims.claim("release-4.2", first) == first
    assert claims.claim("release-4.2", second) == first
    assert claims.claim("release-4.3", second) == second
    # Any text is a valid key: it is hashed before it becomes a table key.
    assert claims.claim("x' / # ? \u0000 😀", second) == second


def test_concurrent_claimers_agree_on_one_owner(claims: RequestClaims) -> None:
    candidates = [op_at(i).operation_id for i in range(8)]
    barrier = threading.Barrier(len(candidates))
    answers: list[str] = []

    def claim(operation_id: str) -> None:
        barrier.wait()
        answers.append(claims.claim("pipeline-run-77", operation_id))

    threads = [threading.Thread(target=claim, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(answers) == len(candidates)
    assert len(set(answers)) == 1
    assert answers[0] in candidates


def test_claim_needs_a_key(claims: RequestClaims) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        claims.claim("", op_at(0).operation_id)


# -- call log ------------------------------------------------------------------------------------


def _calls(count: int, start: datetime) -> list[dict[str, Any]]:
    return [
        {
            "method": "get",
            "path": f"/environments/{ENV_A}/operations/{i}",
            "status": 202 if i % 2 else 200,
            "requestId": f"req-{i:04d}",
            "durationMs": 12.6 + i,
            "at": start + timedelta(milliseconds=i),
        }
        for i in range(count)
    ]


def test_call_log_keeps_more_than_one_batch_in_time_order(store: HistoryStore) -> None:
    operation_id = op_at(0).operation_id
    store.append_calls(operation_id, {"restore": _calls(250, BASE + timedelta(seconds=1))})
    store.append_calls(operation_id, {"validate": _calls(3, BASE)})

    calls = store.list_calls(operation_id)

    assert len(calls) == 253
    assert [c["step"] for c in calls[:3]] == ["validate"] * 3
    assert [c["requestId"] for c in calls[3:]] == [f"req-{i:04d}" for i in range(250)]
    assert calls[3] == {
        "step": "restore",
        "method": "GET",
        "path": f"/environments/{ENV_A}/operations/0",
        "status": 200,
        "requestId": "req-0000",
        "durationMs": 13,
        "at": "2026-11-01T08:00:01.000Z",
    }


def test_appending_the_same_calls_again_does_not_duplicate(store: HistoryStore) -> None:
    operation_id = op_at(0).operation_id
    batch = _calls(120, BASE)
    store.append_calls(operation_id, {"restore": batch})
    store.append_calls(operation_id, {"restore": batch})  # a redelivered queue message
    assert len(store.list_calls(operation_id)) == 120


def test_call_log_is_per_operation_and_tolerates_missing_values(store: HistoryStore) -> None:
    one, two = op_at(0).operation_id, op_at(1).operation_id
    store.append_calls(one, {"backup": [{"method": "POST", "path": "/backups", "status": None}]})
    store.append_calls(two, {"backup": [{"method": "POST", "path": "/x", "durationMs": 2**40}]})
    [call] = store.list_calls(one)
    assert (call["status"], call["requestId"], call["durationMs"]) == (None, None, None)
    assert datetime.fromisoformat(call["at"]).tzinfo is not None
    [big] = store.list_calls(two)
    assert big["durationMs"] == 2**40  # wider than 32 bits: stored as Int64


def test_call_log_writes_a_row_per_hundred_calls_not_per_call(
    store: HistoryStore, storage: str
) -> None:
    operation_id = op_at(0).operation_id
    store.append_calls(operation_id, {"restore": _calls(250, BASE)})
    table = table_service(storage).get_table_client(f"{store.prefix}OperationCalls")
    rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": operation_id}))
    assert sorted(row["count"] for row in rows) == [50, 100, 100]
    assert len(store.list_calls(operation_id)) == 250


def test_one_invocations_calls_of_several_steps_are_one_row_each_keeping_its_step(
    store: HistoryStore, storage: str
) -> None:
    operation_id = op_at(0).operation_id
    store.append_calls(operation_id, {
        "switch": _calls(2, BASE), "restore": _calls(1, BASE + timedelta(seconds=1)),
    })
    table = table_service(storage).get_table_client(f"{store.prefix}OperationCalls")
    assert len(list(table.query_entities("PartitionKey eq @pk",
                                         parameters={"pk": operation_id}))) == 1
    assert [c["step"] for c in store.list_calls(operation_id)] == ["switch", "switch", "restore"]


def test_call_log_reads_rows_of_the_older_one_call_layout(
    store: HistoryStore, storage: str
) -> None:
    operation_id = op_at(0).operation_id
    table = table_service(storage).create_table_if_not_exists(f"{store.prefix}OperationCalls")
    table.upsert_entity({
        "PartitionKey": operation_id, "RowKey": "validate-0000000000000001-abc",
        "step": "validate", "method": "GET", "path": "/old", "status": 200,
        "requestId": "old-1", "durationMs": 7, "at": BASE + timedelta(milliseconds=500),
    })
    store.append_calls(operation_id, {"restore": _calls(2, BASE)})

    calls = store.list_calls(operation_id)

    assert [c["requestId"] for c in calls] == ["req-0000", "req-0001", "old-1"]
    assert calls[2] == {
        "step": "validate", "method": "GET", "path": "/old", "status": 200,
        "requestId": "old-1", "durationMs": 7, "at": "2026-11-01T08:00:00.500Z",
    }


def test_call_log_keeps_odd_unicode_and_cuts_long_values(store: HistoryStore) -> None:
    operation_id = op_at(0).operation_id
    odd = "/flows/\ud800-\u202e-\U0001f600-" + "x" * 3000  # lone surrogate, RTL mark, emoji
    store.append_calls(operation_id, {"flows_on": [
        {"method": "patch", "path": odd, "requestId": "r" * 1000, "at": BASE},
    ] * 100})

    calls = store.list_calls(operation_id)

    assert len(calls) == 100
    assert calls[0]["path"] == odd[:2048]
    assert calls[0]["requestId"] == "r" * 256


def test_call_log_refuses_malformed_calls(store: HistoryStore) -> None:
    operation_id = op_at(0).operation_id
    with pytest.raises(ValueError, match="unknown call field"):
        store.append_calls(operation_id, {"restore": [{"method": "GET", "path": "/", "body": "x"}]})
    with pytest.raises(ValueError, match="method"):
        store.append_calls(operation_id, {"restore": [{"path": "/"}]})
    with pytest.raises(ValueError, match="step name"):
        store.append_calls(operation_id, {"re/store": [{"method": "GET", "path": "/"}]})
    with pytest.raises(ValueError, match="not an operation id"):
        store.append_calls("nope", {"restore": [{"method": "GET", "path": "/"}]})
    assert store.list_calls(operation_id) == []


# -- environment locks ----------------------------------------------------------------------------


def test_lock_acquire_contend_release(locks: EnvironmentLocks) -> None:
    mine, theirs = op_at(0).operation_id, op_at(1).operation_id
    assert locks.holder(ENV_A) is None

    assert locks.try_acquire(ENV_A, mine) == mine
    assert locks.try_acquire(ENV_A, mine) == mine  # already ours
    assert locks.try_acquire(ENV_A.upper(), theirs) == mine  # same environment, any case
    assert locks.try_acquire(ENV_B, theirs) == theirs  # other environments are independent

    locks.release(ENV_A, theirs)  # not the holder: nothing happens
    assert locks.holder(ENV_A) == mine

    locks.release(ENV_A, mine)
    locks.release(ENV_A, mine)  # idempotent
    assert locks.holder(ENV_A) is None
    assert locks.try_acquire(ENV_A, theirs) == theirs


def test_concurrent_lockers_get_one_holder(locks: EnvironmentLocks) -> None:
    candidates = [op_at(i).operation_id for i in range(6)]
    barrier = threading.Barrier(len(candidates))
    answers: list[str] = []

    def lock(operation_id: str) -> None:
        barrier.wait()
        answers.append(locks.try_acquire(ENV_A, operation_id))

    threads = [threading.Thread(target=lock, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(answers)) == 1
    assert locks.holder(ENV_A) == answers[0]


def test_lock_needs_a_valid_environment(locks: EnvironmentLocks) -> None:
    with pytest.raises(ValueError, match="not an environment id"):
        locks.try_acquire("a/b", op_at(0).operation_id)
    with pytest.raises(ValueError, match="not an environment id"):
        locks.release("", op_at(0).operation_id)


def test_tables_are_created_lazily_once_across_threads(storage: str) -> None:
    target = StorageTarget.parse(storage)
    assert target.connection_string is not None
    creates: list[str] = []
    service = TableServiceClient.from_connection_string(
        target.connection_string,
        raw_request_hook=lambda r: (
            creates.append(r.http_request.url)
            if r.http_request.method == "POST" and r.http_request.url.endswith("/Tables")
            else None
        ),
    )
    locks = EnvironmentLocks(service, prefix="lazy")
    assert [t.name for t in service.list_tables()] == []  # nothing at construction

    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        locks.holder(ENV_A)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [t.name for t in service.list_tables()] == ["lazyLocks"]
    assert len(creates) == 1
