"""The runner's loop, one step message at a time."""

from __future__ import annotations

from engine.runner import RunnerConfig, run_steps
from ppbackup.simulator import Simulator
from shared.operations import OperationKind, OperationStatus, new_operation
from shared.runtime import AppContext

# One step per invocation: every step after the first is past the budget.
ONE_STEP = RunnerConfig(invocation_budget_seconds=0.0)


def _drive(ctx: AppContext, operation_id: str, *, rounds: int, config: RunnerConfig) -> None:
    """Deliver the operation's next step message, as the queue would, `rounds` times at most."""
    for _ in range(rounds):
        stored = ctx.history.get(operation_id)
        if stored.operation.status.terminal:
            return
        run_steps(ctx, operation_id, int(stored.internal.get("seq", 0)), config=config)


def test_a_call_whose_intent_was_just_checkpointed_is_made_even_past_the_budget(
    ctx: AppContext, sim: Simulator,
) -> None:
    # The step that checkpoints the intent of a create crosses the invocation's budget: the
    # create is still made by this invocation (its intent is on record), not dropped for the next
    # one to find missing, look for, and count as a failed attempt.
    prod = sim.add_environment("Contoso Prod", type="Production")
    backup = new_operation(OperationKind.BACKUP, prod, ctx.clock(), label="Before 4.3")
    ctx.history.create(backup)

    _drive(ctx, backup.operation_id, rounds=4, config=ONE_STEP)

    record = ctx.history.get(backup.operation_id).operation.to_record()
    assert record["status"] == OperationStatus.SUCCEEDED.value, record["steps"]
    assert [b["label"] for b in sim.backups(prod)] == ["Before 4.3"]
    # One create, and no listing looking for a backup that no call had made.
    calls = ctx.history.list_calls(backup.operation_id)
    assert [c["method"] for c in calls] == ["POST"], calls
