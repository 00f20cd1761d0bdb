"""Record restores through the hosted function app (contract section 10): the local host finds
the `data-restore-requests` and `data-restore-work` queue triggers and `POST /api/data-restores`
in the app's metadata, and a request runs from intake to its end as deployed (Azurite, the
simulator, the local Functions host)."""

from __future__ import annotations

import json

import httpx
import pytest

from ppbackup.host import LocalHost
from ppbackup.host.metadata import QueueTrigger, describe_app
from ppbackup.simulator import Simulator
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_RESTORE_REQUESTS, DATA_RESTORE_WORK
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import live_rows

pytestmark = pytest.mark.azurite


def test_the_app_declares_the_intake_and_work_queues() -> None:
    import function_app

    triggers = {spec.name: spec.trigger for spec in describe_app(function_app.app)}
    assert triggers["data_restore_request"] == QueueTrigger(
        "msg", DATA_RESTORE_REQUESTS, "AzureWebJobsStorage")
    assert triggers["data_restore_work"] == QueueTrigger(
        "msg", DATA_RESTORE_WORK, "AzureWebJobsStorage")
    assert "post_data_restore" in triggers


def test_a_posted_dry_run_runs_to_its_end_and_writes_nothing(
    hosted: tuple[AppContext, LocalHost], sim: Simulator, env_id: str
) -> None:
    ctx, host = hosted
    ctx.queues.send(DATA_BACKUP_REQUESTS, {"environmentId": env_id, "tables": ["account"]})
    assert host.wait_until_idle(timeout=120)
    [backup] = ctx.history.list(kind=OperationKind.DATA_BACKUP).items
    assert backup.status is OperationStatus.SUCCEEDED, backup.error
    lost = sorted(live_rows(sim, env_id, "accounts", "accountid"))[0]
    sim.dataverse_change(env_id, "account", "delete", lost)

    answer = httpx.post(f"{host.http_url}/api/data-restores", timeout=30, json={
        "sourceEnvironmentId": env_id, "tables": ["account"], "pointId": backup.point_id,
        "requestId": "hosted-1"})
    assert answer.status_code == 202, answer.text
    operation_id = answer.json()["operationId"]
    assert host.wait_until_idle(timeout=120)
    record = httpx.get(answer.json()["statusUrl"], timeout=30).json()
    assert record["operationId"] == operation_id
    assert (record["kind"], record["status"]) == ("data_restore", "Succeeded"), record
    assert record["pointId"] == backup.point_id and record["tables"] == ["account"]
    assert record["plan"]["tables"]["account"]["create"] == 1
    assert sim.dataverse_writes(env_id) == []
    assert host.queue_counters(DATA_RESTORE_WORK).poisoned == 0


def test_an_invalid_message_is_rejected_never_poisoned(
    hosted: tuple[AppContext, LocalHost], storage: str
) -> None:
    from shared.storage.connection import queue_service

    ctx, host = hosted
    queue = queue_service(storage).get_queue_client(DATA_RESTORE_REQUESTS)
    queue.send_message(json.dumps({"sourceEnvironmentId": "not-a-guid", "tables": ["account"],
                                   "pointId": "20261203T020000123Z-1a2b3c4d"}))
    assert host.wait_until_idle(timeout=60)
    [rejected] = ctx.history.list(kind=OperationKind.DATA_RESTORE).items
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.error is not None and "sourceEnvironmentId" in rejected.error.message
    assert host.queue_counters(DATA_RESTORE_REQUESTS).poisoned == 0
