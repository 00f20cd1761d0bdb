"""Cancels, failures, the administration-mode window, serialisation, long restores."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from shared.operations import parse_time
from shared.queue_names import RESTORE_REQUESTS
from shared.storage.locks import locks_for
from tests.integration.restore.conftest import (
    Stack,
    StackOptions,
    restore_body,
    statuses,
    steps_by_name,
)

SLOW_SWITCH = replace(StackOptions().sim, modify_sku_seconds=1.5 * 3600.0)


def test_cancel_while_queued_ends_at_once(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, restore_seconds=6 * 3600.0))
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    stack.wait_phase(first, "Restoring")
    second = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    stack.wait_for(lambda: "Waiting for restore" in (
        steps_by_name(stack.record(second))["validate"].get("detail") or ""))

    response = stack.http.post(f"/api/operations/{second}/cancel",
                               json={"requestedBy": "on-call"})

    assert response.status_code == 202, response.text
    record = stack.record(second)
    assert record["status"] == "Cancelled"
    assert "on-call" in record["error"]["message"]
    assert set(statuses(record).values()) == {"Skipped"}
    # The first one is untouched and still holds the target.
    assert stack.record(first)["status"] == "Running"
    assert locks_for(stack.ctx).holder(prod) == first


def test_cancel_during_the_switch_still_switches_back(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(sim=SLOW_SWITCH)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    stack.wait_phase(operation_id, "SwitchingToSandbox")

    response = stack.http.post(f"/api/operations/{operation_id}/cancel")
    assert response.status_code == 202, response.text
    record = stack.wait_ended(operation_id, timeout=120)

    assert record["status"] == "Cancelled", record
    assert statuses(record)["restore"] == "Skipped"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert statuses(record)["disable_admin_mode"] == "Skipped"
    assert stack.platform_ops(prod, "Restore") == []
    assert stack.env_type(prod) == "Production"


def test_cancel_is_refused_once_the_platform_restore_started(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, restore_seconds=4 * 3600.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "B")
    operation_id = stack.submit(restore_body(uat, backupLabel="B"))
    stack.wait_phase(operation_id, "Restoring")

    response = stack.http.post(f"/api/operations/{operation_id}/cancel")

    assert response.status_code == 409
    assert "cannot be stopped" in response.json()["error"]["message"]
    assert stack.wait_ended(operation_id)["status"] == "Succeeded"


def test_restore_failing_on_the_platform_is_switched_back_and_failed(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    stack.sim.set_faults(fail_next={"Restore": 1})

    record = stack.wait_ended(stack.submit(restore_body(prod, backupLabel="B",
                                                        confirmProduction="Contoso Prod")))

    assert record["status"] == "Failed", record
    assert record["error"]["code"] == "RestoreFailed"
    assert statuses(record)["restore"] == "Failed"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert statuses(record)["verify"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
    assert len(stack.platform_ops(prod, "Restore")) == 1


def test_switch_back_failing_needs_attention(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    stack.wait_phase(operation_id, "Restoring")
    stack.sim.set_faults(fail_next={"ModifySku": 100})

    record = stack.wait_ended(operation_id, timeout=120)

    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "SwitchBackFailed"
    assert "admin center" in record["error"]["message"]
    assert statuses(record)["restore"] == "Succeeded"
    assert statuses(record)["switch_to_production"] == "Failed"
    assert len(stack.platform_ops(prod, "ModifySku")) == 1 + 6  # the switch, 6 tries back
    assert locks_for(stack.ctx).holder(prod) is None


def test_administration_mode_refused_for_a_while(make_stack: Callable[..., Stack]) -> None:
    # A slower clock, so the 30-second retries are real ones.
    stack = make_stack(speed=60.0, sim=replace(
        StackOptions().sim, restore_seconds=120.0, modify_sku_seconds=30.0,
        runtime_state_seconds=10.0, admin_mode_forbidden_seconds=300.0, retry_after=1))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "B")

    operation_id = stack.submit(restore_body(uat, backupLabel="B"))
    record = stack.wait_ended(operation_id, timeout=120)

    assert record["status"] == "Succeeded", record
    refused = [c for c in stack.ctx.history.list_calls(operation_id)
               if c["step"] == "disable_admin_mode" and c["status"] == 403]
    assert len(refused) >= 3
    step = steps_by_name(record)["disable_admin_mode"]
    assert step["status"] == "Succeeded"
    assert stack.runtime(uat) == "Enabled"


def test_two_restores_of_one_target_run_one_after_the_other(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    body = restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod")
    first, second = stack.submit(body), stack.submit(body)

    one, two = stack.wait_ended(first, timeout=120), stack.wait_ended(second, timeout=120)

    assert one["status"] == two["status"] == "Succeeded"
    first_end = parse_time(one["endedAt"])
    second_start = parse_time(steps_by_name(two)["validate"]["startedAt"])
    assert first_end is not None
    assert second_start is not None
    assert second_start >= first_end
    restores = sorted(stack.platform_ops(prod, "Restore"), key=lambda o: o["startTime"])
    assert len(restores) == 2
    assert restores[1]["startTime"] >= restores[0]["endTime"]
    assert stack.env_type(prod) == "Production"


def test_a_restore_of_twenty_simulated_hours(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(speed=7200.0, sim=replace(
        StackOptions().sim, restore_seconds=20 * 3600.0, retry_after=None))
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")

    record = stack.wait_ended(stack.submit(restore_body(
        prod, backupLabel="B", confirmProduction="Contoso Prod")), timeout=180)

    assert record["status"] == "Succeeded", record
    restore = steps_by_name(record)["restore"]
    took = parse_time(restore["endedAt"]) - parse_time(restore["startedAt"])  # type: ignore[operator]
    assert took.total_seconds() >= 20 * 3600
    polls = [c for c in stack.ctx.history.list_calls(record["operationId"])
             if c["step"] == "restore" and c["method"] == "GET"]
    assert 10 <= len(polls) <= 300  # neither a fixed fast poller nor blind
    assert stack.env_type(prod) == "Production"


def test_the_request_queue_rejects_an_invalid_message_once(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.ctx.queues.send(RESTORE_REQUESTS, {"targetEnvironmentId": prod, "backupLabel": "x",
                                             "latest": True, "requestId": "bad-1"})
    stack.ctx.queues.send(RESTORE_REQUESTS, {"targetEnvironmentId": prod, "backupLabel": "B",
                                             "confirmProduction": "Contoso Prod",
                                             "requestId": "good-1"})
    stack.add_backup(prod, "B")
    assert stack.host.wait_until_idle([RESTORE_REQUESTS], timeout=30)

    records = stack.http.get("/api/operations", params={"environmentId": prod}).json()
    by_request = {r["requestId"]: r for r in records["operations"]}
    assert by_request["bad-1"]["status"] == "Rejected"
    assert "exactly one" in by_request["bad-1"]["error"]["message"]
    assert stack.host.queue_counters(RESTORE_REQUESTS).failures == 0
    good = stack.wait_ended(by_request["good-1"]["operationId"])
    assert good["status"] == "Succeeded"
    assert json.dumps(good)  # a plain JSON record
