"""An ending's notice survives a failed send: the watchdog entry is kept as the "notice pending"
marker until the notice is queued, and the watchdog sends it again after a grace."""

from __future__ import annotations

import pytest

from backup_triggers import service
from engine.runner import run_steps, runner_config
from engine.watchdog import run_watchdog
from ppbackup.receiver import Receiver
from ppbackup.simulator import Simulator
from shared.operations import Operation, OperationStatus
from shared.queue_names import NOTIFICATIONS
from shared.validation import parse_backup_request
from tests.integration.notifications.conftest import Harness, build_harness, build_settings

pytestmark = pytest.mark.azurite

def harness_for(storage: str, receiver: Receiver, sim: Simulator) -> Harness:
    settings = build_settings(storage, receiver, sim.url, BACKUP_SCOPE="type:Production")
    return build_harness(storage, receiver, sim=sim, settings=settings, time_scale=10_000)

def on_demand_backup(h: Harness, sim: Simulator) -> Operation:
    request = parse_backup_request({"environmentId": sim.state.list_environments()[0].id,
                                    "label": "Before release 4.2", "requestedBy": "pipeline"})
    op = service.submit_backup(h.ctx, request)
    run_steps(h.ctx, op.operation_id, 0)
    ended = h.ctx.history.get(op.operation_id).operation
    assert ended.status is OperationStatus.SUCCEEDED
    return ended

def past_the_grace(h: Harness) -> None:
    h.clock.advance(seconds=runner_config().grace(h.ctx).total_seconds() + 1)

def test_a_notice_whose_send_failed_is_sent_again_by_the_watchdog(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = harness_for(storage, receiver, sim)
    h.queues.broken.add(NOTIFICATIONS)  # a brief queue outage, just when the backup ends
    op = on_demand_backup(h, sim)
    h.queues.broken.clear()
    assert h.queues.notifications() == []
    # Within the grace the watchdog leaves it alone (the ending's own send may be under way).
    run_watchdog(h.ctx)
    assert h.queues.notifications() == []
    past_the_grace(h)
    run_watchdog(h.ctx)
    run_watchdog(h.ctx)  # once: the marker is gone
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert hook.payload["event"] == "backup.succeeded"
    assert hook.payload["operation"]["operationId"] == op.operation_id
    assert len(receiver.accepted("teams")) == 1
    assert len(h.queues.notifications()) == 1

def test_a_notice_sent_again_carries_the_same_event_id_and_posts_once(
    storage: str, receiver: Receiver, sim: Simulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import notifications.outbox as outbox

    h = harness_for(storage, receiver, sim)
    # A crash between the checkpoint and the send: the message is queued, the marker stays.
    monkeypatch.setattr(outbox, "_clear_marker", lambda *_: None)
    op = on_demand_backup(h, sim)
    monkeypatch.undo()
    past_the_grace(h)
    assert run_watchdog(h.ctx).renotified == (op.operation_id,)
    first, again = h.queues.notifications()
    assert first.payload["eventId"] == again.payload["eventId"]
    h.pump()
    assert len(receiver.accepted("webhook")) == 1  # the repeat is dropped by its event id
    assert len(receiver.accepted("teams")) == 1

def test_the_happy_path_leaves_nothing_for_the_watchdog(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = harness_for(storage, receiver, sim)
    on_demand_backup(h, sim)
    assert h.ctx.history.list_active() == []
    past_the_grace(h)
    assert run_watchdog(h.ctx).renotified == ()
    assert len(h.queues.notifications()) == 1


def test_a_rejection_whose_notice_failed_is_sent_again(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = harness_for(storage, receiver, sim)
    h.queues.broken.add(NOTIFICATIONS)
    service.handle_backup_message(h.ctx, b"{not json", message_id="m-1", dequeue_count=1)
    h.queues.broken.clear()
    # The redelivery finds the request on record, and (as before) announces nothing itself.
    service.handle_backup_message(h.ctx, b"{not json", message_id="m-1", dequeue_count=2)
    assert h.queues.notifications() == []
    past_the_grace(h)
    assert len(run_watchdog(h.ctx).renotified) == 1
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert hook.payload["event"] == "backup.rejected"
