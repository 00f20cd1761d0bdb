"""1,000 accounts deleted with their contacts and notes come back as they were at the point, with
every lookup pointing where it pointed (Azurite and the simulator)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from data_restores.kind import read_state
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import (
    accounts_with_contacts,
    as_data,
    creates_per_id,
    delete_with_children,
    point,
    snapshot,
    through_a_storm,
    until_applying,
)
from tests.integration.data_restores.test_record_restore import drive, start

ACCOUNTS = 1000


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, populate=False, seed=7,
                       options=SimOptions(dataverse_rows=1200)) as simulator:
        yield simulator


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sales", type="Sandbox", location="europe")


def test_a_thousand_deleted_accounts_come_back_with_their_contacts_and_notes(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=2500)
    at_point = snapshot(sim, env_id)
    # The lookups' tables are part of what is compared (a regarding lookup points anywhere).
    assert all(n["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]
               for n in as_data(at_point)["annotation"].values())
    gone = delete_with_children(sim, env_id, at_point,
                                accounts_with_contacts(at_point, ACCOUNTS))
    per_table = {t: sum(1 for g, _ in gone if g == t) for t in at_point}
    assert per_table["account"] == ACCOUNTS and per_table["contact"] >= ACCOUNTS
    assert per_table["annotation"] > 0

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   mode="missing", with_related=True, apply=True),
                 max_steps=2000)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None
    for table, rows in per_table.items():
        assert done.applied["tables"][table]["create"] == rows, table
        assert done.applied["tables"][table].get("failed", 0) == 0, table
    assert done.applied["total"]["create"] == len(gone)
    # Every row (deleted or not) is as it was at the point, its lookups and their tables too.
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)
    made = creates_per_id(sim.dataverse_writes(env_id))
    assert set(made) == gone, "exactly the deleted rows were created"
    assert set(made.values()) == {1}, "none twice"


def test_a_429_storm_over_batches_sent_at_once_ends_with_every_row_written_once(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=2500)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 250))
    # Batches of 100 (the state's knob): several per stage from 250 accounts' rows.
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True, batch_size=100)
    until_applying(ctx, clock, operation_id)
    state = read_state(ctx.history.get(operation_id))
    stages = Counter(job.unit for job in state.jobs)
    assert max(stages.values()) >= 3 and state.concurrency >= 3, "batches go out together"

    done, throttled, waits = through_a_storm(ctx, clock, sim, operation_id, rate=0.5)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert throttled >= 10 and len(waits) >= 3
    assert done.applied is not None
    assert done.applied["total"]["create"] == len(gone), "each row counted once"
    assert done.applied["total"]["failed"] == done.applied["total"]["conflict"] == 0
    made = creates_per_id(sim.dataverse_writes(env_id))
    assert set(made) == gone and set(made.values()) == {1}
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)
