"""The watchdog re-drives what nobody else will: restores and backups whose message is gone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.operations import OperationKind, OperationStatus, finish, new_operation
from shared.queue_names import BACKUP_WORK, DATA_BACKUP_WORK, DATA_RESTORE_WORK, RESTORE_STEPS
from shared.storage.locks import locks_for
from tests.integration.restore.conftest import Stack, restore_body


def test_a_restore_whose_first_message_was_lost_is_started_by_the_watchdog(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "Nightly")
    stack.crashes.fail_send = lambda queue, payload: queue == RESTORE_STEPS and payload["seq"] == 0

    response = stack.post_restore(restore_body(uat, backupLabel="Nightly"))

    assert response.status_code == 202  # admitted: the lost message is not the caller's problem
    operation_id = response.json()["operationId"]
    assert stack.operation(operation_id).operation.status is OperationStatus.QUEUED
    stack.crashes.fail_send = lambda queue, payload: False
    record = stack.wait_ended(operation_id)
    assert record["status"] == "Succeeded"
    assert record["options"]["watchdog"]["nudges"] >= 1
    assert "had not run" in record["options"]["watchdog"]["reason"]


@pytest.mark.parametrize(("route", "queue", "body"), [
    ("/api/backups", BACKUP_WORK, {"label": "Before 4.3"}),
    ("/api/data-backups", DATA_BACKUP_WORK, {"tables": ["account"]}),
    ("/api/data-restores", DATA_RESTORE_WORK,
     {"tables": ["account"], "pointId": "20261203T020000123Z-1a2b3c4d"}),
])
def test_a_request_whose_first_message_failed_to_send_is_admitted_and_started_later(
    make_stack: Callable[..., Stack], route: str, queue: str, body: dict[str, Any],
) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    named = "sourceEnvironmentId" if route == "/api/data-restores" else "environmentId"
    stack.crashes.fail_send = lambda q, payload: q == queue and payload["seq"] == 0

    response = stack.http.post(route, json={named: prod, **body})

    # On record as Queued: a 500 would send a caller without a requestId to ask again.
    assert response.status_code == 202, response.text
    operation_id = response.json()["operationId"]
    assert stack.operation(operation_id).operation.status is OperationStatus.QUEUED
    stack.crashes.fail_send = lambda q, payload: False
    stack.wait_for(lambda: stack.operation(operation_id).operation.status.terminal, timeout=60)
    assert stack.record(operation_id)["options"]["watchdog"]["nudges"] >= 1


def test_a_queued_backup_whose_work_message_was_lost_is_re_sent(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    lost = new_operation(OperationKind.BACKUP, prod, stack.ctx.clock(), label="Before 4.3")
    stack.ctx.history.create(lost)  # admitted, but its backup-work message never went out

    stack.wait_for(lambda: stack.operation(lost.operation_id).operation.status.terminal, timeout=60)

    record = stack.record(lost.operation_id)
    assert record["status"] == "Succeeded", record
    assert record["options"]["watchdog"]["nudges"] == 1
    assert [b["label"] for b in stack.sim.backups(prod)] == ["Before 4.3"]


def test_leftover_entries_are_discarded(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    done = new_operation(
        OperationKind.BACKUP,
        prod,
        stack.ctx.clock() - timedelta(days=1),
        status=OperationStatus.QUEUED,
    )
    stack.ctx.history.create(done)
    stored = stack.ctx.history.get(done.operation_id)
    finished = finish(stored.operation, OperationStatus.SUCCEEDED, stack.ctx.clock())
    stack.ctx.history.update(stored, finished)
    # A crash can leave an entry behind a finished operation; the watchdog tidies it up.
    stack.ctx.history._active.touch(stored.operation)  # imitate the crash
    assert done.operation_id in {e.operation_id for e in stack.ctx.history.list_active()}

    stack.watchdog()

    assert done.operation_id not in {e.operation_id for e in stack.ctx.history.list_active()}


def test_a_restore_whose_steps_keep_going_missing_is_handed_to_a_person(
    make_stack: Callable[..., Stack],
) -> None:
    """Every step message is lost: re-driven a bounded number of times, then NeedsAttention."""
    from dataclasses import replace

    from engine.runner import runner_config, use_runner_config

    stack = make_stack()
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "Nightly")
    stack.crashes.fail_send = lambda queue, payload: queue == RESTORE_STEPS
    with use_runner_config(replace(runner_config(), max_watchdog_nudges=2)):
        response = stack.post_restore(restore_body(uat, backupLabel="Nightly"))
        record = stack.wait_ended(response.json()["operationId"])

    assert record["status"] == "NeedsAttention"
    assert record["error"]["code"] == "EngineFault"
    assert "went missing 2 times" in record["error"]["message"]
    assert locks_for(stack.ctx).holder(uat) is None  # newer restores are not blocked


def test_a_restore_whose_state_cannot_be_read_is_handed_to_a_person(
    make_stack: Callable[..., Stack],
) -> None:
    from engine.watchdog import run_watchdog

    stack = make_stack()
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.crashes.fail_send = lambda queue, payload: queue == RESTORE_STEPS
    stack.add_backup(uat, "Nightly")
    operation_id = stack.post_restore(restore_body(uat, backupLabel="Nightly")).json()[
        "operationId"
    ]
    stored = stack.operation(operation_id)
    stack.ctx.history.update(stored, stored.operation, internal={"v": 999, "garbage": True})
    stack.ctx.history.set_next_due(operation_id, stack.ctx.clock() - timedelta(hours=1))

    run_watchdog(stack.ctx)

    record = stack.record(operation_id)
    assert record["status"] == "NeedsAttention"
    assert "cannot read" in record["error"]["message"]
