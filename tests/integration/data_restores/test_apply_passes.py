"""How a row's writes across the passes are conditioned, skipped and counted when a step runs
again or a later write fails (Azurite and the simulator)."""

from __future__ import annotations

from typing import Any

import pytest

import shared.dataverse
from data_restores.kind import read_state
from engine.runner import run_steps
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.dataverse import WriteOutcome
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import ONE_STEP, point, snapshot, until_applying
from tests.integration.data_restores.test_record_restore import data, drive, start


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sales", type="Sandbox", location="europe")


class Crash(RuntimeError):
    pass


def test_a_batch_run_again_replaces_the_outcomes_its_first_run_recorded(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acc = sorted(snapshot(sim, env_id)["account"])[3]
    sim.dataverse_change(env_id, "account", "update", acc, {"statecode": 1, "statuscode": 2})
    point_id = point(ctx, clock, env_id, page_size=50)
    sim.dataverse_change(env_id, "account", "delete", acc)
    real_write, real_put = shared.dataverse.write_batch, RestoreFiles.put_outcomes
    first = [True]

    def write_batch(client: Any, writes: Any) -> Any:
        if first[0]:  # a transient failure of every part (a deadlock) on the first send
            return [WriteOutcome(status=500, error_code="0x80040265", message="transient")
                    for _ in writes]
        return real_write(client, writes)

    def put_outcomes(files: RestoreFiles, *args: Any) -> None:
        real_put(files, *args)
        if first[0]:
            first[0] = False
            raise Crash("after the outcomes were written, before the checkpoint")

    monkeypatch.setattr(shared.dataverse, "write_batch", write_batch)
    monkeypatch.setattr(RestoreFiles, "put_outcomes", put_outcomes)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         record_ids=(acc,), apply=True)
    with pytest.raises(Crash):
        drive(ctx, clock, operation_id)
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None and done.applied["total"]["create"] == 1
    now = snapshot(sim, env_id)["account"][acc]
    assert (now["statecode"], now["statuscode"]) == (1, 2), "its state write was not skipped"
    outcomes = {i: o for batch in RestoreFiles(store, operation_id).outcomes()
                for i, o in batch.items()}
    assert outcomes == {}, "the diff does not show the row as failed"


def test_a_created_row_whose_later_writes_fail_counts_once_as_failed(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = snapshot(sim, env_id)["account"]
    child = next(i for i, r in sorted(rows.items()) if r.get("_parentaccountid_value"))
    parent = rows[child]["_parentaccountid_value"]
    sim.dataverse_change(env_id, "account", "update", child, {"statecode": 1, "statuscode": 2})
    point_id = point(ctx, clock, env_id, page_size=50)
    sim.dataverse_change(env_id, "account", "delete", child)
    sim.dataverse_change(env_id, "account", "delete", parent)
    real_write = shared.dataverse.write_batch

    def write_batch(client: Any, writes: Any) -> Any:
        answers = real_write(client, writes)
        if any(child in w.url and "If-None-Match" in w.headers for w in writes):
            # Someone deletes the row between its create and its link to its parent.
            sim.dataverse_change(env_id, "account", "delete", child)
        return answers

    monkeypatch.setattr(shared.dataverse, "write_batch", write_batch)
    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(child, parent), apply=True))

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.applied is not None
    total = done.applied["total"]
    assert (total["create"], total["failed"]) == (1, 1), total
    writes = [w for w in sim.dataverse_writes(env_id) if w["row_id"] == child]
    assert not [w for w in writes if (w.get("body") or {}).get("statecode") == 1], \
        "no state write after its references write failed"


def test_an_update_of_only_a_link_to_a_row_being_created_is_counted(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
) -> None:
    rows = snapshot(sim, env_id)["account"]
    child = next(i for i, r in sorted(rows.items()) if r.get("_parentaccountid_value"))
    parent = rows[child]["_parentaccountid_value"]
    point_id = point(ctx, clock, env_id, page_size=50)
    at_point = snapshot(sim, env_id)["account"]
    sim.dataverse_change(env_id, "account", "update", child, {"parentaccountid": None})
    sim.dataverse_change(env_id, "account", "delete", parent)

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(child, parent), mode="all", apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.plan is not None and done.applied is not None
    assert data(snapshot(sim, env_id)["account"][child]) == data(at_point[child])
    assert done.applied["total"]["update"] == done.plan["total"]["update"] == 1


def test_an_update_of_only_a_link_whose_row_changed_after_the_plan_is_not_written(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
) -> None:
    rows = snapshot(sim, env_id)["account"]
    child = next(i for i, r in sorted(rows.items())
                 if r.get("_parentaccountid_value") and r["statecode"] == 0)
    parent = rows[child]["_parentaccountid_value"]
    point_id = point(ctx, clock, env_id, page_size=50)
    sim.dataverse_change(env_id, "account", "update", child,
                         {"parentaccountid": None, "statecode": 1, "statuscode": 2})
    sim.dataverse_change(env_id, "account", "delete", parent)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         record_ids=(child, parent), mode="all", apply=True)
    until_applying(ctx, clock, operation_id)
    sim.dataverse_change(env_id, "account", "update", child, {"name": "Edited by a person"})
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.applied is not None
    total = done.applied["total"]
    assert (total["update"], total["conflict"], total["failed"]) == (0, 1, 0), total
    assert [w for w in sim.dataverse_writes(env_id) if w["row_id"] == child] == [], \
        "a row changed since the plan is not written into"
    now = snapshot(sim, env_id)["account"][child]
    assert (now["name"], now["statecode"]) == ("Edited by a person", 1)


def test_a_target_that_becomes_production_during_the_apply_gets_no_more_writes(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    # An apply takes hours; an administrator converts the Sandbox to Production meanwhile. The
    # writes that follow are held to the allow-list and confirmation, as the first ones were.
    point_id = point(ctx, clock, env_id, page_size=50)
    gone = sorted(snapshot(sim, env_id)["account"])[:20]
    for record_id in gone:
        sim.dataverse_change(env_id, "account", "delete", record_id)
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id, apply=True,
                         batch_size=1)
    until_applying(ctx, clock, operation_id)
    run_steps(ctx, operation_id, read_state(ctx.history.get(operation_id)).seq, config=ONE_STEP)
    written = len(sim.dataverse_writes(env_id))
    assert 0 < written < len(gone)

    sim.state.environment(env_id).sku = "Production"
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.FAILED
    assert done.error is not None and done.error.code == "ProductionNotAllowed"
    assert f"{written} row(s) created" in done.error.message, done.error.message
    assert len(sim.dataverse_writes(env_id)) == written
