"""HistoryStore create / get / update against Azurite: ETags, internal state, limits."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableServiceClient

from shared.errors import ConcurrencyConflict, OperationNotFound
from shared.operations import (
    OperationError,
    OperationKind,
    OperationStatus,
    StepStatus,
    add_request_ids,
    finish,
    update_step,
)
from shared.storage.connection import StorageTarget
from shared.storage.history import HistoryStore

from .conftest import BASE, ENV_A, ENV_B, op_at

pytestmark = pytest.mark.azurite


def test_create_then_get_round_trips_the_record(store: HistoryStore) -> None:
    operation = op_at(
        0,
        kind=OperationKind.RESTORE,
        label="Before release 4.2",
        notes="ünïcödé and 😀",
        requested_by="pipeline",
        restore_point=BASE - timedelta(hours=3),
        options={"dryRun": False, "skipAuditData": True, "plan": ["validate", "restore"]},
    )
    operation = add_request_ids(
        update_step(operation, "validate", BASE, status=StepStatus.RUNNING, detail="checking"),
        "validate",
        ("req-1", "req-2"),
    )

    created = store.create(operation)
    read = store.get(operation.operation_id)

    assert read.operation == operation
    assert read.operation.to_record() == operation.to_record()
    assert read.etag == created.etag
    assert read.internal == {}


def test_create_twice_is_a_conflict_and_keeps_the_first(store: HistoryStore) -> None:
    first = op_at(0, label="first")
    store.create(first)
    finished = store.update(
        store.get(first.operation_id), finish(first, OperationStatus.SUCCEEDED, BASE)
    )

    with pytest.raises(ConcurrencyConflict):
        store.create(replace(first, label="second"))

    assert store.get(first.operation_id).operation == finished.operation
    # The losing create must not leave its version in the environment listing or the index.
    assert store.list(environment_id=ENV_A).items == [finished.operation]
    assert store.list_active() == []


def test_losing_create_for_another_environment_leaves_no_stray_copy(
    store: HistoryStore,
) -> None:
    first = op_at(0, environment_id=ENV_A)
    store.create(first)
    with pytest.raises(ConcurrencyConflict):
        store.create(replace(first, environment_id=ENV_B))
    assert store.list(environment_id=ENV_B).items == []
    assert store.list(environment_id=ENV_A).items == [first]


def test_writes_beside_an_update_follow_the_record_and_never_a_lost_race(
    store: HistoryStore,
) -> None:
    operation = op_at(0)
    created = store.create(operation)
    seen: list[OperationStatus] = []

    def beside() -> None:  # what the record says while the caller's own write goes out
        seen.append(store.get(operation.operation_id).operation.status)

    ended = store.update(created, finish(operation, OperationStatus.SUCCEEDED, BASE),
                         beside=(beside,))
    assert seen == [OperationStatus.SUCCEEDED]
    assert store.list_active() == []  # made beside the caller's write, not instead of it
    # A stale ETag: the record is not written, and neither is anything beside it.
    with pytest.raises(ConcurrencyConflict):
        store.update(created, finish(operation, OperationStatus.FAILED, BASE), beside=(beside,))
    assert seen == [OperationStatus.SUCCEEDED]
    assert store.get(operation.operation_id).operation == ended.operation



def test_a_failed_write_after_the_record_does_not_fail_the_update(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is the truth and its readers repair what follows it: an update whose record
    was written returns it, so its caller goes on (announces the ending, steps on)."""
    operation = op_at(0)
    created = store.create(operation)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise ServiceRequestError("the storage account did not answer")

    monkeypatch.setattr(store._active, "discard", refused)
    ended = store.update(created, finish(operation, OperationStatus.SUCCEEDED, BASE))
    assert ended.operation.status is OperationStatus.SUCCEEDED
    assert store.get(operation.operation_id).operation == ended.operation
    [listed] = store.list(environment_id=operation.environment_id).items
    assert listed.status is OperationStatus.SUCCEEDED

def test_get_unknown_or_malformed_id_is_not_found(store: HistoryStore) -> None:
    with pytest.raises(OperationNotFound):
        store.get(op_at(0).operation_id)
    for bad in ("", "nope", "backup-2026x-1", "backup-20261301T000000000Z-abc", "../etc"):
        with pytest.raises(OperationNotFound):
            store.get(bad)


def recording_store(storage: str) -> tuple[HistoryStore, list[str]]:
    """A history store, and the requests it sends ("METHOD URL"), as they are sent."""
    requests: list[str] = []
    target = StorageTarget.parse(storage)
    assert target.connection_string is not None
    service = TableServiceClient.from_connection_string(
        target.connection_string,
        raw_request_hook=lambda r: requests.append(f"{r.http_request.method} {r.http_request.url}"),
    )
    return HistoryStore(service), requests


def test_get_is_a_single_point_read(storage: str) -> None:
    store, requests = recording_store(storage)
    operation = op_at(0)
    store.create(operation)
    store.get(operation.operation_id)  # warm-up: the first use of a table may create it

    requests.clear()
    store.get(operation.operation_id)

    assert len(requests) == 1, requests
    assert requests[0].startswith("GET ")


def test_a_step_of_an_open_operation_is_one_write_and_listings_still_see_it(storage: str) -> None:
    store, requests = recording_store(storage)
    operation = op_at(0, environment_id=ENV_A)
    created = store.create(operation)

    requests.clear()
    running = store.update(created, replace(operation, status=OperationStatus.RUNNING))
    step = store.update(running, replace(running.operation, label="step two"))
    # Queued -> Running and a checkpoint: the operation's own row, nothing else.
    assert [r.split(" ", 1)[0] for r in requests] == ["PUT", "PUT"], requests
    assert all("Operations(" in r for r in requests), requests
    # Every view still shows it as it is: the environment's listing (its copy says Queued, and
    # an open copy is read again), filtered by the status it has now; the active index.
    for listing in (store.list(environment_id=ENV_A),
                    store.list(environment_id=ENV_A, status=OperationStatus.RUNNING)):
        assert [(o.status, o.label) for o in listing.items] == [
            (OperationStatus.RUNNING, "step two")]
    assert store.list(environment_id=ENV_A, status=OperationStatus.QUEUED).items == []
    assert [e.operation_id for e in store.list_active()] == [operation.operation_id]

    requests.clear()
    store.update(step, finish(step.operation, OperationStatus.SUCCEEDED, BASE))
    # Its end: the row, then its copy and the active entry's removal.
    assert sorted(r.split(" ", 1)[0] for r in requests) == ["DELETE", "PUT", "PUT"], requests
    assert [o.status for o in store.list(environment_id=ENV_A).items] == [
        OperationStatus.SUCCEEDED]
    assert store.list_active() == []


def test_update_replaces_with_the_etag_and_returns_the_new_one(store: HistoryStore) -> None:
    operation = op_at(0, kind=OperationKind.RESTORE)
    created = store.create(operation)
    running = update_step(
        replace(operation, status=OperationStatus.RUNNING),
        "validate",
        BASE,
        status=StepStatus.RUNNING,
    )

    updated = store.update(created, running)

    assert updated.etag != created.etag
    read = store.get(operation.operation_id)
    assert read.operation == running
    assert read.etag == updated.etag


def test_two_stale_writers_one_wins_one_conflicts(store: HistoryStore) -> None:
    operation = op_at(0, kind=OperationKind.RESTORE)
    store.create(operation)
    copies = [store.get(operation.operation_id) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(index: int) -> None:
        changed = replace(operation, status=OperationStatus.RUNNING, label=f"writer {index}")
        barrier.wait()
        try:
            store.update(copies[index], changed)
            outcomes.append(f"won {index}")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(outcomes) == 2
    assert outcomes.count("conflict") == 1
    winner = next(o for o in outcomes if o.startswith("won")).split()[1]
    assert store.get(operation.operation_id).operation.label == f"writer {winner}"


def test_update_with_an_old_etag_after_a_newer_write_conflicts(store: HistoryStore) -> None:
    operation = op_at(0)
    created = store.create(operation)
    store.update(created, replace(operation, label="newer"))

    with pytest.raises(ConcurrencyConflict):
        store.update(created, replace(operation, label="stale"))
    assert store.get(operation.operation_id).operation.label == "newer"


def test_update_cannot_change_identity(store: HistoryStore) -> None:
    operation = op_at(0)
    created = store.create(operation)
    with pytest.raises(ValueError, match="cannot change"):
        store.update(created, replace(operation, environment_id="another-env"))
    with pytest.raises(ValueError, match="cannot change"):
        store.update(created, op_at(1))


def test_internal_state_round_trips_and_stays_out_of_the_record(store: HistoryStore) -> None:
    operation = op_at(0, kind=OperationKind.RESTORE)
    state = {"attempt": 2, "token": "abc", "poll": {"url": "https://x/op/1", "after": 30}}

    created = store.create(operation, internal=state)
    read = store.get(operation.operation_id)

    assert read.internal == state == created.internal
    record = read.operation.to_record()
    assert "internal" not in record
    assert "abc" not in repr(record)
    # Kept when omitted, replaced when given, cleared with {}.
    kept = store.update(read, replace(operation, label="x"))
    assert store.get(operation.operation_id).internal == state == kept.internal
    replaced = store.update(kept, operation, internal={"attempt": 3})
    assert store.get(operation.operation_id).internal == {"attempt": 3}
    store.update(replaced, operation, internal={})
    assert store.get(operation.operation_id).internal == {}
    # Listings never carry it either.
    assert all("internal" not in o.to_record() for o in store.list().items)


def test_internal_state_must_be_json(store: HistoryStore) -> None:
    operation = op_at(0)
    with pytest.raises(ValueError, match="internal must be JSON"):
        store.create(operation, internal={"when": BASE})
    with pytest.raises(OperationNotFound):
        store.get(operation.operation_id)


def test_too_large_record_is_refused_before_anything_is_written(store: HistoryStore) -> None:
    operation = op_at(0, options={"blob": "x" * 600_000})
    with pytest.raises(ValueError, match=r"entity is \d+ bytes; Table Storage allows"):
        store.create(operation)
    with pytest.raises(OperationNotFound):
        store.get(operation.operation_id)
    assert store.list(environment_id=ENV_A).items == []
    assert store.list_active() == []


def test_record_longer_than_one_string_property_round_trips(store: HistoryStore) -> None:
    operation = op_at(0, options={"blob": "x" * 40_000}, notes="😀" * 20_000)
    store.create(operation)
    assert store.get(operation.operation_id).operation == operation
    assert store.list(environment_id=ENV_A).items == [operation]
    assert store.list().items == [operation]


def test_error_and_terminal_fields_round_trip(store: HistoryStore) -> None:
    operation = op_at(0, kind=OperationKind.RESTORE)
    created = store.create(operation)
    failed = finish(
        operation,
        OperationStatus.FAILED,
        BASE + timedelta(minutes=5),
        error=OperationError("RestoreFailed", "the platform said no"),
    )

    store.update(created, failed)

    read = store.get(operation.operation_id).operation
    assert read == failed
    assert read.to_record()["error"] == {"code": "RestoreFailed", "message": "the platform said no"}
    assert read.to_record()["durationSeconds"] == 300.0
