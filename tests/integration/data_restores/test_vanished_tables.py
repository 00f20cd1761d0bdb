"""A table the target knew when the restore was validated, gone by the time a later step reads
it (a maker uninstalled its solution): the restore ends Failed with a message naming the table
and the environment and saying what to do, on the record; never a bare KeyError retried until
the message is poisoned. Azurite and the simulator's Dataverse."""

from __future__ import annotations

from data_restores.kind import read_state
from data_restores.state import Phase
from engine.runner import run_steps
from ppbackup.simulator import Simulator
from shared.operations import Operation, OperationStatus, StepStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import ONE_STEP, point, snapshot
from tests.integration.data_restores.test_record_restore import drive, start

PAGE = 50


def uninstall(sim: Simulator, env_id: str, table: str) -> None:
    """The table leaves the environment's metadata and data, as when its solution is
    uninstalled (the simulator has no control for it: the test reaches into its org)."""
    org = sim.dataverse.org(env_id)
    with org.lock:
        del org.schema[table]
        del org.tables[table]


def until(ctx: AppContext, clock: Clock, operation_id: str, phase: Phase) -> None:
    for _ in range(200):
        stored = ctx.history.get(operation_id)
        assert not stored.operation.status.terminal, stored.operation.error
        state = read_state(stored)
        if state.phase is phase:
            return
        clock.reach(state.wake_at)
        run_steps(ctx, operation_id, state.seq, config=ONE_STEP)
    raise AssertionError(f"{operation_id} never reached {phase}")


def assert_failed_naming(ended: Operation, table: str, env_id: str) -> None:
    assert ended.status is OperationStatus.FAILED
    assert ended.error is not None and ended.error.code == "TableNotFound"
    message = ended.error.message
    assert f"Table {table} no longer exists in environment {env_id}" in message
    assert "ask for the restore again" in message and f"without {table}" in message
    [plan] = [s for s in ended.steps if s.name == "plan"]
    assert plan.status is StepStatus.FAILED and plan.detail == message


def test_a_table_gone_between_validating_and_planning_fails_the_restore_clearly(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    operation_id = start(ctx, env_id, tables=("account", "annotation"), point_id=point_id,
                         mode="all")
    until(ctx, clock, operation_id, Phase.PLANNING)
    uninstall(sim, env_id, "annotation")

    assert_failed_naming(drive(ctx, clock, operation_id), "annotation", env_id)
    assert sim.dataverse_writes(env_id) == []


def test_a_table_gone_between_planning_and_settling_fails_the_restore_clearly(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    notes = sorted(snapshot(sim, env_id)["annotation"])[:3]
    for note in notes:
        sim.dataverse_change(env_id, "annotation", "delete", note)
    operation_id = start(ctx, env_id, tables=("annotation",), point_id=point_id)
    until(ctx, clock, operation_id, Phase.SETTLING)
    uninstall(sim, env_id, "annotation")

    assert_failed_naming(drive(ctx, clock, operation_id), "annotation", env_id)
    assert sim.dataverse_writes(env_id) == []
