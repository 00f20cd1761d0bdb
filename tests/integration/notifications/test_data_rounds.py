"""One summary per data backup round, on Azurite and the simulator's Dataverse: the timer's round
over DATA_BACKUP_SCOPE, each data backup run by the engine, the outbox delivering to a receiver.
The summary names tables, rows and the table the app user could not read; the round's members
send no card of their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from data_backups.intake import handle_data_backup_message
from data_backups.kind import read_state
from data_backups.rounds import run_data_backup_round
from engine.runner import run_steps
from ppbackup.receiver import Receiver
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.queue_names import DATA_BACKUP_REQUESTS
from shared.runtime import AppContext, use_context
from shared.storage.connection import queue_service
from tests.integration.notifications.conftest import Harness, build_harness, build_settings

pytestmark = pytest.mark.azurite

ROWS = 12


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, populate=False, seed=7,
                       options=SimOptions(dataverse_rows=ROWS)) as found:
        yield found


def run_requests(h: Harness) -> list[str]:
    """Admit each request the round queued and run its steps to the end, as the host would."""
    client = queue_service(h.storage).get_queue_client(DATA_BACKUP_REQUESTS)
    done = []
    for message in client.receive_messages(max_messages=32):
        operation = handle_data_backup_message(h.ctx, str(message.content),
                                               message_id=message.id)
        assert operation is not None
        done.append(drive(h.ctx, h, operation.operation_id))
    return done


def drive(ctx: AppContext, h: Harness, operation_id: str) -> str:
    with use_context(ctx):
        for _ in range(2000):
            stored = ctx.history.get(operation_id)
            if stored.operation.status.terminal:
                return stored.operation.status.value
            state = read_state(stored)
            if state.wake_at is not None and state.wake_at > h.clock.now:
                h.clock.now = state.wake_at + timedelta(milliseconds=1)
            run_steps(ctx, operation_id, state.seq)
    raise AssertionError(f"{operation_id} did not end")


def test_one_summary_with_tables_rows_and_the_failed_table(
    storage: str, receiver: Receiver, sim: Simulator
) -> None:
    contoso = sim.add_environment("Contoso Prod", type="Production", location="europe")
    fabrikam = sim.add_environment("Fabrikam Prod", type="Production")
    sim.add_environment("Scratch", type="Sandbox")  # not in scope
    sim.dataverse_revoke(fabrikam, "contact")
    settings = build_settings(storage, receiver, sim.url, DATA_BACKUP_SCOPE="type:Production",
                              DATA_BACKUP_TABLES="account,contact")
    h = build_harness(storage, receiver, sim=sim, settings=settings)

    asked = run_data_backup_round(h.ctx, fired_at=h.clock())
    assert sorted(asked) == sorted([contoso, fabrikam])
    assert len(run_requests(h)) == 2
    h.pump()

    [hook] = h.receiver.accepted("webhook")  # the summary only: members send nothing alone
    assert hook.payload["event"] == "data_backup_round.finished"
    summary = hook.payload["summary"]
    assert (summary["total"], summary["pending"]) == (2, 0)
    assert summary["tables"] == 3  # Contoso's two, Fabrikam's account
    assert summary["rows"] == 3 * ROWS
    [failed] = summary["failedTables"]
    assert (failed["environmentId"], failed["table"]) == (fabrikam, "contact")
    assert "security role" in failed["message"]
    [card] = h.receiver.accepted("teams")
    assert card.card is not None
    assert "Data backup round finished" in card.card["body"][0]["items"][0]["text"]
