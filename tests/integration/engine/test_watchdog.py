"""The watchdog's tick, on Azurite: what it re-drives, and what it leaves alone."""

from __future__ import annotations

from datetime import timedelta

from engine.runner import RunnerConfig
from engine.watchdog import run_watchdog
from shared.operations import OperationKind, new_operation
from shared.queue_names import BACKUP_WORK
from shared.runtime import AppContext
from shared.storage.connection import table_service

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
