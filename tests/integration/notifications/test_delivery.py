"""Delivery against a local receiver that fails, throttles and times out (real Azurite)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from notifications.delivery import Delivered, GaveUp, Scheduled, Skipped, handle_notification
from notifications.failures import OPTION_KEY
from notifications.messages import Target
from notifications.outbox import announce
from notifications.retry_policy import MAX_AGE
from notifications.store import DeliveryRow, store_for
from notifications.webhook import verify
from ppbackup.receiver import Receiver, Reply
from shared.operations import OperationStatus, StepStatus, finish
from shared.queue_names import NOTIFICATIONS
from tests.integration.notifications.conftest import (
    SECRET,
    Harness,
    build_harness,
    build_settings,
)
from tests.integration.notifications.helpers import finished_backup, restore_record

pytestmark = pytest.mark.azurite


def test_a_finished_backup_reaches_both_targets_once(harness: Harness) -> None:
    op = finished_backup(harness)
    [sent] = harness.queues.notifications()
    assert set(sent.payload) == {"v", "type", "event", "eventId", "operationId", "occurredAt"}
    harness.pump()
    receiver = harness.receiver
    [teams] = receiver.accepted("teams")
    [hook] = receiver.accepted("webhook")
    assert teams.card is not None
    assert op.operation_id in json.dumps(teams.card)
    assert hook.verified is True
    verify(hook.body, hook.headers, SECRET, now=int(time.time()))
    assert hook.payload["event"] == "backup.succeeded"
    assert hook.payload["eventId"] == sent.payload["eventId"] == teams.event_id
    assert hook.payload["operation"]["operationId"] == op.operation_id


def test_delivery_retries_then_succeeds(storage: str, receiver: Receiver) -> None:
    h = build_harness(storage, receiver, time_scale=10_000)  # backoff of minutes -> ~1 s
    receiver.reply("teams", Reply(503), Reply(502, body=b"bad gateway"))
    finished_backup(h)
    h.pump()
    teams = [r for r in receiver.received if r.target == "teams"]
    assert [r.status for r in teams] == [503, 502, 202]
    assert len(receiver.accepted("webhook")) == 1  # not repeated while Teams was retried
    retries = [s.payload for s in h.queues.notifications()[1:]]
    assert [(p["targets"], p["attempt"]) for p in retries] == [(["teams"], 2), (["teams"], 3)]
    assert [type(r).__name__ for r in h.results] == ["Scheduled", "Delivered", "Scheduled",
                                                     "Delivered"]


def test_timeouts_are_retried(storage: str, receiver: Receiver) -> None:
    h = build_harness(storage, receiver, time_scale=10_000)
    receiver.reply("webhook", Reply(200, delay=1.5))  # the sender gives up after 0.5 s
    finished_backup(h)
    h.pump()
    scheduled = [r for r in h.results if isinstance(r, Scheduled)]
    assert [r.target for r in scheduled] == [Target.WEBHOOK]
    row = _row(h, Target.WEBHOOK)
    assert (row.state, row.attempts) == ("delivered", 2)
    # The receiver did get the first request: the retry is a repeat it must drop by event id.
    webhook = [r for r in receiver.received if r.target == "webhook"]
    assert [r.repeat for r in webhook] == [False, True]


def test_retry_after_is_honoured(harness: Harness) -> None:
    receiver = harness.receiver
    receiver.reply("webhook", Reply(429, {"Retry-After": "2"}))
    finished_backup(harness)
    harness.results += handle_notification(harness.ctx, harness.take())
    [retry] = harness.queues.notifications()[1:]
    assert (retry.payload["targets"], retry.payload["attempt"], retry.delay_seconds) == (
        ["webhook"], 2, 2.0)
    # The re-sent message is in the queue but invisible until Retry-After has passed (the
    # queue's delay itself: tests/integration/storage/test_queues.py); then it is delivered.
    assert harness.queues.peek(NOTIFICATIONS) == []
    assert harness.waiting() == 1
    harness.pump(until=lambda: len(receiver.accepted("webhook")) == 1)
    assert len(receiver.accepted("teams")) == 1


def test_retry_after_as_an_http_date(harness: Harness) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    harness.receiver.reply("teams", Reply(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    finished_backup(harness)
    harness.results += handle_notification(harness.ctx, harness.take())
    [retry] = harness.queues.notifications()[1:]
    assert 27 <= retry.delay_seconds <= 31


def test_a_permanent_refusal_is_noted_on_the_operation_and_not_retried(harness: Harness) -> None:
    harness.receiver.reply("teams", Reply(404, body=b'{"error": "flow not found"}'))
    op = finished_backup(harness)
    harness.pump()
    assert [r.status for r in harness.receiver.received if r.target == "teams"] == [404]
    assert len(harness.queues.notifications()) == 1  # no retry message
    record = harness.ctx.history.get(op.operation_id).operation
    assert record.status is OperationStatus.SUCCEEDED
    [entry] = record.options[OPTION_KEY]
    assert (entry["event"], entry["target"], entry["httpStatus"]) == ("backup.succeeded",
                                                                       "teams", 404)
    assert harness.receiver.teams_url not in json.dumps(record.to_record())
    assert len(harness.receiver.accepted("webhook")) == 1


def test_retries_end_after_the_age_limit_and_are_noted(harness: Harness) -> None:
    harness.receiver.reply("webhook", Reply(503), Reply(503))
    op = finished_backup(harness)
    harness.results += handle_notification(harness.ctx, harness.take())
    harness.clock.advance(seconds=MAX_AGE.total_seconds())  # a day of outage later
    retry = harness.queues.notifications()[1].payload
    harness.results += handle_notification(harness.ctx, json.dumps(retry))
    assert isinstance(harness.results[-1], GaveUp)
    [entry] = harness.ctx.history.get(op.operation_id).operation.options[OPTION_KEY]
    assert entry["reason"].startswith("gave up after 2 attempts; last: HTTP 503")


def test_a_duplicate_outbox_message_does_not_post_again(storage: str, receiver: Receiver) -> None:
    harness = build_harness(storage, receiver, time_scale=10_000)
    receiver.reply("webhook", Reply(503))
    finished_backup(harness)
    original = harness.take()
    first = handle_notification(harness.ctx, original)
    assert [type(r) for r in first] == [Delivered, Scheduled]
    again = handle_notification(harness.ctx, original)  # the queue delivered it twice
    assert [(type(r), getattr(r, "why", None)) for r in again] == [
        (Skipped, "delivered"), (Skipped, "duplicate message")]
    harness.pump(until=lambda: len(receiver.accepted("webhook")) == 1)
    harness.results += handle_notification(harness.ctx, original)
    assert len(receiver.accepted("teams")) == 1
    assert len(receiver.accepted("webhook")) == 1
    assert [r.status for r in receiver.received if r.target == "webhook"] == [503, 200]


def test_a_started_restore_failing_to_notify_is_noted_when_it_ends(harness: Harness) -> None:
    receiver = harness.receiver
    receiver.reply("teams", Reply(400, body=b"Bad Request"))
    queued = restore_record(harness)
    stored = harness.ctx.history.create(replace(queued, status=OperationStatus.QUEUED))
    running = harness.ctx.history.update(stored, queued)
    announce(harness.ctx, stored.operation, running.operation)
    harness.pump()
    # Not written while the restore runs (its orchestrator owns the record's ETag)...
    assert OPTION_KEY not in harness.ctx.history.get(queued.operation_id).operation.options
    done = finish(queued, OperationStatus.SUCCEEDED, harness.clock.advance(hours=9))
    ended = harness.ctx.history.update(running, done).operation
    announce(harness.ctx, running.operation, ended)
    harness.pump()
    # ...but once it has ended.
    [entry] = harness.ctx.history.get(queued.operation_id).operation.options[OPTION_KEY]
    assert (entry["event"], entry["target"], entry["httpStatus"]) == ("restore.started", "teams",
                                                                       400)
    events = [r.payload["event"] for r in receiver.accepted("webhook")]
    assert events == ["restore.started", "restore.succeeded"]


def test_a_started_message_delivered_after_the_restore_ended_is_dropped(harness: Harness) -> None:
    op = restore_record(harness, validate=StepStatus.SUCCEEDED)
    stored = harness.ctx.history.create(replace(op, status=OperationStatus.QUEUED))
    running = harness.ctx.history.update(stored, op)
    announce(harness.ctx, stored.operation, running.operation)
    harness.ctx.history.update(running, finish(op, OperationStatus.FAILED, harness.clock()))
    harness.pump()
    assert harness.receiver.received == []


def test_nothing_is_queued_when_no_target_is_configured(storage: str, receiver: Receiver) -> None:
    h = build_harness(storage, receiver, settings=build_settings(storage, None))
    finished_backup(h)
    assert h.queues.notifications() == []


def _row(h: Harness, target: Target) -> DeliveryRow:
    [sent] = h.queues.notifications()[:1]
    row = store_for(h.ctx).delivery(sent.payload["eventId"], target.value)
    assert row is not None
    return row


def test_target_urls_never_reach_the_logs(storage: str, receiver: Receiver,
                                          caplog: pytest.LogCaptureFixture) -> None:
    secret_teams = f"{receiver.teams_url}?sig=TopSecretSignature"
    settings = build_settings(storage, receiver, TEAMS_WEBHOOK_URL=secret_teams)
    h = build_harness(storage, receiver, settings=settings, time_scale=10_000)
    receiver.reply("teams", Reply(503))
    caplog.set_level(logging.DEBUG)
    finished_backup(h)
    h.pump()
    assert len(receiver.accepted("teams")) == 1
    assert "HTTP Request: POST" in caplog.text  # httpx does log each request...
    assert "TopSecretSignature" not in caplog.text  # ...but not our URL
    assert receiver.webhook_url not in caplog.text


def test_a_card_that_cannot_be_built_is_noted_and_not_retried(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a builder must not loop the message forever with its lease held."""
    import notifications.delivery as delivery

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("a field the card builder did not expect")

    monkeypatch.setattr(delivery, "build_teams_message", broken)
    op = finished_backup(harness)
    harness.pump()
    assert harness.receiver.accepted("teams") == []
    assert len(harness.receiver.accepted("webhook")) == 1  # the other target is unaffected
    [entry] = harness.ctx.history.get(op.operation_id).operation.options[OPTION_KEY]
    assert entry["target"] == "teams"
    assert "could not be built" in entry["reason"]


def test_a_retry_after_beyond_any_date_gives_up_and_is_noted(harness: Harness) -> None:
    # A receiver (or a proxy in front of it) answering 429 with an absurd Retry-After: the wait
    # is past every bound, so the delivery is recorded as failed at once, not left leased and
    # POSTed again every time the lease runs out.
    harness.receiver.reply("webhook", Reply(429, {"Retry-After": "99999999999999"}))
    op = finished_backup(harness)
    harness.results += handle_notification(harness.ctx, harness.take())
    assert [type(r).__name__ for r in harness.results] == ["Delivered", "GaveUp"]
    assert len(harness.queues.notifications()) == 1  # no retry message
    [entry] = harness.ctx.history.get(op.operation_id).operation.options[OPTION_KEY]
    assert (entry["target"], entry["httpStatus"]) == ("webhook", 429)
    assert entry["reason"].startswith("gave up after 1 attempts; last: HTTP 429")


def test_a_notice_failing_on_every_try_of_the_host_is_held_back_not_poisoned(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The history table is unreachable for a few minutes, longer than the host's five tries
    # (10 s apart). On the last try the message would go to `notifications-poison`, which
    # nothing reads; it is put back on the queue, delayed, instead, and delivered later.
    from shared.queue_names import MAX_DEQUEUE_COUNT

    op = finished_backup(harness)
    body = harness.take()

    def unreachable(*_: object, **__: object) -> None:
        raise ConnectionError("history table unreachable (test)")

    with monkeypatch.context() as patch:
        patch.setattr(type(harness.ctx.history), "get", unreachable)
        with pytest.raises(ConnectionError):  # an earlier try: the host retries it
            handle_notification(harness.ctx, body, dequeue_count=MAX_DEQUEUE_COUNT - 1)
        assert handle_notification(harness.ctx, body, dequeue_count=MAX_DEQUEUE_COUNT) == []
    [held] = harness.queues.notifications()[1:]
    assert held.delay_seconds > 0
    assert (held.payload["operationId"], held.payload["held"]) == (op.operation_id, 1)
    harness.results += handle_notification(harness.ctx, json.dumps(held.payload))
    assert len(harness.receiver.accepted("webhook")) == 1
    assert len(harness.receiver.accepted("teams")) == 1


def test_a_notice_is_held_back_a_bounded_number_of_times(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications.delivery import HOLD_DELAYS
    from shared.queue_names import MAX_DEQUEUE_COUNT

    finished_backup(harness)
    body = harness.take()

    def unreachable(*_: object, **__: object) -> None:
        raise ConnectionError("history table unreachable (test)")

    monkeypatch.setattr(type(harness.ctx.history), "get", unreachable)
    for _ in HOLD_DELAYS:
        assert handle_notification(harness.ctx, body, dequeue_count=MAX_DEQUEUE_COUNT) == []
        body = json.dumps(harness.queues.notifications()[-1].payload)
    with pytest.raises(ConnectionError):  # then the host's poison queue, as before
        handle_notification(harness.ctx, body, dequeue_count=MAX_DEQUEUE_COUNT)
    assert len(harness.queues.notifications()) == 1 + len(HOLD_DELAYS)
