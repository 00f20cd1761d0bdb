"""The switch back is guaranteed once a switch to Sandbox may have run: a cancel racing the
switch, and a step the engine abandons (review findings, end to end on the simulator)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from engine.runner import run_steps
from restore_orchestrator.cancelling import cancel_restore
from tests.integration.restore.conftest import (
    Stack,
    StackOptions,
    restore_body,
    statuses,
)

OWN_PACE = replace(StackOptions().sim, retry_after=None)


def test_a_cancel_between_the_switch_intent_and_its_request_switches_back(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(stepped=True, sim=OWN_PACE)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
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
