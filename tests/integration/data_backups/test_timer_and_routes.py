"""The data backup timer (one point per schedule slot, however often it fires) and the HTTP
routes (contract shapes; bad input is a 400 naming the field, never a 500)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from data_backups.blueprint import list_data_backups, post_data_backup, record_versions
from data_backups.intake import handle_data_backup_message
from data_backups.rounds import run_data_backup_round
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_BACKUP_WORK
from shared.runtime import AppContext, use_context
from shared.storage.connection import queue_service
from tests.integration.data_backups.conftest import (
    FAST_BACKOFF,
    Clock,
    app_settings,
    drive,
    live_rows,
)


def deliver(ctx: AppContext, storage: str) -> list[str]:
    """Hand every queued data backup request to the intake, as the queue trigger does."""
    client = queue_service(storage).get_queue_client(DATA_BACKUP_REQUESTS)
    ids = []
    for message in list(client.receive_messages(max_messages=32, visibility_timeout=300)):
        operation = handle_data_backup_message(ctx, str(message.content),
                                               message_id=str(message.id))
        assert operation is not None
        ids.append(operation.operation_id)
        client.delete_message(message)
    return ids


def test_the_timer_makes_one_point_per_slot(
    storage: str, sim: Simulator, env_id: str, clock: Clock, store: DataStore
) -> None:
    sim.add_environment("Sandbox", type="Sandbox", location="europe")
    settings = app_settings(storage, sim, DATA_BACKUP_SCOPE="type:Production",
                            DATA_BACKUP_TABLES="account")
    ctx = AppContext.from_settings(settings, backoff=FAST_BACKOFF, clock=clock)
    slot = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    clock.now = slot + timedelta(seconds=5)
    with use_context(ctx):
        assert run_data_backup_round(ctx, fired_at=slot + timedelta(seconds=1)) == [env_id]
        # The host fires again for the same slot (a restart, a deployment swap).
        assert run_data_backup_round(ctx, fired_at=slot + timedelta(minutes=3)) == [env_id]
        operations = deliver(ctx, storage)
        assert len(operations) == 2 and len(set(operations)) == 1
        done = drive(ctx, clock, operations[0])
        assert done.status is OperationStatus.SUCCEEDED, done.error
        assert done.requested_by and "round data-20261203T020000Z" in done.requested_by
        # The next slot is a new point.
        clock.now = slot + timedelta(days=1, seconds=5)
        run_data_backup_round(ctx, fired_at=slot + timedelta(days=1, seconds=1))
        [following] = deliver(ctx, storage)
        assert drive(ctx, clock, following).status is OperationStatus.SUCCEEDED
    points = store.list_points(env_id)
    assert [p.point_id for p in points] == [
        ctx.history.get(following).operation.point_id, done.point_id]
    assert all(set(p.tables) == {"account"} for p in points)


def test_the_queue_intake_runs_the_backup_in_its_own_invocation(
    ctx: AppContext, env_id: str, store: DataStore, storage: str, sim: Simulator
) -> None:
    work = queue_service(storage).get_queue_client(DATA_BACKUP_WORK)
    work.create_queue()
    body = json.dumps({"environmentId": env_id, "tables": ["account"], "requestId": "r-inline"})
    operation = handle_data_backup_message(ctx, body, message_id="m1", dequeue_count=1)
    assert operation is not None
    done = ctx.history.get(operation.operation_id).operation
    # No step message was needed: the point is there when the intake returns.
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert [p.point_id for p in store.list_points(env_id)] == [done.point_id]
    # The plan's reads, started while the admission was written, were read once and taken by
    # the plan step, whose call log holds the environment lookup made for it.
    endpoints = sim.stats()["endpoints"]
    assert endpoints["bap.get_environment"]["count"] == endpoints["dv.metadata"]["count"] == 1
    assert [call["step"] for call in ctx.history.list_calls(done.operation_id)] == ["plan"]
    assert work.peek_messages() == []
    # Another message with the same request, and this one delivered again: one point still.
    again = handle_data_backup_message(ctx, body, message_id="m2", dequeue_count=1)
    redelivered = handle_data_backup_message(ctx, body, message_id="m1", dequeue_count=2)
    assert again is not None and redelivered is not None
    assert again.operation_id == redelivered.operation_id == done.operation_id
    assert len(store.list_points(env_id)) == 1
    assert work.peek_messages() == []


def test_an_empty_scope_makes_no_round(storage: str, sim: Simulator, clock: Clock) -> None:
    sim.add_environment("Prod", type="Production", location="europe")
    ctx = AppContext.from_settings(app_settings(storage, sim), clock=clock)
    client = queue_service(storage).get_queue_client(DATA_BACKUP_REQUESTS)
    client.create_queue()
    assert run_data_backup_round(ctx, fired_at=clock.now) == []
    assert list(client.receive_messages()) == []


def request(method: str, route: str, body: object = None, *,
            params: dict[str, str] | None = None,
            route_params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        method, f"http://localhost/api/{route}",
        body=json.dumps(body).encode() if body is not None else b"",
        params=params or {}, route_params=route_params or {},
    )


def answer(response: func.HttpResponse) -> tuple[int, dict[str, object]]:
    return response.status_code, json.loads(response.get_body())


def test_post_list_and_record_routes(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    status, body = answer(post_data_backup(request(
        "POST", "data-backups", {"environmentId": env_id, "tables": ["account"],
                                 "label": "before import"})))
    assert status == 202 and str(body["statusUrl"]).endswith(str(body["operationId"]))
    done = drive(ctx, clock, str(body["operationId"]))
    assert done.kind is OperationKind.DATA_BACKUP and done.status is OperationStatus.SUCCEEDED

    status, listing = answer(list_data_backups(request(
        "GET", "data-backups", params={"environmentId": env_id, "table": "account"})))
    assert status == 200 and listing["continuationToken"] is None
    [point] = listing["points"]  # type: ignore[misc]
    assert point["pointId"] == done.point_id and point["label"] == "before import"
    assert point["tables"] == [{"table": "account", "rows": 23, "mode": "full"}]

    record_id = sorted(live_rows(sim, env_id, "accounts", "accountid"))[0]
    status, history = answer(record_versions(request(
        "GET", "records", route_params={"environmentId": env_id, "table": "account",
                                        "recordId": record_id})))
    assert status == 200
    assert history["recordId"] == record_id and history["table"] == "account"
    [version] = history["versions"]  # type: ignore[misc]
    assert version["pointId"] == done.point_id and version["state"] == "present"
    assert version["row"]["accountid"] == record_id


@pytest.mark.parametrize(("params", "field"), [
    ({}, "environmentId"),
    ({"environmentId": "not-a-guid"}, "environmentId"),
    ({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "table": "Bad-Name"}, "table"),
    ({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "table": "account\n"}, "table"),
    ({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "continuationToken": "x"},
     "continuationToken"),
    ({"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001",
      "continuationToken": "20261203T020000123Z-1a2b3c4d\n"}, "continuationToken"),
])
def test_a_bad_listing_query_is_a_400_naming_the_field(
    ctx: AppContext, params: dict[str, str], field: str
) -> None:
    status, body = answer(list_data_backups(request("GET", "data-backups", params=params)))
    assert status == 400
    assert field in body["error"]["fields"]  # type: ignore[index,operator]


@pytest.mark.parametrize("route_params", [
    {"environmentId": "x", "table": "account", "recordId": "6b1c2d3e-0000-4000-8000-00000000e001"},
    {"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "table": "../x",
     "recordId": "6b1c2d3e-0000-4000-8000-00000000e001"},
    {"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "table": "account", "recordId": ""},
    # `$` matches before a final newline: the whole text must be the name.
    {"environmentId": "6b1c2d3e-0000-4000-8000-00000000e001", "table": "account\n",
     "recordId": "6b1c2d3e-0000-4000-8000-00000000e001"},
])
def test_a_bad_record_path_is_a_400(ctx: AppContext, route_params: dict[str, str]) -> None:
    status, body = answer(record_versions(request("GET", "records", route_params=route_params)))
    assert status == 400 and body["error"]["fields"]  # type: ignore[index]


def test_a_bad_post_is_a_400_naming_every_field(ctx: AppContext) -> None:
    status, body = answer(post_data_backup(request(
        "POST", "data-backups", {"environmentId": "x", "tables": [1], "full": "yes"})))
    assert status == 400
    assert set(body["error"]["fields"]) >= {"environmentId", "tables", "full"}  # type: ignore[index,arg-type]


def test_before_any_data_backup_the_routes_answer_nothing_not_an_error(
    ctx: AppContext, env_id: str
) -> None:
    status, listing = answer(list_data_backups(request(
        "GET", "data-backups", params={"environmentId": env_id})))
    assert (status, listing) == (200, {"points": [], "continuationToken": None})
    status, history = answer(record_versions(request("GET", "records", route_params={
        "environmentId": env_id, "table": "account", "recordId": env_id})))
    assert status == 200 and history["versions"] == []
