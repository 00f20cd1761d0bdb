"""End to end on Azurite + the simulator, through the real triggers (issue 3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from shared.operations import parse_time
from shared.storage.locks import locks_for
from tests.integration.restore.conftest import (
    Stack,
    StackOptions,
    restore_body,
    statuses,
    steps_by_name,
)


def test_in_place_production_restore(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    good = stack.sim.content(prod)
    stack.add_backup(prod, "Before release 4.2")  # two hours ago
    stack.sim.set_content(prod, "broken by release 4.2")

    operation_id = stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="contoso prod",
        requestedBy="on-call", requestId="restore-4.2",
    ))
    record = stack.wait_ended(operation_id)
    assert record["status"] == "Succeeded", record
    assert statuses(record) == {
        "validate": "Succeeded", "safety_backup": "Succeeded", "switch_to_sandbox": "Succeeded",
        "restore": "Succeeded", "switch_to_production": "Succeeded",
        "disable_admin_mode": "Succeeded", "verify": "Succeeded",
        # The seeded 'Sync projects to SharePoint' uses a reference without a connection.
        "reactivate_flows": "Failed",
    }
    assert stack.env_type(prod) == "Production"
    assert stack.runtime(prod) == "Enabled"
    assert stack.sim.content(prod) == good
    assert len(stack.platform_ops(prod, "Restore")) == 1
    assert len(stack.platform_ops(prod, "ModifySku")) == 2
    steps = steps_by_name(record)
    assert steps["restore"]["platformOperationId"]
    assert all(steps[name]["requestIds"] for name in ("validate", "switch_to_sandbox", "restore"))
    # The same requestId again is the same operation.
    again = stack.post_restore(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="contoso prod",
        requestId="restore-4.2",
    ))
    assert again.json()["operationId"] == operation_id


def test_sandbox_restore_needs_no_switch(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    good = stack.sim.content(uat)
    stack.add_backup(uat, "Nightly")
    stack.sim.set_content(uat, "test data gone wrong")

    record = stack.wait_ended(stack.submit(restore_body(uat, backupLabel="Nightly")))

    assert record["status"] == "Succeeded", record
    assert statuses(record)["switch_to_sandbox"] == "Skipped"
    assert statuses(record)["switch_to_production"] == "Skipped"
    assert statuses(record)["restore"] == "Succeeded"
    assert statuses(record)["disable_admin_mode"] == "Succeeded"
    assert stack.platform_ops(uat, "ModifySku") == []
    assert stack.env_type(uat) == "Sandbox"
    assert stack.runtime(uat) == "Enabled"
    assert stack.sim.content(uat) == good


def test_restore_from_another_environment(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.sim.set_content(prod, "production data")
    point = stack.sim.now()
    stack.sim.set_content(prod, "newer production data")
    # The point must be old enough for the platform: let simulated time pass.
    stack.sim.advance(3600)

    record = stack.wait_ended(stack.submit(restore_body(
        uat, sourceEnvironmentId=prod, restorePointDateTime=point.isoformat(),
        safetyBackup=False,
    )))

    assert record["status"] == "Succeeded", record
    assert record["sourceEnvironmentId"] == prod
    assert statuses(record)["safety_backup"] == "Skipped"
    assert stack.sim.content(uat) == "production data"
    assert stack.env_type(prod) == "Production"
    assert stack.env_type(uat) == "Sandbox"
    assert stack.platform_ops(prod, "Restore") == []
    assert len(stack.platform_ops(uat, "Restore")) == 1
    assert stack.sim.backups(uat) == []  # no safety backup asked for


def test_dry_run_records_the_plan_and_changes_nothing(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "Before release 4.2")
    backups_before = stack.sim.backups(prod)

    record = stack.wait_ended(stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="Contoso Prod", dryRun=True,
    )))

    assert record["status"] == "Succeeded", record
    assert statuses(record)["validate"] == "Succeeded"
    for name in ("safety_backup", "switch_to_sandbox", "restore", "switch_to_production",
                 "disable_admin_mode", "verify"):
        step = steps_by_name(record)[name]
        assert step["status"] == "Skipped"
        assert step["detail"].startswith("Dry run: would ")
    plan = record["options"]["plan"]
    assert [p["step"] for p in plan][:3] == ["validate", "safety_backup", "switch_to_sandbox"]
    assert "switch Contoso Prod" in steps_by_name(record)["switch_to_sandbox"]["detail"]
    assert stack.platform_ops(prod, "ModifySku") == []
    assert stack.platform_ops(prod, "Restore") == []
    assert stack.sim.backups(prod) == backups_before
    assert locks_for(stack.ctx).holder(prod) is None


def test_guardrails_reject_a_production_target_without_confirmation(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(allow_production="")
    prod = stack.add_env("Contoso Prod")
    other = stack.add_env("Fabrikam Prod")
    stack.add_backup(prod, "B")
    stack.add_backup(other, "B")

    not_allowed = stack.wait_ended(stack.submit(restore_body(
        prod, backupLabel="B", confirmProduction="Contoso Prod")))
    assert not_allowed["status"] == "Rejected"
    assert not_allowed["error"]["code"] == "ProductionNotAllowed"
    assert "RESTORE_ALLOW_PRODUCTION" in not_allowed["error"]["message"]
    assert statuses(not_allowed)["validate"] == "Failed"
    assert set(list(statuses(not_allowed).values())[1:]) == {"Skipped"}
    assert stack.platform_ops(prod, "ModifySku") == []
    assert locks_for(stack.ctx).holder(prod) is None


def test_invalid_requests_are_rejected_at_the_door(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    response = stack.post_restore(restore_body(prod, backupLabel="x", latest=True))
    assert response.status_code == 400
    assert "exactly one" in response.json()["error"]["message"]
    response = stack.post_restore(restore_body(prod, backupLabel="x", lable="typo"))
    assert response.status_code == 400
    assert "lable" in response.json()["error"]["fields"]


def test_a_backup_too_young_to_restore_is_waited_for(make_stack: Callable[..., Stack]) -> None:
    # A stepped clock: the wait is measured in simulated time exactly, not in the slack of a
    # running one (at speed 1200 one real second is twenty simulated minutes).
    stack = make_stack(stepped=True, sim=replace(StackOptions().sim, restore_seconds=300.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.sim.add_backup(uat, "Just now")  # restorable only after about 10-15 minutes

    operation_id = stack.submit(restore_body(uat, backupLabel="Just now"))
    record = stack.run_until_ended(operation_id)

    assert record["status"] == "Succeeded", record
    started = parse_time(steps_by_name(record)["restore"]["startedAt"])
    point = parse_time(record["restorePointDateTime"])
    assert started is not None and point is not None
    # The platform's settle time, at its upper end (reference §3.2, contract §1: 10-15 min).
    assert (started - point).total_seconds() >= 900
    # (The seeded flow without a connection is refused its activation: a 400 of another step.)
    waited = [c for c in stack.ctx.history.list_calls(operation_id)
              if c["status"] == 400 and c["step"] != "reactivate_flows"]
    assert waited == []  # waited for, not tried and refused
