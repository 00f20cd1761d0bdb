"""Restores that come back working (issue 10), end to end on Azurite + the simulator.

The simulator's seeded Dataverse has three solution cloud flows: 'Notify owner on new account'
(on; its connection reference has a connection), 'Sync projects to SharePoint' (on; it also uses
'new_sharedteams_3', the reference without a connection) and 'Weekly import digest' (off). A
platform restore turns them all off; the step after it turns on again what it can.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from notifications import build_teams_message, build_webhook_payload, event_for
from shared.operations import Operation
from tests.integration.restore.conftest import (
    Stack,
    StackOptions,
    once_per_key,
    restore_body,
    statuses,
    steps_by_name,
)

NOTIFY, SYNC, DIGEST = (
    "Notify owner on new account", "Sync projects to SharePoint", "Weekly import digest",
)
UNBOUND = "new_sharedteams_3"


def flows_by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in record.get("flows") or ()}


def live_flows(stack: Stack, env_id: str) -> dict[str, int]:
    """Name -> statecode of the environment's cloud flows, as Dataverse has them now."""
    from shared.dataverse import DataverseClient
    from shared.power_platform import NoTokenProvider

    environment = stack.ctx.platform.get_environment(env_id)
    with DataverseClient.for_environment(environment, token_provider=NoTokenProvider()) as dv:
        rows = [r for page in dv.pages(dv.first_page("workflows")) for r in page.rows]
    return {r["name"]: r["statecode"] for r in rows if r["category"] == 5}


def activations(stack: Stack, env_id: str) -> dict[str, int]:
    """How many times the app wrote 'on' to each flow (the simulator's write log)."""
    counts: dict[str, int] = {}
    for write in stack.sim.dataverse_writes(env_id):
        if write["table"] == "workflow" and write["body"].get("statecode") == 1:
            counts[write["row_id"]] = counts.get(write["row_id"], 0) + 1
    return counts


def bind_unbound_reference(stack: Stack, env_id: str) -> None:
    """Give the reference without a connection one (before the backup is taken)."""
    from shared.dataverse import DataverseClient
    from shared.power_platform import NoTokenProvider

    environment = stack.ctx.platform.get_environment(env_id)
    with DataverseClient.for_environment(environment, token_provider=NoTokenProvider()) as dv:
        refs = [r for page in dv.pages(dv.first_page("connectionreferences")) for r in page.rows]
    ref = next(r for r in refs if r["connectionreferencelogicalname"] == UNBOUND)
    stack.sim.dataverse_change(env_id, "connectionreference", "update",
                               ref["connectionreferenceid"], {"connectionid": "shared-teams-9"})


def in_place(stack: Stack, *, bind: bool = False, **fields: Any) -> tuple[str, dict[str, Any]]:
    prod = stack.add_env("Contoso Prod")
    if bind:
        bind_unbound_reference(stack, prod)
    stack.sim.advance(60)
    stack.add_backup(prod, "Before release 4.2", age=timedelta(seconds=30))
    operation_id = stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="Contoso Prod", **fields))
    return prod, stack.wait_ended(operation_id, timeout=240)


def test_flows_on_before_are_on_after_and_one_without_a_connection_is_named(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    prod, record = in_place(stack)

    assert record["status"] == "Succeeded", record
    assert statuses(record)["reactivate_flows"] == "Failed"
    assert stack.env_type(prod) == "Production"
    flows = flows_by_name(record)
    assert {n: (f["before"], f["after"]) for n, f in flows.items()} == {
        NOTIFY: ("on", "on"), SYNC: ("on", "off"), DIGEST: ("off", "off"),
    }
    assert UNBOUND in flows[SYNC]["reason"] and "connection" in flows[SYNC]["reason"]
    assert "reason" not in flows[NOTIFY] and "reason" not in flows[DIGEST]
    assert live_flows(stack, prod) == {NOTIFY: 1, SYNC: 0, DIGEST: 0}
    assert SYNC in steps_by_name(record)["reactivate_flows"]["detail"]
    assert sorted(activations(stack, prod).values()) == [1]  # Notify, once

    # The Teams card lists it under "What to do next"; the webhook payload carries the list.
    event = event_for(Operation.from_record(record))
    assert event is not None
    card = json.dumps(build_teams_message(event))
    assert "What to do next" in card and SYNC in card and UNBOUND in card
    payload = json.loads(build_webhook_payload(event, occurred_at=datetime.now(UTC)))
    assert flows_by_name(payload["operation"]) == flows


def test_a_restore_that_drops_every_connection_names_every_flow(
    make_stack: Callable[..., Stack],
) -> None:
    # The platform's behaviour (reference §3.3, §9.4): a restore's connection references need
    # new connections, so no flow that uses one turns on; the restore still succeeds, and each
    # flow that was on is named with what a person does about it.
    stack = make_stack(sim=replace(StackOptions().sim, dataverse_restore_keeps_connections=False))
    prod, record = in_place(stack)

    assert record["status"] == "Succeeded", record
    assert statuses(record)["reactivate_flows"] == "Failed"
    assert stack.env_type(prod) == "Production"
    flows = flows_by_name(record)
    assert {n: (f["before"], f["after"]) for n, f in flows.items()} == {
        NOTIFY: ("on", "off"), SYNC: ("on", "off"), DIGEST: ("off", "off"),
    }
    for name in (NOTIFY, SYNC):
        assert "give it a connection" in flows[name]["reason"], flows[name]
    assert live_flows(stack, prod) == {NOTIFY: 0, SYNC: 0, DIGEST: 0}
    detail = steps_by_name(record)["reactivate_flows"]["detail"]
    assert NOTIFY in detail and SYNC in detail


def test_every_flow_that_was_on_is_on_again_through_a_429_storm(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    stack.sim.set_faults(throttle_rate=0.35, seed=5)
    prod, record = in_place(stack, bind=True)
    # The storm was the app's to weather; the test's own reads below must not meet it.
    stack.sim.clear_faults()

    assert record["status"] == "Succeeded", record
    assert statuses(record)["reactivate_flows"] == "Succeeded", steps_by_name(record)
    assert live_flows(stack, prod) == {NOTIFY: 1, SYNC: 1, DIGEST: 0}
    assert {n: f["after"] for n, f in flows_by_name(record).items()} == {
        NOTIFY: "on", SYNC: "on", DIGEST: "off"}
    assert sorted(activations(stack, prod).values()) == [1, 1]
    assert stack.sim.stats(), "the simulator counted the storm"


def test_crashes_after_recording_and_at_every_checkpoint_of_the_step_lose_nothing(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()

    def key(operation: Operation, internal: dict[str, Any] | None) -> Any:
        internal = internal or {}
        phase = internal.get("phase")
        recorded = "flowsBefore" in (internal.get("facts") or {})
        before_overwrite = phase in ("Validating", "SafetyBackup", "SwitchingToSandbox",
                                     "Prechecking")
        if phase == "ReactivatingFlows" or (recorded and before_overwrite):
            return (phase, internal.get("seq"))
        return None

    stack.crashes.fail_update = once_per_key(key)
    prod, record = in_place(stack, bind=True)

    assert record["status"] == "Succeeded", record
    injected = stack.crashes.injected
    assert len(injected) >= 6, injected
    assert live_flows(stack, prod) == {NOTIFY: 1, SYNC: 1, DIGEST: 0}
    assert {n: (f["before"], f["after"]) for n, f in flows_by_name(record).items()} == {
        NOTIFY: ("on", "on"), SYNC: ("on", "on"), DIGEST: ("off", "off")}
    assert sorted(activations(stack, prod).values()) == [1, 1]  # each activation once


def test_a_copy_into_another_environment_lists_its_flows_off_unless_asked(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim))
    prod = stack.add_env("Contoso Prod")
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    point = stack.sim.now()
    stack.sim.advance(3600)

    record = stack.wait_ended(stack.submit(restore_body(
        uat, sourceEnvironmentId=prod, restorePointDateTime=point.isoformat(),
        safetyBackup=False)))

    assert record["status"] == "Succeeded", record
    assert statuses(record)["reactivate_flows"] == "Succeeded"
    # The copy's flows are new here (other ids); the Sandbox's own are gone.
    came = [f for f in record["flows"] if f["before"] == "absent"]
    gone = [f for f in record["flows"] if f["after"] == "absent"]
    assert sorted(f["name"] for f in came) == sorted([NOTIFY, SYNC, DIGEST])
    assert all(f["after"] == "off" and "came with the restore" in f["reason"] for f in came)
    assert sorted(f["name"] for f in gone) == sorted([NOTIFY, SYNC, DIGEST])
    assert all("is gone" in f["reason"] for f in gone if f["before"] == "on")
    assert set(live_flows(stack, uat).values()) == {0}
    assert activations(stack, uat) == {}

    again = stack.wait_ended(stack.submit(restore_body(
        uat, sourceEnvironmentId=prod, restorePointDateTime=point.isoformat(),
        safetyBackup=False, reactivateFlows="all")))

    assert again["status"] == "Succeeded", again
    # Sync and the digest both use the reference without a connection.
    assert statuses(again)["reactivate_flows"] == "Failed"
    assert live_flows(stack, uat) == {NOTIFY: 1, SYNC: 0, DIGEST: 0}
    listed = flows_by_name(again)  # the same copied flows as before it, off then
    assert listed[NOTIFY]["after"] == "on" and "reason" not in listed[NOTIFY]
    assert all(UNBOUND in listed[name]["reason"] for name in (SYNC, DIGEST))


def test_dry_run_lists_what_the_step_would_do(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "Before release 4.2")

    record = stack.wait_ended(stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="Contoso Prod", dryRun=True)))

    assert record["status"] == "Succeeded", record
    plan = {p["step"]: p["action"] for p in record["options"]["plan"]}
    assert NOTIFY in plan["reactivate_flows"] and SYNC in plan["reactivate_flows"]
    assert DIGEST not in plan["reactivate_flows"]
    assert activations(stack, prod) == {}
