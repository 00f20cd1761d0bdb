"""Data backups through the hosted function app: the queue trigger, the engine's step queue and
the HTTP routes, wired as deployed (Azurite, the simulator, the local Functions host)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ppbackup.app_host import HOST_JSON
from ppbackup.host import LocalHost
from ppbackup.simulator import Simulator
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_BACKUP_WORK, poison_queue
from shared.runtime import AppContext, use_context
from tests.integration.data_backups.conftest import FAST_BACKOFF, app_settings, live_rows

pytestmark = pytest.mark.azurite


@pytest.fixture
def hosted(storage: str, sim: Simulator, tmp_path: Path) -> Iterator[tuple[AppContext, LocalHost]]:
    import function_app

    config: dict[str, Any] = json.loads(HOST_JSON.read_text())
    config["extensions"]["queues"]["visibilityTimeout"] = "00:00:00"
    config["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.200"
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps(config))
    ctx = AppContext.from_settings(app_settings(storage, sim), backoff=FAST_BACKOFF)
    disabled = {f"AzureWebJobs.{name}.Disabled": "true" for name in (
        "backup_timer", "data_backup_timer", "restore_watchdog", "notification_alerts")}
    with use_context(ctx), LocalHost(function_app.app, storage_connection=storage,
                                     host_json=host_json, http_port=0,
                                     environ=disabled) as host:
        yield ctx, host


def test_a_queued_request_becomes_a_complete_point_the_routes_show(
    hosted: tuple[AppContext, LocalHost], sim: Simulator, env_id: str
) -> None:
    ctx, host = hosted
    ctx.queues.send(DATA_BACKUP_REQUESTS, {"environmentId": env_id, "tables": ["account"],
                                           "requestId": "nightly-1"})
    ctx.queues.send(DATA_BACKUP_REQUESTS, {"environmentId": env_id, "tables": ["account"],
                                           "requestId": "nightly-1"})  # a resend: no 2nd point
    assert host.wait_until_idle(timeout=120)
    [operation] = ctx.history.list(kind=OperationKind.DATA_BACKUP).items
    assert operation.status is OperationStatus.SUCCEEDED, operation.error
    assert host.queue_counters(DATA_BACKUP_WORK).poisoned == 0

    record = httpx.get(f"{host.http_url}/api/operations/{operation.operation_id}",
                       timeout=30).json()
    assert record["kind"] == "data_backup" and record["pointId"] == operation.point_id
    assert [t["table"] for t in record["tables"]] == ["account"]
    listing = httpx.get(f"{host.http_url}/api/data-backups",
                        params={"environmentId": env_id}, timeout=30).json()
    assert [p["pointId"] for p in listing["points"]] == [operation.point_id]
    some = sorted(live_rows(sim, env_id, "accounts", "accountid"))[0]
    versions = httpx.get(f"{host.http_url}/api/records/{env_id}/account/{some}",
                         timeout=30).json()["versions"]
    assert [v["pointId"] for v in versions] == [operation.point_id]


def test_an_invalid_message_is_rejected_never_poisoned(
    hosted: tuple[AppContext, LocalHost], storage: str
) -> None:
    from shared.storage.connection import queue_service

    ctx, host = hosted
    queue = queue_service(storage).get_queue_client(DATA_BACKUP_REQUESTS)
    queue.send_message(json.dumps({"environmentId": "not-a-guid", "tables": ["account"]}))
    assert host.wait_until_idle(timeout=60)
    [rejected] = ctx.history.list(kind=OperationKind.DATA_BACKUP).items
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.error is not None and "environmentId" in rejected.error.message
    assert host.queue_counters(DATA_BACKUP_REQUESTS).poisoned == 0
    assert host.queue_counters(poison_queue(DATA_BACKUP_REQUESTS)).invocations == 0
