"""What the record restore tests share: a point of the three related tables, an import that
deletes accounts with their contacts and notes, and the rows' data as a restore must bring it
back (system columns aside)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from data_backups.intake import handle_data_backup_message
from data_restores.kind import read_state
from data_restores.state import Phase
from engine.runner import RunnerConfig, run_steps
from ppbackup.simulator import Simulator
from shared.operations import Operation, OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock, drive, live_rows
from tests.integration.data_restores.test_plan_from_a_point import TABLES
from tests.integration.data_restores.test_record_restore import data, gone_with_children

Rows = dict[str, dict[str, dict[str, Any]]]
# Children first: a note regards a contact or an account, a contact belongs to an account.
DELETE_ORDER = ("annotation", "contact", "account")
# One step per invocation (the rest handed to a queue message), so a test can stop between two.
ONE_STEP = RunnerConfig(invocation_budget_seconds=0)


def point(ctx: AppContext, clock: Clock, env_id: str, *, page_size: int, name: str = "p") -> str:
    """A full data backup point of the three tables, `page_size` rows a page."""
    body = json.dumps({"environmentId": env_id, "tables": list(TABLES), "requestId": name,
                       "full": True})
    operation = handle_data_backup_message(ctx, body, message_id=f"m-{name}",
                                           page_size=page_size)
    assert operation is not None
    done = drive(ctx, clock, operation.operation_id, max_steps=20_000)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    return done.point_id or ""


def snapshot(sim: Simulator, env_id: str) -> Rows:
    """The three tables' rows now, by id, as the Web API returns them."""
    return {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}


def accounts_with_contacts(rows: Rows, count: int) -> list[str]:
    """`count` accounts that at least one contact belongs to, in id order."""
    parents = {r["_parentcustomerid_value"] for r in rows["contact"].values()}
    chosen = sorted(a for a in rows["account"] if a in parents)[:count]
    assert len(chosen) == count, f"the seed has only {len(chosen)} accounts with contacts"
    return chosen


def delete_with_children(sim: Simulator, env_id: str, rows: Rows,
                         accounts: Iterable[str]) -> set[tuple[str, str]]:
    """An import deletes the accounts, the contacts under them (at any depth) and their notes;
    returns the (table, id) deleted."""
    gone = gone_with_children(rows, list(accounts))
    for table in DELETE_ORDER:
        for t, record_id in sorted(gone):
            if t == table:
                sim.dataverse_change(env_id, table, "delete", record_id)
    return gone


def delete_again(sim: Simulator, env_id: str, gone: Iterable[tuple[str, str]]) -> None:
    for table in DELETE_ORDER:
        for t, record_id in sorted(gone):
            if t == table:
                sim.dataverse_change(env_id, table, "delete", record_id)


def as_data(rows: Rows) -> Rows:
    """The rows' data: what a restore must put back (every column and lookup, with its
    lookuplogicalname annotation), without what the platform sets (modifiedon, versionnumber,
    the ETag, createdon)."""
    return {t: {i: data(r) for i, r in table.items()} for t, table in rows.items()}


def creates_per_id(writes: Iterable[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """How many times the write log shows each row created."""
    made: dict[tuple[str, str], int] = {}
    for write in writes:
        if write["action"] == "create":
            key = (write["table"], write["row_id"])
            made[key] = made.get(key, 0) + 1
    return made


def until_applying(ctx: AppContext, clock: Clock, operation_id: str) -> None:
    """Run the steps until the plan is laid out and nothing is written yet."""
    for _ in range(500):
        stored = ctx.history.get(operation_id)
        assert not stored.operation.status.terminal, stored.operation.error
        state = read_state(stored)
        if state.phase is Phase.APPLYING:
            return
        clock.reach(state.wake_at)
        run_steps(ctx, operation_id, state.seq, config=ONE_STEP)
    raise AssertionError(f"{operation_id} never reached Applying")


def through_a_storm(ctx: AppContext, clock: Clock, sim: Simulator, operation_id: str, *,
                    rate: float = 0.7, retry_after: int = 30,
                    max_steps: int = 2000) -> tuple[Operation, int, list[float]]:
    """Drive the operation to its end while the simulator answers `rate` of all requests 429
    (Retry-After `retry_after`); returns the operation, the 429s and the waits the engine took
    (moved on the test's clock, never slept)."""
    sim.reset_stats()
    sim.set_faults(throttle_rate=rate, throttle_retry_after=retry_after, seed=11)
    waits: list[float] = []
    try:
        for _ in range(max_steps):
            stored = ctx.history.get(operation_id)
            if stored.operation.status.terminal:
                return stored.operation, int(sim.stats()["throttled"]), waits
            state = read_state(stored)
            if state.wake_at is not None and state.wake_at > clock.now:
                waits.append((state.wake_at - clock.now).total_seconds())
            clock.reach(state.wake_at)
            run_steps(ctx, operation_id, state.seq)
    finally:
        sim.clear_faults()  # the test's own reads after it are not the app's to weather
    raise AssertionError(f"{operation_id} did not end in {max_steps} steps")
