"""Record restore intake on Azurite (contract section 10): the `data-restore-requests` queue and
`POST /api/data-restores` admit a request once per requestId as a Queued `data_restore` with its
initial state and one step message on `data-restore-work`; bad input is `Rejected` on record
(queue) or a 400 naming every field (HTTP), never lost, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func
import pytest

from data_restores.blueprint import data_restore_request, post_data_restore
from data_restores.intake import handle_data_restore_message
from data_restores.state import DataRestoreState, Phase
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_RESTORE_WORK
from shared.runtime import AppContext

pytestmark = pytest.mark.azurite

SOURCE = "6b1c2d3e-0000-4000-8000-00000000e001"
TARGET = "6b1c2d3e-0000-4000-8000-00000000e002"
POINT = "20261203T020000123Z-1a2b3c4d"
RECORD = "625A9C79-9E42-4576-8E97-000000000001"


def step_messages(ctx: AppContext) -> list[dict[str, object]]:
    return [m.payload for m in ctx.queues.peek(DATA_RESTORE_WORK)]


def test_a_valid_message_is_a_queued_restore_with_its_state_and_one_step(
    ctx: AppContext,
) -> None:
    body = {"sourceEnvironmentId": SOURCE, "targetEnvironmentId": TARGET,
            "tables": ["account", "Contact"], "pointId": POINT, "recordIds": [RECORD],
            "mode": "all", "withRelated": True, "confirmProduction": "Contoso Prod",
            "requestedBy": "maria@contoso.com", "reason": "INC-881", "requestId": "inc-881"}
    operation = handle_data_restore_message(ctx, json.dumps(body), message_id="m1")
    assert operation is not None
    stored = ctx.history.get(operation.operation_id)
    record = stored.operation.to_record()
    assert (record["kind"], record["status"]) == ("data_restore", "Queued")
    assert (record["environmentId"], record["sourceEnvironmentId"]) == (TARGET, SOURCE)
    assert (record["pointId"], record["tables"]) == (POINT, ["account", "contact"])
    assert [s["name"] for s in record["steps"]] == ["validate", "plan", "apply"]
    assert (record["requestedBy"], record["reason"], record["requestId"]) == (
        "maria@contoso.com", "INC-881", "inc-881")
    assert record["options"] == {"mode": "all", "dryRun": True, "withRelated": True,
                                 "recordIds": 1}
    # The confirmation is for the validating phase only: in the state, not on the record.
    assert "Contoso Prod" not in json.dumps(record)
    state = DataRestoreState.from_json(stored.internal)
    assert state == DataRestoreState(
        SOURCE, TARGET, ("account", "contact"), mode="all", point_id=POINT,
        record_ids=(RECORD.lower(),), with_related=True, apply=False,
        confirm_production="Contoso Prod",
    )
    assert (state.phase, state.seq) == (Phase.VALIDATING, 0)
    assert step_messages(ctx) == [{"operationId": operation.operation_id, "seq": 0}]


def test_the_target_defaults_to_the_source_and_at_is_the_restore_point(ctx: AppContext) -> None:
    body = {"sourceEnvironmentId": SOURCE, "tables": ["account"],
            "at": "2026-12-01T09:30:00+01:00", "apply": True}
    operation = handle_data_restore_message(ctx, json.dumps(body), message_id="m2")
    assert operation is not None
    stored = ctx.history.get(operation.operation_id)
    assert stored.operation.environment_id == SOURCE
    assert stored.operation.restore_point == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert "dryRun" not in stored.operation.options
    state = DataRestoreState.from_json(stored.internal)
    assert (state.target_environment_id, state.apply, state.point_id) == (SOURCE, True, None)
    assert state.at == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def test_the_same_request_id_twice_is_one_operation(ctx: AppContext) -> None:
    body = json.dumps({"sourceEnvironmentId": SOURCE, "tables": ["account"], "pointId": POINT,
                       "requestId": "import-4711"})
    first = handle_data_restore_message(ctx, body, message_id="a")
    second = handle_data_restore_message(ctx, body, message_id="b")  # a resend
    assert first is not None and second is not None
    assert first.operation_id == second.operation_id
    assert len(ctx.history.list(kind=OperationKind.DATA_RESTORE).items) == 1
    # The second delivery sent the step again (the first may be the one lost); the runner
    # drops the stale duplicate by its seq.
    assert {m["operationId"] for m in step_messages(ctx)} == {first.operation_id}


@pytest.mark.parametrize(("body", "fields"), [
    ({"sourceEnvironmentId": "not-a-guid", "tables": ["account"], "pointId": POINT},
     {"sourceEnvironmentId"}),
    ({"sourceEnvironmentId": SOURCE, "tables": ["account"]}, {"point"}),
    ({"sourceEnvironmentId": SOURCE, "tables": ["account"], "pointId": POINT,
      "at": "2026-12-01T09:30:00Z"}, {"point"}),
    ({"sourceEnvironmentId": SOURCE, "tables": [], "pointId": "yesterday", "recordIds": [],
      "mode": "everything", "apply": "yes", "lable": "x"},
     {"tables", "pointId", "recordIds", "mode", "apply", "lable"}),
    ({"sourceEnvironmentId": SOURCE, "targetEnvironmentId": "x", "tables": ["account"],
      "at": "2026-12-01"}, {"targetEnvironmentId", "at"}),
])
def test_an_invalid_message_is_rejected_on_record_naming_every_field(
    ctx: AppContext, body: dict[str, object], fields: set[str]
) -> None:
    assert handle_data_restore_message(ctx, json.dumps(body), message_id="bad") is None
    [rejected] = ctx.history.list(kind=OperationKind.DATA_RESTORE).items
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.error is not None and rejected.error.code == "InvalidRequest"
    assert set(rejected.options["invalidFields"]) == fields
    # Filed under the environment it names, where it names one that reads.
    if "sourceEnvironmentId" not in fields:
        assert rejected.environment_id == SOURCE
    assert step_messages(ctx) == []


def test_a_rejected_request_id_stays_one_record(ctx: AppContext) -> None:
    body = json.dumps({"sourceEnvironmentId": SOURCE, "tables": ["account"],
                       "requestId": "no-point"})
    assert handle_data_restore_message(ctx, body, message_id="1") is None
    assert handle_data_restore_message(ctx, body, message_id="2") is None
    [rejected] = ctx.history.list(kind=OperationKind.DATA_RESTORE).items
    assert (rejected.status, rejected.request_id) == (OperationStatus.REJECTED, "no-point")


def test_the_queue_trigger_admits_a_message(ctx: AppContext) -> None:
    body = {"sourceEnvironmentId": SOURCE, "tables": ["account"], "pointId": POINT}
    data_restore_request(func.QueueMessage(id="q1", body=json.dumps(body).encode()))
    [queued] = ctx.history.list(kind=OperationKind.DATA_RESTORE).items
    assert queued.status is OperationStatus.QUEUED
    assert step_messages(ctx) == [{"operationId": queued.operation_id, "seq": 0}]


def post(body: object) -> tuple[int, dict[str, object]]:
    answer = post_data_restore(func.HttpRequest(
        "POST", "http://localhost/api/data-restores", body=json.dumps(body).encode()))
    return answer.status_code, json.loads(answer.get_body())


def test_post_answers_202_with_the_operation_and_its_status_url(ctx: AppContext) -> None:
    status, answer = post({"sourceEnvironmentId": SOURCE, "targetEnvironmentId": TARGET,
                           "tables": ["account"], "pointId": POINT, "requestId": "http-1"})
    assert status == 202
    operation_id = str(answer["operationId"])
    assert str(answer["statusUrl"]).endswith(f"/api/operations/{operation_id}")
    assert ctx.history.get(operation_id).operation.status is OperationStatus.QUEUED
    # The same requestId by the queue finds the same operation.
    again = handle_data_restore_message(ctx, json.dumps(
        {"sourceEnvironmentId": SOURCE, "targetEnvironmentId": TARGET, "tables": ["account"],
         "pointId": POINT, "requestId": "http-1"}), message_id="q")
    assert again is not None and again.operation_id == operation_id


def test_a_bad_post_is_a_400_naming_every_field_and_leaves_nothing(ctx: AppContext) -> None:
    status, answer = post({"sourceEnvironmentId": "x", "tables": "account", "withRelated": 1})
    assert status == 400
    error = answer["error"]
    assert isinstance(error, dict) and error["code"] == "InvalidRequest"
    assert set(error["fields"]) == {"sourceEnvironmentId", "tables", "withRelated", "point"}
    assert ctx.history.list(kind=OperationKind.DATA_RESTORE).items == []
    assert post([1, 2])[0] == 400
