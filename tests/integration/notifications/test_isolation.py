"""An operation never waits for, or fails because of, a notification."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backup_triggers import service
from engine.runner import run_steps
from notifications.failures import OPTION_KEY
from ppbackup.receiver import Receiver, Reply
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.seed import CONTOSO_PROD
from shared.operations import OperationStatus
from shared.queue_names import NOTIFICATIONS
from shared.validation import parse_backup_request
from tests.integration.notifications.conftest import T0, Harness, build_harness

pytestmark = pytest.mark.azurite


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, start=T0) as found:
        yield found


def backup(h: Harness) -> str:
    request = parse_backup_request({"environmentId": CONTOSO_PROD, "label": "Before 4.2"})
    op = service.submit_backup(h.ctx, request)
    run_steps(h.ctx, op.operation_id, 0)  # the step its backup-work message asks for
    return op.operation_id


def test_a_broken_outbox_queue_does_not_fail_the_backup(
    storage: str, receiver: Receiver, sim: Simulator, caplog: pytest.LogCaptureFixture,
) -> None:
    h = build_harness(storage, receiver, sim=sim)
    h.queues.broken.add(NOTIFICATIONS)
    operation_id = backup(h)
    assert h.ctx.history.get(operation_id).operation.status is OperationStatus.SUCCEEDED
    assert "notifications.announce_failed" in caplog.text
    assert receiver.teams_url not in caplog.text


def test_an_operation_whose_notifications_all_fail_still_succeeds(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = build_harness(storage, receiver, sim=sim)
    receiver.reply("teams", Reply(410, body=b"flow deleted"))
    receiver.reply("webhook", Reply(403, body=b"bad signature"))
    operation_id = backup(h)
    h.pump()
    record = h.ctx.history.get(operation_id).operation
    assert record.status is OperationStatus.SUCCEEDED
    assert sorted((e["target"], e["httpStatus"]) for e in record.options[OPTION_KEY]) == [
        ("teams", 410), ("webhook", 403)]
    assert receiver.accepted() == []
