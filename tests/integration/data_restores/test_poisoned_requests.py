"""Data backup and record restore requests the host poisoned before admission are still taken.

`data-backup-requests-poison` and `data-restore-requests-poison` run the same intake as their
queues (shared/intake.py, `take_poisoned`): admitted late, once per requestId, or Rejected.
Azurite, the simulator's Dataverse and (for one) the local host.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from ppbackup.host import LocalHost
from shared.history_api import find_request
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_RESTORE_REQUESTS, poison_queue
from shared.runtime import AppContext

pytestmark = pytest.mark.azurite

POINT = "20261203T020000123Z-1a2b3c4d"


def poisoned_message(body: bytes, message_id: str = "p1", dequeue_count: int = 1) -> Any:
    """A poison queue's message as the host hands it to the function."""
    return QueueMessage(id=message_id, body=body,  # type: ignore[no-untyped-call]
                        dequeue_count=dequeue_count)


def test_a_poisoned_data_backup_request_is_admitted_once(ctx: AppContext, env_id: str) -> None:
    from data_backups.blueprint import data_backup_request_poison

    body = json.dumps({"environmentId": env_id, "tables": ["account"],
                       "requestId": "late-1"}).encode()
    data_backup_request_poison(poisoned_message(body, "p1"))
    data_backup_request_poison(poisoned_message(body, "p1", dequeue_count=2))  # a redelivery
    data_backup_request_poison(poisoned_message(body, "p2"))  # another copy
    found = find_request(ctx, "data_backup:late-1")
    assert found is not None and found.operation.status is not OperationStatus.REJECTED
    operations = ctx.history.list(kind=OperationKind.DATA_BACKUP).items
    assert [op.operation_id for op in operations] == [found.operation.operation_id]

    bad = json.dumps({"environmentId": "not-a-guid", "requestId": "late-bad"}).encode()
    data_backup_request_poison(poisoned_message(bad, "p3"))
    rejected = find_request(ctx, "data_backup:late-bad")
    assert rejected is not None and rejected.operation.status is OperationStatus.REJECTED


def test_a_poisoned_record_restore_request_is_admitted_once(ctx: AppContext, env_id: str) -> None:
    from data_restores.blueprint import data_restore_request_poison

    body = json.dumps({"sourceEnvironmentId": env_id, "tables": ["account"], "pointId": POINT,
                       "requestId": "late-2"}).encode()
    data_restore_request_poison(poisoned_message(body, "p1"))
    data_restore_request_poison(poisoned_message(body, "p1", dequeue_count=2))
    found = find_request(ctx, "data_restore:late-2")
    assert found is not None and found.operation.status is OperationStatus.QUEUED
    operations = ctx.history.list(kind=OperationKind.DATA_RESTORE).items
    assert [op.operation_id for op in operations] == [found.operation.operation_id]

    # Without a requestId, a Rejected record per poison message, once for its redeliveries.
    bad = json.dumps({"sourceEnvironmentId": env_id, "tables": ["account"]}).encode()
    data_restore_request_poison(poisoned_message(bad, "p2"))
    data_restore_request_poison(poisoned_message(bad, "p2", dequeue_count=2))
    rejected = find_request(ctx, f"queue:{poison_queue(DATA_RESTORE_REQUESTS)}:p2")
    assert rejected is not None and rejected.operation.status is OperationStatus.REJECTED
    assert len(ctx.history.list(kind=OperationKind.DATA_RESTORE).items) == 2


def test_the_hosted_app_takes_a_data_backup_request_from_its_poison_queue(
    hosted: tuple[AppContext, LocalHost], env_id: str,
) -> None:
    ctx, host = hosted
    ctx.queues.send(poison_queue(DATA_BACKUP_REQUESTS), {
        "environmentId": env_id, "tables": ["account"], "requestId": "nightly-late"})
    assert host.wait_until_idle(timeout=120)
    found = find_request(ctx, "data_backup:nightly-late")
    assert found is not None
    assert found.operation.status is OperationStatus.SUCCEEDED, found.operation.error
    assert host.queue_counters(poison_queue(DATA_BACKUP_REQUESTS)).poisoned == 0
