"""Rows the target's recycle bin still holds come back by the platform's own Restore (which brings
back what a backup cannot), then get their values at the point; rows it does not hold are created
from the backup (Azurite and the simulator)."""

from __future__ import annotations

from typing import Any

import pytest

import shared.dataverse
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import (
    accounts_with_contacts,
    as_data,
    delete_with_children,
    point,
    snapshot,
)
from tests.integration.data_restores.test_record_restore import drive, start


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
