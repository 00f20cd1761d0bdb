"""Cancels, failures, the administration-mode window, serialisation, long restores."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from engine.config import EngineConfig
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

# No Retry-After: the app polls at its own, widening interval, so a stepped hour of restore is a
# few dozen wake-ups instead of one every 5 seconds.
OWN_PACE = replace(StackOptions().sim, retry_after=None)


def test_cancel_while_queued_ends_at_once(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(stepped=True, sim=OWN_PACE)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    stack.run_until_phase(first, "Restoring")
    second = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    stack.run_until(lambda: "Waiting for restore" in (
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
    stack = make_stack(stepped=True, sim=OWN_PACE)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    stack.run_until_phase(operation_id, "SwitchingToSandbox")

    response = stack.http.post(f"/api/operations/{operation_id}/cancel")
    assert response.status_code == 202, response.text
    record = stack.run_until_ended(operation_id)

    assert record["status"] == "Cancelled", record
    assert statuses(record)["restore"] == "Skipped"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert statuses(record)["disable_admin_mode"] == "Skipped"
    assert stack.platform_ops(prod, "Restore") == []
    assert stack.env_type(prod) == "Production"


def test_cancel_is_refused_once_the_platform_restore_started(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(stepped=True, sim=OWN_PACE)
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "B")
    operation_id = stack.submit(restore_body(uat, backupLabel="B"))
    stack.run_until_phase(operation_id, "Restoring")

    response = stack.http.post(f"/api/operations/{operation_id}/cancel")

    assert response.status_code == 409
    assert "cannot be stopped" in response.json()["error"]["message"]
    assert stack.run_until_ended(operation_id)["status"] == "Succeeded"


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
    stack = make_stack(stepped=True, sim=OWN_PACE)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    stack.run_until_phase(operation_id, "Restoring")
    stack.sim.set_faults(fail_next={"ModifySku": 100})

    record = stack.run_until_ended(operation_id)

    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "SwitchBackFailed"
    assert "admin center" in record["error"]["message"]
    assert statuses(record)["restore"] == "Succeeded"
    assert statuses(record)["switch_to_production"] == "Failed"
    assert len(stack.platform_ops(prod, "ModifySku")) == 1 + 6  # the switch, 6 tries back
    assert locks_for(stack.ctx).holder(prod) is None


def test_administration_mode_refused_for_a_while(make_stack: Callable[..., Stack]) -> None:
    window = 300.0
    stack = make_stack(stepped=True, sim=replace(
        StackOptions().sim, restore_seconds=120.0, modify_sku_seconds=30.0,
        runtime_state_seconds=10.0, admin_mode_forbidden_seconds=window, retry_after=1))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "B")

    record = stack.run_until_ended(stack.submit(restore_body(uat, backupLabel="B")))

    assert record["status"] == "Succeeded", record
    step = steps_by_name(record)["disable_admin_mode"]
    assert step["status"] == "Succeeded"
    assert stack.runtime(uat) == "Enabled"
    # The platform refuses from the restore's end until `window` later; the app tries at once,
    # then every `forbidden_retry_seconds`, and is let in by the first try after the window.
    (platform_restore,) = stack.platform_ops(uat, "Restore")
    forbidden_until = parse_time(platform_restore["endTime"]) + timedelta(seconds=window)
    first_try = parse_time(step["startedAt"])
    assert first_try is not None
    every = EngineConfig().forbidden_retry_seconds
    expected = math.ceil((forbidden_until - first_try).total_seconds() / every)
    patches = [c["status"] for c in stack.ctx.history.list_calls(record["operationId"])
               if c["step"] == "disable_admin_mode" and c["method"] == "PATCH"]
    assert sorted(patches) == [202] + [403] * expected, patches
    let_in = first_try + timedelta(seconds=expected * every)
    tries = [w.due for w in stack.released() if first_try < w.due <= let_in]
    assert [t for t in tries if (t - first_try).total_seconds() % every == 0] == [
        first_try + timedelta(seconds=k * every) for k in range(1, expected + 1)]


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
    stack = make_stack(stepped=True, sim=replace(
        StackOptions().sim, restore_seconds=20 * 3600.0, retry_after=None))
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")

    record = stack.run_until_ended(stack.submit(restore_body(
        prod, backupLabel="B", confirmProduction="Contoso Prod")))

    assert record["status"] == "Succeeded", record
    assert stack.env_type(prod) == "Production"
    restore = steps_by_name(record)["restore"]
    started, ended = parse_time(restore["startedAt"]), parse_time(restore["endedAt"])
    assert started is not None
    assert ended is not None
    took = (ended - started).total_seconds()
    assert took >= 20 * 3600
    polls = [c for c in stack.ctx.history.list_calls(record["operationId"])
             if c["step"] == "restore" and c["method"] == "GET" and "/operations/" in c["path"]]
    wake_ups = [w.due for w in stack.released() if started < w.due <= ended]
    # One look at the platform per wake-up, each wake-up between the least and the most the
    # poll interval allows after the one before: neither a fast poller nor blind for long.
    assert len(polls) == len(wake_ups)
    config = EngineConfig()
    gaps = [(b - a).total_seconds() for a, b in zip([started, *wake_ups], wake_ups, strict=False)]
    assert min(gaps) >= config.poll_min_seconds
    assert max(gaps) <= config.poll_max_seconds
    # Hence at least took / poll_max polls; a poller at the floor would make took / poll_min,
    # and this one, widening its interval while a stage cannot end, makes far fewer.
    assert math.ceil(took / config.poll_max_seconds) <= len(polls)
    assert len(polls) <= took / config.poll_min_seconds / 4


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


def test_in_place_restore_with_eventually_consistent_environment_reads(
    make_stack: Callable[..., Stack],
) -> None:
    # Reference §3.1/§4 step 4: BAP reads are eventually consistent; after an operation ends the
    # environment shows `management: Running` and its old type or runtime state a while longer
    # (and refuses the next operation with 409). Every switch, the restore and the admin-mode
    # change of an in-place restore end into that lag.
    stack = make_stack(stepped=True, sim=replace(
        StackOptions().sim, restore_seconds=120.0, modify_sku_seconds=30.0,
        runtime_state_seconds=10.0, settle_lag_seconds=90.0, retry_after=1))
    prod = stack.add_env("Contoso Prod")
    good = stack.sim.content(prod)
    stack.add_backup(prod, "B")
    stack.sim.set_content(prod, "broken")

    record = stack.run_until_ended(stack.submit(restore_body(
        prod, backupLabel="B", confirmProduction="Contoso Prod")))

    assert record["status"] == "Succeeded", record
    assert {k: v for k, v in statuses(record).items() if k != "reactivate_flows"} == {
        "validate": "Succeeded", "safety_backup": "Succeeded", "switch_to_sandbox": "Succeeded",
        "restore": "Succeeded", "switch_to_production": "Succeeded",
        "disable_admin_mode": "Succeeded", "verify": "Succeeded",
    }
    stack.sim.advance(91)
    assert stack.env_type(prod) == "Production"
    assert stack.runtime(prod) == "Enabled"
    assert stack.sim.content(prod) == good
    assert len(stack.platform_ops(prod, "Restore")) == 1
