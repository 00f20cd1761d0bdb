"""Rejected intake messages are findable by their requestId, once, as restores always were.

A pipeline that sent `requestId: "release-4.2"` and waits on it must learn that its request was
refused, and a redelivery or a resend of the same id must not add a second record.
"""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
import pytest

from ppbackup.simulator import Simulator
from shared.history_api import find_request
from shared.operations import OperationKind, OperationStatus
from shared.runtime import AppContext

ENV = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"


def list_operations(req: func.HttpRequest) -> func.HttpResponse:
    from operations_api.blueprint import list_operations as route

    return route(req)


def deliver(body: dict[str, object], message_id: str) -> None:
    from backup_triggers.blueprint import backup_request

    backup_request(func.QueueMessage(id=message_id, body=json.dumps(body).encode()))


def owner_of(ctx: AppContext, key: str) -> str | None:
    """The operation admitted under an idempotency key, if any."""
    found = find_request(ctx, key)
    return found.operation.operation_id if found else None


def test_a_rejected_backup_is_found_by_its_request_id_and_kept_once(ctx: AppContext) -> None:
    bad = {"environmentId": ENV, "label": "Before 4.2", "lable": "typo", "requestId": "rel-4.2"}
    deliver(bad, "message-1")
    deliver(bad, "message-2")  # a resend: another message id, the same request

    owner = owner_of(ctx, "backup:rel-4.2")
    assert owner is not None, "the rejected request is not findable by its requestId"
    record = ctx.history.get(owner).operation
    assert record.status is OperationStatus.REJECTED
    assert record.request_id == "rel-4.2"
    assert "lable" in (record.options.get("invalidFields") or {})
    rejected = [
        op for op in ctx.history.list(kind=OperationKind.BACKUP, limit=50).items
        if op.status is OperationStatus.REJECTED
    ]
    assert [op.operation_id for op in rejected] == [owner]
    # ... and a pipeline finds it by the id it chose.
    found = list_operations(func.HttpRequest(
        method="GET", url="http://localhost/api/operations", body=b"",
        params={"requestId": "rel-4.2"},
    ))
    assert found.status_code == 200
    records = json.loads(found.get_body())["operations"]
    assert [(r["operationId"], r["status"]) for r in records] == [(owner, "Rejected")]
    assert "lable" in records[0]["error"]["message"]
    # A resend of the id finds this record: the person correcting it is told to choose another.
    assert "give it a new requestId: 'rel-4.2'" in records[0]["error"]["message"]


def test_an_unusable_request_id_is_rejected_per_message_and_never_reaches_a_key(
    ctx: AppContext,
) -> None:
    bad = {"environmentId": ENV, "label": "x", "requestId": "a/b#c?\x00"}
    deliver(bad, "message-1")
    deliver(bad, "message-1")  # a redelivery of the same message

    owner = owner_of(ctx, "queue:backup-requests:message-1")
    assert owner is not None
    record = ctx.history.get(owner).operation
    assert record.status is OperationStatus.REJECTED
    assert record.request_id is None  # not a usable id: not copied onto the record
    assert "requestId" in (record.options.get("invalidFields") or {})
    assert len(ctx.history.list(kind=OperationKind.BACKUP, limit=50).items) == 1


def test_the_cli_finds_a_rejected_request_by_its_id(
    ctx: AppContext, storage: str, sim: Simulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from ppbackup.cli import main

    deliver({"environmentId": "prod", "label": "x", "requestId": "rel-5"}, "message-1")
    for name, value in {"PP_API_URL": sim.url, "PP_BAP_URL": sim.url, "PP_AUTH": "none"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    code = main(["history", "--request-id", "rel-5", "--json", "--storage", storage])

    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(r["requestId"], r["status"]) for r in records] == [("rel-5", "Rejected")]
    assert "environmentId" in records[0]["options"]["invalidFields"]


def test_rejected_requests_of_every_kind_are_found_by_their_request_id_alone(
    ctx: AppContext,
) -> None:
    from data_backups.intake import handle_data_backup_message
    from data_restores.intake import handle_data_restore_message

    deliver({"environmentId": ENV, "lable": "typo", "requestId": "nightly-42"}, "message-1")
    assert handle_data_backup_message(ctx, json.dumps(
        {"environmentId": ENV, "lable": "typo", "requestId": "nightly-42"}), message_id="m2") \
        is None
    # Neither a point nor a time: rejected, with the reason as the pipeline wrote it.
    assert handle_data_restore_message(ctx, json.dumps(
        {"sourceEnvironmentId": ENV, "tables": ["account"], "requestId": "nightly-42",
         "reason": "INC-881\nprices overwritten by the import"}), message_id="m3") is None

    found = list_operations(func.HttpRequest(
        method="GET", url="http://localhost/api/operations", body=b"",
        params={"requestId": "nightly-42"},
    ))
    records = json.loads(found.get_body())["operations"]
    assert sorted((r["kind"], r["status"]) for r in records) == [
        ("backup", "Rejected"), ("data_backup", "Rejected"), ("data_restore", "Rejected")]
    [restore] = [r for r in records if r["kind"] == "data_restore"]
    assert restore["reason"] == "INC-881\nprices overwritten by the import"
