"""The watchdog's tick, on Azurite: what it re-drives, and what it leaves alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from engine.runner import RunnerConfig, run_steps
from engine.watchdog import run_watchdog
from ppbackup.simulator import Simulator
from shared.operations import OperationKind, new_operation
from shared.queue_names import BACKUP_WORK
from shared.runtime import AppContext
from shared.storage.active import ActiveEntry
from shared.storage.connection import table_service
from shared.storage.history import HistoryStore

ENV = "0a1b2c3d-0000-4000-8000-00000000000a"
CONFIG = RunnerConfig(watchdog_grace_seconds=60.0)


def test_an_index_entry_this_version_cannot_read_does_not_stop_the_watchdog(
    ctx: AppContext, storage: str,
) -> None:
    # An entry of a kind only a newer version of the app knows (a deployment rolled back while
    # such an operation runs): every other operation is still looked after.
    lost = new_operation(OperationKind.BACKUP, ENV, ctx.clock() - timedelta(hours=1), label="L")
    ctx.history.create(lost)  # admitted, but its first message never went out
    table_service(storage).get_table_client(f"{ctx.history.prefix}Active").upsert_entity({
        "PartitionKey": "active", "RowKey": "record_archive-20261201T000000000Z-abcdef",
        "kind": "record_archive", "status": "Running",
    })

    report = run_watchdog(ctx, config=CONFIG)

    assert report.redriven == (lost.operation_id,)
    sent = [m.payload for m in ctx.queues.peek(BACKUP_WORK)]
    assert sent == [{"operationId": lost.operation_id, "seq": 1}]


class _StepAfterListing(HistoryStore):
    """The history store, with the operation's own step landing right after the watchdog's
    listing (the runner and the watchdog run on different instances)."""

    after_listing: Callable[[], None] | None = None

    def list_active(self) -> list[ActiveEntry]:
        entries = super().list_active()
        step, self.after_listing = self.after_listing, None
        if step is not None:
            step()
        return entries


def test_an_operation_that_scheduled_a_wait_after_the_listing_is_not_redriven(
    ctx: AppContext, storage: str, sim: Simulator,
) -> None:
    # Overdue when the tick listed it; its late step then ran and met a busy environment, so it
    # waits before calling again. The watchdog must not cut that wait short (seq + 1, wake-up
    # cleared), nor note on the record a step that "had not run", nor spend a nudge of the budget.
    history = _StepAfterListing(table_service(storage))
    ctx = replace(ctx, history=history)
    prod = sim.add_environment("Contoso Prod", type="Production")
    sim.set_faults(backup_conflict_rate=1.0)  # every create: 409, the environment is busy
    late = new_operation(OperationKind.BACKUP, prod, ctx.clock() - timedelta(hours=1), label="L")
    ctx.history.create(late)
    ctx.history.set_next_due(late.operation_id, ctx.clock() - timedelta(minutes=1))
    history.after_listing = lambda: run_steps(ctx, late.operation_id, 0, config=CONFIG)

    report = run_watchdog(ctx, config=CONFIG)

    stored = ctx.history.get(late.operation_id)
    assert stored.internal.get("wakeAt") is not None, stored.internal  # still waiting
    assert report.redriven == ()
    assert "watchdog" not in stored.operation.options


def test_a_tick_redrives_a_bounded_number_the_longest_overdue_first(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After an outage every running operation is overdue at once: one tick re-drives a bounded
    # share (a timer invocation must stay short), the most overdue first, the next tick the rest.
    monkeypatch.setattr("engine.watchdog._REDRIVES_PER_TICK", 2, raising=False)
    now = ctx.clock()
    lost = [new_operation(OperationKind.BACKUP, ENV, now - timedelta(hours=5 - i), label=f"L{i}")
            for i in range(3)]
    for operation, overdue_hours in zip(lost, (2, 1, 3), strict=True):
        ctx.history.create(operation)
        ctx.history.set_next_due(operation.operation_id, now - timedelta(hours=overdue_hours))

    first = run_watchdog(ctx, config=CONFIG)
    second = run_watchdog(ctx, config=CONFIG)

    assert first.redriven == (lost[2].operation_id, lost[0].operation_id)
    assert second.redriven == (lost[1].operation_id,)
