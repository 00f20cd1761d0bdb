"""One summary per timer round: a real round against the simulator and Azurite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from backup_triggers import service
from engine.runner import run_steps
from notifications.alerts import run_alert_checks
from notifications.round_rules import ROUND_DEADLINE
from ppbackup.receiver import Receiver
from ppbackup.simulator import Simulator, run_simulator
from shared.errors import Transient
from shared.queue_names import BACKUP_REQUESTS
from shared.storage.connection import queue_service
from tests.integration.notifications.conftest import (
    T0,
    Harness,
    build_harness,
    build_settings,
)

pytestmark = pytest.mark.azurite

MISSING = "00000000-0000-4000-8000-0000000000aa"  # in scope by id, unknown to the platform


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, start=T0) as found:
        for i in range(3):
            found.state.add_environment(f"Woodgrove Prod {i}", sku="Production")
        yield found


def harness_for(storage: str, receiver: Receiver, sim: Simulator, scope: str) -> Harness:
    settings = build_settings(storage, receiver, sim.url, BACKUP_SCOPE=scope)
    return build_harness(storage, receiver, sim=sim, settings=settings, time_scale=10_000)


def run_requests(h: Harness, *, skip: int = 0) -> int:
    """Deliver the round's backup-requests to the backup service (leaving `skip` unhandled)."""
    client = queue_service(h.storage).get_queue_client(BACKUP_REQUESTS)
    messages = list(client.receive_messages(max_messages=32, visibility_timeout=300))
    for message in messages[skip:]:
        h.clock.advance(minutes=3)
        service.handle_backup_message(h.ctx, str(message.content), message_id=str(message.id),
                                      dequeue_count=1)
        client.delete_message(message)
    return len(messages)


def test_a_round_produces_exactly_one_summary(storage: str, receiver: Receiver,
                                              sim: Simulator) -> None:
    h = harness_for(storage, receiver, sim, f"type:Production,{MISSING}")
    result = service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
    assert result.planned == 6  # Contoso, Fabrikam, three Woodgroves, and the missing one
    # The timer fires again for the same slot (a restart): no second round, no second summary.
    service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=2))
    assert run_requests(h) == 12
    h.pump()
    rounds = [s.payload for s in h.queues.notifications() if s.payload["type"] == "round"]
    assert len(rounds) == 1  # one summary message for six environments and two firings
    [teams] = receiver.accepted("teams")
    [hook] = receiver.accepted("webhook")
    assert teams.card is not None
    assert teams.card["body"][0]["items"][0]["text"] == "Backup round finished — 1 of 6 failed"
    summary = hook.payload["summary"]
    assert (summary["total"], summary["succeeded"], summary["failedCount"], summary["pending"]) \
        == (6, 5, 1, 0)
    assert summary["failed"][0]["environmentId"] == MISSING
    assert hook.payload["event"] == "backup_round.finished"
    # Ticks of the alerts timer later on find nothing left to summarise.
    h.clock.advance(seconds=ROUND_DEADLINE.total_seconds())
    assert run_alert_checks(h.ctx).rounds_summarised == 0


def test_an_unfinished_round_is_summarised_once_after_its_deadline(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = harness_for(storage, receiver, sim, "type:Production")
    service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
    run_requests(h, skip=1)  # one backup never runs
    h.pump()
    assert receiver.received == []  # no per-environment cards, and the round is not over
    h.clock.now = T0 + timedelta(hours=1) + ROUND_DEADLINE
    summarised = [run_alert_checks(h.ctx).rounds_summarised for _ in range(5)]
    assert summarised == [1, 0, 0, 0, 0]
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert (hook.payload["summary"]["succeeded"], hook.payload["summary"]["pending"]) == (4, 1)
    assert len(receiver.accepted("teams")) == 1


def test_an_empty_round_says_so_once(storage: str, receiver: Receiver, sim: Simulator) -> None:
    h = harness_for(storage, receiver, sim, "type:Trial")
    service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
    service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=5))
    h.pump()
    [teams] = receiver.accepted("teams")
    assert teams.card is not None
    assert "nothing to back up" in teams.card["body"][0]["items"][0]["text"]


def test_on_demand_backups_still_get_their_own_card(storage: str, receiver: Receiver,
                                                    sim: Simulator) -> None:
    from shared.validation import parse_backup_request

    h = harness_for(storage, receiver, sim, "type:Production")
    request = parse_backup_request({"environmentId": sim.state.list_environments()[0].id,
                                    "label": "Before release 4.2", "requestedBy": "pipeline"})
    op = service.submit_backup(h.ctx, request)
    run_steps(h.ctx, op.operation_id, 0)  # the step its backup-work message asks for
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert hook.payload["event"] == "backup.succeeded"


def test_a_rejected_request_is_announced(storage: str, receiver: Receiver,
                                         sim: Simulator) -> None:
    h = harness_for(storage, receiver, sim, "type:Production")
    service.handle_backup_message(h.ctx, b"{not json", message_id="m-1", dequeue_count=1)
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert hook.payload["event"] == "backup.rejected"
    assert hook.payload["operation"]["error"]["code"] == "InvalidJson"


def test_a_round_whose_listing_fails_still_backs_up_what_it_names_and_says_so(
    storage: str, receiver: Receiver, sim: Simulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # BAP answers 503 past the client's retries, and a timer run is not retried: the environments
    # BACKUP_SCOPE names by id are still backed up, and a person learns the others were not.
    named = sorted(e.id for e in sim.state.environments.values()
                   if e.display_name.startswith("Woodgrove"))[0]
    h = harness_for(storage, receiver, sim, f"type:Production,{named}")

    def down(*args: object, **kwargs: object) -> None:
        raise Transient("503 from the environment listing", status=503)

    monkeypatch.setattr(type(h.ctx.platform), "list_environments", down)
    fired = T0 + timedelta(hours=1, seconds=1)
    result = service.run_backup_round(h.ctx, fired_at=fired)
    assert result.planned == 1
    assert any("could not list" in note for note in result.notes)
    # A second firing for the slot (a restart) changes nothing: same request, same round.
    service.run_backup_round(h.ctx, fired_at=fired + timedelta(seconds=1))
    assert run_requests(h) == 2
    h.pump()
    rounds = [s.payload for s in h.queues.notifications() if s.payload["type"] == "round"]
    assert len(rounds) == 1
    [hook] = receiver.accepted("webhook")
    summary = hook.payload["summary"]
    assert (summary["total"], summary["succeeded"], summary["failedCount"], summary["pending"]) \
        == (2, 1, 1, 0)
    [failure] = summary["failed"]
    assert "could not list" in failure["message"] and "503" in failure["message"]


def test_a_round_that_could_not_be_recorded_reports_each_backup_on_its_own(
    storage: str, receiver: Receiver, sim: Simulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from notifications.store import NotificationStore

    h = harness_for(storage, receiver, sim, f"type:Production,{MISSING}")

    def table_blip(*_: object, **__: object) -> bool:
        raise ConnectionError("table blip (test)")

    with monkeypatch.context() as patch:
        patch.setattr(NotificationStore, "open_round", table_blip)
        result = service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
    assert result.planned == 6  # the backups run although the round was never recorded
    run_requests(h)
    h.pump()
    # No summary can be made, so each member's end is announced as an on-demand one's would be:
    # the failure (the missing environment) reaches a person.
    events = sorted(r.payload["event"] for r in receiver.accepted("webhook"))
    assert events == ["backup.failed"] + ["backup.succeeded"] * 5
    assert len(receiver.accepted("teams")) == 6
    # A member's notice delivered again posts nothing again (the event id's delivery rows).
    notice = next(s.payload for s in h.queues.notifications() if s.payload.get("roundId"))
    from notifications.delivery import handle_notification

    handle_notification(h.ctx, json.dumps(notice))
    assert len(receiver.accepted()) == 12
    # And the alerts timer has no round to summarise later.
    h.clock.advance(seconds=ROUND_DEADLINE.total_seconds())
    assert run_alert_checks(h.ctx).rounds_summarised == 0


def test_a_summary_claimed_by_a_worker_that_died_before_sending_it_is_still_sent(
    storage: str, receiver: Receiver, sim: Simulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import notifications.rounds as rounds
    import tests.integration.notifications.conftest as harness_module
    from notifications.delivery import Result, handle_notification
    from notifications.messages import RoundNotice

    class Died(BaseException):
        """The worker process ends here: no `except Exception` runs."""

    h = harness_for(storage, receiver, sim, "type:Production")
    from notifications.outbox import send_notice as real_send

    def dies_before_queueing_the_summary(ctx: object, notice: object, **kw: object) -> None:
        if isinstance(notice, RoundNotice):
            raise Died
        real_send(ctx, notice, **kw)  # type: ignore[arg-type]

    def host(ctx: object, body: str) -> list[Result]:
        try:
            return handle_notification(ctx, body)  # type: ignore[arg-type]
        except Died:
            # The host redelivers the message; it finds the summary claimed and sends nothing.
            return handle_notification(ctx, body)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(rounds, "send_notice", dies_before_queueing_the_summary)
        patch.setattr(harness_module, "handle_notification", host)
        service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
        run_requests(h)
        h.pump()
    assert receiver.received == []
    # The alerts timer's next ticks find the round claimed but never announced, and send it once.
    summarised = [run_alert_checks(h.ctx).rounds_summarised for _ in range(3)]
    assert summarised == [1, 0, 0]
    h.pump()
    [hook] = receiver.accepted("webhook")
    assert hook.payload["event"] == "backup_round.finished"
    assert (hook.payload["summary"]["succeeded"], hook.payload["summary"]["pending"]) == (5, 0)
    assert len(receiver.accepted("teams")) == 1


def test_a_straggler_that_fails_after_the_summary_gets_a_card_of_its_own(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    # A timer backup of an environment kept busy (a restore running on it) retries for hours
    # and fails after the round's summary said it was still running: the failure must still
    # reach a person (and NeedsAttention "always comes with an alert", contract section 6).
    h = harness_for(storage, receiver, sim, "type:Production")
    straggler = _summarised_with_a_straggler(h)
    h.pump()
    [summary] = receiver.accepted("webhook")
    assert summary.payload["summary"]["pending"] == 1

    env = json.loads(straggler)["environmentId"]
    with sim.state.lock:
        del sim.state.environments[env]  # its backup now fails
    h.clock.advance(minutes=30)
    service.handle_backup_message(h.ctx, straggler, message_id="straggler", dequeue_count=1)
    h.pump()
    [_, failed] = receiver.accepted("webhook")
    assert failed.payload["event"] == "backup.failed"
    assert failed.payload["operation"]["environmentId"] == env
    assert len(receiver.accepted("teams")) == 2
    # Another tick, or a repeat of the straggler's notice, posts nothing more.
    assert run_alert_checks(h.ctx).rounds_summarised == 0
    notice = next(s.payload for s in h.queues.notifications()
                  if s.payload.get("environmentId") == env)
    from notifications.delivery import handle_notification

    handle_notification(h.ctx, json.dumps(notice))
    assert len(receiver.accepted()) == 4


def test_a_straggler_that_succeeds_after_the_summary_stays_quiet(
    storage: str, receiver: Receiver, sim: Simulator,
) -> None:
    h = harness_for(storage, receiver, sim, "type:Production")
    straggler = _summarised_with_a_straggler(h)
    h.clock.advance(minutes=30)
    service.handle_backup_message(h.ctx, straggler, message_id="late", dequeue_count=1)
    h.pump()
    assert [r.payload["event"] for r in receiver.accepted("webhook")] == [
        "backup_round.finished"]


def _summarised_with_a_straggler(h: Harness) -> str:
    """A timer round whose members all end but the first, summarised at its deadline with that
    one still running; the straggler's request (not yet handled)."""
    service.run_backup_round(h.ctx, fired_at=T0 + timedelta(hours=1, seconds=1))
    client = queue_service(h.storage).get_queue_client(BACKUP_REQUESTS)
    messages = list(client.receive_messages(max_messages=32, visibility_timeout=300))
    for message in messages:
        client.delete_message(message)
    for message in messages[1:]:
        h.clock.advance(minutes=3)
        service.handle_backup_message(h.ctx, str(message.content), message_id=str(message.id),
                                      dequeue_count=1)
    h.pump()
    h.clock.now = T0 + timedelta(hours=1) + ROUND_DEADLINE
    assert run_alert_checks(h.ctx).rounds_summarised == 1
    return str(messages[0].content)
