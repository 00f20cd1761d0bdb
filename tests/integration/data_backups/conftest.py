"""Data backups on the real parts: Azurite (queues, tables, blobs) and the simulator's Dataverse.

The engine is driven step by step from the stored checkpoints (`drive`), on a clock the test
moves to each step's due time, so waits (throttling) play out without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from data_backups.kind import read_state
from engine.runner import run_steps
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.data_store import DataStore, open_data_store
from shared.dataverse import DataverseClient
from shared.operations import Operation
from shared.power_platform import NoTokenProvider, PowerPlatformClient
from shared.runtime import AppContext, Backoff, use_context
from shared.settings import Settings

ROWS = 23
PAGE = 7  # several pages per table, so paging and cursors are exercised
FAST_BACKOFF = Backoff(base_seconds=0.2, cap_seconds=1.0, max_attempts=60)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def reach(self, moment: datetime | None) -> None:
        if moment is not None and moment > self.now:
            self.now = moment + timedelta(milliseconds=1)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, populate=False, seed=7,
                       options=SimOptions(dataverse_rows=ROWS)) as simulator:
        yield simulator


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Prod", type="Production", location="europe")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


def app_settings(storage: str, sim: Simulator, **extra: str) -> Settings:
    return Settings.from_env({
        "AzureWebJobsStorage": storage, "PP_API_URL": sim.url, "PP_BAP_URL": sim.url,
        "PP_AUTH": "none", **extra,
    })


@pytest.fixture
def ctx(storage: str, sim: Simulator, clock: Clock) -> Iterator[AppContext]:
    context = AppContext.from_settings(app_settings(storage, sim), backoff=FAST_BACKOFF,
                                       clock=clock)
    with use_context(context):
        yield context


@pytest.fixture
def store(storage: str) -> DataStore:
    data = open_data_store(storage, "ppbackup-data")
    data.ensure_container()
    return data


def drive(ctx: AppContext, clock: Clock, operation_id: str, *, max_steps: int = 2000) -> Operation:
    """Run the operation's steps as the queue would deliver them, until it ends."""
    for _ in range(max_steps):
        stored = ctx.history.get(operation_id)
        if stored.operation.status.terminal:
            return stored.operation
        state = read_state(stored)
        clock.reach(state.wake_at)
        run_steps(ctx, operation_id, state.seq)
    raise AssertionError(f"{operation_id} did not end in {max_steps} steps")


def dataverse(sim: Simulator, env_id: str) -> DataverseClient:
    with PowerPlatformClient(sim.url, sim.url, token_provider=NoTokenProvider()) as platform:
        environment = platform.get_environment(env_id)
    return DataverseClient.for_environment(environment, token_provider=NoTokenProvider())


def live_rows(sim: Simulator, env_id: str, entity_set: str, id_column: str) -> dict[str, Any]:
    """The simulator's rows now, by id, read through the Web API as the backup reads them."""
    with dataverse(sim, env_id) as client:
        cursor = client.first_page(entity_set)
        return {row[id_column]: dict(row) for page in client.pages(cursor) for row in page.rows}


def stored_rows(store: DataStore, env_id: str, point_id: str, table: str,
                id_column: str) -> dict[str, Any]:
    return {row[id_column]: dict(row) for row in store.read_table(env_id, point_id, table)}


def unnamed_files(store: DataStore, env_id: str, point_id: str) -> set[str]:
    """The files in a point's folder that its manifest does not name."""
    from shared.data_store import layout

    manifest = store.manifest(env_id, point_id)
    named = {layout.chunk_name(env_id, point_id, table, f.name)
             for table, entry in manifest.tables.items()
             for f in (*entry.row_files, *entry.deleted_files)}
    listed = {b.name for b in store.container.list_blobs(
        name_starts_with=layout.point_prefix(env_id, point_id))}
    assert named <= listed
    return listed - named
