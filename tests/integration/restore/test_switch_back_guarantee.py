"""The switch back is guaranteed once a switch to Sandbox may have run: a cancel racing the
switch, and a step the engine abandons (review findings, end to end on the simulator)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from engine.runner import run_steps, use_runner_config
from restore_orchestrator.cancelling import cancel_restore
from shared import errors
from shared.queue_names import RESTORE_STEPS
from shared.storage.locks import EnvironmentLocks, locks_for
from tests.integration.restore.conftest import (
    FAST_RUNNER,
    Stack,
    StackOptions,
    once_per_key,
    restore_body,
    statuses,
)

OWN_PACE = replace(StackOptions().sim, retry_after=None)


def _production_with_backup(make_stack: Callable[..., Stack]) -> tuple[Stack, str]:
    """A stepped stack whose simulator keeps its own pace, with a Production environment
    "Contoso Prod" holding a backup labelled "B"; the stack and the environment's id."""
    stack = make_stack(stepped=True, sim=OWN_PACE)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    return stack, prod


def _losing_every_step_in(stack: Stack, target: str, phase: str) -> dict[str, Any]:
    """A confirmed restore of `target` run to its end while every step message sent in `phase`
    is lost (the watchdog's budget: 2 re-drives); its record."""

    def in_phase(queue: str, payload: dict[str, Any]) -> bool:
        stored = stack.operation(str(payload["operationId"]))
        return queue == RESTORE_STEPS and stored.internal.get("phase") == phase

    stack.crashes.fail_send = in_phase
    with use_runner_config(replace(FAST_RUNNER, max_watchdog_nudges=2)):
        first = stack.submit(restore_body(target, backupLabel="B",
                                          confirmProduction="Contoso Prod"))
        return stack.run_until_ended(first)


def test_a_cancel_between_the_switch_intent_and_its_request_switches_back(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)
    platform = stack.ctx.platform
    real = platform.begin_change_type
    fired = threading.Event()
    box: dict[str, str] = {}

    def racing(environment_id: str, sku: str) -> Any:
        if sku == "Sandbox" and not fired.is_set():
            fired.set()
            # The intent is checkpointed; before this request reaches the platform an operator
            # cancels, and another worker runs the cancel's step.
            operation_id = box["id"]
            cancel_restore(stack.ctx, operation_id, requested_by="ops")
            run_steps(stack.ctx, operation_id, int(stack.operation(operation_id).internal["seq"]))
        return real(environment_id, sku)

    platform.begin_change_type = racing  # type: ignore[method-assign]
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    box["id"] = operation_id
    record = stack.run_until_ended(operation_id)
    stack.sim.clock.advance(3600)  # whatever the platform accepted has finished by now
    assert fired.is_set()
    assert record["status"] == "Cancelled", record
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
    assert len(stack.platform_ops(prod, "Restore")) == 0


def _from_a_step() -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "_step" and frame.f_code.co_filename.endswith("runner.py"):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def test_a_restoring_step_that_keeps_being_poisoned_still_switches_back(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)
    # Every step checkpoint that follows the platform restore fails: a step that keeps dying.
    stack.crashes.fail_update = lambda operation, internal: bool(
        internal and internal.get("phase") == "Restoring"
        and (internal.get("work") or {}).get("handle") and _from_a_step()
    )
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    record = stack.run_until_ended(first)
    assert stack.host.queue_counters(RESTORE_STEPS).poisoned > 0
    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "EngineFault"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert statuses(record)["disable_admin_mode"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
    assert stack.runtime(prod) == "Enabled"


def test_a_restore_whose_steps_keep_going_missing_while_restoring_still_switches_back(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)
    # Every message that would carry the restore on while the platform restores is lost.
    record = _losing_every_step_in(stack, prod, "Restoring")
    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "EngineFault"
    assert "went missing 2 times" in record["error"]["message"]
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert stack.env_type(prod) == "Production"


def test_lost_steps_count_against_their_phase_not_the_whole_restore(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)

    def phase(queue: str, payload: dict[str, Any]) -> str | None:
        stored = stack.operation(str(payload["operationId"]))
        return str(stored.internal.get("phase")) if queue == RESTORE_STEPS else None

    # One message lost in each phase that waits: more than the budget in all, within it in each.
    stack.crashes.fail_send = once_per_key(phase)
    with use_runner_config(replace(FAST_RUNNER, max_watchdog_nudges=2)):
        first = stack.submit(restore_body(prod, backupLabel="B",
                                          confirmProduction="Contoso Prod"))
        record = stack.run_until_ended(first)
    lost = [note for note in stack.crashes.injected if note.startswith("send")]
    assert len(lost) > 2, lost
    assert record["status"] == "Succeeded", record
    assert stack.env_type(prod) == "Production"


def test_a_target_left_a_sandbox_is_still_a_production_to_its_next_restore(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)
    platform = stack.ctx.platform
    real = platform.begin_change_type
    refusing = threading.Event()
    refusing.set()

    def change_type(environment_id: str, sku: str) -> Any:
        if sku == "Production" and refusing.is_set():
            raise errors.ValidationFailed("The SKU change is not allowed now.", status=400,
                                          error_code="EnvironmentSkuChangeBlocked")
        return real(environment_id, sku)

    platform.begin_change_type = change_type  # type: ignore[method-assign]
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    record = stack.run_until_ended(first)
    assert record["status"] == "NeedsAttention", record
    assert record["error"]["code"] == "SwitchBackFailed"
    assert stack.env_type(prod) == "Sandbox"
    assert locks_for(stack.ctx).holder(prod) is None
    refusing.clear()

    # Without confirmProduction the next restore is refused, as for any Production target.
    second = stack.submit(restore_body(prod, backupLabel="B", safetyBackup=False))
    record = stack.run_until_ended(second)
    assert record["status"] == "Rejected", record
    assert record["error"]["code"] == "ConfirmationRequired"
    assert len(stack.platform_ops(prod, "Restore")) == 1

    # Confirmed, it restores and switches the target back to the Production it was.
    third = stack.submit(restore_body(prod, backupLabel="B", safetyBackup=False,
                                      confirmProduction="Contoso Prod"))
    record = stack.run_until_ended(third)
    assert record["status"] == "Succeeded", record
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
    assert locks_for(stack.ctx).original_type(prod) is None


def test_a_switch_back_handed_to_a_person_keeps_the_original_type(
    make_stack: Callable[..., Stack],
) -> None:
    stack, prod = _production_with_backup(make_stack)
    # Every message that would carry the switch back on is lost: the watchdog hands it over.
    record = _losing_every_step_in(stack, prod, "SwitchingToProduction")
    assert record["status"] == "NeedsAttention", record
    assert "went missing 2 times" in record["error"]["message"]
    assert locks_for(stack.ctx).holder(prod) is None
    assert locks_for(stack.ctx).original_type(prod) == "Production"


def test_the_original_type_is_kept_even_if_the_first_try_to_keep_it_fails(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The switch back is refused, so the restore ends NeedsAttention with its target a Sandbox;
    # the write that keeps "this was a Production" for the target's next restore meets a storage
    # fault right after the ending's checkpoint. The watchdog releases again: the type is kept.
    stack, prod = _production_with_backup(make_stack)
    platform = stack.ctx.platform
    real = platform.begin_change_type

    def change_type(environment_id: str, sku: str) -> Any:
        if sku == "Production":
            raise errors.ValidationFailed("The SKU change is not allowed now.", status=400,
                                          error_code="EnvironmentSkuChangeBlocked")
        return real(environment_id, sku)

    platform.begin_change_type = change_type  # type: ignore[method-assign]
    keep = EnvironmentLocks.remember_original_type
    faults = iter([True])

    def remember(self: EnvironmentLocks, *args: Any) -> None:
        if next(faults, False):
            raise ServiceRequestError("storage unavailable")
        keep(self, *args)

    monkeypatch.setattr(EnvironmentLocks, "remember_original_type", remember)
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    record = stack.run_until_ended(first)
    assert record["status"] == "NeedsAttention", record
    assert stack.env_type(prod) == "Sandbox"

    stack.sim.advance(3600)  # past every due time and grace
    stack.watchdog()

    assert locks_for(stack.ctx).original_type(prod) == "Production"


def test_type_switches_accepted_without_a_status_url_are_followed_to_the_end(
    make_stack: Callable[..., Stack],
) -> None:
    # modifySku answering without Location / Operation-Location (a 200, or a bare 202): the
    # restore still switches to Sandbox, restores, and switches back, instead of polling a
    # handle nobody can poll until the engine gives up.
    stack, prod = _production_with_backup(make_stack)
    platform = stack.ctx.platform
    real = platform.begin_change_type

    def change_type(environment_id: str, sku: str) -> Any:
        return replace(real(environment_id, sku), status_url=None, operation_id=None)

    platform.begin_change_type = change_type  # type: ignore[method-assign]
    first = stack.submit(restore_body(prod, backupLabel="B", confirmProduction="Contoso Prod"))
    record = stack.run_until_ended(first)
    assert record["status"] == "Succeeded", record
    assert statuses(record)["switch_to_sandbox"] == "Succeeded"
    assert statuses(record)["switch_to_production"] == "Succeeded"
    assert stack.env_type(prod) == "Production"
