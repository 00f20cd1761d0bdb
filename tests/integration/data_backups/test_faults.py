"""Bad input and faults: expired change tokens, unreadable and unknown tables, requests naming
nothing valid, 429 storms and concurrency limits, hostile rows, columns added and removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from data_backups import execute
from data_backups.intake import handle_data_backup_message
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.data_store import DataStore, open_data_store
from shared.operations import Operation, OperationKind, OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import ROWS, Clock, drive, live_rows, stored_rows


def backup(ctx: AppContext, clock: Clock, env_id: str, request_id: str,
           **fields: Any) -> Operation:
    body = json.dumps({"environmentId": env_id, "requestId": request_id, **fields})
    operation = handle_data_backup_message(ctx, body, message_id=request_id, page_size=10)
    assert operation is not None
    clock.reach(clock.now + timedelta(hours=1))
    return drive(ctx, clock, operation.operation_id)


def tables_of(operation: Operation) -> dict[str, dict[str, Any]]:
    return {t["table"]: dict(t) for t in operation.tables}


def test_an_expired_change_token_falls_back_to_a_full_copy(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    assert backup(ctx, clock, env_id, "one", tables=["contact"]).status is OperationStatus.SUCCEEDED
    sim.dataverse_change(env_id, "contact", "update", sorted(
        live_rows(sim, env_id, "contacts", "contactid"))[0], {"firstname": "Zoë"})
    sim.dataverse_expire_tokens(env_id)
    second = backup(ctx, clock, env_id, "two", tables=["contact"])
    assert second.status is OperationStatus.SUCCEEDED, second.error
    contact = tables_of(second)["contact"]
    assert contact["mode"] == "full"
    assert "expired" in contact["detail"]
    assert contact["rows"] == contact["changed"] == ROWS
    assert stored_rows(store, env_id, second.point_id or "", "contact", "contactid") == \
        live_rows(sim, env_id, "contacts", "contactid")
    # And the chain starts again: the next point is incremental on top of this one.
    third = backup(ctx, clock, env_id, "three", tables=["contact"])
    assert tables_of(third)["contact"]["mode"] == "incremental"


def test_change_links_refused_after_a_restore_fall_back_to_a_full_copy(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    tables = ["account", "contact"]
    assert backup(ctx, clock, env_id, "one", tables=tables).status is OperationStatus.SUCCEEDED
    sim.dataverse_change(env_id, "account", "create", values={"name": "restored in"})
    # A restore (or a copy from another environment) puts another database here: the last
    # point's delta links answer 400 "not valid", not the expiry fault.
    sim.dataverse_invalidate_tokens(env_id)
    second = backup(ctx, clock, env_id, "two", tables=tables)
    assert second.status is OperationStatus.SUCCEEDED, second.error
    for table, entity_set in (("account", "accounts"), ("contact", "contacts")):
        copied = tables_of(second)[table]
        live = live_rows(sim, env_id, entity_set, f"{table}id")
        assert copied["mode"] == "full"
        assert "refused" in copied["detail"] and "not valid" in copied["detail"]
        assert copied["rows"] == copied["changed"] == len(live)
        assert stored_rows(store, env_id, second.point_id or "", table, f"{table}id") == live
    # The new chain holds: the next point is incremental on top of the full copy.
    third = backup(ctx, clock, env_id, "three", tables=tables)
    assert third.status is OperationStatus.SUCCEEDED, third.error
    assert {t["mode"] for t in third.tables} == {"incremental"}


def test_an_unreadable_table_fails_with_the_fix_and_the_others_complete(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    sim.dataverse_revoke(env_id, "contact")
    done = backup(ctx, clock, env_id, "r", tables=["account", "contact", "nosuchtable"])
    assert done.status is OperationStatus.FAILED
    assert done.error is not None and done.error.code == "TablesFailed"
    tables = tables_of(done)
    assert tables["account"]["status"] == "Succeeded"
    assert tables["contact"]["status"] == "Failed"
    assert "security role" in tables["contact"]["detail"]
    assert tables["nosuchtable"]["status"] == "Failed"
    assert "logical name" in tables["nosuchtable"]["detail"]
    # The point is complete, holds account, and says which tables it lacks.
    [point] = store.list_points(env_id)
    assert point.point_id == done.point_id
    assert set(point.tables) == {"account"}
    assert set(point.failed) == {"contact", "nosuchtable"}
    assert stored_rows(store, env_id, point.point_id, "account", "accountid") == \
        live_rows(sim, env_id, "accounts", "accountid")


def test_a_request_that_names_nothing_valid_is_rejected(
    ctx: AppContext, clock: Clock, env_id: str, store: DataStore
) -> None:
    done = backup(ctx, clock, env_id, "nothing", tables=["nosuchtable", "neither"])
    assert done.status is OperationStatus.REJECTED
    assert done.error is not None and "nosuchtable" in done.error.message
    assert store.list_points(env_id) == []


@pytest.mark.parametrize("body", [
    b"not json",
    json.dumps({"environmentId": "nope", "requestId": "bad-env"}).encode(),
    json.dumps({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "tables": "account",
                "requestId": "bad-tables"}).encode(),
    json.dumps({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "full": "yes",
                "lable": "typo", "requestId": "bad-fields"}).encode(),
])
def test_an_invalid_message_is_rejected_on_record(ctx: AppContext, body: bytes) -> None:
    assert handle_data_backup_message(ctx, body, message_id="m1") is None
    [rejected] = _all(ctx)
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.error is not None and rejected.error.message
    # A second delivery is the same record, not a second one.
    assert handle_data_backup_message(ctx, body, message_id="m1") is None
    assert len(_all(ctx)) == 1


def _all(ctx: AppContext) -> list[Operation]:
    return list(ctx.history.list(kind=OperationKind.DATA_BACKUP).items)


def test_429_storms_end_with_complete_points(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    tables = ["account", "contact", "new_project", "annotation"]
    sim.set_faults(throttle_rate=0.5, seed=3)
    done = backup(ctx, clock, env_id, "storm", tables=tables)
    sim.set_faults(throttle_rate=0.0)
    assert sim.stats()["throttled"] > 10
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert set(tables_of(done)) == set(tables)
    assert stored_rows(store, env_id, done.point_id or "", "account", "accountid") == \
        live_rows(sim, env_id, "accounts", "accountid")


@pytest.fixture
def narrow_sim() -> Iterator[Simulator]:
    """The server recommends 2 reads at once (x-ms-dop-hint) and refuses a second concurrent
    request (429, Retry-After: 1). (Requests per window are real-time windows in the simulator,
    which this test's clock outruns; the 429 storm above covers waiting them out.)"""
    options = SimOptions(dataverse_rows=ROWS, dataverse_concurrent_requests=1,
                         dataverse_dop_hint=2)
    with run_simulator(speed=0, populate=False, seed=5, options=options) as simulator:
        yield simulator


def test_concurrency_limits_end_with_complete_points(
    storage: str, narrow_sim: Simulator, clock: Clock
) -> None:
    from shared.runtime import use_context
    from tests.integration.data_backups.conftest import FAST_BACKOFF, app_settings

    env_id = narrow_sim.add_environment("Narrow", type="Production", location="europe")
    context = AppContext.from_settings(app_settings(storage, narrow_sim), backoff=FAST_BACKOFF,
                                       clock=clock)
    with use_context(context):
        tables = ["account", "contact", "new_project", "annotation", "new_importlog"]
        done = backup(context, clock, env_id, "narrow", tables=tables)
    stats = narrow_sim.stats()
    assert stats["max_concurrent"] <= 2, stats  # never more reads at once than recommended
    assert done.status is OperationStatus.SUCCEEDED, (done.error, stats)
    assert all(t["status"] == "Succeeded" for t in done.tables)
    assert tables_of(done)["new_importlog"]["mode"] == "full"  # no change tracking
    # An incremental of more tables than a step reads: its last step starts its one table with
    # nothing copied, yet the point it commits holds every table of the earlier steps too.
    store = open_data_store(storage, "ppbackup-data")
    # Committed in a step of its own, the point still leaves where its tables' next reads start
    # (not for the table without change tracking: its next copy is a full one again).
    remembered = execute._resume_of(context, env_id)
    assert remembered is not None
    assert sorted(remembered.links) == sorted(
        (table, str(entry.delta_link), entry.id_column)
        for table, entry in store.manifest(env_id, done.point_id or "").tables.items()
        if table != "new_importlog")
    for table, entity_set in (("account", "accounts"), ("annotation", "annotations")):
        changed = sorted(live_rows(narrow_sim, env_id, entity_set, f"{table}id"))[0]
        narrow_sim.dataverse_change(env_id, table, "delete", changed)
    with use_context(context):
        again = backup(context, clock, env_id, "narrow-again", tables=tables)
    assert again.status is OperationStatus.SUCCEEDED, again.error
    assert tables_of(again)["account"]["mode"] == "incremental"
    for point in (done.point_id or "", again.point_id or ""):
        assert sorted(store.manifest(env_id, point).tables) == sorted(tables)
    for table, entity_set in (("account", "accounts"), ("annotation", "annotations"),
                              ("contact", "contacts")):
        assert stored_rows(store, env_id, again.point_id or "", table, f"{table}id") == \
            live_rows(narrow_sim, env_id, entity_set, f"{table}id")


@pytest.mark.parametrize(
    ("limit", "fewer"),
    [({"dataverse_execution_seconds_per_window": 1e-9}, True),
     ({"dataverse_requests_per_window": 1}, False)],
    ids=["execution-time", "request-count"],
)
def test_a_copy_step_hears_when_fewer_reads_at_once_would_help(
    limit: dict[str, float], fewer: bool
) -> None:
    """The refusal's code reaches the decision (shared.policy.concurrency): an execution-time
    refusal asks for fewer requests at once, a request-count refusal does not."""
    from engine.answers import Throttled
    from tests.integration.data_backups.conftest import dataverse

    options = SimOptions(dataverse_rows=20, dataverse_window_seconds=60.0, **limit)
    with run_simulator(speed=0, populate=False, seed=5, options=options) as simulator:
        env_id = simulator.add_environment("Paced", type="Production", location="europe")
        with dataverse(simulator, env_id) as client:
            first = execute._read_page(client, client.first_page("accounts"), "accountid")
            refused = execute._read_page(client, client.first_page("contacts"), "contactid")
    assert not isinstance(first, Throttled)
    assert isinstance(refused, Throttled) and refused.retry_after
    assert refused.fewer is fewer


def test_hostile_rows_round_trip(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    big = "é" * (1 << 20)
    sim.dataverse_change(env_id, "annotation", "create", values={"notetext": big})
    sim.dataverse_change(env_id, "account", "create", values={
        "name": "\u202e\U0001f4a9 \"quoted\" \\ \x00 <tag> ' ; DROP", "telephone1": None})
    done = backup(ctx, clock, env_id, "hostile", tables=["account", "annotation"])
    assert done.status is OperationStatus.SUCCEEDED, done.error
    for table, entity_set, id_column in (("account", "accounts", "accountid"),
                                         ("annotation", "annotations", "annotationid")):
        assert stored_rows(store, env_id, done.point_id or "", table, id_column) == \
            live_rows(sim, env_id, entity_set, id_column)


def test_a_column_added_or_removed_between_points_is_kept_per_point(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    first = backup(ctx, clock, env_id, "c1", tables=["account"])
    before = live_rows(sim, env_id, "accounts", "accountid")
    sim.dataverse_add_column(env_id, "account", "new_rating", "Integer")
    some = sorted(before)[0]
    sim.dataverse_change(env_id, "account", "update", some, {"new_rating": 5})
    sim.dataverse_remove_column(env_id, "account", "telephone1")
    second = backup(ctx, clock, env_id, "c2", tables=["account"])
    assert second.status is OperationStatus.SUCCEEDED, second.error
    after = live_rows(sim, env_id, "accounts", "accountid")
    assert after[some]["new_rating"] == 5 and "telephone1" not in after[some]
    assert stored_rows(store, env_id, first.point_id or "", "account", "accountid") == before
    assert stored_rows(store, env_id, second.point_id or "", "account", "accountid")[some] == \
        after[some]


def test_an_unknown_environment_fails_at_once_saying_so(
    ctx: AppContext, clock: Clock, store: DataStore
) -> None:
    unknown = "6b1c2d3e-0000-4000-8000-0000000000ff"
    done = backup(ctx, clock, unknown, "unknown-env")
    assert done.status is OperationStatus.FAILED
    assert done.error is not None and done.error.code == "EnvironmentNotFound"
    assert unknown in done.error.message
    assert store.list_points(unknown) == []
