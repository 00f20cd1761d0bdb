"""Faults: duplicated messages, a handler killed at every step (before and after its checkpoint),
and storms of 429 / 5xx / 409. Every run must end in the right terminal state, with one platform
restore, and with the target not left a Sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shared.operations import Operation
from shared.queue_names import RESTORE_STEPS
from tests.integration.restore.conftest import (
    Stack,
    StackOptions,
    once_per_key,
    restore_body,
    statuses,
)

ALL_DONE = {
    "validate": "Succeeded", "safety_backup": "Succeeded", "switch_to_sandbox": "Succeeded",
    "restore": "Succeeded", "switch_to_production": "Succeeded",
    "disable_admin_mode": "Succeeded", "verify": "Succeeded",
    # The seeded 'Sync projects to SharePoint' uses a reference without a connection; the
    # restore still Succeeded (test_reactivate_flows.py).
    "reactivate_flows": "Failed",
}


def _in_place_restore(stack: Stack, *, timeout: float = 150) -> tuple[str, dict[str, Any]]:
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "Before release 4.2")
    operation_id = stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="Contoso Prod"))
    if stack.stepped:
        return prod, stack.run_until_ended(operation_id)
    return prod, stack.wait_ended(operation_id, timeout=timeout)


def _assert_clean_success(stack: Stack, prod: str, record: dict[str, Any]) -> None:
    assert record["status"] == "Succeeded", record
    assert statuses(record) == ALL_DONE
    assert len(stack.platform_ops(prod, "Restore")) == 1
    assert stack.env_type(prod) == "Production"
    assert stack.runtime(prod) == "Enabled"
    assert len([b for b in stack.sim.backups(prod) if b["label"].startswith("Safety")]) == 1


def test_every_message_delivered_twice(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    stack.crashes.duplicate_sends = True

    prod, record = _in_place_restore(stack)

    _assert_clean_success(stack, prod, record)
    assert len(stack.platform_ops(prod, "ModifySku")) == 2


def _restore_checkpoint(operation: Operation, internal: dict[str, Any] | None) -> Any:
    if not internal or "phase" not in internal:
        return None
    return (operation.operation_id, internal["seq"])


def test_killed_at_every_step_between_the_platform_call_and_the_checkpoint(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    stack.crashes.fail_update = once_per_key(_restore_checkpoint)

    prod, record = _in_place_restore(stack, timeout=240)

    _assert_clean_success(stack, prod, record)
    kills = [x for x in stack.crashes.injected if x.startswith("update")]
    assert len(kills) >= 15  # every checkpoint of the run failed once


def test_killed_at_every_step_between_the_checkpoint_and_the_next_message(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    # The step handler dies after each checkpoint, once; the intake (the first message, seq 0)
    # and the watchdog, which recover it, keep working.
    stack.crashes.fail_send = once_per_key(
        lambda queue, payload: (payload["operationId"], payload["seq"])
        if queue == RESTORE_STEPS and payload["seq"] > 0 and not stack.crashes.by_watchdog()
        else None
    )

    prod, record = _in_place_restore(stack, timeout=240)

    _assert_clean_success(stack, prod, record)
    kills = [x for x in stack.crashes.injected if x.startswith("send")]
    assert len(kills) >= 3  # every message the step handler sent, once
    assert record["options"]["watchdog"]["total"] >= len(kills)


def test_storms_of_throttling_outages_and_conflicts(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, runtime_state_seconds=2 * 3600.0))
    stack.sim.set_faults(throttle_rate=0.3, error_rate=0.2, error_status=503,
                         backup_conflict_rate=0.5, seed=11)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "Before release 4.2")
    # Someone else's lifecycle operation holds the environment when the restore begins (409).
    stack.sim.state.start_runtime_change(prod, runtime_state="Enabled", background_operations=None)

    operation_id = stack.submit(restore_body(
        prod, backupLabel="Before release 4.2", confirmProduction="Contoso Prod"))
    record = stack.wait_ended(operation_id, timeout=240)

    _assert_clean_success(stack, prod, record)
    stats = stack.sim.stats()
    assert stats, "the simulator counted the storm"
    calls = stack.ctx.history.list_calls(operation_id)
    assert any(c["status"] == 429 for c in calls)
    assert any(c["status"] == 503 for c in calls)


def test_a_restore_past_its_timeout_is_switched_back_and_needs_attention(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(restore_timeout_hours=0.5,
                       sim=replace(StackOptions().sim, restore_seconds=2 * 3600.0))

    prod, record = _in_place_restore(stack)

    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "RestoreTimedOut"
    assert statuses(record)["restore"] == "Failed"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
    assert len(stack.platform_ops(prod, "Restore")) == 1


def test_a_step_that_keeps_failing_is_recorded_and_retried_later(
    make_stack: Callable[..., Stack],
) -> None:
    # Stepped: on a running clock the restore could end before the failing step is delivered
    # for the last time, and the fault would never be recorded.
    stack = make_stack(stepped=True, sim=replace(StackOptions().sim, retry_after=None))
    # Every checkpoint while following the restore fails, until the operation records the fault.
    stack.crashes.fail_update = lambda operation, internal: bool(
        internal and internal.get("phase") == "Restoring"
        and (internal.get("work") or {}).get("handle") and not internal.get("engineFaults")
    )

    prod, record = _in_place_restore(stack)

    _assert_clean_success(stack, prod, record)
    # The fault was counted (the checkpoints failed until it was), and the progress since
    # started the budget afresh.
    assert "engineFaults" not in stack.operation(record["operationId"]).internal
    assert stack.host.queue_counters(RESTORE_STEPS).poisoned == 1
    # The watchdog carried it on twice: after the invocation that started the restore died at
    # its first poll (its message, delivered again, is stale), and after the poison.
    assert record["options"]["watchdog"]["nudges"] == 2
