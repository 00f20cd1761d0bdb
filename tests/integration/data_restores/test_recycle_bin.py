"""Rows the target's recycle bin still holds come back by the platform's own Restore (which brings
back what a backup cannot), then get their values at the point; rows it does not hold are created
from the backup (Azurite and the simulator)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import shared.dataverse
from data_restores.commands import ApplyJobs
from data_restores.execute import execute
from data_restores.kind import read_state
from data_restores.planning import target_of
from data_restores.settling import plan as settle_plan
from data_restores.state import Phase
from engine.config import EngineConfig
from engine.runner import run_steps
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.dataverse import RestoreOutcome
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import (
    ONE_STEP,
    accounts_with_contacts,
    as_data,
    delete_with_children,
    point,
    snapshot,
    until_applying,
)
from tests.integration.data_restores.test_record_restore import data, drive, start


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sales", type="Sandbox", location="europe")


def test_rows_in_the_recycle_bin_are_restored_by_the_platform_the_others_created(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)
    accounts = accounts_with_contacts(at_point, 6)
    # Three accounts go before the bin is turned on (nothing of them is kept), three after.
    created = delete_with_children(sim, env_id, at_point, accounts[:3])
    sim.dataverse_recycle_bin(env_id, True)
    binned = delete_with_children(sim, env_id, at_point, accounts[3:])
    assert {t for t, _ in binned} == {"account", "contact", "annotation"}

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   with_related=True, apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None
    assert done.applied["total"]["create"] == len(created) + len(binned), "each row counts once"
    writes = sim.dataverse_writes(env_id)
    actions: dict[tuple[str, str], list[str]] = {}
    for write in writes:
        actions.setdefault((write["table"], write["row_id"]), []).append(write["action"])
    assert set(actions) == created | binned
    for row in binned:
        # Restored by the platform, then its point values written over it (an upsert).
        assert actions[row][:2] == ["restore", "update"], (row, actions[row])
        assert "create" not in actions[row]
    for row in created:
        assert actions[row][0] == "create" and "restore" not in actions[row], (row, actions[row])
    restores = [w["seq"] for w in writes if w["action"] == "restore"]
    assert max(restores) < min(w["seq"] for w in writes if w["action"] != "restore"), \
        "every row the bin holds is restored before any other write"
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)


class Crash(RuntimeError):
    pass


def test_a_crash_after_the_bin_restores_were_sent_resumes_without_a_create_or_a_false_note(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)
    sim.dataverse_recycle_bin(env_id, True)
    binned = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 2))
    real = shared.dataverse.restore_deleted
    crashes = [1]

    def restore_then_crash(*args: Any, **kwargs: Any) -> Any:
        outcomes = real(*args, **kwargs)
        if crashes[0]:
            crashes[0] -= 1
            raise Crash("after the Restore batch was sent, before its answer was kept")
        return outcomes

    monkeypatch.setattr(shared.dataverse, "restore_deleted", restore_then_crash)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True)
    with pytest.raises(Crash):
        drive(ctx, clock, operation_id)
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None and done.applied["total"]["create"] == len(binned)
    actions = [(w["table"], w["row_id"], w["action"]) for w in sim.dataverse_writes(env_id)]
    assert {(t, i) for t, i, a in actions if a == "restore"} == binned
    assert not [a for a in actions if a[2] == "create"], "nothing created beside the bin"
    notes = {i: o for batch in RestoreFiles(store, operation_id).outcomes()
             for i, o in batch.items()}
    assert notes == {}, "every row was restored from the bin; none says otherwise"
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)


def test_a_row_from_the_bin_is_put_back_as_at_the_point_not_as_when_deleted(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    rows = snapshot(sim, env_id)["account"]
    acc = next(i for i, r in sorted(rows.items()) if r.get("_parentaccountid_value"))
    parent = rows[acc]["_parentaccountid_value"]
    other = next(i for i in sorted(rows) if i not in (acc, parent))
    # At the point: no description, no parent account, active.
    sim.dataverse_change(env_id, "account", "update", acc,
                         {"description": None, "parentaccountid": None,
                          "statecode": 0, "statuscode": 1})
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)["account"][acc]
    # After it: a description, a parent, deactivated; then deleted into the bin.
    sim.dataverse_change(env_id, "account", "update", acc,
                         {"description": "set after the point",
                          "parentaccountid": {"table": "account", "id": other},
                          "statecode": 1, "statuscode": 2})
    sim.dataverse_recycle_bin(env_id, True)
    sim.dataverse_change(env_id, "account", "delete", acc)

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(acc,), apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None and done.applied["total"]["create"] == 1
    actions = [w["action"] for w in sim.dataverse_writes(env_id) if w["row_id"] == acc]
    assert actions[0] == "restore" and "create" not in actions, actions
    assert data(snapshot(sim, env_id)["account"][acc]) == data(at_point)


def test_a_row_from_the_bin_inactive_at_the_point_is_inactive_with_the_points_values(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    acc = sorted(snapshot(sim, env_id)["account"])[4]
    sim.dataverse_change(env_id, "account", "update", acc,
                         {"description": None, "statecode": 1, "statuscode": 2})
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)["account"][acc]
    sim.dataverse_change(env_id, "account", "update", acc,
                         {"statecode": 0, "statuscode": 1, "description": "later"})
    sim.dataverse_recycle_bin(env_id, True)
    sim.dataverse_change(env_id, "account", "delete", acc)

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(acc,), apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert data(snapshot(sim, env_id)["account"][acc]) == data(at_point)


def test_a_create_from_the_backup_where_the_bin_cannot_restore_leaves_empty_columns_empty(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acc = sorted(snapshot(sim, env_id)["account"])[5]
    sim.dataverse_change(env_id, "account", "update", acc,
                         {"description": None, "statecode": 1, "statuscode": 2})
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)["account"][acc]
    sim.dataverse_recycle_bin(env_id, True)
    sim.dataverse_change(env_id, "account", "delete", acc)

    def restore_refused(client: Any, entity_set: str, ids: Any) -> Any:
        return {i: RestoreOutcome(404, "0x80049959", "not in the bin") for i in ids}

    monkeypatch.setattr(shared.dataverse, "restore_deleted", restore_refused)
    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(acc,), apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    actions = [w["action"] for w in sim.dataverse_writes(env_id) if w["row_id"] == acc]
    assert actions[0] == "create", actions
    assert data(snapshot(sim, env_id)["account"][acc]) == data(at_point)


@pytest.mark.parametrize("bin_on", [False, True])
def test_a_row_a_person_put_back_after_the_plan_is_a_conflict_and_keeps_their_values(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, bin_on: bool
) -> None:
    acc = sorted(snapshot(sim, env_id)["account"])[3]
    sim.dataverse_change(env_id, "account", "update", acc, {"statecode": 0, "statuscode": 1})
    point_id = point(ctx, clock, env_id, page_size=50)
    sim.dataverse_recycle_bin(env_id, bin_on)
    sim.dataverse_change(env_id, "account", "delete", acc)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         record_ids=(acc,), apply=True)
    until_applying(ctx, clock, operation_id)
    # A person makes the row again (the same id) with their own values after the plan.
    sim.dataverse_change(env_id, "account", "create", acc,
                         {"name": "Person's row", "statecode": 0, "statuscode": 1})
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.applied is not None
    total = done.applied["total"]
    assert (total["create"], total["conflict"], total["failed"]) == (0, 1, 0), total
    assert snapshot(sim, env_id)["account"][acc]["name"] == "Person's row"


def test_a_row_from_the_bin_a_person_edits_before_its_first_write_is_a_conflict(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acc = sorted(snapshot(sim, env_id)["account"])[3]
    point_id = point(ctx, clock, env_id, page_size=50)
    sim.dataverse_recycle_bin(env_id, True)
    sim.dataverse_change(env_id, "account", "delete", acc)
    real_write = shared.dataverse.write_batch
    edited = [False]

    def write_batch(client: Any, writes: Any) -> Any:
        if not edited[0]:
            edited[0] = True  # a person edits the row the Restore brought back
            sim.dataverse_change(env_id, "account", "update", acc, {"name": "Edited"})
        return real_write(client, writes)

    monkeypatch.setattr(shared.dataverse, "write_batch", write_batch)
    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(acc,), apply=True))

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.applied is not None
    assert done.applied["total"]["conflict"] == 1, done.applied["total"]
    assert snapshot(sim, env_id)["account"][acc]["name"] == "Edited"


def test_a_late_duplicate_of_the_settling_step_leaves_the_apply_as_laid_out(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    # A settling step slow enough for the watchdog to drive it again: the second run lays the
    # writes out once the first one's apply has brought the bin's rows back (none in the bin
    # for it), while that apply goes on with the stages it was given.
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)
    accounts = accounts_with_contacts(at_point, 2)
    for record_id in accounts:  # the bin gives them back with this value, not the point's
        sim.dataverse_change(env_id, "account", "update", record_id,
                             {"description": "edited after the point"})
    sim.dataverse_recycle_bin(env_id, True)
    binned = delete_with_children(sim, env_id, at_point, accounts)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True)
    until_applying(ctx, clock, operation_id)
    settling = replace(read_state(ctx.history.get(operation_id)), phase=Phase.SETTLING)
    late = settle_plan(settling, clock.now, EngineConfig.from_settings(ctx.settings, ctx.backoff))
    run_steps(ctx, operation_id, read_state(ctx.history.get(operation_id)).seq, config=ONE_STEP)
    assert {w["action"] for w in sim.dataverse_writes(env_id)} == {"restore"}

    execute(ctx, late, operation_id)  # the late run: its checkpoint would lose, its files stay
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None and done.applied["total"]["create"] == len(binned)
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)


def test_a_late_duplicate_of_a_bin_batch_after_its_rows_were_written_changes_nothing(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    # A bin batch slow enough for the watchdog to send it again: the second send runs once the
    # rows it brought back have their point values, which are not what the bin held.
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)
    accounts = accounts_with_contacts(at_point, 2)
    for record_id in accounts:
        sim.dataverse_change(env_id, "account", "update", record_id,
                             {"description": "edited after the point"})
    sim.dataverse_recycle_bin(env_id, True)
    binned = delete_with_children(sim, env_id, at_point, accounts)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True)
    until_applying(ctx, clock, operation_id)
    state = read_state(ctx.history.get(operation_id))
    files = RestoreFiles(store, operation_id)
    first_bin = state.jobs[0]
    assert files.stage(first_bin.unit)["pass"] == "bin"
    while files.stage(state.jobs[state.cursor].unit)["pass"] in ("bin", "rows"):
        run_steps(ctx, operation_id, state.seq, config=ONE_STEP)
        state = read_state(ctx.history.get(operation_id))

    execute(ctx, ApplyJobs(target_of(state), (first_bin,)), operation_id)  # its answer is stale
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None and done.applied["total"]["create"] == len(binned)
    notes = {i: o for batch in files.outcomes() for i, o in batch.items()}
    assert notes == {}, "no row was put back by anyone else"
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)
